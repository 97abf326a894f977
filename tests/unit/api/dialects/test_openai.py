"""The OpenAI-style dialect's mappings without a stack: the image from the last user message, the model
names, the completion and its stream as the ``openai`` SDK's own types read them, and the error shape (a 504
that tells the SDK not to retry)."""

from __future__ import annotations

import json

import pytest
from openai.types import Model
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from bgremove_api.dialects import openai as dialect
from bgremove_api.dialects.common import Failure
from bgremove_api.exceptions import BadRequestError, MissingSourceError

URL = "https://results.example/out.png?X-Amz-Signature=abc"


def _user(*parts: dict[str, object]) -> dict[str, object]:
    return {"role": "user", "content": list(parts)}


def test_the_last_user_messages_image_is_used() -> None:
    messages = [
        _user({"type": "image_url", "image_url": {"url": "https://old.example/a.jpg"}}),
        {"role": "assistant", "content": "https://x"},
        _user(
            {"type": "text", "text": "a person"},
            {"type": "image_url", "image_url": {"url": " data:image/png;base64,AAAA "}},
        ),
    ]
    assert dialect.image_reference(messages) == "data:image/png;base64,AAAA"


@pytest.mark.parametrize(
    "messages",
    [
        [],
        [_user({"type": "text", "text": "a person"})],
        [{"role": "user", "content": "remove the background"}],
        [_user({"type": "image_url", "image_url": {"url": ""}})],
        [{"role": "system", "content": [{"type": "image_url", "image_url": {"url": "https://a/b.jpg"}}]}],
    ],
)
def test_no_image_is_missing_source(messages: list[object]) -> None:
    with pytest.raises(MissingSourceError):
        dialect.image_reference(messages)


def test_messages_must_be_a_list() -> None:
    with pytest.raises(BadRequestError):
        dialect.image_reference({"role": "user"})


def test_model_names() -> None:
    assert dialect.model_choice("remove-bg", ["u2net", "u2netp"]) is None
    assert dialect.model_choice("u2netp", ["u2net", "u2netp"]) == "u2netp"
    with pytest.raises(dialect.UnknownModelError):
        dialect.model_choice("gpt-4o", ["u2net"])


def test_completion_reads_as_the_sdks_type() -> None:
    parsed = ChatCompletion.model_validate(dialect.completion("job1", 1_700_000_000, "remove-bg", URL))
    assert parsed.id == "chatcmpl-job1"
    assert parsed.object == "chat.completion"
    assert parsed.choices[0].message.content == URL
    assert parsed.choices[0].finish_reason == "stop"
    assert parsed.usage is not None and parsed.usage.total_tokens == 0


def test_stream_is_one_content_chunk_then_done() -> None:
    events = dialect.stream_body("job1", 1_700_000_000, "remove-bg", URL).split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""]
    chunks = [ChatCompletionChunk.model_validate(json.loads(e.removeprefix("data: "))) for e in events[:-2]]
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == URL
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_models_list_reads_as_the_sdks_type() -> None:
    listed = dialect.models_list(["u2net", "u2netp"], 1)
    assert [Model.model_validate(m).id for m in listed["data"]] == ["remove-bg", "u2net", "u2netp"]


def test_error_shape_and_no_retry_on_504() -> None:
    response = dialect.error_response(Failure(504, "JOB_UNFINISHED", "job abc is not finished"))
    assert response.status_code == 504
    assert response.headers["x-should-retry"] == "false"
    assert json.loads(str(response.body)) == {
        "error": {
            "message": "job abc is not finished",
            "type": "timeout",
            "param": None,
            "code": "JOB_UNFINISHED",
        }
    }
    missing = json.loads(str(dialect.error_response(Failure(400, "MISSING_SOURCE", "no")).body))
    assert missing["error"]["type"] == "invalid_request_error"
    assert missing["error"]["param"] == "messages"


def test_a_chat_body_maps_to_a_job_request() -> None:
    messages = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.jpg"}}]}]
    request = dialect.chat_request({"model": "remove-bg", "messages": messages}, ["u2netp"])
    assert (request.options.model, request.image, request.image_field) == (
        None,
        "https://x/y.jpg",
        "image_url.url",
    )
    assert (
        dialect.chat_request({"model": "u2netp", "messages": messages}, ["u2netp"]).options.model == "u2netp"
    )
    assert request.webhook is None and request.extra == {"model": "remove-bg"}
