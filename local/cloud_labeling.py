"""The builtin labeling service on the local cloud: finding its API in a deployment, the person's user, and
the simulated crowd (:mod:`local.labeling_crowd`) that labels through it (see :mod:`local.cloud`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .api_model import RestApiModel
from .cognito import LocalUser, create_user, pool_id_from_arn
from .deploy import Deployment
from .labeling_crowd import CrowdSettings, LabelingApiClient, ReferenceAnswers, SimulatedCrowd
from .labeling_reviewers import REVIEWERS_GROUP, ReviewerSettings, SimulatedReviewer


@dataclass(frozen=True)
class LabelingService:
    """The builtin labeling service of a deployment: its API, where people sign in, the person's user."""

    api: RestApiModel
    url: str
    pool_id: str
    client_id: str
    person: LocalUser

    def outputs(self) -> dict[str, str]:
        """``LabelingUrl`` (the web app), ``LabelingUsername``, ``LabelingPassword`` (local only)."""
        return {
            "LabelingUrl": self.url + "/",
            "LabelingUsername": self.person.username,
            "LabelingPassword": self.person.password,
        }


def pool_clients(cognito: Any, pool_id: str) -> set[str] | None:
    """The app client ids of a user pool; None when the pool does not exist."""
    try:
        answer = cognito.list_user_pool_clients(UserPoolId=pool_id, MaxResults=60)
    except cognito.exceptions.ResourceNotFoundException:
        return None
    return {client["ClientId"] for client in answer.get("UserPoolClients", [])}


def find_labeling_service(
    cognito: Any,
    deployment: Deployment,
    stage_urls: Mapping[str, Callable[[str], str]],
    username: str,
) -> LabelingService | None:
    """The deployment's labeling service, with a user for a person (``username``) created in its pool; None
    when it has none. The labeling API is the REST API whose methods a Cognito authorizer protects;
    ``stage_urls[api id](stage)`` is where that API is served."""
    for api_id, api in deployment.apis.items():
        authorizer = next(iter(api.authorizers.values()), None)
        if authorizer is None or not any(m.authorizer_id for m in api.methods.values()):
            continue
        stage = "prod" if "prod" in api.stages else next(iter(api.stages), None)
        if stage is None:
            raise RuntimeError(f"the labeling API {api_id} has no stage")
        pool_id = pool_id_from_arn(authorizer.provider_arns[0])
        client_id = _password_client(cognito, pool_id)
        person = create_user(
            cognito,
            pool_id,
            username,
            [g for g in ("labelers", "labeling-admins") if _has_group(cognito, pool_id, g)] or ["labelers"],
        )
        return LabelingService(api, stage_urls[api_id](stage), pool_id, client_id, person)
    return None


def _has_group(cognito: Any, pool_id: str, group: str) -> bool:
    groups = cognito.list_groups(UserPoolId=pool_id, Limit=60)["Groups"]
    return any(g["GroupName"] == group for g in groups)


def _password_client(cognito: Any, pool_id: str) -> str:
    """The pool's app client people sign in with (no secret, ``USER_PASSWORD_AUTH``)."""
    for client_id in sorted(pool_clients(cognito, pool_id) or ()):
        client = cognito.describe_user_pool_client(UserPoolId=pool_id, ClientId=client_id)["UserPoolClient"]
        if "ALLOW_USER_PASSWORD_AUTH" in client.get("ExplicitAuthFlows", []) and not client.get(
            "ClientSecret"
        ):
            return client_id
    raise RuntimeError(
        f"the labeling user pool {pool_id} has no app client without a secret that allows "
        "USER_PASSWORD_AUTH: nobody could sign in to the labeling app"
    )


def start_crowd(
    labeling: LabelingService,
    cognito: Callable[[], Any],
    *,
    ca_path: Path,
    labelers: int,
    settings: CrowdSettings,
    reviewers: int = 0,
    review_settings: ReviewerSettings | None = None,
) -> SimulatedCrowd:
    """Create ``labelers`` simulated users in the labeling pool and start them labeling, with ``reviewers``
    simulated reviewers (:mod:`local.labeling_reviewers`, group ``labeling-reviewers``) when the pool has
    that group (the review stage is on); they decide with ``review_settings`` (default: the module's
    defaults, seeded with the crowd's seed)."""
    client = cognito()
    users = [
        create_user(client, labeling.pool_id, f"simulated-labeler-{number}@example.com", ["labelers"])
        for number in range(1, labelers + 1)
    ]
    crowd = SimulatedCrowd(
        users,
        stage_url=labeling.url,
        ca_path=ca_path,
        cognito=cognito,
        client_id=labeling.client_id,
        settings=settings,
    )
    if reviewers > 0 and _has_group(client, labeling.pool_id, REVIEWERS_GROUP):
        api = crowd.labelers[0].api if crowd.labelers else LabelingApiClient(labeling.url, ca_path)
        for number in range(1, reviewers + 1):
            user = create_user(
                client, labeling.pool_id, f"simulated-reviewer-{number}@example.com", [REVIEWERS_GROUP]
            )
            crowd.labelers.append(
                SimulatedReviewer(
                    number,
                    user,
                    api=api,
                    cognito=cognito,
                    client_id=labeling.client_id,
                    references=ReferenceAnswers(settings.reference_labels),
                    settings=settings,
                    stop=crowd.stop_event,
                    review_settings=review_settings or ReviewerSettings(seed=settings.seed),
                )
            )
    return crowd.start()
