"""How the local cloud runs (:class:`CloudSettings`; see :mod:`local.cloud`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from local.sagemaker.algorithm_process import DEFAULT_ALGORITHM_THREADS

from .cfn import Environment

DEFAULT_STATE_DIR: Final = Path(".local")


@dataclass
class CloudSettings:
    """How the local cloud runs.

    ``retry_interval_scale`` multiplies the state machine's ``Retry`` intervals (0.05 turns the
    deployment's 60 s "endpoint busy" wait into 3 s): timing only, the retry logic is the definition's.
    ``sagemaker_poll_interval`` is how often ``.sync`` SageMaker tasks poll Describe* (0.2 s: a Describe*
    is an in-process read, and every ``.sync`` task waits half an interval on average after its job ends,
    about five tasks per run; AWS's own poller is slower, but the interval is timing only, not behaviour).
    ``reference_labels`` is the simulated workforce's truth file (JSON Lines ``{"source-ref", "label"}``,
    or reference boxes for bounding-box jobs). ``labeling_auto_min_objects`` is the dataset size from
    which automated data labeling starts without an initial model (1,000 on AWS; lower it to see
    automated labeling on a small local dataset).

    ``schedule_seconds_per_minute``: how long one minute of a ``rate(...)`` schedule lasts locally (1.0:
    ``rate(5 minutes)`` fires every 5 s; 0: scheduled rules fire only through
    :meth:`LocalCloud.fire_schedules`). ``alarm_tick_seconds``: how often the deployed CloudWatch alarms are
    evaluated (:mod:`local.alarms`; 0: only through :meth:`LocalCloud.evaluate_alarms`). ``simulated_labelers``: simulated workers of the builtin labeling
    service (0: people label in the browser); they answer with ``labeling_error_rate`` /
    ``labeling_seed`` / ``labeling_seconds_per_task`` like the simulated Ground Truth workforce.
    ``labeling_username``: the user created for a person. ``algorithm_threads``: CPU threads of every
    local algorithm process (None: every core; the default keeps numbers the same on every machine).
    ``s3_version_seed``: seeds S3 version ids (:mod:`local.s3_versions`), so the run ids derived from
    them, and the splits and simulated labelers they seed, repeat exactly (tests set it; None: random).

    Account state (issue 14): the local account starts fresh, like a new AWS account and region, with no API
    Gateway CloudWatch Logs role (a stage with logging fails unless the stack sets it) and no Ground Truth
    private workforce (the first Cognito workteam creates it; a workteam on another pool then fails).
    ``api_gateway_logging_role``: start with the role set (an account where someone set it before).
    ``existing_private_workforce``: start with a private workforce on a Cognito user pool and app client the
    cloud creates (ids in :attr:`LocalCloud.account`, for ``gtpipe:workforce.existingWorkforce``).

    ``enforce_iam`` (issue 14): every principal acts with its own role's credentials and a request its role
    does not allow is refused with AWS's AccessDenied (:mod:`local.iam_auth`). Turn it off only to diagnose.

    ``dynamodb_speedups``: moto's DynamoDB queries read the queried partition only and its items are
    serialized in one pass (:mod:`local.moto_dynamodb_speed`: same answers, faster); off only to measure
    moto's own (``python -m bench crowd-speed``).
    """

    state_dir: Path = DEFAULT_STATE_DIR
    host: str = "127.0.0.1"
    port: int = 0
    api_port: int = 0
    environment: Environment = field(default_factory=Environment)
    retry_interval_scale: float = 0.05
    sagemaker_poll_interval: float = 0.2
    reference_labels: Path | None = None
    labeling_error_rate: float = 0.1
    labeling_seed: int = 0
    labeling_seconds_per_task: float = 0.0
    labeling_auto_min_objects: int = 1000
    lambda_concurrency: int = 4
    async_retry_delays: tuple[float, ...] = (1.0, 2.0)
    schedule_seconds_per_minute: float = 1.0
    alarm_tick_seconds: float = 1.0
    simulated_labelers: int = 3
    # Simulated reviewers (local.labeling_reviewers) of the review stage: started only when the deployed
    # pool has the group labeling-reviewers (gtpipe:labeling.review on).
    simulated_reviewers: int = 1
    # How often a simulated reviewer's belief is another class than the reference answer (ReviewerSettings;
    # 0: reviewers who know the truth, as a test of what the review fixes wants).
    reviewer_error_rate: float = 0.02
    labeling_username: str = "labeler@example.com"
    algorithm_threads: int | None = DEFAULT_ALGORITHM_THREADS
    s3_version_seed: int | None = None
    api_gateway_logging_role: bool = False
    existing_private_workforce: bool = False
    enforce_iam: bool = True
    dynamodb_speedups: bool = True

    @property
    def reference_labels_path(self) -> Path:
        """Where the simulated workforce reads its reference labels."""
        return self.reference_labels or self.state_dir / "workforce" / "reference-labels.jsonl"
