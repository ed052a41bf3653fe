"""Per-region account IDs of the AWS-owned resources the pipeline uses, as a CloudFormation mapping.

The stack stays environment-agnostic: values resolve at deploy time with Fn::FindInMap. Sources:
../shared/reference/sagemaker-facts.md and the `sagemaker` SDK's image_uri_config tables.
"""

from __future__ import annotations

from aws_cdk import Aws, CfnMapping
from constructs import Construct
from gtpipe_shared.tasks import task_spec

SUPPORTED_REGIONS: dict[str, dict[str, str]] = {
    # region: Ground Truth PRE/ACS Lambda account, built-in algorithm ECR account
    "us-east-1": {"GroundTruthLambdaAccount": "432418664414", "AlgorithmAccount": "811284229777"},
    "us-east-2": {"GroundTruthLambdaAccount": "266458841044", "AlgorithmAccount": "825641698319"},
    "us-west-2": {"GroundTruthLambdaAccount": "081040173940", "AlgorithmAccount": "433757028032"},
    "eu-west-1": {"GroundTruthLambdaAccount": "568282634449", "AlgorithmAccount": "685385470294"},
    "ap-northeast-1": {"GroundTruthLambdaAccount": "477331159723", "AlgorithmAccount": "501404015308"},
}
ACTIVE_LEARNING_ACCOUNT = "027400017018"


class RegionalFacts(Construct):
    """Resolves Ground Truth Lambda ARNs, algorithm image URIs and the auto-labeling ARN for the region, for
    ``task_type`` (its :class:`gtpipe_shared.tasks.TaskSpec` names the functions and the algorithm)."""

    def __init__(self, scope: Construct, construct_id: str, *, task_type: str) -> None:
        super().__init__(scope, construct_id)
        mapping = CfnMapping(self, "Accounts", mapping=SUPPORTED_REGIONS)
        gt_account = mapping.find_in_map(Aws.REGION, "GroundTruthLambdaAccount")
        algorithm_account = mapping.find_in_map(Aws.REGION, "AlgorithmAccount")
        task = task_spec(task_type)
        function_arn = f"arn:{Aws.PARTITION}:lambda:{Aws.REGION}:{gt_account}:function:"
        self.pre_human_task_lambda_arn = function_arn + task.pre_human_task_lambda
        self.annotation_consolidation_lambda_arn = function_arn + task.consolidation_lambda
        algorithm = task.algorithm
        self.algorithm_repository_arn = (
            f"arn:{Aws.PARTITION}:ecr:{Aws.REGION}:{algorithm_account}:repository/{algorithm}"
        )
        self.training_image = f"{algorithm_account}.dkr.ecr.{Aws.REGION}.{Aws.URL_SUFFIX}/{algorithm}:1"
        self.algorithm_specification_arn = (
            f"arn:{Aws.PARTITION}:sagemaker:{Aws.REGION}:{ACTIVE_LEARNING_ACCOUNT}:"
            f"labeling-job-algorithm-specification/{algorithm}"
        )
