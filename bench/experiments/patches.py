"""Engine changes under test, applied by monkeypatching inside a benchmark worker (the engine is not edited).

Each function is named in ``WorkerSpec.patch`` as ``"patches:NAME"`` and runs before the engine is built.
"""

from __future__ import annotations

import io
from typing import Any

from PIL import Image


def pillow_png() -> None:
    """PNG output through Pillow at the engine's level: the engine as it was before its own PNG writer."""
    from bgremove import _encode  # noqa: PLC0415
    from bgremove.options import OutputFormat  # noqa: PLC0415

    original = _encode.encode

    def encode(image: Image.Image, fmt: OutputFormat, **kwargs: Any) -> _encode.Encoded:
        if fmt in (OutputFormat.PNG, OutputFormat.DELTA_PNG):
            buffer = io.BytesIO()
            image.save(buffer, "PNG", compress_level=kwargs["png_compress_level"])
            return _encode.Encoded(
                buffer.getvalue(), fmt, _encode.CONTENT_TYPES[fmt], _encode.EXTENSIONS[fmt]
            )
        return original(image, fmt, **kwargs)

    _encode.encode = encode


def bilinear_matte() -> None:
    """The engine's matte as it was before logit upsampling: 8-bit matte at network size, BILINEAR resize."""
    import numpy as np  # noqa: PLC0415
    from PIL import ImageChops  # noqa: PLC0415

    from bgremove import _matte  # noqa: PLC0415
    from bgremove.models import _segmenter  # noqa: PLC0415

    def to_matte(self: Any, prediction: np.ndarray) -> Image.Image:
        if self.spec.minmax_output:
            low, high = float(prediction.min()), float(prediction.max())
            prediction = (prediction - low) * (1.0 / max(high - low, 1e-6))
        return Image.fromarray(np.clip(prediction * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")

    def refine(
        matte: Image.Image, size: tuple[int, int], *, threshold: float, input_alpha: Image.Image | None = None
    ) -> Image.Image:
        alpha = matte.resize(size, Image.Resampling.BILINEAR) if matte.size != size else matte
        alpha = alpha.point(_matte._lookup_table(threshold))
        return ImageChops.multiply(alpha, input_alpha) if input_alpha is not None else alpha

    _segmenter.OnnxSegmenter.to_matte = to_matte  # type: ignore[method-assign]
    _matte.refine = refine


def no_mem_pattern() -> None:
    """ONNX Runtime sessions without the memory pattern (``SessionOptions.enable_mem_pattern = False``)."""
    import onnxruntime as ort  # noqa: PLC0415

    original = ort.InferenceSession

    class Session(original):  # type: ignore[misc, valid-type]
        def __init__(self, path: Any, sess_options: Any = None, **kwargs: Any) -> None:
            if sess_options is not None:
                sess_options.enable_mem_pattern = False
            super().__init__(path, sess_options=sess_options, **kwargs)

    ort.InferenceSession = Session
