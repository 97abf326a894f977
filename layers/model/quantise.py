#!/usr/bin/env python3
"""Quantise U2-Net's convolutions to 8 bits: the default model then fits a Lambda layer, and runs faster.

    quantise.py SOURCE.onnx TARGET.onnx
    quantise.py SOURCE.onnx TARGET.onnx --calibrate PHOTO [PHOTO ...]

ONNX Runtime's static quantisation in QDQ form: each quantised Conv becomes, once the session fuses it, a
``QLinearConv`` on uint8 activations and 7-bit int8 weights (per output channel), whose activation ranges were
measured beforehand on photos. Kept in fp32, because they carry the fine detail of the matte: the first two
convolutions, the side-output convolutions (one output channel each) and the last two decoder stages (the 26
convolutions that work at full and half network resolution; quantising the last one cost 0.01 IoU on DAVIS,
the one before it 0.003). 176 MB becomes 46 MB, and inference takes about 0.6 of the fp32 file's time; the
measurements, and why not the other routes (dynamic quantisation, int8 weights widened at load, fp16), are in
docs/decisions/0007-u2net-int8-weights.md and 0009-u2net-static-quantisation.md.

The activation ranges come from ``u2net-calibration.json`` (next to this file, committed): measuring them
runs the fp32 network, whose float results may differ in the last bits between CPUs, so the build reads the
committed table instead, and its output is byte-for-byte the same everywhere. ``--calibrate`` re-measures the
table from the given photos (each whole and its four quarters, each also mirrored: 10 inputs per photo),
preprocessed exactly as the engine does, and writes it. The committed table comes from the three photos of
tests/fixtures/images.

Runs in the pinned tool venv that fetch_model.py creates (layers/model/requirements-tools.txt); fetch_model.py
checks the result's sha256.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import onnx
from onnx import version_converter
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

HERE = Path(__file__).resolve().parent
CALIBRATION = HERE / "u2net-calibration.json"
KEEP_FIRST = 2
KEEP_LAST = 26  # U2-Net's last two decoder stages: RSU-7 (14 convolutions) and RSU-6 (12)
# Per-channel DequantizeLinear (its axis attribute) needs opset 13; rembg's export is opset 11.
OPSET = 13


def fp32_convolutions(model: onnx.ModelProto) -> list[str]:
    """Names of the Conv nodes to keep in fp32: the first two, the side outputs and the last 26 others.

    The side outputs are the convolutions with one output channel (the six side mattes and their fusion);
    the last 26 others are the last two decoder stages, at full and half network resolution. Picked by
    structure, not by name or position alone, so a re-export that reorders nodes keeps the same ones.
    """
    weights = {tensor.name: tensor for tensor in model.graph.initializer}
    convs = [node for node in model.graph.node if node.op_type == "Conv"]
    side_outputs = [node for node in convs if weights[node.input[1]].dims[0] == 1]
    others = [node for node in convs if node not in side_outputs]
    keep = others[:KEEP_FIRST] + side_outputs + others[-KEEP_LAST:]
    return sorted({node.name for node in keep})


class Photos(CalibrationDataReader):
    """The network inputs of ``photos`` and of their mirror images, as the engine prepares them."""

    def __init__(self, photos: list[Path], input_name: str) -> None:
        # The engine's own preprocessing (resize, normalisation), so the ranges are those it will feed.
        sys.path.insert(0, str(HERE.parent / "engine"))
        from PIL import Image, ImageOps  # noqa: PLC0415

        from bgremove.models import U2NET  # noqa: PLC0415
        from bgremove.models._segmenter import network_pixels, normalise  # noqa: PLC0415

        def inputs() -> Iterator[dict[str, object]]:
            for path in photos:
                with Image.open(path) as opened:
                    image = ImageOps.exif_transpose(opened).convert("RGB")
                width, height = image.size
                crops = [(0, 0, width, height)] + [
                    (x, y, x + width // 2, y + height // 2) for x in (0, width // 2) for y in (0, height // 2)
                ]
                for box in crops:
                    view = image.crop(box)
                    for flipped in (view, ImageOps.mirror(view)):
                        yield {input_name: normalise(network_pixels(flipped, U2NET), U2NET)}

        self._inputs = inputs()

    def get_next(self) -> dict[str, object] | None:
        return next(self._inputs, None)


def quantise(source: Path, target: Path, photos: list[Path] | None = None) -> tuple[int, int]:
    """Write the quantised model; returns the counts of quantised and fp32 convolutions.

    With ``photos``, the activation ranges are measured on them and written to :data:`CALIBRATION` first.
    """
    with tempfile.TemporaryDirectory(prefix="quantise-") as work:
        prepared = Path(work) / "prepared.onnx"
        # Shape inference only: ONNX Runtime's optimiser (skipped) could fold differently on other CPUs.
        quant_pre_process(str(source), str(prepared), skip_optimization=True, skip_symbolic_shape=True)
        model = onnx.load(str(prepared))
        if model.opset_import[0].version < OPSET:
            model = version_converter.convert_version(model, OPSET)
            onnx.save(model, str(prepared))
        keep = fp32_convolutions(model)
        convs = sum(node.op_type == "Conv" for node in model.graph.node)
        # ONNX Runtime reads the ranges from this file when it exists, else measures and writes them there;
        # a copy, so that a build never writes to the committed table.
        ranges = Path(work) / "calibration.json"
        reader = None
        if photos:
            reader = Photos(photos, model.graph.input[0].name)
        else:
            shutil.copyfile(CALIBRATION, ranges)
        quantize_static(
            prepared,
            target,
            reader,
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=["Conv"],
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            # 7-bit weights: x86 CPUs without VNNI multiply uint8 by int8 in pairs summed to int16, which
            # 8-bit weights can saturate; on VNNI CPUs it is as fast, and scored the same on the shared sets
            reduce_range=True,
            nodes_to_exclude=keep,
            calibrate_method=CalibrationMethod.MinMax,
            calibration_cache_path=ranges,
        )
        if photos:  # indented, so that a re-measured table reads as a diff
            CALIBRATION.write_text(json.dumps(json.loads(ranges.read_text()), indent=1) + "\n")
    return convs - len(keep), len(keep)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("source", type=Path)
    parser.add_argument("target", type=Path)
    parser.add_argument("--calibrate", nargs="+", type=Path, metavar="PHOTO", help="re-measure the ranges")
    args = parser.parse_args(argv)
    quantised, kept = quantise(args.source, args.target, args.calibrate)
    print(f"quantised {quantised} convolutions to 8 bits (QDQ, weights per channel), kept {kept} in fp32")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
