"""Every error the engine raises, each with a stable machine-readable ``code``.

::

    BgRemoveError                      (base; never raised itself)
    ├── InputError                     the request is at fault: retrying the same input cannot succeed
    │   ├── EmptyInputError            EMPTY_INPUT
    │   ├── NotAnImageError            NOT_AN_IMAGE
    │   ├── UnsupportedFormatError     UNSUPPORTED_FORMAT
    │   ├── CorruptImageError          CORRUPT_IMAGE       (truncated or damaged pixel data)
    │   ├── ImageTooLargeError         IMAGE_TOO_LARGE     (over the decompression-bomb limit)
    │   ├── InvalidOptionError         INVALID_OPTION      (names the option)
    │   ├── BackgroundNotFoundError    BACKGROUND_NOT_FOUND (the background_image named is not there)
    │   └── DeltaMismatchError         DELTA_MISMATCH      (decode-delta: delta does not fit the input)
    ├── ModelError                     the deployment is at fault: fix the model setup
    │   ├── ModelNotFoundError         MODEL_NOT_FOUND
    │   ├── ModelLoadError             MODEL_LOAD_FAILED
    │   └── RemoteModelError           REMOTE_MODEL_ERROR  (the inference endpoint cannot run the model)
    ├── InferenceUnavailableError      INFERENCE_UNAVAILABLE (endpoint throttled, 5xx, timed out, unreachable)
    ├── ConfigurationError             INVALID_SETTING     (a malformed environment variable or setting)
    ├── MalformedEventError            MALFORMED_EVENT     (not a completion event this reader understands)
    └── ProcessingError                INTERNAL_ERROR      (a bug or resource exhaustion)

Callers branch on the class (``except InputError``) or on ``code``; codes never change once published,
so event subscribers and metrics can rely on them.

Who is at fault decides the class. A model the request names (the ``model`` option) that is unknown, or
known but not deployed, is ``INVALID_OPTION``; the default model (``BGREMOVE_DEFAULT_MODEL``) unknown when
no model is requested, or its file missing, is ``MODEL_NOT_FOUND`` (see ``Engine.resolve_model`` and
``Engine.segmenter``). Every malformed ``BGREMOVE_*``
variable is ``INVALID_SETTING``, except a ``BGREMOVE_CUSTOM_MODELS`` descriptor that parses but describes
a bad model, which is ``MODEL_LOAD_FAILED`` like the same descriptor given any other way.
"""

from __future__ import annotations


class BgRemoveError(Exception):
    """Base class of every engine error."""

    code: str = "INTERNAL_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, str]:
        """The ``{"code", "message"}`` pair that completion events and ``--json`` output carry."""
        return {"code": self.code, "message": self.message}


class InputError(BgRemoveError):
    """The image or its options are at fault; the same request will fail again."""

    code = "INVALID_INPUT"


class EmptyInputError(InputError):
    code = "EMPTY_INPUT"


class NotAnImageError(InputError):
    code = "NOT_AN_IMAGE"


class UnsupportedFormatError(InputError):
    code = "UNSUPPORTED_FORMAT"


class CorruptImageError(InputError):
    code = "CORRUPT_IMAGE"


class ImageTooLargeError(InputError):
    code = "IMAGE_TOO_LARGE"


class InvalidOptionError(InputError):
    """A bad option value; ``option`` holds the option's name as the user spelled it in the docs."""

    code = "INVALID_OPTION"

    def __init__(self, option: str, message: str) -> None:
        super().__init__(f"{option}: {message}")
        self.option = option

    def to_dict(self) -> dict[str, str]:
        return {**super().to_dict(), "option": self.option}


class BackgroundNotFoundError(InputError):
    """The image the ``background_image`` option names does not exist where the caller looked for it.

    The engine never fetches it: the adapter that resolves the reference (an S3 key, a URL) raises this.
    """

    code = "BACKGROUND_NOT_FOUND"


class DeltaMismatchError(InputError):
    code = "DELTA_MISMATCH"


class ModelError(BgRemoveError):
    """The model setup is at fault (missing file, bad hash, bad descriptor)."""

    code = "MODEL_ERROR"


class ModelNotFoundError(ModelError):
    code = "MODEL_NOT_FOUND"


class ModelLoadError(ModelError):
    code = "MODEL_LOAD_FAILED"


class RemoteModelError(ModelError):
    """The remote inference endpoint answered that it cannot run the model on this input.

    The endpoint serves another model or one that takes another input, it failed running it, or its
    answer is not the model's matte: a deployment fault that retrying on the same endpoint does not fix
    (the message carries the endpoint's words). Not a candidate for the local fallback.
    """

    code = "REMOTE_MODEL_ERROR"


class InferenceUnavailableError(BgRemoveError):
    """The remote inference endpoint could not answer now: throttled, 5xx, timed out or unreachable.

    Transient: the upload is retried (then dead-lettered), or run locally when the deployment enables
    the fallback (``INFERENCE_FALLBACK``).
    """

    code = "INFERENCE_UNAVAILABLE"


class ConfigurationError(BgRemoveError):
    """A setting read from the environment is missing or malformed; ``setting`` names it."""

    code = "INVALID_SETTING"

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(f"{setting}: {message}")
        self.setting = setting

    def to_dict(self) -> dict[str, str]:
        return {**super().to_dict(), "setting": self.setting}


class MalformedEventError(BgRemoveError):
    """A message that is not a completion event this reader understands (its field named).

    Raised by :mod:`bgremove.events` (which exports it too) when a message fails the contract of
    ``events/schema/completion-event.schema.json``, and when a :class:`~bgremove.events.CompletionEvent` is
    built inconsistent (a ``COMPLETED`` event without an output, a ``FAILED`` one without an error).
    """

    code = "MALFORMED_EVENT"


class ProcessingError(BgRemoveError):
    """Anything unexpected while processing: a bug or exhausted resources."""

    code = "INTERNAL_ERROR"
