"""Output keys: the input key with the new extension, always within S3's 1024-byte key limit."""

from __future__ import annotations

import hashlib

import pytest

from processor import service
from processor.service import output_key_for

MAX_KEY_BYTES = 1024  # S3's limit on a key, in UTF-8 bytes


def test_the_limit_is_s3s() -> None:
    assert service.MAX_KEY_BYTES == MAX_KEY_BYTES


def utf8(text: str) -> int:
    return len(text.encode())


@pytest.mark.parametrize(
    ("key", "extension", "prefix", "expected"),
    [
        ("cat.jpg", "png", "", "cat.png"),
        ("a/b/cat.photo.jpeg", "webp", "out/", "out/a/b/cat.photo.webp"),
        ("photos/", "png", "", "photos/.png"),  # a key ending in "/" that holds an image
    ],
)
def test_short_keys_keep_their_name(key: str, extension: str, prefix: str, expected: str) -> None:
    assert output_key_for(key, extension, prefix) == expected


def test_a_key_that_fits_exactly_is_unchanged() -> None:
    key = "a" * (MAX_KEY_BYTES - len(".png")) + ".jpg"
    assert output_key_for(key, "png", "") == key[:-4] + ".png"
    assert utf8(output_key_for(key, "png", "")) == MAX_KEY_BYTES


@pytest.mark.parametrize(
    ("key", "extension", "prefix"),
    [
        ("a" * 1020 + ".jpg", "webp", ""),  # the longer extension takes it one byte over
        ("dir/" + "x" * 1016 + ".jpg", "png", "results/"),  # the prefix does
        ("写真/" + "長い名前" * 84 + ".heic", "jpeg", "cutouts/"),  # 3-byte characters: cut on a boundary
        ("noextension" * 93, "png", "out/"),
    ],
)
def test_keys_over_the_limit_get_a_readable_start_and_a_hash(key: str, extension: str, prefix: str) -> None:
    assert utf8(key) <= MAX_KEY_BYTES  # a valid input key
    output = output_key_for(key, extension, prefix)
    assert utf8(output) <= MAX_KEY_BYTES
    digest = hashlib.sha256(key.encode()).hexdigest()
    assert output.startswith(prefix)
    assert output.endswith(f"-{digest}.{extension}")
    readable = output[len(prefix) : -len(f"-{digest}.{extension}")]
    assert key.startswith(readable)
    assert utf8(readable) > 800  # most of the name is still there
    assert output_key_for(key, extension, prefix) == output  # the same input always maps to the same output


def test_long_keys_that_share_their_start_stay_apart() -> None:
    first, second = "a" * 1015 + "1.jpg", "a" * 1015 + "2.jpg"
    assert output_key_for(first, "webp", "out/") != output_key_for(second, "webp", "out/")
