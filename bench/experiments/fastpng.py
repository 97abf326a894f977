"""A PNG writer in numpy + a deflate library, as a candidate for the engine's PNG encoding.

Pillow's PNG encoder picks one of five filters per row (the libpng heuristic, computing all five), then
deflates on one thread; at level 1 the filter search, not zlib, is most of its time (level 0 takes as long as
level 1). This writer applies one filter to the whole image with numpy (``up`` by default: one vectorised
subtraction) and deflates ``chunks`` slices of the rows on a thread pool, pigz-style: each slice is a raw
deflate stream primed with the previous slice's last 32 KiB (``zdict``), ended with a sync flush so the
slices concatenate into one valid zlib stream; the Adler-32 of the whole is computed alongside. zlib releases
the GIL while it compresses, so the slices really run in parallel.

Deflate backends (``backend``): ``zlib`` (the standard library), ``zlib-ng`` (PyPI ``zlib-ng``) or ``isal``
(PyPI ``isal``: Intel's ISA-L, x86_64 and aarch64 wheels of about 0.25 MB, levels 0-3, several times faster
than zlib at level 1 and no larger). All three have zlib's ``compressobj`` API, ``zdict`` included.

Not used by the engine: bench/experiments/png_encode.py measures it against Pillow.
"""

from __future__ import annotations

import importlib
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType

import numpy as np
from PIL import Image

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOR_TYPES = {"L": 0, "RGB": 2, "RGBA": 6}
_FILTER_IDS = {"none": 0, "sub": 1, "up": 2, "paeth": 4}
_WINDOW = 32 * 1024
_IDAT_SIZE = 1 << 20


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))


def _filtered(pixels: np.ndarray, method: str) -> np.ndarray:
    """Rows with their filter byte in front: shape (height, 1 + width * channels), uint8."""
    height = pixels.shape[0]
    rows = pixels.reshape(height, -1)
    bpp = pixels.shape[2] if pixels.ndim == 3 else 1
    out = np.empty((height, rows.shape[1] + 1), dtype=np.uint8)
    out[:, 0] = _FILTER_IDS[method]
    body = out[:, 1:]
    if method == "none":
        body[...] = rows
    elif method == "up":
        body[0] = rows[0]
        np.subtract(rows[1:], rows[:-1], out=body[1:])
    elif method == "sub":
        body[:, :bpp] = rows[:, :bpp]
        np.subtract(rows[:, bpp:], rows[:, :-bpp], out=body[:, bpp:])
    elif method == "paeth":
        a = np.zeros_like(rows, dtype=np.int16)
        a[:, bpp:] = rows[:, :-bpp]
        b = np.zeros_like(a)
        b[1:] = rows[:-1]
        c = np.zeros_like(a)
        c[1:, bpp:] = rows[:-1, :-bpp]
        pa, pb, pc = np.abs(b - c), np.abs(a - c), np.abs(a + b - 2 * c)
        predictor = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c)).astype(np.uint8)
        np.subtract(rows, predictor, out=body)
    else:
        raise ValueError(method)
    return out


_BACKENDS = {"zlib": "zlib", "zlib-ng": "zlib_ng.zlib_ng", "isal": "isal.isal_zlib"}


def backend_module(name: str) -> ModuleType:
    return importlib.import_module(_BACKENDS[name])


def _deflate_parallel(
    data: memoryview, level: int, chunks: int, pool: ThreadPoolExecutor, codec: ModuleType
) -> bytes:
    size = len(data)
    bounds = [size * i // chunks for i in range(chunks + 1)]

    def part(index: int) -> bytes:
        start, end = bounds[index], bounds[index + 1]
        zdict = bytes(data[max(0, start - _WINDOW) : start]) if start else None
        compressor = (
            codec.compressobj(level, codec.DEFLATED, -15, 8, 0, zdict)
            if zdict
            else codec.compressobj(level, codec.DEFLATED, -15)
        )
        body: bytes = compressor.compress(data[start:end])
        tail: bytes = compressor.flush(codec.Z_FINISH if index == chunks - 1 else codec.Z_SYNC_FLUSH)
        return body + tail

    adler = pool.submit(codec.adler32, data)
    parts = list(pool.map(part, range(chunks)))
    header = bytes((0x78, 0x01))  # deflate, 32 KiB window, "fastest" level flag (FCHECK makes it % 31 == 0)
    return header + b"".join(parts) + struct.pack(">I", adler.result())


def encode_png(
    image: Image.Image, *, level: int = 1, method: str = "up", threads: int = 1, backend: str = "zlib"
) -> bytes:
    """PNG bytes of an ``L``, ``RGB`` or ``RGBA`` image (``level`` is capped at 3 for ``isal``)."""
    if image.mode not in _COLOR_TYPES:
        raise ValueError(f"mode {image.mode} is not supported")
    pixels = np.asarray(image)
    raw = memoryview(_filtered(pixels, method)).cast("B")
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        codec = backend_module(backend)
        level = min(level, 3) if backend == "isal" else level
        stream = _deflate_parallel(raw, level, max(1, threads), pool, codec)
    ihdr = struct.pack(">IIBBBBB", image.width, image.height, 8, _COLOR_TYPES[image.mode], 0, 0, 0)
    idat = b"".join(_chunk(b"IDAT", stream[i : i + _IDAT_SIZE]) for i in range(0, len(stream), _IDAT_SIZE))
    return _SIGNATURE + _chunk(b"IHDR", ihdr) + idat + _chunk(b"IEND", b"")
