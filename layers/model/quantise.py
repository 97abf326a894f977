#!/usr/bin/env python3
"""Quantise U2-Net's convolution weights to 8 bits, so that the default model fits a zip-deployed Lambda.

    quantise.py SOURCE.onnx TARGET.onnx

ONNX Runtime's dynamic quantisation, per output channel, of the Conv weights: each becomes ``ConvInteger``
on uint8 weights, with the activations quantised per tensor at run time. Kept in fp32, because they carry
the fine detail of the matte and weigh little: the first two convolutions, the side-output convolutions
(one output channel each) and the last two decoder stages (the 26 convolutions that work at full and half
network resolution; quantising the last one cost 0.01 IoU on DAVIS, the one before it 0.003).
176 MB becomes 46 MB; the measurements, and why not the other routes (int8 weights widened to fp32 at
load, fp16), are in docs/decisions/0007-u2net-int8-weights.md.

Runs in the pinned tool venv that fetch_model.py creates (layers/model/requirements-tools.txt): with those
versions the output is byte-for-byte reproducible, and fetch_model.py checks its sha256.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import onnx
from onnxruntime.quantization import QuantType, quantize_dynamic
from onnxruntime.quantization.shape_inference import quant_pre_process

KEEP_FIRST = 2
KEEP_LAST = 26  # U2-Net's last two decoder stages: RSU-7 (14 convolutions) and RSU-6 (12)


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


def quantise(source: Path, target: Path) -> tuple[int, int]:
    """Write the quantised model; returns the counts of quantised and fp32 convolutions."""
    with tempfile.TemporaryDirectory(prefix="quantise-") as work:
        prepared = Path(work) / "prepared.onnx"
        # Shape inference only: ONNX Runtime's optimiser (skipped) could fold differently on other CPUs.
        quant_pre_process(str(source), str(prepared), skip_optimization=True, skip_symbolic_shape=True)
        model = onnx.load(str(prepared))
        keep = fp32_convolutions(model)
        convs = sum(node.op_type == "Conv" for node in model.graph.node)
        quantize_dynamic(
            prepared,
            target,
            op_types_to_quantize=["Conv"],
            per_channel=True,
            # uint8 weights: the u8u8 kernels cannot saturate on CPUs without VNNI, as u8s8 ones can
            weight_type=QuantType.QUInt8,
            nodes_to_exclude=keep,
        )
    return convs - len(keep), len(keep)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    quantised, kept = quantise(Path(argv[0]), Path(argv[1]))
    print(f"quantised {quantised} convolutions to uint8 per channel, kept {kept} in fp32")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
