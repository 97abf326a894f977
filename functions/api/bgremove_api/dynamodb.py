"""DynamoDB plumbing every store of the API shares (keys, rate counters, jobs, webhook key hashes): reading
an error's code, and telling a busy or unreachable table (503, retry) from a deployment fault (500)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import BotoCoreError, ClientError

from bgremove_api.aws import error_code
from bgremove_api.exceptions import ServiceUnavailableError

__all__ = ["CONDITION_FAILED", "TRANSACTION_CANCELED", "dynamodb_errors"]

CONDITION_FAILED = "ConditionalCheckFailedException"
TRANSACTION_CANCELED = "TransactionCanceledException"

# Errors that mean "DynamoDB is busy or unreachable right now", after botocore's own retries: the request
# may succeed later (503), unlike a missing table or a denied permission (a deployment fault).
_TRANSIENT_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
    }
)


@contextmanager
def dynamodb_errors(what: str) -> Iterator[None]:
    """Turn DynamoDB throttling, 5xx and connection errors into :class:`ServiceUnavailableError`.

    Any other :class:`~botocore.exceptions.ClientError` (missing table, access denied) propagates: it is a
    deployment fault, not something a retry fixes.
    """
    try:
        yield
    except ClientError as error:
        if error_code(error) in _TRANSIENT_CODES:
            raise ServiceUnavailableError(f"{what}: DynamoDB is busy, retry shortly") from error
        raise
    except BotoCoreError as error:
        raise ServiceUnavailableError(f"{what}: DynamoDB is unreachable ({error})") from error
