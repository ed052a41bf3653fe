"""Serving: the predict, uploads and feedback Lambdas behind an authenticated, throttled, logged API Gateway
REST API.

Feedback capture (``gtpipe:capture``, ``gtpipe_shared.capture``): predict may only put objects under the data
bucket's ``captured/`` prefix, feedback only get and put objects there; neither can list the bucket.

Large images (``gtpipe_shared.uploads``): ``POST /uploads`` answers a presigned S3 POST signed with the uploads
function's role credentials, so that role may put objects under ``uploads/`` (S3 checks the signer's
permissions when the form is posted) and generate data keys with the bucket's KMS key (SSE-KMS PutObject
needs ``kms:GenerateDataKey``: https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html),
nothing else. predict may get objects under ``uploads/`` (and decrypt them with the key it already uses).
predict decodes and downscales uploads with Pillow, which the Lambda runtime lacks: it loads a layer with Pillow
alone (infra/layers/image-requirements.txt, ``make layers``), not the report's 40 MB matplotlib layer.
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import Construct
from gtpipe_shared.capture import CAPTURE_PREFIX
from gtpipe_shared.uploads import UPLOAD_PREFIX

from infra.config import StackConfig
from infra.constructs.grants import grant_key, grant_table
from infra.constructs.project_lambda import project_lambda
from infra.constructs.rest_api import logged_rest_api
from infra.layers import IMAGE_LAYER_ZIP, require_layer

BINARY_MEDIA_TYPES = ["image/jpeg", "image/png", "application/x-image"]
# Requests too large for the function never reach it: a body over API Gateway's 10 MB payload limit, or one
# whose base64 proxy event exceeds Lambda's 6 MB synchronous request limit (images over ~4.5 MB). API Gateway
# answers those itself with its REQUEST_TOO_LARGE gateway response (413 {"message": "Request Too Long"});
# this one gives them the API's own error shape, as predict's 413 for images over its 4 MiB limit.
#   https://docs.aws.amazon.com/apigateway/latest/developerguide/supported-gateway-response-types.html
#   https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html
#   https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
PAYLOAD_TOO_LARGE_BODY = (
    '{"error": "the request is too large: send an image of at most %d bytes", "code": "PayloadTooLarge"}'
)


class Serving(Construct):
    """`POST /predict`, `POST /uploads` and `POST /feedback` with IAM (default) or API-key auth, request
    validation, throttling, access logs."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        key: kms.IKey,
        runs_table: dynamodb.ITable,
        data_bucket: s3.IBucket,
        endpoint_arn: str,
        endpoint_name: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.image_layer = lambda_.LayerVersion(
            self,
            "ImageLayer",
            code=lambda_.Code.from_asset(str(require_layer(IMAGE_LAYER_ZIP))),
            compatible_runtimes=[lambda_.Runtime.PYTHON_3_12],
            compatible_architectures=[lambda_.Architecture.X86_64],
            description="gtpipe: Pillow for the predict function's large images (make layers)",
        )
        self._functions(config, key, runs_table, data_bucket, endpoint_arn, self.image_layer)
        self._uploads_function(config, key, data_bucket)
        api_key_auth = config.api_auth == "api-key"
        self.api = logged_rest_api(
            self,
            "Api",
            key=key,
            config=config,
            stage_name="v1",
            rest_api_name=f"{Stack.of(self).stack_name}-api",
            description="gtpipe prediction API",
            binary_media_types=BINARY_MEDIA_TYPES,
            min_compression_size=None,
        )
        self._routes(api_key_auth)
        if api_key_auth:
            self._api_key(config)
        payload_too_large_response(self.api)
        self.api_url = f"{self.api.url.rstrip('/')}"

    def _functions(
        self,
        config: StackConfig,
        key: kms.IKey,
        runs_table: dynamodb.ITable,
        data_bucket: s3.IBucket,
        endpoint_arn: str,
        image_layer: lambda_.ILayerVersion,
    ) -> None:
        """The predict and feedback functions with their grants (created in this scope: logical IDs fixed)."""
        self.predict = project_lambda(
            self,
            "predict",
            "gtpipe: image in, class probabilities out, from the serving endpoint",
            {
                "RUNS_TABLE": runs_table.table_name,
                "DATA_BUCKET": data_bucket.bucket_name,
                "CAPTURE_CONFIG": config.capture.model_dump_json(),
            },
            key=key,
            config=config,
            timeout=Duration.seconds(29),
            # An upload of up to 89.5 megapixels is decoded before it is downscaled (RGBA: ~360 MB).
            memory_size=1024,
            layers=[image_layer],
        )
        grant_table(self.predict.role, runs_table, write=False)
        # Encrypt: captured objects are written with the bucket's KMS key.
        grant_key(self.predict.role, key, encrypt=True)
        grant_captured_objects(self.predict.role, data_bucket, read=False)
        self.predict.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ReadUploads",
                actions=["s3:GetObject"],
                resources=[data_bucket.arn_for_objects(f"{UPLOAD_PREFIX}*")],
            )
        )
        self.feedback = project_lambda(
            self,
            "feedback",
            "gtpipe: a user's correction of a captured prediction",
            {"DATA_BUCKET": data_bucket.bucket_name},
            key=key,
            config=config,
            timeout=Duration.seconds(10),
        )
        grant_key(self.feedback.role, key, encrypt=True)
        grant_captured_objects(self.feedback.role, data_bucket, read=True)
        self.predict.role.add_to_policy(
            iam.PolicyStatement(
                sid="InvokeServingEndpoint", actions=["sagemaker:InvokeEndpoint"], resources=[endpoint_arn]
            )
        )

    def _uploads_function(self, config: StackConfig, key: kms.IKey, data_bucket: s3.IBucket) -> None:
        """The uploads function: presigns POSTs under ``uploads/`` (see the module docstring for its grants)."""
        self.uploads = project_lambda(
            self,
            "uploads",
            "gtpipe: a presigned S3 POST for one large image (POST /uploads)",
            {"DATA_BUCKET": data_bucket.bucket_name, "DATA_KEY_ARN": key.key_arn},
            key=key,
            config=config,
            timeout=Duration.seconds(10),
        )
        self.uploads.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="PresignUploads",
                actions=["s3:PutObject"],
                resources=[data_bucket.arn_for_objects(f"{UPLOAD_PREFIX}*")],
            )
        )
        self.uploads.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="EncryptUploads", actions=["kms:GenerateDataKey"], resources=[key.key_arn]
            )
        )

    def _routes(self, api_key_auth: bool) -> None:
        """``POST /predict`` (validated headers), ``POST /uploads`` and ``POST /feedback``, all with the API's
        one auth."""
        authorization = (
            apigateway.AuthorizationType.NONE if api_key_auth else apigateway.AuthorizationType.IAM
        )
        validator = self.api.add_request_validator(
            "PredictValidator", validate_request_body=True, validate_request_parameters=True
        )
        predict = self.api.root.add_resource("predict")
        predict.add_method(
            "POST",
            apigateway.LambdaIntegration(self.predict.function, proxy=True),
            authorization_type=authorization,
            api_key_required=api_key_auth,
            request_validator=validator,
            # min_confidence (object detection) is optional; the function validates its value.
            request_parameters={
                "method.request.header.Content-Type": True,
                "method.request.querystring.min_confidence": False,
            },
        )
        # The same auth as /predict; the function validates the JSON body (400s name the problem).
        self.api.root.add_resource("uploads").add_method(
            "POST",
            apigateway.LambdaIntegration(self.uploads.function, proxy=True),
            authorization_type=authorization,
            api_key_required=api_key_auth,
        )
        self.api.root.add_resource("feedback").add_method(
            "POST",
            apigateway.LambdaIntegration(self.feedback.function, proxy=True),
            authorization_type=authorization,
            api_key_required=api_key_auth,
        )

    def _api_key(self, config: StackConfig) -> None:
        """The API key, its usage plan (the configured throttle) and the output naming the key."""
        api_key = self.api.add_api_key("ApiKey", description="gtpipe prediction API key")
        plan = self.api.add_usage_plan(
            "UsagePlan",
            throttle=apigateway.ThrottleSettings(
                rate_limit=config.api_rate_limit, burst_limit=config.api_burst_limit
            ),
        )
        plan.add_api_key(api_key)
        plan.add_api_stage(stage=self.api.deployment_stage)
        CfnOutput(
            self,
            "ApiKeyId",
            value=api_key.key_id,
            description="aws apigateway get-api-key --include-value",
        )


def grant_captured_objects(role: iam.IRole, bucket: s3.IBucket, *, read: bool) -> None:
    """PutObject (and GetObject when ``read``) on the data bucket's ``captured/`` objects only."""
    actions = ["s3:GetObject", "s3:PutObject"] if read else ["s3:PutObject"]
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="CapturedObjects", actions=actions, resources=[bucket.arn_for_objects(f"{CAPTURE_PREFIX}*")]
        )
    )


def payload_too_large_response(api: apigateway.RestApi) -> None:
    """REQUEST_TOO_LARGE as a JSON 413 in the API's ``{"error", "code"}`` shape (see PAYLOAD_TOO_LARGE_BODY)."""
    # predict's limit is shared, not copied.
    from gtpipe_shared.images import MAX_API_IMAGE_BYTES

    api.add_gateway_response(
        "RequestTooLarge",
        type=apigateway.ResponseType.REQUEST_TOO_LARGE,
        status_code="413",
        response_headers={"Content-Type": "'application/json'"},
        templates={"application/json": PAYLOAD_TOO_LARGE_BODY % MAX_API_IMAGE_BYTES},
    )
