"""Every size limit the engine enforces, defined once.

The options, the decoder, the layout and the API schemas all read them from here, so the numbers in error
messages, help text and documentation cannot drift apart.
"""

from __future__ import annotations

MAX_DECODE_PIXELS = 32_000_000
"""Inputs claiming a larger canvas are refused before any pixel is decoded (decompression bombs)."""

MAX_DECODE_SIDE = 65_500
"""Inputs claiming a wider or taller canvas are refused before any pixel is decoded.

Pillow's resampling keeps about 12 bytes per filter tap for every output pixel along each axis, so an axis
of tens of millions of pixels costs gigabytes whatever the area: a 93 KB PNG of 32,000,000 x 1 took 2 GB
and 9 s to downscale to ``max_pixels``, and the matte upsampling would take as much again. At 65,500 (the
JPEG limit, so any accepted input also fits a JPEG result at its own size) every work-image axis, and every
result resized from one, stays in the megabytes.
"""

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

MAX_JPEG_SIDE = 65_500
"""Widest and tallest JPEG result: libjpeg's ``JPEG_MAX_DIMENSION`` (the format itself would allow 65,535)."""

MAX_WEBP_SIDE = 16_383
"""Widest and tallest WebP result (libwebp's ``WEBP_MAX_DIMENSION``)."""

MAX_PNG_SIDE = 2**31 - 1
"""Widest and tallest PNG result (the PNG specification); :data:`MAX_RESULT_PIXELS` binds long before."""

MAX_JPEG_PIXELS_PER_BYTE = 4_096
"""A Huffman-coded JPEG declaring more pixels than this per byte of file is refused as damaged.

Huffman coding spends at least one bit on every 8x8 block of the components at full resolution, so no
such JPEG can hold more than 512 pixels per byte (1,024 with extreme chroma sampling); the densest files
we could make come close (a solid grey 6000x5000 of DC coefficients only: 511; with 4x1/1x4 sampling: 899)
and ordinary encoders stay far below (Pillow, solid colour: 64; optimised Huffman tables: 170). A file
denser than 4,096 pixels per byte is therefore truncated, or its header lies about its size, and is
refused before it is decoded into a grey canvas. Arithmetic-coded JPEGs (SOF9-SOF15) have no such floor
(a solid 30 MP one takes 128 bytes) and are not checked.
"""

MAX_REFERENCE_CHARS = 2_048
"""Longest ``background_image`` (an S3 key is at most 1,024 bytes; a presigned URL may be longer)."""

MAX_BACKGROUND_PIXELS = MAX_WORK_PIXELS
"""A ``background_image`` larger than this is downscaled when decoded, then cover-fitted to the result.

It goes through the same decoder as inputs, so :data:`MAX_DECODE_PIXELS` and :data:`MAX_DECODE_SIDE` refuse a
bomb before any pixel is decoded, and JPEGs over this size are decoded at reduced DCT scale.
"""

MIN_SCALE_PERCENT = 10.0
MAX_SCALE_PERCENT = 100.0
"""Range of the ``scale`` option (remove.bg's): the subject's size, in % of the space it is placed in."""
