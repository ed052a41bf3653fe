"""labeling_api Lambda function (entry point: handler.lambda_handler)."""
