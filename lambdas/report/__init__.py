"""report Lambda function (entry point: handler.lambda_handler): the run report in reports/<run_id>/.

Lambda's file system is read-only except /tmp, so matplotlib's cache must live there: set here, before
any module of the package (the figure modules) imports matplotlib.
"""

import os
import tempfile

os.environ.setdefault("MPLCONFIGDIR", os.path.join(tempfile.gettempdir(), "matplotlib"))
