"""One fresh process: import an engine, load the model, produce one result; print timings and peak memory.

    _child.py ENGINE MODEL INPUT FORMAT THREADS LAUNCHED_AT

``LAUNCHED_AT`` is the parent's ``time.monotonic()`` just before it started this process (the clock is
system-wide), so ``first_result_s`` covers interpreter start, imports, model load and the first image.
Then it processes the image a second time: a long-lived process (a warm Lambda) peaks on a later image, not
the first (ONNX Runtime allocates its memory pattern on the second run, which rembg keeps and the engine
turns off, and the heap keeps what the first image freed: docs/decisions/0004 and 0005). Peak memory is
``VmHWM`` of this process image, after the first image and after the second (``ru_maxrss`` can carry a
forking parent's peak across exec).
Prints one JSON line.
"""

from __future__ import annotations

import json
import sys
import time

import _netguard
from _common import engine_settings, status_kib

_netguard.install()


def main() -> None:
    engine, model, path, fmt = sys.argv[1:5]
    threads, launched = int(sys.argv[5]), float(sys.argv[6])
    started = time.monotonic()
    with open(path, "rb") as handle:
        data = handle.read()
    if engine == "ours":
        import os  # noqa: PLC0415

        os.environ["BGREMOVE_THREADS"] = str(threads)
        from bgremove import Engine, Options  # noqa: PLC0415
        from bgremove.options import OutputFormat  # noqa: PLC0415

        imported = time.monotonic()
        settings = engine_settings(threads)
        # the default model as a deployment runs it (no model option); the others by name
        named = None if model == settings.default_model else model
        remover = Engine(settings)
        remover.warm_up(named)
        loaded = time.monotonic()
        rss_loaded = status_kib("VmRSS")
        options = Options(format=OutputFormat(fmt), model=named)
        out = remover.process(data, options).data
        done = time.monotonic()
        first_peak = status_kib("VmHWM")
        remover.process(data, options)
    else:
        import onnxruntime as ort  # noqa: PLC0415
        from rembg import new_session, remove  # noqa: PLC0415

        imported = time.monotonic()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        session = new_session(model, sess_opts=options)
        loaded = time.monotonic()
        rss_loaded = status_kib("VmRSS")
        if fmt != "png":
            raise SystemExit("the cold-start child measures PNG output only")
        out = remove(data, session=session)
        done = time.monotonic()
        first_peak = status_kib("VmHWM")
        remove(data, session=session)
    result = {
        "engine": engine,
        "model": model,
        "interpreter_s": started - launched,
        "import_s": imported - started,
        "load_s": loaded - imported,
        "first_image_s": done - loaded,
        "first_result_s": done - launched,
        "out_bytes": len(out),
        "rss_loaded_kib": rss_loaded,
        "first_image_peak_rss_kib": first_peak,
        "peak_rss_kib": status_kib("VmHWM"),
    }
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
