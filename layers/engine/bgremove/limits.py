"""Every size limit the engine enforces, defined once.

The options, the decoder, the layout and the API schemas all read them from here, so the numbers in error
messages, help text and documentation cannot drift apart.
"""

from __future__ import annotations

MAX_DECODE_PIXELS = 32_000_000
"""Inputs claiming a larger canvas are refused before any pixel is decoded (decompression bombs)."""

MAX_WORK_PIXELS = 25_000_000
"""Upper bound and default of the ``max_pixels`` option: larger inputs are downscaled to it."""

MIN_WORK_PIXELS = 100
"""Lower bound of the ``max_pixels`` option."""

MAX_TARGET_PIXELS = 25_000_000
"""Largest ``target_size`` (width x height)."""

MAX_RESULT_PIXELS = 40_000_000
"""Largest result canvas once margins are added."""

MAX_MARGIN_PX = 10_000
"""Largest margin on one side, in pixels (percent margins are capped at 100%)."""

MAX_INPUT_BYTES = 100 * 1024 * 1024
"""Largest encoded input read (the function's default ``MAX_INPUT_BYTES``; the CLI's cap): a 32 MP image is
at most ~100 MB even as an uncompressed 8-bit RGB TIFF."""
