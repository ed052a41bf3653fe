"""The builtin labeling service (`gtpipe:labelingBackend: "builtin"`, docs/labeling-service.md).

A Cognito user pool for the labeling team, the `labeling` function (the state machine's labeling task, the
5-minute sweep, the finish), the `labeling_api` function behind a Cognito-authorized REST API and the
`labeling_web` function that serves the static single-page app from the same API's stage root.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from aws_cdk import Duration, Stack
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct
from gtpipe_shared.s3uri import parse_s3_uri
from gtpipe_shared.tasks import task_spec

from infra.config import StackConfig
from infra.config_workforce import LabelingTeamConfig
from infra.constructs.grants import (
    grant_index_query,
    grant_invoke,
    grant_key,
    grant_objects,
    grant_table,
    manifest_source_objects,
)
from infra.constructs.lambda_function import PythonLambda, encrypted_queue
from infra.constructs.ledger import OPEN_JOBS_INDEX
from infra.constructs.project_lambda import project_lambda
from infra.constructs.rest_api import logged_rest_api
from infra.constructs.storage import IMAGES_PREFIX, INCOMING_PREFIX, LABELING_PREFIX
from infra.constructs.user_pool import team_user_pool

LABELERS_GROUP = "labelers"
ADMINS_GROUP = "labeling-admins"
REVIEWERS_GROUP = "labeling-reviewers"
STAGE_NAME = "prod"
IMAGE_URL_SECONDS = 300
SWEEP_SCHEDULE = "rate(5 minutes)"
# The API routes of the contract: (path parts, method). `{job}` and `{index}` are path parameters.
API_ROUTES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("jobs",), "GET"),
    (("jobs", "{job}", "lease"), "POST"),
    (("jobs", "{job}", "tasks", "{index}", "answer"), "POST"),
    (("jobs", "{job}", "tasks", "{index}", "release"), "POST"),
    (("jobs", "{job}", "progress"), "GET"),
)
# The review stage's routes (docs/labeling-service.md, "Review"; reviewers only): only with
# gtpipe:labeling.review enabled, so a stack without it keeps its template.
REVIEW_ROUTES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("jobs", "{job}", "review", "lease"), "POST"),
    (("jobs", "{job}", "review", "{index}", "decide"), "POST"),
)


def user_logical_id(email: str) -> str:
    """A user's construct id from its address, not its position: reordering or removing another address in
    gtpipe:labelingTeam must not replace (delete and re-invite) anyone."""
    return "User" + hashlib.sha256(email.encode()).hexdigest()[:12]


class LabelingService(Construct):
    """Team user pool, the three labeling functions, the sweep schedule and the labeling REST API."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        key: kms.IKey,
        data_bucket: s3.IBucket,
        runs_table: dynamodb.ITable,
        labeling_table: dynamodb.ITable,
        state_machine_arn: str,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self._config = config
        self._key = key
        self._team(config.labeling_team, reviewing=config.labeling.review is not None)

        def function(folder: str, description: str, env: dict[str, str], **kwargs: Any) -> PythonLambda:
            return project_lambda(self, folder, description, env, key=key, config=config, **kwargs)

        tables = {"LABELING_TABLE": labeling_table.table_name, "RUNS_TABLE": runs_table.table_name}
        self.labeling = function(
            "labeling",
            "gtpipe: builtin labeling jobs: open (task token), sweep (heartbeats, leases, lifetime), finish",
            # USER_POOL_ID: worker responses name the identity issuer, as Ground Truth's do.
            {**tables, "DATA_BUCKET": data_bucket.bucket_name, "USER_POOL_ID": self.user_pool.user_pool_id},
            # open writes one item per manifest line; finish consolidates every answer and writes the output.
            timeout=Duration.minutes(15),
            memory_size=1024,
            # sweep (EventBridge) and finish (the API's async invoke) are asynchronous: keep failed events.
            dead_letter_queue=True,
        )
        self.labeling_api = function(
            "labeling_api",
            "gtpipe: labeling API for the team: jobs, leases, answers, progress",
            {
                **tables,
                "DATA_BUCKET": data_bucket.bucket_name,
                "LABELING_FUNCTION_NAME": self.labeling.function.function_name,
                "IMAGE_URL_SECONDS": str(IMAGE_URL_SECONDS),
                # The other buckets whose images may be presigned: those manifests may name (issue 14 finding 10).
                "IMAGE_BUCKETS": json.dumps(list(dict.fromkeys(config.allowed_source_buckets))),
                # Each caller's standing in the pool (exists, enabled, groups): removals lock out at once.
                "USER_POOL_ID": self.user_pool.user_pool_id,
            },
            # API Gateway answers after 29 s whatever the function does.
            timeout=Duration.seconds(29),
            memory_size=512,
        )
        self.labeling_web = function(
            "labeling_web",
            "gtpipe: the labeling team's single-page web app (static files and config.json)",
            {
                "USER_POOL_ID": self.user_pool.user_pool_id,
                "USER_POOL_CLIENT_ID": self.client.user_pool_client_id,
                "COGNITO_ENDPOINT": f"https://cognito-idp.{stack.region}.{stack.url_suffix}/",
            },
            timeout=Duration.seconds(10),
        )
        self._grant(data_bucket, runs_table, labeling_table, state_machine_arn)
        self._schedule()
        self._api(config)

    # --- Team ----------------------------------------------------------------------------------------

    def _team(self, team: LabelingTeamConfig, *, reviewing: bool) -> None:
        self.user_pool = team_user_pool(
            self,
            "Team",
            # Optional TOTP: the web app answers SOFTWARE_TOKEN_MFA for users who turned it on; it has no
            # enrolment flow, so requiring MFA would lock every invited user out (see infra/nag.py).
            mfa=cognito.Mfa.OPTIONAL,
            temp_password_validity=Duration.days(7),
            user_pool_name=f"{Stack.of(self).stack_name}-labeling-team",
            sign_in_case_sensitive=False,
            user_invitation=cognito.UserInvitationConfig(
                email_subject="Your gtpipe labeling account",
                email_body=(
                    "You are invited to label images for gtpipe. Sign in with the user name {username} and "
                    "the temporary password {####}; you will choose your own password. Your administrator "
                    "sends you the labeling web address."
                ),
            ),
        )
        self.client = self.user_pool.add_client(
            "WebClient",
            user_pool_client_name="labeling-web",
            # A browser app cannot keep a secret: a public client, password sign-in over TLS, no OAuth flows.
            generate_secret=False,
            auth_flows=cognito.AuthFlow(user_password=True),
            disable_o_auth=True,
            prevent_user_existence_errors=True,
            enable_token_revocation=True,
            id_token_validity=Duration.hours(1),
            access_token_validity=Duration.hours(1),
            refresh_token_validity=Duration.hours(12),
        )
        groups = {
            name: cognito.CfnUserPoolGroup(
                self,
                construct_id,
                user_pool_id=self.user_pool.user_pool_id,
                group_name=name,
                description=description,
            )
            for name, construct_id, description in (
                (LABELERS_GROUP, "LabelersGroup", "gtpipe labeling team: takes tasks"),
                (ADMINS_GROUP, "AdminsGroup", "gtpipe labeling team: also sees the team statistics"),
                # The review stage's group: only with review on or reviewers named (templates unchanged).
                *(
                    [(REVIEWERS_GROUP, "ReviewersGroup", "gtpipe labeling team: reviews consolidated labels")]
                    if reviewing or team.reviewers
                    else []
                ),
            )
        }
        self._members(team, groups)

    def _members(self, team: LabelingTeamConfig, groups: Mapping[str, cognito.CfnUserPoolGroup]) -> None:
        """One Cognito user per team member, attached to each of the ``groups`` the team names them in."""
        for email in team.members:
            user_id = user_logical_id(email)
            user = cognito.CfnUserPoolUser(
                self,
                user_id,
                user_pool_id=self.user_pool.user_pool_id,
                username=email,
                desired_delivery_mediums=["EMAIL"],
                user_attributes=[
                    cognito.CfnUserPoolUser.AttributeTypeProperty(name="email", value=email),
                    # The invitation goes to this address; verified, it can also reset a forgotten password.
                    cognito.CfnUserPoolUser.AttributeTypeProperty(name="email_verified", value="true"),
                ],
            )
            for name, members, suffix in (
                (LABELERS_GROUP, team.labelers, "Labelers"),
                (ADMINS_GROUP, team.admins, "Admins"),
                (REVIEWERS_GROUP, team.reviewers, "Reviewers"),
            ):
                if email not in members:
                    continue
                attachment = cognito.CfnUserPoolUserToGroupAttachment(
                    self,
                    f"{user_id}{suffix}",
                    user_pool_id=self.user_pool.user_pool_id,
                    group_name=name,
                    username=email,
                )
                attachment.add_resource_dependency(user)
                attachment.add_resource_dependency(groups[name])

    # --- Grants --------------------------------------------------------------------------------------

    def _grant_image_headers(self, bucket: s3.IBucket) -> None:
        """Automated labeling of boxes: the labeling function may read the headers of the manifests' images."""
        if self._config.labeling.auto_labeling and task_spec(self._config.task_type).boxes:
            # Automated labeling of boxes reads each image's header (ranged GETs, never the whole image: the
            # size people draw on) wherever a manifest may name it, as the labeling API's presigning does. A
            # ranged GetObject needs s3:GetObject only (Range is a GetObject request header:
            # https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html).
            self.labeling.role.add_to_principal_policy(
                iam.PolicyStatement(
                    sid="ReadImageHeaders",
                    actions=["s3:GetObject"],
                    resources=manifest_source_objects(bucket, self._config.allowed_source_buckets),
                )
            )

    def _grant(
        self,
        bucket: s3.IBucket,
        runs_table: dynamodb.ITable,
        labeling_table: dynamodb.ITable,
        state_machine_arn: str,
    ) -> None:
        for fn in (self.labeling, self.labeling_api):
            # Jobs, objects, answers and workers; the open jobs come from the sparse index.
            grant_table(fn.role, labeling_table, write=True)
            grant_index_query(fn.role, labeling_table, OPEN_JOBS_INDEX)
            # The run's labeling_progress: one known item, read and updated, never created or deleted.
            fn.role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=["dynamodb:GetItem", "dynamodb:UpdateItem"], resources=[runs_table.table_arn]
                )
            )
        # open writes one object item per manifest line, 25 at a time.
        self.labeling.role.add_to_principal_policy(
            iam.PolicyStatement(actions=["dynamodb:BatchWriteItem"], resources=[labeling_table.table_arn])
        )
        # labeling: reads the dropped manifest (and images), writes Ground Truth's output under labeling/.
        grant_objects(
            self.labeling.role,
            bucket,
            read=[INCOMING_PREFIX, IMAGES_PREFIX, LABELING_PREFIX],
            write=[LABELING_PREFIX],
        )
        grant_key(self.labeling.role, self._key)
        self._grant_image_headers(bucket)
        gold = self._config.labeling.gold_manifest_uri
        if gold:
            # open reads the gold manifest (gtpipe:labeling.goldManifest): that one object, wherever it is
            # (object ARN: https://docs.aws.amazon.com/AmazonS3/latest/userguide/s3-arn-format.html).
            gold_bucket, gold_key = parse_s3_uri(gold)
            self.labeling.role.add_to_principal_policy(
                iam.PolicyStatement(
                    sid="ReadGoldManifest",
                    actions=["s3:GetObject"],
                    resources=[f"arn:{Stack.of(self).partition}:s3:::{gold_bucket}/{gold_key}"],
                )
            )
        self.labeling.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="AnswerLabelingTaskToken",
                actions=["states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"],
                # By ARN string: the state machine depends on this function (its definition names it).
                resources=[state_machine_arn],
            )
        )
        # labeling_api: presigned image URLs are signed with this role, so it needs to read the images and
        # decrypt them; it writes nothing to the bucket (Decrypt also unwraps the tasks table's key).
        # Any image a manifest may name (start_run's validation: the data bucket and gtpipe:allowedSourceBuckets),
        # which is exactly what ``image_buckets()`` lets the API presign.
        self.labeling_api.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="PresignManifestImages",
                actions=["s3:GetObject", "s3:GetObjectVersion"],
                resources=manifest_source_objects(bucket, self._config.allowed_source_buckets),
            )
        )
        grant_key(self.labeling_api.role, self._key, encrypt=False)
        grant_invoke(self.labeling_api.role, [self.labeling.function.function_arn])
        # labeling_api: reads (never changes) the caller's user and groups in the team pool, so a person
        # removed, disabled or taken out of the groups is locked out before their token expires.
        self.labeling_api.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="CheckCallerStanding",
                actions=["cognito-idp:AdminGetUser", "cognito-idp:AdminListGroupsForUser"],
                resources=[self.user_pool.user_pool_arn],
            )
        )

    # --- Sweep ---------------------------------------------------------------------------------------

    def _schedule(self) -> None:
        self.rule_dead_letter_queue = encrypted_queue(self, "RuleDeadLetterQueue", self._key)
        self.sweep_rule = events.Rule(
            self,
            "SweepRule",
            description="gtpipe: labeling sweep: heartbeats for waiting runs, expired leases, ended lifetimes",
            schedule=events.Schedule.expression(SWEEP_SCHEDULE),
            targets=[
                targets.LambdaFunction(
                    self.labeling.function,
                    event=events.RuleTargetInput.from_object({"action": "sweep"}),
                    dead_letter_queue=self.rule_dead_letter_queue,
                    # A sweep older than the next one is worthless: the next one does the same work.
                    max_event_age=Duration.minutes(5),
                    retry_attempts=2,
                )
            ],
        )

    # --- API -----------------------------------------------------------------------------------------

    def _api(self, config: StackConfig) -> None:
        self.api = logged_rest_api(
            self,
            "LabelingApi",
            key=self._key,
            config=config,
            stage_name=STAGE_NAME,
            rest_api_name=f"{Stack.of(self).stack_name}-labeling",
            description="gtpipe labeling service: the team's web app and its API",
            disable_execute_api_endpoint=False,
        )
        # API Gateway's execute-api endpoints accept TLS 1.2+ only (no plain HTTP listener at all).
        validator = self.api.add_request_validator(
            "LabelingValidator", validate_request_body=True, validate_request_parameters=True
        )
        self.authorizer = apigateway.CognitoUserPoolsAuthorizer(
            self,
            "TeamAuthorizer",
            cognito_user_pools=[self.user_pool],
            identity_source="method.request.header.Authorization",
            results_cache_ttl=Duration.minutes(5),
        )
        web = apigateway.LambdaIntegration(self.labeling_web.function, proxy=True)
        api = apigateway.LambdaIntegration(self.labeling_api.function, proxy=True)

        def public(resource: apigateway.IResource, path_parameters: tuple[str, ...] = ()) -> None:
            resource.add_method(
                "GET",
                web,
                authorization_type=apigateway.AuthorizationType.NONE,
                request_validator=validator,
                request_parameters={f"method.request.path.{name}": True for name in path_parameters},
            )

        # The static app: index.html at the stage root, config.json, and the app's files.
        public(self.api.root)
        public(self.api.root.add_resource("config.json"))
        public(self.api.root.add_resource("app").add_resource("{file+}"), ("file",))
        api_root = self.api.root.add_resource("api")
        routes = (*API_ROUTES, *(REVIEW_ROUTES if self._config.labeling.review is not None else ()))
        for parts, method in routes:
            resource: apigateway.IResource = api_root
            for part in parts:
                resource = resource.get_resource(part) or resource.add_resource(part)
            resource.add_method(
                method,
                api,
                authorization_type=apigateway.AuthorizationType.COGNITO,
                authorizer=self.authorizer,
                request_validator=validator,
                request_parameters={
                    "method.request.header.Authorization": True,
                    **{f"method.request.path.{p.strip('{}')}": True for p in parts if p.startswith("{")},
                },
            )
        # The stage URL ends with "/": the app's relative URLs (`api/...`, `app/...`) resolve under it.
        self.url = self.api.url
