"""The KServe v2 inference protocol (Triton's HTTP/REST API) as bytes: requests, responses, binary tensors.

Both ends use it: the function's :class:`~bgremove.models._remote.RemoteSegmenter` (requests out, responses
in) and the local stand-in for Triton (``containers/inference``: requests in, responses out). No I/O here: a
message is a :class:`Payload`, the body and the length of its JSON part, which each transport carries its own
way.

References: the KServe v2 protocol (``https://kserve.github.io/website/docs/concepts/architecture/
data-plane/v2-protocol``, "REST" section) and Triton's binary tensor data extension (``docs/protocol/
extension_binary_data.md`` in ``triton-inference-server/server``): a JSON object, then the tensors' raw
bytes (little-endian, row-major, no padding) in the order the JSON lists them, each sized by its
``binary_data_size`` parameter. Over plain HTTP the JSON's length travels in the
``Inference-Header-Content-Length`` header (:data:`HEADER_LENGTH_HEADER`); through SageMaker's
``InvokeEndpoint``, which passes no custom header, in the content type, as Triton's SageMaker front expects
(``application/vnd.sagemaker-triton.binary+json;json-header-size=N``, :func:`sagemaker_content_type`). A body
without binary tensors is plain JSON (``application/json``), the tensors' values in ``data``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

HEADER_LENGTH_HEADER = "Inference-Header-Content-Length"
JSON_CONTENT_TYPE = "application/json"
SAGEMAKER_BINARY_CONTENT_TYPE = "application/vnd.sagemaker-triton.binary+json;json-header-size="
"""Triton's SageMaker front: this prefix, then the JSON part's length in bytes."""

DATATYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype("?"),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
}
"""KServe v2 tensor types and their NumPy dtypes (``BYTES`` and ``BF16`` are not used here)."""
_NAMES = {dtype: name for name, dtype in DATATYPES.items()}
_MAX_ELEMENTS = 1 << 28  # a shape that asks for more is refused before any allocation


class ProtocolError(ValueError):
    """Bytes that are not a well-formed KServe v2 message, or a tensor that does not match its declaration."""


class UnparsableError(ProtocolError):
    """The JSON part is not JSON (Triton answers this one with 500, the others with 400)."""


@dataclass(frozen=True)
class Payload:
    """One message: its body and the length of the JSON at its start (``None``: the body is JSON only)."""

    body: bytes
    json_length: int | None = None


@dataclass(frozen=True)
class InferRequest:
    """A decoded request: its input tensors, the outputs asked for (name -> as binary?), its id."""

    inputs: dict[str, np.ndarray]
    outputs: dict[str, bool] = field(default_factory=dict)
    id: str | None = None
    binary_default: bool = False
    """``parameters.binary_data_output``: outputs not listed come back binary."""


@dataclass(frozen=True)
class InferResponse:
    """A decoded response: which model answered, and its output tensors."""

    model_name: str
    model_version: str
    outputs: dict[str, np.ndarray]
    id: str | None = None


def datatype_of(array: np.ndarray) -> str:
    """The KServe v2 type name of ``array``'s dtype."""
    try:
        return _NAMES[array.dtype.newbyteorder("<") if array.dtype.byteorder == ">" else array.dtype]
    except KeyError:
        raise ProtocolError(f"no KServe v2 type for {array.dtype}") from None


# ------------------------------------------------------------------------------------------- encoding
def encode_request(
    inputs: Mapping[str, np.ndarray], outputs: Sequence[str], *, binary: bool = True, id: str | None = None
) -> Payload:
    """A request for ``outputs`` from ``inputs``; ``binary``: tensors both ways as raw bytes, else JSON."""
    header: dict[str, Any] = {}
    if id is not None:
        header["id"] = id
    entries, blobs = _tensors(inputs, binary)
    header["inputs"] = entries
    header["outputs"] = [{"name": name, "parameters": {"binary_data": binary}} for name in outputs]
    return _message(header, blobs)


