"""report Lambda function (entry point: handler.lambda_handler): the run report in reports/<run_id>/."""
