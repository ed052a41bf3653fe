"""start_run Lambda function (entry point: handler.lambda_handler)."""
