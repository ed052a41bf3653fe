"""Who labels: the Ground Truth workforce (``gtpipe:workforce``) and the builtin backend's team
(``gtpipe:labelingTeam``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from infra.config_reader import EMAIL, PREFIX, ConfigError, ContextReader

WorkforceType = Literal["create-private", "private", "vendor", "public"]

_WORKTEAM_ARN = re.compile(r"^arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]+:\d{12}:workteam/[a-z\-]+/[\w\-]+$")
_PUBLIC_WORKTEAM = re.compile(r":394669845002:workteam/public-crowd/")
# CreateWorkteam's CognitoMemberDefinition patterns (SageMaker API reference).
_USER_POOL_ID = re.compile(r"^[\w-]+_[0-9a-zA-Z]+$")
_USER_POOL_CLIENT_ID = re.compile(r"^[\w+]+$")
# Cognito group names are [\p{L}\p{M}\p{S}\p{N}\p{P}]+: anything but whitespace and separators.
_USER_GROUP = re.compile(r"^\S+$")

MECHANICAL_TURK_CLOSED = (
    "the Amazon Mechanical Turk public workforce closed permanently on 2026-09-30; use a private "
    'workteam ({"type": "create-private", "workerEmails": [...]} or {"type": "private", "workteamArn": '
    '"..."}), a vendor workteam, or gtpipe:labelingBackend "builtin"'
)


@dataclass(frozen=True)
class WorkforceConfig:
    """Who labels for Ground Truth: a workteam this stack creates, or an existing private/vendor one."""

    type: WorkforceType
    workteam_arn: str | None = None
    worker_emails: tuple[str, ...] = ()
    cognito_domain_prefix: str | None = None
    existing_workforce: ExistingWorkforce | None = None


@dataclass(frozen=True)
class ExistingWorkforce:
    """The account's private workforce in this region (one per region, bound to one Cognito user pool and
    app client, see `aws sagemaker describe-workforce --workforce-name default`): a `create-private`
    workteam joins it instead of bringing a new user pool (which CreateWorkteam would refuse)."""

    user_pool: str
    user_pool_client: str
    user_group: str | None = None


@dataclass(frozen=True)
class LabelingTeamConfig:
    """The builtin backend's team: users invited by e-mail into the Cognito groups of the same names."""

    labelers: tuple[str, ...] = ()
    admins: tuple[str, ...] = ()
    # The review stage's reviewers (group ``labeling-reviewers``): an address may also be a labeler or an
    # admin; it is one user either way (its construct id comes from the address alone).
    reviewers: tuple[str, ...] = ()

    @property
    def members(self) -> tuple[str, ...]:
        """Every invited address once, labelers first (a person may be in several groups)."""
        return tuple(dict.fromkeys((*self.labelers, *self.admins, *self.reviewers)))


LABELING_TEAM_KEYS = ("labelers", "admins", "reviewers")


def read_labeling_team(raw: Mapping[str, Any]) -> LabelingTeamConfig:
    """``gtpipe:labelingTeam``: ``{"labelers": [emails], "admins": [emails], "reviewers": [emails]}``, all
    optional."""
    unknown = sorted(set(raw) - set(LABELING_TEAM_KEYS))
    if unknown:
        raise ConfigError(
            f"{PREFIX}labelingTeam has unknown keys {', '.join(unknown)}; allowed: {', '.join(LABELING_TEAM_KEYS)}"
        )
    lists: dict[str, tuple[str, ...]] = {}
    for name in LABELING_TEAM_KEYS:
        emails = raw.get(name, [])
        if not isinstance(emails, list):
            raise ConfigError(
                f"{PREFIX}labelingTeam.{name} must be a list of e-mail addresses; got {emails!r}"
            )
        for email in emails:
            if not isinstance(email, str) or not EMAIL.match(email):
                raise ConfigError(f"{PREFIX}labelingTeam.{name}: {email!r} is not an e-mail address")
        # Cognito compares e-mail usernames case-insensitively: one user per address, whatever its case.
        lowered = [email.lower() for email in emails]
        duplicates = sorted({email for email in lowered if lowered.count(email) > 1})
        if duplicates:
            raise ConfigError(f"{PREFIX}labelingTeam.{name} lists {', '.join(duplicates)} more than once")
        lists[name] = tuple(lowered)
    return LabelingTeamConfig(
        labelers=lists["labelers"], admins=lists["admins"], reviewers=lists["reviewers"]
    )


def _existing_workforce(raw: Any) -> ExistingWorkforce | None:
    if raw is None:
        return None
    key = f"{PREFIX}workforce.existingWorkforce"
    if not isinstance(raw, dict):
        raise ConfigError(f"{key} must be an object with userPool and userPoolClient; got {raw!r}")
    unknown = sorted(set(raw) - {"userPool", "userPoolClient", "userGroup"})
    if unknown:
        raise ConfigError(
            f"{key} has unknown keys {', '.join(unknown)}; allowed: userPool, userPoolClient, userGroup"
        )
    pool, client, group = raw.get("userPool"), raw.get("userPoolClient"), raw.get("userGroup")
    if not isinstance(pool, str) or len(pool) > 55 or not _USER_POOL_ID.match(pool):
        raise ConfigError(
            f"{key}.userPool must be the workforce's Cognito user pool id (<region>_<id>); got {pool!r}"
        )
    if not isinstance(client, str) or len(client) > 128 or not _USER_POOL_CLIENT_ID.match(client):
        raise ConfigError(f"{key}.userPoolClient must be the workforce's app client id; got {client!r}")
    if group is not None and (
        not isinstance(group, str) or not 1 <= len(group) <= 128 or not _USER_GROUP.match(group)
    ):
        raise ConfigError(
            f"{key}.userGroup must be a Cognito group name (1-128 characters, no spaces); got {group!r}"
        )
    return ExistingWorkforce(user_pool=pool, user_pool_client=client, user_group=group)


def read_workforce(reader: ContextReader) -> WorkforceConfig:
    raw = reader.mapping("workforce") or {"type": "create-private"}
    kind = raw.get("type")
    arn = raw.get("workteamArn")
    if kind == "public" or (isinstance(arn, str) and _PUBLIC_WORKTEAM.search(arn)):
        raise ConfigError(f"{PREFIX}workforce: {MECHANICAL_TURK_CLOSED}")
    if kind not in ("create-private", "private", "vendor"):
        raise ConfigError(
            f"{PREFIX}workforce.type must be one of create-private, private, vendor; got {kind!r}"
        )
    if kind == "create-private":
        emails = raw.get("workerEmails", [])
        if not isinstance(emails, list) or not all(isinstance(e, str) and EMAIL.match(e) for e in emails):
            raise ConfigError(
                f"{PREFIX}workforce.workerEmails must be a list of e-mail addresses; got {emails!r}"
            )
        return WorkforceConfig(
            type="create-private",
            worker_emails=tuple(emails),
            existing_workforce=_existing_workforce(raw.get("existingWorkforce")),
        )
    if not isinstance(arn, str) or not _WORKTEAM_ARN.match(arn):
        raise ConfigError(
            f"{PREFIX}workforce.workteamArn must be a SageMaker workteam ARN "
            f"(arn:aws:sagemaker:<region>:<account>:workteam/private-crowd/<name>); got {arn!r}"
        )
    return WorkforceConfig(type=kind, workteam_arn=arn)
