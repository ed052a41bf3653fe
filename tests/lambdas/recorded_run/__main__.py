"""``python -m tests.lambdas.recorded_run TARGET``: render a sample report into a folder."""

from tests.lambdas.recorded_run.sample import main

main()
