"""Property-based fuzzing, with hypothesis, of every place where untrusted bytes and text enter.

Targets: the decoder and the whole engine (``test_fuzz_images``: mutated files of every accepted format),
the engine's geometry (``test_fuzz_geometry``: every option that shapes the result, with background images of
every aspect, over inputs of every shape), the option parser (``test_fuzz_options``), S3 user metadata
(``test_fuzz_metadata``), the event readers (``test_fuzz_sources``) and every route of the HTTP API
(``test_fuzz_api``: bodies, headers, keys, cursors and URLs as a hostile client sends them). ``make test``
runs them briefly and reproducibly; ``make fuzz MINUTES=N`` runs them for N minutes (``conftest.py``
explains the two profiles, ``run.py`` the time-boxed runner).

Why hypothesis alone, and not atheris as well. atheris 3.1.0 does install here (a cp312 manylinux wheel), so
availability is not the reason; what it would add is not worth a second tool:

- atheris's edge is coverage guidance through libFuzzer. It instruments Python bytecode only. The parsers
  most likely to misbehave on hostile bytes are C code inside the Pillow and pillow-heif wheels (libjpeg-
  turbo, libpng and zlib, libwebp, libtiff, libheif with libde265, libavif with dav1d), which are not built
  with ``-fsanitize=fuzzer``: atheris gets no coverage from them and there degenerates to a random mutator.
  Guided fuzzing of that C code means building those libraries with clang's libFuzzer and ASan (what
  OSS-Fuzz does for Pillow upstream), which is out of this project's scope.
- Three of the four targets take structured input (option mappings, dialect name mappings, S3 metadata,
  nested JSON events). Hypothesis generates those directly and shrinks a failure to a minimal, readable
  example; atheris hands out bytes that each target would have to decode with a ``FuzzedDataProvider``, and
  reports raw bytes.
- One tool serves both modes. The same tests run inside pytest in ``make test`` (derandomized, so a red CI
  reproduces) and for as long as wanted in ``make fuzz``. atheris runs one libFuzzer process per target,
  outside pytest, and aborts the process on the first uncaught exception.

What is given up is coverage feedback on the Python branches (``_decode.py``'s mode handling, the readers).
The seeds compensate: one small file per format *and* variant (16-bit, palette with tRNS, CMYK with ICC,
float TIFF, EXIF orientation, animation...), and structure-aware edits that get past what blind mutation
rarely gets past: width and height fields found in each seed and set to huge or odd values, PNG chunk CRCs
recomputed after editing, whole chunks duplicated, the magic number mostly left intact.
"""
