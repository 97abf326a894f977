"""The official Replicate client (``replicate==1.0.7``) against the local stack, unchanged but for
``base_url`` and the key: ``replicate.run`` with a URL and with an open file, ``predictions.create`` and
``wait``, ``cancel``, paging, a delivered webhook that ``webhooks.validate`` accepts, the output read
through the client (it sends its key), failed predictions with our error code, and key isolation.

The local stack serves http, so the client leaves outputs as strings (it wraps only https and data: URLs
in ``FileOutput``); the tests wrap them the way it would."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator

import pytest
import replicate
from PIL import Image
from replicate.exceptions import ModelError, ReplicateError
from replicate.helpers import FileOutput

from tests.integration.api.api_stack import FIXTURES
from tests.integration.api.async_stack import AsyncStack, SharedStack, small_jpeg

pytestmark = pytest.mark.integration

REF = "lucataco/remove-bg:95fcc2a26d3899cd6c2691c900465aaeff466285a65c14638cc5f36f34befaf1"


@pytest.fixture(scope="module")
def stack(shared_stack: SharedStack) -> Iterator[AsyncStack]:
    with shared_stack.for_module("replicate") as running:
        yield running


@pytest.fixture(scope="module")
def client(stack: AsyncStack) -> replicate.Client:
    return replicate.Client(api_token=stack.key, base_url=stack.url)


def _cutout(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    assert image.mode == "RGBA"
    alpha = image.getchannel("A")
    assert alpha.getextrema() == (0, 255)  # a real matte: some background removed, some subject kept
    return image


def test_run_with_a_url_and_read_the_output_through_the_client(
    stack: AsyncStack, client: replicate.Client
) -> None:
    output = client.run(REF, input={"image": f"{stack.images}/coffee.jpg"})
    assert isinstance(output, str)
    assert output.startswith(stack.url) and "/v1/files/" in output
    image = _cutout(FileOutput(output, client).read())
    assert image.size == (600, 400)


def test_run_by_model_name_without_a_version(stack: AsyncStack, client: replicate.Client) -> None:
    output = client.run("lucataco/remove-bg", input={"image": f"{stack.images}/chelsea.jpg"})
    _cutout(FileOutput(str(output), client).read())


def test_run_with_an_open_file(client: replicate.Client) -> None:
    with (FIXTURES / "coffee.jpg").open("rb") as photo:
        output = client.run(REF, input={"image": photo})
    _cutout(FileOutput(str(output), client).read())


def test_create_and_wait_with_a_data_uri(client: replicate.Client) -> None:
    encoded = base64.b64encode((FIXTURES / "coffee.jpg").read_bytes()).decode()
    prediction = client.predictions.create(
        version="u2netp", input={"image": f"data:image/jpeg;base64,{encoded}"}
    )
    assert prediction.status == "starting"
    prediction.wait()
    assert prediction.status == "succeeded"
    assert prediction.version == "u2netp"
    assert prediction.metrics is not None and prediction.metrics["predict_time"] >= 0
    _cutout(FileOutput(str(prediction.output), client).read())


def test_failed_prediction_raises_model_error_with_our_code(client: replicate.Client) -> None:
    not_an_image = "data:image/jpeg;base64," + base64.b64encode(b"this is not an image").decode()
    with pytest.raises(ModelError) as raised:
        client.run(REF, input={"image": not_an_image})
    assert raised.value.prediction.status == "failed"
    assert str(raised.value.prediction.error).startswith(
        ("NOT_AN_IMAGE", "UNSUPPORTED_FORMAT", "CORRUPT_IMAGE")
    )


def test_cancel(client: replicate.Client) -> None:
    tiny = "data:image/jpeg;base64," + base64.b64encode(small_jpeg()).decode()
    # Jobs ahead in the queue keep the last one waiting long enough to be canceled first.
    for _ in range(4):
        client.predictions.create(version="u2netp", input={"image": tiny})
    last = client.predictions.create(version="u2netp", input={"image": tiny})
    last.cancel()
    assert client.predictions.get(last.id).status == "canceled"


def test_paging_follows_next(stack: AsyncStack) -> None:
    key = stack.other_key("replicate-paging")
    client = replicate.Client(api_token=key, base_url=stack.url)
    tiny = "data:image/jpeg;base64," + base64.b64encode(small_jpeg()).decode()
    created = {client.predictions.create(version="u2netp", input={"image": tiny}).id for _ in range(23)}
    first = client.predictions.list()
    assert len(first.results) == 20 and first.next is not None
    second = client.predictions.list(first.next)
    assert second.next is None
    assert {p.id for p in first.results} | {p.id for p in second.results} == created


@pytest.mark.slow  # over about 5 s (pytest --durations)
def test_webhook_is_signed_so_the_client_validates_it(stack: AsyncStack, client: replicate.Client) -> None:
    prediction = client.predictions.create(
        version="u2netp",
        input={"image": f"{stack.images}/coffee.jpg"},
        webhook=f"{stack.receiver.url}/replicate",
        webhook_events_filter=["completed"],
    )
    (delivery,) = stack.receiver.wait_for("/replicate", 1, timeout_s=60)
    body = delivery.json()
    assert body["id"] == prediction.id
    assert body["status"] == "succeeded"
    secret = client.webhooks.default.secret()
    # validate() returns nothing in 1.0.7 and raises on a bad signature (as for the tampered body below).
    client.webhooks.validate(headers=delivery.headers, body=delivery.body.decode(), secret=secret)
    tampered = delivery.body.decode().replace("succeeded", "failed")
    with pytest.raises(replicate.webhook.InvalidSignatureError):
        client.webhooks.validate(headers=delivery.headers, body=tampered, secret=secret)


def test_another_key_sees_nothing(stack: AsyncStack, client: replicate.Client) -> None:
    tiny = "data:image/jpeg;base64," + base64.b64encode(small_jpeg()).decode()
    mine = client.predictions.create(version="u2netp", input={"image": tiny})
    other = replicate.Client(api_token=stack.other_key("replicate-other"), base_url=stack.url)
    with pytest.raises(ReplicateError) as raised:
        other.predictions.get(mine.id)
    assert raised.value.status == 404
    assert mine.id not in {p.id for p in other.predictions.list().results}


def test_unknown_version_and_bad_key_are_problems(stack: AsyncStack, client: replicate.Client) -> None:
    with pytest.raises(ReplicateError) as raised:
        client.predictions.create(version="no-such-version", input={"image": f"{stack.images}/coffee.jpg"})
    assert raised.value.status == 422
    anonymous = replicate.Client(api_token="bgr_000000000000_nope", base_url=stack.url)
    with pytest.raises(ReplicateError) as unauthenticated:
        anonymous.predictions.list()
    assert unauthenticated.value.status == 401
    assert unauthenticated.value.title == "Unauthenticated"


@pytest.mark.parametrize(
    "webhook", ["file:///etc/passwd", "gopher://127.0.0.1:70/_x", "http://nowhere.invalid/h"]
)
def test_a_webhook_delivery_would_refuse_is_refused_at_submit(
    stack: AsyncStack, client: replicate.Client, webhook: str
) -> None:
    with pytest.raises(ReplicateError) as raised:
        client.predictions.create(
            version="u2netp", input={"image": f"{stack.images}/coffee.jpg"}, webhook=webhook
        )
    assert raised.value.status == 400
    assert str(raised.value.detail).startswith("webhook: ")


def test_a_version_whose_model_is_not_deployed_is_refused_at_submit(
    stack: AsyncStack, client: replicate.Client
) -> None:
    if stack.api.runtime.engine.registry.is_available("isnet"):
        pytest.skip("isnet is deployed here (make model MODEL=isnet)")
    with pytest.raises(ReplicateError) as raised:
        client.predictions.create(version="isnet", input={"image": f"{stack.images}/coffee.jpg"})
    assert raised.value.status == 422
    assert "/" not in str(raised.value.detail)  # no server path, no make hint
    assert "isnet" not in {p.version for p in client.predictions.list().results}
