"""Environment the real handlers read at import time, set before any test module imports one."""

from __future__ import annotations

import os

os.environ["POWERTOOLS_SERVICE_NAME"] = "gtpipe"
os.environ["POWERTOOLS_METRICS_NAMESPACE"] = "Gtpipe"
os.environ["POWERTOOLS_TRACE_DISABLED"] = "1"
os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"
os.environ.setdefault("IDEMPOTENCY_TABLE", "gtpipe-idempotency")
