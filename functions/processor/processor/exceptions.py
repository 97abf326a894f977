"""Errors of the AWS adapter, next to the engine's own (:mod:`bgremove.exceptions`).

::

    BgRemoveError (engine)
    ├── InputError ...................... FAILED event, message acknowledged, never retried
    │   └── SourceNotFoundError           SOURCE_NOT_FOUND  (object deleted or overwritten before we read it)
    ├── ModelError ...................... retried, then DLQ (a deployment fault)
    └── ProcessingError ................. retried, then DLQ
    anything else (botocore errors: throttling, 5xx, timeouts; SNS publish failures; OutOfTimeError)
                                          retried, then DLQ

Only :class:`bgremove.InputError` ends an upload with a FAILED event; everything else is reported to the
event source as a failed item so it is delivered again, and lands in the dead-letter queue (with its alarm)
after ``maxReceiveCount`` attempts. Nothing is lost and nothing loops.
"""

from __future__ import annotations

from bgremove.exceptions import InputError


class SourceNotFoundError(InputError):
    code = "SOURCE_NOT_FOUND"
