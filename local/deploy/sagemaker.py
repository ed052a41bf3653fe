"""``AWS::SageMaker::Workteam``: answers its ARN; the first Cognito workteam creates the region's private
workforce (:mod:`local.fidelity`). Labeling itself uses the simulated workforce, whatever the workteam.
"""

from __future__ import annotations

from typing import Any

from ..cfn import ResourceState
from ..fidelity import PrivateWorkforce, workteam_cognito
from .context import Handler, StackContext, aws_arn


def workteam(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResourceState:
    """The first Cognito workteam creates the region's private workforce from its pool (fidelity.py checks
    later ones). Labeling itself uses the simulated workforce (reference labels), whatever the workteam."""
    cognito = workteam_cognito(props)
    if cognito is not None and ctx.services.account.private_workforce is None:
        ctx.services.account.private_workforce = PrivateWorkforce(user_pool=cognito[0], client_id=cognito[1])
    name = str(props.get("WorkteamName") or logical_id)
    arn = aws_arn(ctx.environment, "sagemaker", f"workteam/private-crowd/{name}")
    return ResourceState("AWS::SageMaker::Workteam", arn, {"WorkteamArn": arn, "WorkteamName": name})


HANDLERS: dict[str, Handler] = {
    "AWS::SageMaker::Workteam": workteam,
}
"""This family's resource types and their handlers (merged in :mod:`local.deploy.registry`)."""
