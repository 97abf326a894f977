"""The S3 -> SQS -> Lambda -> S3 + SNS processing function: a thin AWS adapter over :mod:`bgremove`."""
