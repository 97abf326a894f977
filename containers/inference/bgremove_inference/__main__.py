"""``python -m bgremove_inference [serve]``: the Triton stand-in on a model repository (README.md here)."""

from __future__ import annotations

import logging
import sys

from bgremove import BgRemoveError
from bgremove_inference.repository import ModelLoadError
from bgremove_inference.server import InferenceServer, InferenceService
from bgremove_inference.settings import ServerSettings


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args not in ([], ["serve"]):
        print("usage: python -m bgremove_inference [serve]", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        settings = ServerSettings.from_env()
        service = InferenceService(settings)
    except BgRemoveError as error:
        print(f"cannot start: {error.code}: {error.message}", file=sys.stderr)
        return 1
    except ModelLoadError as error:
        print(f"cannot start: {error}", file=sys.stderr)
        return 1
    server = InferenceServer(service, settings.host, settings.port)
    logging.getLogger(__name__).info("serving %s on %s", service.default_model, server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        service.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
