"""Environment the real handlers read at import time, set before any test module imports one."""

from __future__ import annotations

import os

# moto installs its request hook into botocore when it is imported; a boto3 client created before that
# (start_run creates its idempotency client at import, and test_definition_contract imports start_run at
# collection) would otherwise bypass mock_aws and try to reach AWS.
import moto  # noqa: F401

os.environ["POWERTOOLS_SERVICE_NAME"] = "gtpipe"
os.environ["POWERTOOLS_METRICS_NAMESPACE"] = "Gtpipe"
os.environ["POWERTOOLS_TRACE_DISABLED"] = "1"
os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"
os.environ.setdefault("IDEMPOTENCY_TABLE", "gtpipe-idempotency")
