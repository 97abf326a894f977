"""The models package: the registry's errors, custom descriptors and what a loaded network must look like.

ONNX files are built here byte by byte (an ``Identity`` network with a chosen input shape): the ``onnx``
package is not a dependency, and a few protobuf fields are all ONNX Runtime needs.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import bgremove
from bgremove import ModelLoadError, ModelNotFoundError, ModelRegistry, ModelSpec
from bgremove.models import (
    U2NET,
    U2NET_FP32,
    OnnxSegmenter,
    Segmenter,
    SegmenterRegistry,
    SessionConfig,
    _registry,
)
from tests.fakes import FakeRegistry, FakeSegmenter, full_matte

# ------------------------------------------------------------------------------- tiny ONNX files

_FLOAT = 1  # TensorProto.FLOAT


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, value: int | bytes | str) -> bytes:
    """One protobuf field: varint (wire type 0) for ints, length-delimited (wire type 2) otherwise."""
    if isinstance(value, int):
        return _varint(number << 3) + _varint(value)
    data = value.encode() if isinstance(value, str) else value
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _value_info(name: str, shape: list[int | str]) -> bytes:
    dims = b"".join(_field(1, _field(1, d) if isinstance(d, int) else _field(2, d)) for d in shape)
    tensor_type = _field(1, _FLOAT) + _field(2, dims)  # TypeProto.Tensor: elem_type, shape
    return _field(1, name) + _field(2, _field(1, tensor_type))  # ValueInfoProto: name, type


def identity_onnx(shape: list[int | str]) -> bytes:
    """A serialised ONNX model, ``y = Identity(x)``, whose one input and output have ``shape``."""
    node = _field(1, "x") + _field(2, "y") + _field(4, "Identity")
    graph = (
        _field(1, node)
        + _field(2, "g")
        + _field(11, _value_info("x", shape))
        + _field(12, _value_info("y", shape))
    )
    opset = _field(2, 13)
    return _field(1, 8) + _field(7, graph) + _field(8, opset)  # ir_version, graph, opset_import


def _load(tmp_path: Path, shape: list[int | str], **spec: object) -> OnnxSegmenter:
    path = tmp_path / "net.onnx"
    path.write_bytes(identity_onnx(shape))
    fields: dict[str, object] = {"name": "net", "source": str(path), "input_size": 8, **spec}
    return ModelRegistry([], SessionConfig(), specs=[ModelSpec.from_descriptor(fields)]).get("net")


def test_identity_network_loads(tmp_path: Path):
    # The builder itself works, so the failures below come from the shapes and nothing else.
    segmenter = _load(tmp_path, [1, 3, 8, 8])
    tensor = segmenter.prepare(Image.new("RGB", (20, 10), (255, 255, 255)))
    assert tensor.shape == (1, 3, 8, 8)
    assert tensor.dtype == np.float32


def test_dynamic_spatial_dimensions_load(tmp_path: Path):
    assert _load(tmp_path, [1, 3, "height", "width"], input_size=16).spec.input_size == (16, 16)


@pytest.mark.parametrize("shape", [[1, 3, 64], [3, 64, 64, 1, 1], [64], []])
def test_input_that_is_not_4d_is_a_load_error(tmp_path: Path, shape: list[int | str]):
    with pytest.raises(ModelLoadError) as caught:
        _load(tmp_path, shape)
    assert caught.value.code == "MODEL_LOAD_FAILED"
    assert "4-D" in caught.value.message
    assert str(shape) in caught.value.message


def test_input_that_is_not_three_channels_is_a_load_error(tmp_path: Path):
    with pytest.raises(ModelLoadError, match="3 colour channels"):
        _load(tmp_path, [1, 1, 8, 8])


def test_input_size_contradicting_the_network_is_a_load_error(tmp_path: Path):
    with pytest.raises(ModelLoadError, match="16x16 but the network takes 8x8"):
        _load(tmp_path, [1, 3, 8, 8], input_size=16)


# ------------------------------------------------------------------------------- descriptor flags


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (True, True),
        (False, False),
        (1, True),
        (0, False),
        ("true", True),
        ("false", False),
        ("FALSE", False),
        (" True ", True),
        ("1", True),
        ("0", False),
        ("yes", True),
        ("No", False),
    ],
)
@pytest.mark.parametrize("flag", ["scale_by_max", "minmax_output"])
def test_descriptor_flags_parse_strictly(flag: str, raw: object, expected: bool):
    spec = ModelSpec.from_descriptor({"name": "m", "source": "m.onnx", flag: raw})
    assert getattr(spec, flag) is expected


@pytest.mark.parametrize("raw", ["maybe", "", "2", 2, -1, 0.5, None, [], {}])
@pytest.mark.parametrize("flag", ["scale_by_max", "minmax_output"])
def test_descriptor_flag_that_is_not_a_boolean_is_a_load_error(flag: str, raw: object):
    with pytest.raises(ModelLoadError) as caught:
        ModelSpec.from_descriptor({"name": "m", "source": "m.onnx", flag: raw})
    assert flag in caught.value.message


def test_descriptor_flags_default_to_off():
    spec = ModelSpec.from_descriptor({"name": "m", "source": "m.onnx"})
    assert spec.scale_by_max is False and spec.minmax_output is False


@pytest.mark.parametrize("descriptor", ["u2netp", ["name", "m"], 42, None])
def test_descriptor_that_is_not_an_object_is_a_load_error(descriptor: object):
    with pytest.raises(ModelLoadError, match="JSON object"):
        ModelSpec.from_descriptor(descriptor)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------- registry


def test_registry_unknown_name_is_model_not_found(tmp_path: Path):
    # The registry knows nothing of requests: an unknown name is a missing model, not a bad option.
    registry = ModelRegistry([tmp_path], SessionConfig())
    for call in (registry.spec, registry.get, registry.is_available):
        with pytest.raises(ModelNotFoundError) as caught:
            call("u2netpp")
        assert caught.value.code == "MODEL_NOT_FOUND"
        assert "'u2netpp'" in caught.value.message
        assert "u2netp" in caught.value.message.split("u2netpp", 1)[1]  # the known names are listed


def test_protocols_are_exported():
    assert bgremove.Segmenter is Segmenter
    assert bgremove.SegmenterRegistry is SegmenterRegistry
    assert {"Segmenter", "SegmenterRegistry"} <= set(bgremove.__all__) & set(bgremove.models.__all__)


def test_real_and_fake_implementations_satisfy_the_protocols(tmp_path: Path):
    # The annotations are what mypy checks (run it on this file); at run time, the members must exist.
    registries: list[SegmenterRegistry] = [ModelRegistry([], SessionConfig()), FakeRegistry(full_matte)]
    segmenters: list[Segmenter] = [
        _load(tmp_path, [1, 3, 8, 8]),
        FakeSegmenter(registries[1].spec("fake"), full_matte),
    ]
    for registry in registries:
        for member in ("spec", "get", "names", "register", "is_available"):
            assert callable(getattr(registry, member))
    for segmenter in segmenters:
        assert isinstance(segmenter.spec, ModelSpec)
        assert isinstance(segmenter.prepare(Image.new("RGB", (8, 8))), np.ndarray)


# ------------------------------------------------------------------------------ missing model files


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("u2net", "run `bgremove models fetch u2net` (in a checkout: `make model MODEL=u2net`)"),
        ("u2netp", "run `bgremove models fetch u2netp` (in a checkout: `make model MODEL=u2netp`)"),
        ("isnet", "in a checkout, run `make model MODEL=isnet`"),
    ],
)
def test_a_missing_builtin_says_how_to_fetch_it(tmp_path: Path, name: str, hint: str):
    with pytest.raises(ModelNotFoundError) as caught:
        ModelRegistry([tmp_path], SessionConfig()).get(name)
    assert caught.value.message.endswith(hint)
    assert str(tmp_path) in caught.value.message


def test_a_missing_custom_model_says_where_it_was_looked_for(tmp_path: Path):
    spec = ModelSpec.from_descriptor({"name": "mine", "source": "mine.onnx"})
    with pytest.raises(ModelNotFoundError) as caught:
        ModelRegistry([tmp_path], SessionConfig(), specs=[spec]).get("mine")
    assert "make model" not in caught.value.message and "fetch" not in caught.value.message
    assert "BGREMOVE_MODELS_DIR" in caught.value.message


def test_a_stand_in_file_serves_a_model_whose_own_file_is_absent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # what `bgremove models fetch u2net` relies on outside a checkout: the fp32 original runs as u2net
    data = identity_onnx([1, 3, 8, 8])
    own = ModelSpec(name="net", source="net.onnx", input_size=(8, 8), sha256="0" * 64)
    stand_in = ModelSpec(
        name="net", source="net-fp32.onnx", input_size=(8, 8), sha256=hashlib.sha256(data).hexdigest()
    )
    monkeypatch.setitem(_registry.STAND_INS, own, stand_in)
    registry = ModelRegistry([tmp_path], SessionConfig(), specs=[own])
    assert not registry.is_available("net")
    (tmp_path / "net-fp32.onnx").write_bytes(data)
    assert registry.is_available("net")
    assert registry.get("net").spec is stand_in


def test_the_own_file_wins_over_the_stand_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    data = identity_onnx([1, 3, 8, 8])
    own = ModelSpec(name="net", source="net.onnx", input_size=(8, 8))
    monkeypatch.setitem(_registry.STAND_INS, own, replace(own, source="net-fp32.onnx"))
    for name in ("net.onnx", "net-fp32.onnx"):
        (tmp_path / name).write_bytes(data)
    assert ModelRegistry([tmp_path], SessionConfig(), specs=[own]).get("net").spec is own


def test_u2net_stands_in_with_its_fp32_original():
    assert _registry.STAND_INS == {U2NET: U2NET_FP32}
    assert U2NET_FP32.name == U2NET.name and U2NET_FP32.input_size == U2NET.input_size
