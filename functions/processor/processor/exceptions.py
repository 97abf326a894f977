"""Errors of the AWS adapter, in the engine's tree (:mod:`bgremove.exceptions`), each with a stable ``code``.

::

    BgRemoveError (engine)
    ├── InputError ................ FAILED event, message acknowledged, never retried
    │   └── SourceNotFoundError     SOURCE_NOT_FOUND    (object deleted or overwritten before we read it)
    ├── ModelError ................ retried, then DLQ (a deployment fault)
    ├── ConfigurationError ........ INVALID_SETTING: the function cannot start; retried, then DLQ
    │   └── SettingsError           INVALID_SETTING     (names the function's environment variable)
    ├── UnrecognisedEventError .... UNRECOGNISED_EVENT: retried, then DLQ (a poison message, a wiring fault)
    ├── OutOfTimeError ............ OUT_OF_TIME: the record is given back unprocessed and retried
    └── ProcessingError ........... retried, then DLQ
    anything else (botocore errors: throttling, 5xx, timeouts; SNS publish failures)
                                    retried, then DLQ

Only :class:`bgremove.InputError` ends an upload with a FAILED event; everything else is reported to the
event source as a failed item so it is delivered again, and lands in the dead-letter queue (with its alarm)
after ``maxReceiveCount`` attempts. Nothing is lost and nothing loops.
"""

from __future__ import annotations

from bgremove.exceptions import BgRemoveError, ConfigurationError, InputError

__all__ = ["OutOfTimeError", "SettingsError", "SourceNotFoundError", "UnrecognisedEventError"]


class SourceNotFoundError(InputError):
    """The uploaded object is gone (deleted, or overwritten by a newer upload) before it could be read."""

    code = "SOURCE_NOT_FOUND"


class SettingsError(ConfigurationError):
    """A function environment variable is missing or malformed (a deployment fault).

    Parameters
    ----------
    setting
        The environment variable's name, e.g. ``"OUTPUT_BUCKET"``; kept as :attr:`setting`.
    message
        What is wrong with it.
    """


class UnrecognisedEventError(BgRemoveError):
    """The event, or an SQS message body, is none of the shapes the function accepts.

    Not an :class:`~bgremove.InputError`: no upload can be named, so no FAILED event can be published. The
    message is retried and then parked in the dead-letter queue, where someone can look at it.
    """

    code = "UNRECOGNISED_EVENT"


class OutOfTimeError(BgRemoveError):
    """Too little of the invocation is left to process another record; it is handed back for a retry.

    Transient by nature: the record is reported as a failed batch item, so SQS delivers it again.
    """

    code = "OUT_OF_TIME"
