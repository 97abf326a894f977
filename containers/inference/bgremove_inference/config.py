"""Triton's ``config.pbtxt``: a small reader of protobuf text format, and the part of ``ModelConfig`` used.

Triton parses the file with protobuf's text-format parser against ``model_config.proto``; this reader reads
the same syntax (fields with or without ``:``, ``{}``/``<>`` messages, ``[...]`` lists, repeated fields,
quoted strings, numbers, enum names, ``#`` comments) into plain dicts, every field a list of its values, and
:class:`ModelConfig` checks the fields the stand-in acts on. Fields it does not act on are kept (``raw``) and
reported, not refused, as Triton would run them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bgremove.models._kserve import DATATYPES

Message = dict[str, list[Any]]

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<comment>\#[^\n]*)
      | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
      | (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
      | (?P<ident>[A-Za-z_][A-Za-z0-9_.]*)
      | (?P<punct>[{}\[\]<>:,;])
    )""",
    re.VERBOSE,
)


class ConfigError(ValueError):
    """A ``config.pbtxt`` that does not parse, or that asks for what the stand-in cannot do."""


def parse_pbtxt(text: str) -> Message:
    """Protobuf text format -> ``{field: [value, ...]}``; nested messages are dicts of the same form."""
    tokens = list(_tokens(text))
    message, position = _message(tokens, 0, None)
    if position != len(tokens):
        raise ConfigError(f"unexpected {tokens[position][1]!r}")
    return message


def _tokens(text: str) -> Iterator[tuple[str, str]]:
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            return
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise ConfigError(f"cannot read {text[position : position + 30].strip()!r}")
        position = match.end()
        kind = match.lastgroup
        assert kind is not None
        if kind != "comment":
            yield kind, match.group(kind)


def _message(tokens: list[tuple[str, str]], position: int, closing: str | None) -> tuple[Message, int]:
    message: Message = {}
    while position < len(tokens):
        kind, text = tokens[position]
        if closing is not None and text == closing and kind == "punct":
            return message, position + 1
        if kind != "ident":
            raise ConfigError(f"expected a field name, got {text!r}")
        position += 1
        if position < len(tokens) and tokens[position] == ("punct", ":"):
            position += 1
        if position >= len(tokens):
            raise ConfigError(f"field {text!r} has no value")
        values, position = _value(tokens, position)
        message.setdefault(text, []).extend(values)
        if position < len(tokens) and tokens[position] in (("punct", ","), ("punct", ";")):
            position += 1
    if closing is not None:
        raise ConfigError(f"missing {closing!r}")
    return message, position


def _value(tokens: list[tuple[str, str]], position: int) -> tuple[list[Any], int]:
    kind, text = tokens[position]
    if kind == "punct" and text in "{<":
        nested, position = _message(tokens, position + 1, "}" if text == "{" else ">")
        return [nested], position
    if kind == "punct" and text == "[":
        items: list[Any] = []
        position += 1
        while tokens[position] != ("punct", "]"):
            values, position = _value(tokens, position)
            items += values
            if tokens[position] == ("punct", ","):
                position += 1
            elif tokens[position] != ("punct", "]"):
                raise ConfigError(f"expected ',' or ']' in a list, got {tokens[position][1]!r}")
        return items, position + 1
    if kind == "string":
        return [bytes(text[1:-1], "utf-8").decode("unicode_escape")], position + 1
    if kind == "number":
        return [float(text) if any(c in text for c in ".eE") else int(text)], position + 1
    if kind == "ident":
        return [text], position + 1  # an enum name, true/false, inf
    raise ConfigError(f"unexpected {text!r}")


@dataclass(frozen=True)
class TensorConfig:
    """One input or output: name, KServe datatype (``UINT8``), dims without the batch dimension."""

    name: str
    datatype: str
    dims: tuple[int, ...]

    def shape(self, batched: bool) -> list[int]:
        """Its full shape as KServe metadata gives it: ``-1`` for the batch dimension and dynamic dims."""
        return [-1, *self.dims] if batched else list(self.dims)


