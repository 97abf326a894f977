"""In-memory stand-ins for the engine's model protocols (``Segmenter``, ``SegmenterRegistry``).

Nothing here subclasses the ONNX-backed classes: the engine depends on the protocols only, and these
fakes prove it. The fake model returns a matte computed from the work image's size by a plain function, at
exactly that size, so the engine's resize step is a no-op and tests know every alpha value in advance.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
from PIL import Image

from bgremove import Engine, EngineSettings, ModelNotFoundError, ModelSpec

MatteFn = Callable[[int, int], np.ndarray]
"""``(width, height) -> uint8 array of shape (height, width)``."""

FAKE_MODEL = "fake"


def full_matte(width: int, height: int) -> np.ndarray:
    """Everything is subject."""
    return np.full((height, width), 255, dtype=np.uint8)


class FakeSegmenter:
    """Implements ``Segmenter`` without ONNX: the matte comes from ``matte_fn``; calls are recorded."""

    def __init__(self, spec: ModelSpec, matte_fn: MatteFn) -> None:
        self.spec = spec
        self.matte_fn = matte_fn
        self.seen_sizes: list[tuple[int, int]] = []
        self.seen_modes: list[str] = []

    def prepare(self, image: Image.Image) -> np.ndarray:
        self.seen_sizes.append(image.size)
        self.seen_modes.append(image.mode)
        return np.array(image.size, dtype=np.int64)

    def infer(self, tensor: np.ndarray) -> np.ndarray:
        return tensor

    def to_matte(self, prediction: np.ndarray) -> Image.Image:
        width, height = (int(v) for v in prediction)
        matte = self.matte_fn(width, height)
        assert matte.shape == (height, width) and matte.dtype == np.uint8
        return Image.fromarray(matte, "L")


class FakeRegistry:
    """Implements ``SegmenterRegistry`` in memory; every model it knows is a :class:`FakeSegmenter`.

    Parameters
    ----------
    matte_fn
        The matte every model returns.
    names
        Models to know; the first is also what :attr:`fake` serves.
    undeployed
        Known names whose file is "missing": ``get`` raises :class:`ModelNotFoundError` for them, as the
        real registry does when a model file is absent.
    """

    def __init__(
        self, matte_fn: MatteFn, names: Iterable[str] = (FAKE_MODEL,), *, undeployed: Iterable[str] = ()
    ) -> None:
        self._matte_fn = matte_fn
        self._specs: dict[str, ModelSpec] = {}
        self._loaded: dict[str, FakeSegmenter] = {}
        self.undeployed = set(undeployed)
        for name in names:
            self.register(ModelSpec(name=name, source=f"{name}.onnx", input_size=(64, 64)))
        self._first = next(iter(self._specs))
        self.loads: list[str] = []  # names passed to ``get``, in order

    def register(self, spec: ModelSpec) -> None:
        self._specs[spec.name] = spec
        self._loaded.pop(spec.name, None)

    def names(self) -> list[str]:
        return sorted(self._specs)

    def spec(self, name: str) -> ModelSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise ModelNotFoundError(f"{name!r} is not a known model ({', '.join(self.names())})") from None

    def is_available(self, name: str) -> bool:
        return self.spec(name).name not in self.undeployed

    def get(self, name: str) -> FakeSegmenter:
        spec = self.spec(name)
        self.loads.append(name)
        if name in self.undeployed:
            raise ModelNotFoundError(f"model {name!r}: {spec.source} not found (fake)")
        return self._segmenter(spec)

    @property
    def fake(self) -> FakeSegmenter:
        """The first model's segmenter (what it recorded), whether or not a request has loaded it."""
        return self._segmenter(self._specs[self._first])

    def _segmenter(self, spec: ModelSpec) -> FakeSegmenter:
        if spec.name not in self._loaded:
            self._loaded[spec.name] = FakeSegmenter(spec, self._matte_fn)
        return self._loaded[spec.name]


def fake_engine(
    matte_fn: MatteFn = full_matte, *, registry: FakeRegistry | None = None, default_model: str = FAKE_MODEL
) -> Engine:
    """An engine on a :class:`FakeRegistry` (one thread, no model folders); ``engine.registry`` is it."""
    settings = EngineSettings(model_dirs=(), default_model=default_model, threads=1)
    return Engine(settings, registry=registry or FakeRegistry(matte_fn))


def fake_registry(engine: Engine) -> FakeRegistry:
    """The engine's registry as the :class:`FakeRegistry` that :func:`fake_engine` gave it."""
    registry = engine.registry
    assert isinstance(registry, FakeRegistry)
    return registry
