"""Triton's config.pbtxt as the build writes it and the stand-in reads it; the model data archive."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import tarfile
from pathlib import Path
from types import ModuleType

import pytest

from bgremove.models import U2NET_FP32, U2NETP
from bgremove_inference.config import ConfigError, ModelConfig, parse_pbtxt
from tests.helpers import REPO_ROOT


def _builder() -> ModuleType:
    """layers/model/triton_repo.py (a script; importing it needs no onnx)."""
    path = REPO_ROOT / "layers" / "model" / "triton_repo.py"
    spec = importlib.util.spec_from_file_location("triton_repo", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("triton_repo", module)
    spec.loader.exec_module(module)
    return module


def _config(**overrides: object) -> ModelConfig:
    builder = _builder()
    arguments: dict[str, object] = {
        "device": "gpu",
        "max_batch": builder.DEFAULT_MAX_BATCH,
        "queue_delay_us": builder.DEFAULT_QUEUE_DELAY_US,
        "tensorrt": False,
        "header": "# test",
    }
    arguments.update(overrides)
    return ModelConfig.from_message(parse_pbtxt(builder.config_text("u2net", U2NET_FP32, **arguments)))


def test_the_gpu_config_batches_dynamically_on_a_gpu_instance() -> None:
    config = _config()
    assert config.name == "u2net" and config.backend == "onnxruntime"
    assert config.max_batch_size > 1
    assert config.dynamic_batching and config.max_queue_delay_us == _builder().DEFAULT_QUEUE_DELAY_US
    assert config.instance_kind == "KIND_GPU" and config.instance_count == 1
    (image,) = config.inputs
    (matte,) = config.outputs
    assert (image.name, image.datatype, image.dims) == ("IMAGE", "UINT8", (320, 320, 3))
    assert (matte.name, matte.datatype, matte.dims) == ("MATTE", "FP32", (320, 320))
    assert config.accelerators == (), "TensorRT is off by default"


def test_tensorrt_is_an_execution_accelerator_when_asked_for() -> None:
    config = _config(tensorrt=True)
    assert config.accelerators == ("tensorrt",)
    accelerator = config.raw["optimization"][0]["execution_accelerators"][0]["gpu_execution_accelerator"][0]
    assert {p["key"][0]: p["value"][0] for p in accelerator["parameters"]}["precision_mode"] == "FP16"


def test_the_cpu_config_runs_on_cpu() -> None:
    assert _config(device="cpu", max_batch=4, queue_delay_us=0).instance_kind == "KIND_CPU"


def test_text_format_as_triton_documents_it() -> None:
    text = """
    # a comment
    name: "densenet_onnx"
    platform: "onnxruntime_onnx"
    max_batch_size : 8
    input [
      {
        name: "data_0"
        data_type: TYPE_FP32
        format: FORMAT_NCHW
        dims: [ 3, 224, 224 ]
        reshape { shape: [ 1, 3, 224, 224 ] }
      }
    ]
    output < name: "fc6_1" data_type: TYPE_FP32 dims: [ -1 ] label_filename: "densenet_labels.txt" >
    instance_group [ { count: 2, kind: KIND_CPU }, { count: 1 kind: KIND_CPU } ]
    dynamic_batching { preferred_batch_size: [ 4, 8 ] max_queue_delay_microseconds: 100 }
    """
    config = ModelConfig.from_message(parse_pbtxt(text))
    assert config.backend == "onnxruntime" and config.max_batch_size == 8
    assert config.inputs[0].dims == (3, 224, 224) and config.outputs[0].dims == (-1,)
    assert config.instance_count == 3
    assert config.preferred_batch_sizes == (4, 8) and config.max_queue_delay_us == 100
    assert config.as_json()["dynamic_batching"] == {
        "preferred_batch_size": [4, 8],
        "max_queue_delay_microseconds": 100,
    }


@pytest.mark.parametrize(
    "text",
    [
        'name: "m" input [ { name: "x"',  # unbalanced
        'name: "m" max_batch_size: 1 input [ { name: "x" data_type: TYPE_STRING dims: [ 1 ] } ]',
        'name: "m" max_batch_size: 1 input [ { name: "x" data_type: TYPE_FP32 dims: [ 0 ] } ]',
        'name: "m" name: "n"',
        "max_batch_size: 4",  # no name
        'name: "m" ?',
    ],
    ids=["unbalanced", "string-type", "zero-dim", "twice", "no-name", "junk"],
)
def test_malformed_configs_are_refused(text: str) -> None:
    with pytest.raises(ConfigError):
        ModelConfig.from_message(parse_pbtxt(text))


def test_the_model_data_archive_is_reproducible_and_rooted_at_the_models(tmp_path: Path) -> None:
    builder = _builder()
    repository = tmp_path / "repository"
    (repository / "u2netp" / "1").mkdir(parents=True)
    (repository / "u2netp" / "config.pbtxt").write_text('name: "u2netp"\n')
    (repository / "u2netp" / "1" / "model.onnx").write_bytes(b"onnx")
    (repository / ".u2net.tmp").mkdir()  # an interrupted build: never packed

    first = builder.pack(repository, tmp_path / "a.tar.gz")
    (repository / "u2netp" / "config.pbtxt").touch()  # a newer mtime changes nothing
    second = builder.pack(repository, tmp_path / "b.tar.gz")

    digest = [hashlib.sha256(path.read_bytes()).hexdigest() for path in (first, second)]
    assert digest[0] == digest[1]
    with tarfile.open(first) as archive:
        assert archive.getnames() == ["u2netp", "u2netp/1", "u2netp/1/model.onnx", "u2netp/config.pbtxt"]
        assert {member.uid for member in archive.getmembers()} == {0}


def test_u2net_on_a_gpu_comes_from_its_fp32_file() -> None:
    """CUDA has no 8-bit convolution: the GPU repository's u2net is built from u2net-fp32.onnx."""
    builder = _builder()
    assert builder._spec("u2net", "gpu") is U2NET_FP32
    assert builder._spec("u2net", "cpu").source == "u2net.onnx"
    assert builder._spec("u2netp", "gpu") is U2NETP