@dataclass(frozen=True)
class ModelConfig:
    """The fields of Triton's ``ModelConfig`` the stand-in acts on."""

    name: str
    backend: str
    max_batch_size: int
    inputs: tuple[TensorConfig, ...]
    outputs: tuple[TensorConfig, ...]
    instance_kind: str = "KIND_AUTO"
    instance_count: int = 1
    dynamic_batching: bool = False
    max_queue_delay_us: int = 0
    preferred_batch_sizes: tuple[int, ...] = ()
    accelerators: tuple[str, ...] = ()
    raw: Message = field(default_factory=dict, compare=False, repr=False)

    @property
    def batched(self) -> bool:
        return self.max_batch_size > 0

    @classmethod
    def read(cls, path: Path) -> ModelConfig:
        """Read and check ``path`` (a model folder's ``config.pbtxt``).

        Raises
        ------
        ConfigError
            Not text format, or a field the stand-in needs is missing or malformed.
        """
        try:
            return cls.from_message(parse_pbtxt(path.read_text()))
        except ConfigError as error:
            raise ConfigError(f"{path}: {error}") from None

    @classmethod
    def from_message(cls, raw: Message) -> ModelConfig:
        name = _one(raw, "name", str, "")
        backend = _one(raw, "backend", str, "") or {"onnxruntime_onnx": "onnxruntime"}.get(
            _one(raw, "platform", str, ""), _one(raw, "platform", str, "")
        )
        max_batch = _one(raw, "max_batch_size", int, 0)
        if not name or max_batch < 0:
            raise ConfigError("a config needs a name and max_batch_size >= 0")
        groups = raw.get("instance_group", [])
        kind = _one(groups[0], "kind", str, "KIND_AUTO") if groups else "KIND_AUTO"
        count = sum(_one(group, "count", int, 1) for group in groups) if groups else 1
        batching = raw.get("dynamic_batching", [])
        settings = batching[0] if batching else {}
        accelerators: list[str] = []
        for optimization in raw.get("optimization", []):
            for accelerator_set in optimization.get("execution_accelerators", []):
                for group in ("gpu_execution_accelerator", "cpu_execution_accelerator"):
                    accelerators += [_one(a, "name", str, "") for a in accelerator_set.get(group, [])]
        return cls(
            name=name,
            backend=backend,
            max_batch_size=max_batch,
            inputs=tuple(_tensor(entry) for entry in raw.get("input", [])),
            outputs=tuple(_tensor(entry) for entry in raw.get("output", [])),
            instance_kind=kind,
            instance_count=count,
            dynamic_batching=bool(batching),
            max_queue_delay_us=_one(settings, "max_queue_delay_microseconds", int, 0),
            preferred_batch_sizes=tuple(int(v) for v in settings.get("preferred_batch_size", [])),
            accelerators=tuple(accelerators),
            raw=raw,
        )

    def as_json(self) -> dict[str, Any]:
        """The config as Triton's ``GET /v2/models/{name}/config`` shows it (the fields read here)."""

        def tensors(items: tuple[TensorConfig, ...]) -> list[dict[str, Any]]:
            return [{"name": t.name, "data_type": f"TYPE_{t.datatype}", "dims": list(t.dims)} for t in items]

        config: dict[str, Any] = {
            "name": self.name,
            "backend": self.backend,
            "max_batch_size": self.max_batch_size,
            "input": tensors(self.inputs),
            "output": tensors(self.outputs),
            "instance_group": [{"count": self.instance_count, "kind": self.instance_kind}],
        }
        if self.dynamic_batching:
            config["dynamic_batching"] = {
                "preferred_batch_size": list(self.preferred_batch_sizes),
                "max_queue_delay_microseconds": self.max_queue_delay_us,
            }
        return config


def _tensor(entry: Any) -> TensorConfig:
    if not isinstance(entry, dict):
        raise ConfigError(f"an input or output must be a message, got {entry!r}")
    name = _one(entry, "name", str, "")
    data_type = _one(entry, "data_type", str, "")
    datatype = data_type.removeprefix("TYPE_")
    if not name or not data_type.startswith("TYPE_") or datatype not in DATATYPES:
        raise ConfigError(f"tensor {name!r}: data_type {data_type!r} is not one the stand-in serves")
    dims = entry.get("dims", [])
    if not dims or not all(isinstance(d, int) and (d > 0 or d == -1) for d in dims):
        raise ConfigError(f"tensor {name!r}: dims must be positive integers or -1, got {dims!r}")
    return TensorConfig(name, datatype, tuple(dims))


def _one(message: Message, name: str, kind: type[Any], default: Any) -> Any:
    values = message.get(name, [])
    if len(values) > 1:
        raise ConfigError(f"{name} is given {len(values)} times")
    if not values:
        return default
    value = values[0]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"{name} should be {kind.__name__}, got {value!r}")
    return value
