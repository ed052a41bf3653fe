"""job_status Lambda function (entry point: handler.lambda_handler)."""