def encode_response(
    model_name: str,
    model_version: str,
    outputs: Mapping[str, np.ndarray],
    binary: Mapping[str, bool],
    *,
    id: str | None = None,
) -> Payload:
    """The response carrying ``outputs``, each as raw bytes where ``binary`` says so."""
    header: dict[str, Any] = {"model_name": model_name, "model_version": model_version}
    if id is not None:
        header["id"] = id
    entries: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    for name, array in outputs.items():
        entry, blob = _tensor(name, array, binary.get(name, False))
        entries.append(entry)
        blobs += [blob] if blob is not None else []
    header["outputs"] = entries
    return _message(header, blobs)


def _tensors(tensors: Mapping[str, np.ndarray], binary: bool) -> tuple[list[dict[str, Any]], list[bytes]]:
    entries: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    for name, array in tensors.items():
        entry, blob = _tensor(name, array, binary)
        entries.append(entry)
        blobs += [blob] if blob is not None else []
    return entries, blobs


def _tensor(name: str, array: np.ndarray, binary: bool) -> tuple[dict[str, Any], bytes | None]:
    datatype = datatype_of(array)
    entry: dict[str, Any] = {"name": name, "shape": list(array.shape), "datatype": datatype}
    if binary:
        blob = np.ascontiguousarray(array, dtype=DATATYPES[datatype]).tobytes()
        entry["parameters"] = {"binary_data_size": len(blob)}
        return entry, blob
    entry["data"] = array.reshape(-1).tolist()  # KServe's flattened, row-major form
    return entry, None


def _message(header: dict[str, Any], blobs: list[bytes]) -> Payload:
    text = json.dumps(header, separators=(",", ":")).encode()
    if not blobs:
        return Payload(text)
    return Payload(b"".join([text, *blobs]), len(text))


# ------------------------------------------------------------------------------------------- decoding
def decode_request(payload: Payload) -> InferRequest:
    """Read a request. Raises :class:`ProtocolError` for anything malformed."""
    header, binary = _split(payload)
    entries = header.get("inputs")
    if not isinstance(entries, list) or not entries:
        raise ProtocolError("a request needs a non-empty 'inputs' list")
    inputs, rest = _read_tensors(entries, binary, "input")
    if rest:
        raise ProtocolError(f"{rest} bytes after the binary tensors")
    parameters = header.get("parameters") or {}
    binary_default = (
        bool(parameters.get("binary_data_output", False)) if isinstance(parameters, dict) else False
    )
    outputs: dict[str, bool] = {}
    for entry in header.get("outputs") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise ProtocolError(f"a requested output needs a name: {entry!r}")
        params = entry.get("parameters") or {}
        outputs[entry["name"]] = (
            bool(params.get("binary_data", binary_default)) if isinstance(params, dict) else False
        )
    request_id = header.get("id")
    return InferRequest(inputs, outputs, str(request_id) if request_id is not None else None, binary_default)


def decode_response(payload: Payload) -> InferResponse:
    """Read a response. Raises :class:`ProtocolError` for anything malformed (an ``error`` body included)."""
    header, binary = _split(payload)
    if "error" in header and "outputs" not in header:
        raise ProtocolError(f"the server answered an error: {header['error']}")
    entries = header.get("outputs")
    if not isinstance(entries, list):
        raise ProtocolError("a response needs an 'outputs' list")
    outputs, rest = _read_tensors(entries, binary, "output")
    if rest:
        raise ProtocolError(f"{rest} bytes after the binary tensors")
    response_id = header.get("id")
    return InferResponse(
        str(header.get("model_name", "")),
        str(header.get("model_version", "")),
        outputs,
        str(response_id) if response_id is not None else None,
    )


def _split(payload: Payload) -> tuple[dict[str, Any], memoryview]:
    body = memoryview(payload.body)
    length = len(body) if payload.json_length is None else payload.json_length
    if not 0 < length <= len(body):
        raise ProtocolError(f"JSON part of {length} bytes in a body of {len(body)}")
    try:
        header = json.loads(bytes(body[:length]))
    except (UnicodeDecodeError, ValueError) as error:
        raise UnparsableError(f"the JSON part does not parse: {error}") from None
    if not isinstance(header, dict):
        raise ProtocolError("the JSON part is not an object")
    return header, body[length:]


