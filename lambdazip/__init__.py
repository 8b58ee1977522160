"""lambdazip: build AWS Lambda layers and functions inside the Lambda image, and check any zip
against its runtime before deploy."""

__version__ = "0.1.0"
