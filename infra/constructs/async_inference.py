"""Asynchronous inference (``gtpipe:asyncInference``, ``gtpipe_shared.async_inference``): the success and error
topics, the routes ``POST /predict/async`` and ``GET /predictions/{id}`` on the prediction API, and the grants.

Who does what, least privilege:

- The endpoint function (endpoint/async_mirror.py) creates the async endpoint configs (``<async-endpoint>-*``)
  and creates/updates the async endpoint and scales its variant; it already receives the real-time endpoint's
  state changes, and now the async endpoint's too (the endpoint rule's pattern names both endpoints).
- The SageMaker execution role (the model's role: asynchronous inference reads the input and writes the output
  with it, https://docs.aws.amazon.com/sagemaker/latest/dg/async-inference-create-endpoint-prerequisites.html)
  reads uploads (its ReadManifestSources statement already covers every object of the data bucket), puts
  objects under ``async/output/`` and ``async/failure/`` and publishes to the two topics (encrypted with the
  data key it already uses).
- predict calls ``sagemaker:InvokeEndpointAsync`` on the async endpoint only, writes and reads its request
  records under ``async/requests/`` and reads ``async/output/`` and ``async/failure/``.
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct
from gtpipe_shared.async_inference import (
    FAILURE_PREFIX,
    OUTPUT_PREFIX,
    REQUESTS_PREFIX,
    async_endpoint_name,
)

from infra.config import StackConfig
from infra.constructs.pipeline import Pipeline
from infra.constructs.pipeline_grants import AUTOSCALING_ENDPOINT_ACTIONS
from infra.constructs.serving import Serving


class AsyncInference(Construct):
    """The asynchronous endpoint's topics, routes and grants (module docstring)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        key: kms.IKey,
        data_bucket: s3.IBucket,
        pipeline: Pipeline,
        serving: Serving,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        settings = config.async_inference
        self.endpoint_name = async_endpoint_name(config.endpoint_name)
        self.endpoint_arn = stack.format_arn(
            service="sagemaker", resource="endpoint", resource_name=self.endpoint_name
        )
        self.success_topic = sns.Topic(
            self,
            "SuccessTopic",
            display_name="gtpipe async predictions done",
            master_key=key,
            enforce_ssl=True,
        )
        self.error_topic = sns.Topic(
            self,
            "ErrorTopic",
            display_name="gtpipe async predictions failed",
            master_key=key,
            enforce_ssl=True,
        )
        environment = {
            "ASYNC_CONFIG": settings.model_dump_json(),
            "ASYNC_ENDPOINT_NAME": self.endpoint_name,
            "ASYNC_SUCCESS_TOPIC": self.success_topic.topic_arn,
            "ASYNC_ERROR_TOPIC": self.error_topic.topic_arn,
            "ENDPOINT_NAME": config.endpoint_name,
            "DATA_BUCKET": data_bucket.bucket_name,
            "DATA_KEY_ARN": key.key_arn,
        }
        for name, value in environment.items():
            pipeline.endpoint.function.add_environment(name, value)
        self._grant_endpoint_function(pipeline)
        self._grant_sagemaker_role(pipeline.sagemaker_role, data_bucket)
        follow_async_endpoint(pipeline.endpoint_rule, self.endpoint_name)
        serving.predict.function.add_environment("ASYNC_ENDPOINT_NAME", self.endpoint_name)
        serving.predict.function.add_environment(
            "ASYNC_INVOCATION_TIMEOUT_SECONDS", str(settings.invocation_timeout_seconds)
        )
        self._grant_predict(serving, data_bucket)
        self._routes(serving, api_key_auth=config.api_auth == "api-key")

    def _grant_endpoint_function(self, pipeline: Pipeline) -> None:
        stack = Stack.of(self)
        configs = stack.format_arn(
            service="sagemaker", resource="endpoint-config", resource_name=f"{self.endpoint_name}-*"
        )
        role = pipeline.endpoint.role
        role.add_to_policy(
            iam.PolicyStatement(
                sid="CreateAsyncEndpointConfigs",
                actions=["sagemaker:CreateEndpointConfig"],
                resources=[configs],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ManageAsyncEndpoint",
                # CreateEndpoint/UpdateEndpoint authorize both the endpoint and the config they name.
                actions=[
                    "sagemaker:CreateEndpoint",
                    "sagemaker:UpdateEndpoint",
                    "sagemaker:DescribeEndpoint",
                ],
                resources=[self.endpoint_arn, configs],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="AutoscalingAsyncEndpoint",
                actions=list(AUTOSCALING_ENDPOINT_ACTIONS),
                resources=[self.endpoint_arn],
            )
        )

    def _grant_sagemaker_role(self, role: iam.IRole, data_bucket: s3.IBucket) -> None:
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="WriteAsyncInferenceResults",
                actions=["s3:PutObject", "s3:AbortMultipartUpload"],
                resources=[
                    data_bucket.arn_for_objects(f"{prefix}*") for prefix in (OUTPUT_PREFIX, FAILURE_PREFIX)
                ],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="NotifyAsyncInferenceResults",
                actions=["sns:Publish"],
                resources=[self.success_topic.topic_arn, self.error_topic.topic_arn],
            )
        )

    def _grant_predict(self, serving: Serving, data_bucket: s3.IBucket) -> None:
        role = serving.predict.role
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="InvokeAsyncEndpoint",
                actions=["sagemaker:InvokeEndpointAsync"],
                resources=[self.endpoint_arn],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="AsyncRequestRecords",
                actions=["s3:PutObject"],
                resources=[data_bucket.arn_for_objects(f"{REQUESTS_PREFIX}*")],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ReadAsyncResults",
                actions=["s3:GetObject"],
                resources=[
                    data_bucket.arn_for_objects(f"{prefix}*")
                    for prefix in (REQUESTS_PREFIX, OUTPUT_PREFIX, FAILURE_PREFIX)
                ],
            )
        )

    def _routes(self, serving: Serving, *, api_key_auth: bool) -> None:
        """``POST /predict/async`` and ``GET /predictions/{id}``, the predict function, the API's one auth."""
        authorization = (
            apigateway.AuthorizationType.NONE if api_key_auth else apigateway.AuthorizationType.IAM
        )
        integration = apigateway.LambdaIntegration(serving.predict.function, proxy=True)
        predict = serving.api.root.get_resource("predict")
        assert predict is not None  # Serving's routes come first
        predict.add_resource("async").add_method(
            "POST", integration, authorization_type=authorization, api_key_required=api_key_auth
        )
        serving.api.root.add_resource("predictions").add_resource("{id}").add_method(
            "GET",
            integration,
            authorization_type=authorization,
            api_key_required=api_key_auth,
            request_parameters={"method.request.path.id": True},
        )


def follow_async_endpoint(rule: events.Rule, async_endpoint: str) -> None:
    """The endpoint rule also delivers the async endpoint's state changes (its InService registers scaling)."""
    rule.add_event_pattern(detail={"EndpointName": [async_endpoint]})
