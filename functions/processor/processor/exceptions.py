"""Errors of the AWS adapter, in the engine's tree (:mod:`bgremove.exceptions`), each with a stable ``code``.

::

    BgRemoveError (engine)
    ├── InputError ................ FAILED event, message acknowledged, never retried
    │   ├── SourceNotFoundError     SOURCE_NOT_FOUND    (object deleted before we read it)
    │   └── SupersededError         SUPERSEDED          (a newer upload of the same key replaced this one)
    ├── ModelError ................ retried, then DLQ (a deployment fault)
    ├── ConfigurationError ........ INVALID_SETTING (names the environment variable): the function cannot
    │                               start; retried, then DLQ
    ├── UnrecognisedEventError .... UNRECOGNISED_EVENT: a direct invocation raises it (a wiring fault); an
    │                               SQS message nobody can read is logged, counted and acknowledged
    ├── OutOfTimeError ............ OUT_OF_TIME: the record is given back unprocessed and retried
    └── ProcessingError ........... retried, then DLQ
    anything else (botocore errors: throttling, 5xx, timeouts; SNS publish failures)
                                    retried, then DLQ

Only :class:`bgremove.InputError` ends an upload with a FAILED event; everything else is reported to the
event source as a failed item so it is delivered again, and lands in the dead-letter queue (with its alarm)
after ``maxReceiveCount`` attempts. Nothing is lost and nothing loops.
"""

from __future__ import annotations

from bgremove.exceptions import BgRemoveError, InputError

__all__ = [
    "OutOfTimeError",
    "SourceNotFoundError",
    "SupersededError",
    "UnrecognisedEventError",
]


class SourceNotFoundError(InputError):
    """The uploaded object was deleted before it could be read."""

    code = "SOURCE_NOT_FOUND"


class SupersededError(InputError):
    """A newer upload of the same key replaced this one: its bytes, options or result are gone.

    Raised when the key was overwritten before this upload could be read, when the object read turns out
    to be a later upload than the notified one (same bytes, other metadata), or when the output already
    holds the result of a later upload. The message names the newer upload, which has its own event.
    Not retried: no retry can bring the replaced upload back.
    """

    code = "SUPERSEDED"


class UnrecognisedEventError(BgRemoveError):
    """The event, or an SQS message body, is none of the shapes the function accepts.

    Not an :class:`~bgremove.InputError`: no upload can be named, so no FAILED event can be published. An
    SQS message that raises it is permanent garbage: the handler logs it with its message id, counts it
    (metric ``UnrecognisedMessage``) and acknowledges it, as retries could never read it either. A direct
    invocation with an unrecognised event raises it, so that Lambda reports the wiring fault.
    """

    code = "UNRECOGNISED_EVENT"


class OutOfTimeError(BgRemoveError):
    """Too little of the invocation is left to process another record; it is handed back for a retry.

    Transient by nature: the record is reported as a failed batch item, so SQS delivers it again.
    """

    code = "OUT_OF_TIME"
