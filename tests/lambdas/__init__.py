"""Tests of the Lambda functions (lambdas/) and their shared module."""
