"""Segmentation models: specs, the registry that loads them once, and the session wrapper."""

from bgremove.models._registry import ModelFetcher, ModelRegistry
from bgremove.models._segmenter import OnnxSegmenter, Segmenter, SessionConfig
from bgremove.models._spec import BUILTIN_MODELS, DEFAULT_MODEL, ISNET, U2NETP, ModelSpec

__all__ = [
    "BUILTIN_MODELS",
    "DEFAULT_MODEL",
    "ISNET",
    "U2NETP",
    "ModelFetcher",
    "ModelRegistry",
    "ModelSpec",
    "OnnxSegmenter",
    "Segmenter",
    "SessionConfig",
]
