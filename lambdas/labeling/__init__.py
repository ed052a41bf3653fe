"""labeling Lambda function (entry point: handler.lambda_handler)."""
