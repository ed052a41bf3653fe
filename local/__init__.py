"""gtpipe embedded local cloud: moto plus the extensions the pipeline needs.

The local cloud deploys what ``cdk synth`` produced (the cloud assembly's templates and staged assets),
never a parallel copy, so a green local run is evidence about the deployed stacks.

Modules:

- :mod:`local.cloud` -- :class:`~local.cloud.LocalCloud`: moto server mode in this process, Step Functions
  execution switched on, every extension installed; deploys an assembly and publishes its outputs
  (settings in :mod:`local.cloud_settings`, the builtin labeling service's users and crowd in
  :mod:`local.cloud_labeling`).
- :mod:`local.synth` -- runs the CDK app like ``cdk synth`` (``CDK_OUTDIR``/``CDK_CONTEXT_JSON``), with
  JSON context values, reusing a fresh assembly.
- :mod:`local.cfn_assembly` reads the assembly (stack order, assets); :mod:`local.cfn` resolves
  CloudFormation intrinsics; anything unknown fails loudly.
- :mod:`local.deploy` -- creates each resource in moto or the local runtimes (a registry of handlers, one
  module per resource family); the accepted-but-not-emulated types and why
  (:data:`~local.deploy.NOT_EMULATED`).
- :mod:`local.lambda_runtime` / :mod:`local.lambda_worker` -- Lambda functions in worker processes (one
  execution environment each) behind :class:`local.sfn.LambdaRegistry`.
- :mod:`local.eventbridge` -- EventBridge -> Lambda targets (moto patch point: ``Rule.send_to_targets``),
  with retry policies and dead-letter queues.
- :mod:`local.apigateway` (+ ``apigateway_http``, ``apigateway_event``) / :mod:`local.api_model` /
  :mod:`local.tls` / :mod:`local.sigv4` -- the REST API over HTTPS (proxy integration, IAM/API-key/Cognito
  auth, throttling); SigV4 checks of API requests and presigned S3 URLs.
- :mod:`local.labeling_crowd` -- the simulated people who label through the builtin labeling service's API.

Drivers (:mod:`local.drivers`: ``python -m local.cli up|down|status``, ``python -m local.demo``, the
clients of a running cloud, run following) start and use the emulator from outside; only they import
:mod:`gtpipe_cli`, and no emulator module imports them.

Owned elsewhere: :mod:`local.sfn` (Step Functions interpreter extensions) and :mod:`local.sagemaker` (the
local SageMaker: jobs as processes, endpoints in-process, simulated workforce).
"""
