"""bgremove: background removal with a bundled ONNX model.

The public API is small::

    from bgremove import Engine, Options

    engine = Engine()                                  # one per process; models load once
    result = engine.process(image_bytes, Options.parse({"background_color": "#ffffff"}))
    result.data, result.content_type, result.report.to_dict()

Errors all derive from :class:`BgRemoveError` and carry a stable ``code``; see :mod:`bgremove.exceptions`.
The engine runs models through two protocols, :class:`Segmenter` and :class:`SegmenterRegistry`; pass
``Engine(registry=...)`` to run them some other way than the bundled ONNX Runtime registry.
"""

from bgremove.delta import apply_delta
from bgremove.engine import Engine, OutputFormatInfo, Result, output_format
from bgremove.exceptions import (
    BgRemoveError,
    ConfigurationError,
    CorruptImageError,
    DeltaMismatchError,
    EmptyInputError,
    ImageTooLargeError,
    InputError,
    InvalidOptionError,
    ModelError,
    ModelLoadError,
    ModelNotFoundError,
    NotAnImageError,
    ProcessingError,
    UnsupportedFormatError,
)
from bgremove.models import ModelFetcher, ModelRegistry, ModelSpec, Segmenter, SegmenterRegistry
from bgremove.options import BackgroundType, Margin, Options, OutputFormat, VerticalAlignment
from bgremove.report import BBox, Report
from bgremove.settings import EngineSettings, Env

__version__ = "0.1.0"

__all__ = [
    "BBox",
    "BackgroundType",
    "BgRemoveError",
    "ConfigurationError",
    "CorruptImageError",
    "DeltaMismatchError",
    "EmptyInputError",
    "Engine",
    "EngineSettings",
    "Env",
    "ImageTooLargeError",
    "InputError",
    "InvalidOptionError",
    "Margin",
    "ModelError",
    "ModelFetcher",
    "ModelLoadError",
    "ModelNotFoundError",
    "ModelRegistry",
    "ModelSpec",
    "NotAnImageError",
    "Options",
    "OutputFormat",
    "OutputFormatInfo",
    "ProcessingError",
    "Report",
    "Result",
    "Segmenter",
    "SegmenterRegistry",
    "UnsupportedFormatError",
    "VerticalAlignment",
    "__version__",
    "apply_delta",
    "output_format",
]
