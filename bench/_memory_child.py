"""One fresh process for one row of the memory table: the engine, the real model, one input, twice.

    _memory_child.py INPUT OPTIONS_JSON
    _memory_child.py --baseline [--function-libs]

Reads the input's bytes (the function holds the whole S3 object in memory too), loads the default model
(``Engine().warm_up()``), then processes the input with ``Options.parse(OPTIONS_JSON)`` twice: a warm Lambda
handles one image after another, and the second one can peak higher than the first (docs/decisions/0004 and
0005). Prints one ``RESULT`` JSON line with ``VmHWM`` (peak resident memory of this process image) after
loading, after the first and after the second result. The parent adds ``ru_maxrss`` from ``wait4``.

``--baseline`` only loads the model and reports; with ``--function-libs`` it first imports what the function
imports besides the engine (``processor.handler``: boto3, aws-lambda-powertools with its tracer) and makes
the function's three clients, to size what the function's process holds on top of the engine.
"""

from __future__ import annotations

import json
import os
import sys
import time

import _netguard
from _common import status_kib

_netguard.install()


def _engine_path() -> str:
    import bgremove  # noqa: PLC0415

    return os.path.dirname(bgremove.__file__)


def baseline(function_libs: bool) -> None:
    clients = []
    if function_libs:
        # Credentials in the environment, as Lambda gives them: without any, botocore asks the EC2 instance
        # metadata service (a network call) when a client is made.
        os.environ.update(
            {
                "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_ACCESS_KEY_ID": "bench",
                "AWS_SECRET_ACCESS_KEY": "bench",
                "AWS_EC2_METADATA_DISABLED": "true",
            }
        )
        sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "functions", "processor"))
        import boto3  # noqa: PLC0415

        import processor.handler  # noqa: F401, PLC0415

        clients = [boto3.client(name) for name in ("s3", "sns", "dynamodb")]
    from bgremove import Engine  # noqa: PLC0415

    Engine().warm_up()
    result = {"loaded_peak_kib": status_kib("VmHWM"), "clients": len(clients), "engine": _engine_path()}
    print("RESULT " + json.dumps(result), flush=True)


def main() -> None:
    if sys.argv[1] == "--baseline":
        baseline("--function-libs" in sys.argv[2:])
        return
    path, options_json = sys.argv[1], sys.argv[2]
    with open(path, "rb") as handle:
        data = handle.read()
    background = None
    if len(sys.argv) > 3:  # the bytes of the background image that the options name
        with open(sys.argv[3], "rb") as handle:
            background = handle.read()

    import numpy  # noqa: PLC0415
    import onnxruntime  # noqa: PLC0415
    import PIL  # noqa: PLC0415

    from bgremove import Engine, Options  # noqa: PLC0415

    engine = Engine()
    engine.warm_up()
    options = Options.parse(json.loads(options_json))
    loaded_kib = status_kib("VmHWM")
    runs = []
    for _ in range(2):
        began = time.perf_counter()
        result = engine.process(data, options, background=background)
        runs.append(
            {
                "seconds": time.perf_counter() - began,
                "peak_kib": status_kib("VmHWM"),
                "output_bytes": len(result.data),
                "result_size": list(result.report.result_size),
                "format": result.report.format,
                "timings_ms": dict(result.report.timings_ms),
            }
        )
        del result
    print(
        "RESULT "
        + json.dumps(
            {
                "input_bytes": len(data),
                "options": options.to_dict(),
                "threads": engine.settings.threads,
                "loaded_peak_kib": loaded_kib,
                "runs": runs,
                "versions": {
                    "numpy": numpy.__version__,
                    "pillow": PIL.__version__,
                    "onnxruntime": onnxruntime.__version__,
                },
                "malloc_mmap_threshold": os.environ.get("MALLOC_MMAP_THRESHOLD_"),
                "engine": _engine_path(),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