def _read_tensors(entries: list[Any], binary: memoryview, role: str) -> tuple[dict[str, np.ndarray], int]:
    tensors: dict[str, np.ndarray] = {}
    offset = 0
    for entry in entries:
        if not isinstance(entry, dict):
            raise ProtocolError(f"an {role} is not an object: {entry!r}")
        name, shape, datatype = entry.get("name"), entry.get("shape"), entry.get("datatype")
        if not isinstance(name, str) or not name:
            raise ProtocolError(f"an {role} needs a name")
        if datatype not in DATATYPES:
            raise ProtocolError(f"{role} {name!r}: unsupported datatype {datatype!r}")
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise ProtocolError(
                f"{role} {name!r}: shape must be a list of non-negative integers, got {shape!r}"
            )
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if count > _MAX_ELEMENTS:
            raise ProtocolError(f"{role} {name!r}: shape {shape} is too large")
        dtype = DATATYPES[datatype]
        parameters = entry.get("parameters") or {}
        size = parameters.get("binary_data_size") if isinstance(parameters, dict) else None
        if size is not None:
            if not isinstance(size, int) or size != count * dtype.itemsize:
                raise ProtocolError(
                    f"{role} {name!r}: binary_data_size {size!r}, its shape {shape} of {datatype} needs "
                    f"{count * dtype.itemsize}"
                )
            if offset + size > len(binary):
                raise ProtocolError(f"{role} {name!r}: {size} bytes announced, {len(binary) - offset} left")
            array = np.frombuffer(binary[offset : offset + size], dtype=dtype).reshape(shape)
            offset += size
        elif "data" in entry:
            try:
                array = np.asarray(entry["data"], dtype=dtype)
            except (TypeError, ValueError) as error:
                raise ProtocolError(f"{role} {name!r}: data is not {datatype}: {error}") from None
            if array.size != count:
                raise ProtocolError(f"{role} {name!r}: {array.size} values for shape {shape}")
            array = array.reshape(shape)
        else:
            raise ProtocolError(f"{role} {name!r} has neither data nor binary_data_size")
        if name in tensors:
            raise ProtocolError(f"{role} {name!r} appears twice")
        tensors[name] = array
    return tensors, len(binary) - offset


# -------------------------------------------------------------------------------------------- SageMaker
def sagemaker_content_type(payload: Payload) -> str:
    """The ``ContentType`` that carries ``payload`` through ``InvokeEndpoint`` to Triton's SageMaker front."""
    if payload.json_length is None:
        return JSON_CONTENT_TYPE
    return f"{SAGEMAKER_BINARY_CONTENT_TYPE}{payload.json_length}"


def from_sagemaker(body: bytes, content_type: str | None) -> Payload:
    """A body received with ``content_type`` (the binary one, or JSON).

    Raises
    ------
    ProtocolError
        A binary content type whose length is not a number within the body.
    """
    text = (content_type or "").strip()
    if not text.startswith(SAGEMAKER_BINARY_CONTENT_TYPE):
        return Payload(body)
    raw = text[len(SAGEMAKER_BINARY_CONTENT_TYPE) :].split(";", 1)[0].strip()
    if not (raw.isascii() and raw.isdigit()) or int(raw) > len(body):
        raise ProtocolError(f"json-header-size {raw[:20]!r} for a body of {len(body)} bytes")
    return Payload(body, int(raw))


__all__ = [
    "DATATYPES",
    "HEADER_LENGTH_HEADER",
    "JSON_CONTENT_TYPE",
    "SAGEMAKER_BINARY_CONTENT_TYPE",
    "InferRequest",
    "InferResponse",
    "Payload",
    "ProtocolError",
    "UnparsableError",
    "datatype_of",
    "decode_request",
    "decode_response",
    "encode_request",
    "encode_response",
    "from_sagemaker",
    "sagemaker_content_type",
]
