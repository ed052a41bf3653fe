"""harvest Lambda function (entry point: handler.lambda_handler)."""
