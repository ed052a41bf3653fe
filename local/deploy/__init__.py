"""Deploys a CDK cloud assembly into the local cloud, the way CloudFormation would deploy it to AWS.

Stacks are deployed in dependency order; each stack's resources in reference order
(:meth:`local.cfn.TemplateResolver.resource_order`). Every resource type is either

- **emulated** (:data:`EMULATED_TYPES`): created in moto through its API (S3, DynamoDB, SNS, SQS, KMS,
  Step Functions, EventBridge, API Gateway, Cognito user pools with their clients, groups and users), or
  registered with the local runtimes (Lambda functions in
  :class:`local.lambda_runtime.LambdaRuntime` and the :class:`local.sfn.LambdaRegistry`; the REST API
  in an :class:`local.api_model.RestApiModel` served over HTTPS by :mod:`local.apigateway`);
- **accepted but not emulated** (:data:`NOT_EMULATED`, each with its reason): it answers ``Ref`` and
  ``Fn::GetAtt`` with the names/ARNs CloudFormation would return, and has no local behaviour;
- or **refused**: any other type fails the deployment with :class:`local.cfn.TemplateError`.

Cognito: the template's properties that the ``cognito-idp`` API takes under the same name are passed to
moto (others, such as ``EnabledMfas`` or ``UserPoolTier``, are recorded in ``not_emulated`` of the stack);
``Ref``/``Fn::GetAtt`` answer moto's pool and client ids. API Gateway ``COGNITO_USER_POOLS`` authorizers
are served by :mod:`local.apigateway`. Scheduled EventBridge rules (``rate(...)``) are created in moto and
fired by :mod:`local.schedules`; ``cron(...)`` schedules are refused. Lambda environment values that name
an AWS service endpoint listed in ``endpoint_rewrites`` (the Cognito endpoint the web app calls) are
rewritten to the local endpoint.

Layout: :mod:`local.deploy.deployer` (:class:`LocalDeployer`, thin: order, type check, fidelity checks,
dispatch), :mod:`local.deploy.registry` (resource type -> handler, :data:`EMULATED_TYPES`), one module per
resource family (``kms``, ``s3``, ``dynamodb``, ``messaging`` (SNS/SQS), ``functions`` (Lambda),
``state_machines``, ``events``, ``apigateway``, ``api_keys``, ``cognito``, ``sagemaker``), what a handler
works with in :mod:`local.deploy.context`, and :mod:`local.deploy.not_emulated`.

Names follow CloudFormation: an explicit name property wins, otherwise
``<stack>-<logical id>-<suffix>`` within the service's length limit (the suffix is derived from the
stack and logical ID, so names are stable between local deployments).
"""

from .context import Deployment, DeployServices, Handler, StackContext, StackDeployment, generated_name
from .deployer import LocalDeployer
from .not_emulated import NATIVE_CUSTOM_RESOURCES, NOT_EMULATED, NotEmulated
from .registry import EMULATED_TYPES, HANDLERS, describe_support

__all__ = [
    "EMULATED_TYPES",
    "HANDLERS",
    "NATIVE_CUSTOM_RESOURCES",
    "NOT_EMULATED",
    "DeployServices",
    "Deployment",
    "Handler",
    "LocalDeployer",
    "NotEmulated",
    "StackContext",
    "StackDeployment",
    "describe_support",
    "generated_name",
]
