"""The Cognito user pool settings every gtpipe team pool shares."""

from __future__ import annotations

from typing import Any, Final

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cognito as cognito
from constructs import Construct

PASSWORD_MIN_LENGTH: Final = 12
PASSWORD_CHARACTER_CLASSES: Final = ("lowercase", "uppercase", "digits", "symbols")
"""The team pools' password policy. The labeling app states and checks the same rules
(``PASSWORD_POLICY`` in ``lambdas/labeling_web/static/auth.js``; a test keeps them equal)."""


def team_user_pool(
    scope: Construct,
    construct_id: str,
    *,
    mfa: cognito.Mfa,
    temp_password_validity: Duration | None = None,
    **options: Any,
) -> cognito.UserPool:
    """A user pool of invited people (no self sign-up) who sign in by e-mail address.

    TOTP is the only second factor (``mfa`` says whether it is required); passwords of 12+ characters with
    every character class; the Plus plan's full threat protection; recovery by e-mail only; the pool is
    retained when the stack goes. ``options`` are UserPool's (name, invitation, case sensitivity, ...).
    """
    return cognito.UserPool(
        scope,
        construct_id,
        self_sign_up_enabled=False,
        sign_in_aliases=cognito.SignInAliases(email=True),
        mfa=mfa,
        mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
        password_policy=cognito.PasswordPolicy(
            min_length=PASSWORD_MIN_LENGTH,
            require_digits="digits" in PASSWORD_CHARACTER_CLASSES,
            require_lowercase="lowercase" in PASSWORD_CHARACTER_CLASSES,
            require_symbols="symbols" in PASSWORD_CHARACTER_CLASSES,
            require_uppercase="uppercase" in PASSWORD_CHARACTER_CLASSES,
            temp_password_validity=temp_password_validity,
        ),
        feature_plan=cognito.FeaturePlan.PLUS,
        standard_threat_protection_mode=cognito.StandardThreatProtectionMode.FULL_FUNCTION,
        account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
        removal_policy=RemovalPolicy.RETAIN,
        **options,
    )
