"""The ``openai`` SDK against the local stack, unchanged but for ``base_url`` and the key: the ``remove-bg``
model with an image URL and with a data URI, streaming, the model list, and the SDK's own error classes
for our errors (no image, a bad key, an unknown model, an image the engine cannot read)."""

from __future__ import annotations

import base64
import io
import urllib.request
from collections.abc import Iterator

import openai
import pytest
from openai import OpenAI
from PIL import Image

from tests.integration.api.api_stack import FIXTURES
from tests.integration.api.async_stack import AsyncStack, SharedStack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(shared_stack: SharedStack) -> Iterator[AsyncStack]:
    with shared_stack.for_module("openai") as running:
        yield running


@pytest.fixture(scope="module")
def client(stack: AsyncStack) -> OpenAI:
    return OpenAI(base_url=f"{stack.url}/v1", api_key=stack.key)


def _messages(url: str) -> list[dict[str, object]]:
    return [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "a person"},
                {"type": "image_url", "image_url": {"url": url}},
            ],
        }
    ]


def _download_cutout(url: str) -> Image.Image:
    with urllib.request.urlopen(url, timeout=30) as response:  # the presigned URL, no key needed
        image = Image.open(io.BytesIO(response.read()))
        image.load()
    assert image.mode == "RGBA"
    assert image.getchannel("A").getextrema() == (0, 255)
    return image


def test_image_url(stack: AsyncStack, client: OpenAI) -> None:
    completion = client.chat.completions.create(
        model="remove-bg", messages=_messages(f"{stack.images}/coffee.jpg")
    )
    assert completion.object == "chat.completion"
    assert completion.model == "remove-bg"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.total_tokens == 0
    content = completion.choices[0].message.content
    assert content is not None and "X-Amz-Expires=3600" in content
    assert _download_cutout(content).size == (600, 400)


def test_data_uri_and_a_model_name(client: OpenAI) -> None:
    encoded = base64.b64encode((FIXTURES / "coffee.jpg").read_bytes()).decode()
    completion = client.chat.completions.create(
        model="u2netp", messages=_messages(f"data:image/jpeg;base64,{encoded}")
    )
    assert completion.model == "u2netp"
    _download_cutout(str(completion.choices[0].message.content))


def test_stream_is_one_chunk_and_done(stack: AsyncStack, client: OpenAI) -> None:
    stream = client.chat.completions.create(
        model="remove-bg",
        messages=_messages(f"{stack.images}/coffee.jpg"),
        stream=True,
    )
    chunks = list(stream)
    content = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"
    _download_cutout(content)


def test_models(client: OpenAI) -> None:
    names = [model.id for model in client.models.list()]
    assert names[0] == "remove-bg"
    assert "u2netp" in names


def test_errors_are_the_sdks_classes(stack: AsyncStack, client: OpenAI) -> None:
    no_image = [{"role": "user", "content": [{"type": "text", "text": "a person"}]}]
    with pytest.raises(openai.BadRequestError) as missing:
        client.chat.completions.create(model="remove-bg", messages=no_image)
    assert missing.value.code == "MISSING_SOURCE"
    assert missing.value.param == "messages"
    not_an_image = "data:image/jpeg;base64," + base64.b64encode(b"not an image at all").decode()
    with pytest.raises(openai.BadRequestError) as failed:
        client.chat.completions.create(model="remove-bg", messages=_messages(not_an_image))
    assert failed.value.code in {"NOT_AN_IMAGE", "UNSUPPORTED_FORMAT", "CORRUPT_IMAGE"}
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-4o", messages=_messages(f"{stack.images}/coffee.jpg"))
    with pytest.raises(openai.AuthenticationError):
        OpenAI(base_url=f"{stack.url}/v1", api_key="bgr_000000000000_nope").models.list()
