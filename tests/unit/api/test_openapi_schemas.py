"""The OpenAPI document is true to the wire: real answers (the dialects' mapping functions, and the routes
through the real handler on moto with a fake engine) and the requests clients send validate against the
document's schemas (jsonschema, every ``$ref`` resolved in the document) and the pydantic models behind them
(parsed and dumped back unchanged: no field missing from a model). The document itself is checked offline:
every ``$ref`` resolves, every route but the page has security, every route that reads JSON has a request
schema, every route a 2xx answer, every status a route answered is one it documents."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import pytest
from aws_lambda_powertools.event_handler import Response
from jsonschema import Draft202012Validator
from pydantic import BaseModel

from bgremove_api.app import DOCS_PATH, app, openapi_document
from bgremove_api.dialects import (
    _schemas_apiframe,
    _schemas_forms,
    _schemas_openai,
    _schemas_replicate,
    apiframe,
    openai,
)
from bgremove_api.dialects import replicate_wire as replicate
from bgremove_api.dialects.common import Failure, classify
from bgremove_api.dialects.schemas import POWERTOOLS_SCHEMAS
from bgremove_api.dialects.table import for_path
from bgremove_api.exceptions import RateLimitedError, RateState, ServiceUnavailableError
from bgremove_api.jobs import JobStatus
from tests.unit.api.fakes import PNG, Api, fake_api, multipart
from tests.unit.api.jobs.fixtures import DATA_URI, Stack, jobs_stack
from tests.unit.api.jobs.samples import sample_job

Json = dict[str, Any]

JSON_TYPES = ("application/json", "application/problem+json")
SHOWN_HEADERS = {"location", "retry-after", "preference-applied", "www-authenticate", "server-timing"}
"""Headers an answer must document besides its ``X-*`` ones (all of which it must)."""
UNDOCUMENTED_HEADERS = {"x-content-type-options"}
"""Set on every answer by the app (app.SECURITY_HEADERS), not a dialect's."""

SYNC_ROUTES = ("POST /api/v2/remove-background", "POST /v1.0/removebg", "POST /remove-background")
"""Routes that read a form (multipart, urlencoded or JSON) rather than one JSON model."""


@pytest.fixture(scope="module")
def doc() -> Json:
    parsed = json.loads(openapi_document())
    assert isinstance(parsed, dict)
    return parsed


@pytest.fixture
def stack() -> Iterator[Stack]:
    with jobs_stack() as running:
        yield running


@pytest.fixture
def api() -> Iterator[Api]:
    with fake_api() as running:
        yield running


# ---------------------------------------------------------------------------------------------------- helpers
def operation(doc: Json, route: str) -> Json:
    """The operation of ``"METHOD /path/{template}"``."""
    method, path = route.split(" ", 1)
    found = doc["paths"][path][method.lower()]
    assert isinstance(found, dict)
    return found


def routes(doc: Json) -> list[str]:
    return [f"{method.upper()} {path}" for path, item in doc["paths"].items() for method in item]


def validate(doc: Json, schema: Mapping[str, Any], instance: object) -> None:
    """``instance`` against ``schema``, whose ``$ref`` resolve in ``doc``'s components."""
    root = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": doc["components"],
        **schema,
    }
    errors = sorted(Draft202012Validator(root).iter_errors(instance), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def fits(model: type[BaseModel], payload: object) -> None:
    """``payload`` parses as ``model`` and dumps back unchanged: the model names every field it has."""
    parsed = model.model_validate(payload)
    assert parsed.model_dump(mode="json", by_alias=True, exclude_unset=True) == payload


def media_type(content: Mapping[str, Any], content_type: str) -> str:
    """The documented media type an answer's ``Content-Type`` falls under (as it is, or a range)."""
    bare = content_type.split(";", 1)[0].strip().lower()
    for candidate in (bare, f"{bare.split('/', 1)[0]}/*"):
        if candidate in content:
            return candidate
    raise AssertionError(f"{content_type} is not among the documented {sorted(content)}")


def check_answer(
    doc: Json,
    route: str,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    model: type[BaseModel] | None = None,
) -> Any:
    """An answer of ``route`` is documented: its status, its headers, its content type and its body (JSON:
    by the document's schema and by ``model``). Returns the JSON body, if it is JSON."""
    responses = operation(doc, route)["responses"]
    assert str(status) in responses, (
        f"{route} answered {status}: {body[:300]!r}; documented {list(responses)}"
    )
    response = responses[str(status)]
    documented = {name.lower() for name in response.get("headers", {})}
    for name in headers:
        shown = name.lower().startswith("x-") or name.lower() in SHOWN_HEADERS
        if shown and name.lower() not in UNDOCUMENTED_HEADERS:
            assert name.lower() in documented, f"{route} {status}: header {name} is not documented"
    content = response.get("content")
    if not content:
        assert body == b"", f"{route} {status} documents no body"
        return None
    chosen = media_type(content, headers.get("Content-Type", ""))
    schema = content[chosen]["schema"]
    if chosen in JSON_TYPES:
        payload = json.loads(body)
        validate(doc, schema, payload)
        if model is not None:
            fits(model, payload)
        return payload
    if schema.get("format") == "binary":
        assert body, f"{route} {status}: no bytes"
        return None
    validate(doc, schema, body.decode())
    return None


def check_request(doc: Json, route: str, model: type[BaseModel], request: object) -> bytes:
    """A request body clients send fits the route's documented request schema and ``model``."""
    body = operation(doc, route)["requestBody"]
    validate(doc, body["content"]["application/json"]["schema"], request)
    fits(model, request)
    return json.dumps(request).encode()


def check_response(doc: Json, route: str, response: Response[Any]) -> Any:
    """A powertools :class:`Response` a dialect renders (its error renderer) is documented for ``route``."""
    body = response.body if isinstance(response.body, bytes) else str(response.body or "").encode()
    headers = {k: v if isinstance(v, str) else ",".join(v) for k, v in response.headers.items()}
    return check_answer(doc, route, response.status_code, headers, body)


@contextmanager
def finishing(stack: Stack) -> Iterator[None]:
    """Finish each job of the stack's key as soon as it is stored, as the pipeline would (a request that
    waits for its job, OpenAI-style, then answers it finished)."""
    owner, stop, done = stack.owner, threading.Event(), set()

    def run() -> None:
        while not stop.is_set():
            found, _ = stack.machinery.store.list(owner, limit=100)
            for job in found:
                if job.job_id not in done and not job.status.terminal:
                    stack.finish(job.job_id)
                    done.add(job.job_id)
            stop.wait(0.02)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)


# ----------------------------------------------------------------------------------------------- the document
def _refs(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def test_every_ref_resolves_in_the_document(doc: Json) -> None:
    refs = set(_refs(doc))
    assert refs, "the document names no component"
    for ref in refs:
        assert ref.startswith("#/"), ref
        node: Any = doc
        for part in ref[2:].split("/"):
            assert isinstance(node, dict) and part in node, f"{ref} does not resolve"
            node = node[part]


def test_every_component_is_named_and_a_valid_schema(doc: Json) -> None:
    schemas = doc["components"]["schemas"]
    named = {ref.rsplit("/", 1)[1] for ref in _refs(doc) if ref.startswith("#/components/schemas/")}
    assert set(schemas) == named, "components nothing names, or names nothing holds"
    for name, schema in schemas.items():
        Draft202012Validator.check_schema(schema)
        assert schema.get("type") == "object" or "enum" in schema, name


def test_powertools_validation_errors_are_not_documented(doc: Json) -> None:
    # The app answers a body powertools cannot read as the dialect's 400, never as HTTPValidationError.
    assert not set(POWERTOOLS_SCHEMAS) & set(doc["components"]["schemas"])


def test_every_route_is_documented_once(doc: Json) -> None:
    served = {
        f"{route.method.upper()} {route.openapi_path}"
        for route in app._static_routes + app._dynamic_routes
        if route.openapi_path != DOCS_PATH
    }
    assert set(routes(doc)) == served
    ids = [operation(doc, route)["operationId"] for route in routes(doc)]
    assert len(ids) == len(set(ids))


def test_every_route_but_the_page_has_security(doc: Json) -> None:
    schemes = doc["components"]["securitySchemes"]
    for route in routes(doc):
        security = operation(doc, route).get("security")
        if route == "GET /":
            assert security is None
            continue
        assert security, f"{route} has no security"
        assert all(name in schemes for requirement in security for name in requirement), route


def test_every_route_documents_a_success_and_its_body(doc: Json) -> None:
    for route in routes(doc):
        op = operation(doc, route)
        successes = [status for status in op["responses"] if status.startswith("2")]
        assert successes, f"{route} documents no 2xx answer"
        for status in successes:
            content = op["responses"][status]["content"]
            assert content and all("schema" in media for media in content.values()), (route, status)
            if "application/json" in content:
                assert content["application/json"]["schema"].get("$ref"), (route, status)
        for status, response in op["responses"].items():
            assert response["description"], (route, status)
            if status.startswith(("4", "5")):
                assert len(response["content"]) == 1, (route, status)


def test_every_route_that_reads_a_body_documents_it(doc: Json) -> None:
    forms = (*SYNC_ROUTES, "POST /v1/files")
    for route in routes(doc):
        op = operation(doc, route)
        if not route.startswith("POST ") or route.endswith("/cancel"):
            assert "requestBody" not in op, route
            continue
        content = op["requestBody"]["content"]
        if route in forms:
            assert "multipart/form-data" in content, route
            continue
        assert list(content) == ["application/json"], route
        assert content["application/json"]["schema"]["$ref"].startswith("#/components/schemas/"), route
        assert op["requestBody"]["required"] is True


def test_the_documents_parameters(doc: Json) -> None:
    def names(route: str) -> list[str]:
        return [p["name"] for p in operation(doc, route).get("parameters", [])]

    # powertools replaces a route's own parameters with the path's: they are merged back
    assert names("POST /v1/models/{owner}/{name}/predictions") == ["owner", "name", "Prefer"]
    assert names("POST /v1/predictions") == ["Prefer"]
    assert names("GET /v1/predictions") == ["cursor"]
    assert names("POST /v2/images/background-remove") == ["Idempotency-Key"]
    assert names("GET /v2/jobs") == ["status", "model", "limit", "cursor"]


def test_the_document_is_a_valid_openapi_document(doc: Json) -> None:
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(doc)


# -------------------------------------------------------------------------------- the dialects' own constants
def test_the_models_name_the_dialects_values() -> None:
    def choices(model: type[BaseModel], name: str) -> set[Any]:
        schema = model.model_json_schema(mode="serialization")["properties"][name]
        return set(schema.get("enum") or [schema.get("const")])

    assert choices(_schemas_replicate.ReplicatePrediction, "status") == set(replicate.STATUSES.values())
    assert choices(_schemas_replicate.ReplicatePrediction, "model") == {replicate.MODEL}
    create = _schemas_replicate.ReplicatePredictionCreate.model_json_schema()
    assert set(create["properties"]["version"]["enum"]) == set(replicate.VERSIONS)
    assert set(create["$defs"]["ReplicatePredictionInput"]["properties"]) == {
        replicate.IMAGE_FIELD,
        *replicate.OPTION_NAMES,
    }
    events = create["properties"]["webhook_events_filter"]["items"]["enum"]
    assert set(events) == set(replicate.WEBHOOK_EVENTS)
    assert set(_schemas_replicate.ReplicateProblem.model_fields) == {
        "type",
        "title",
        "status",
        "detail",
        "code",
    }

    errors = _schemas_openai.OpenAIErrorBody.model_json_schema()["properties"]["type"]["enum"]
    assert set(errors) == {*openai.ERROR_TYPES.values(), "server_error"}

    assert choices(_schemas_apiframe.ApiframeJob, "status") == set(apiframe.STATUSES.values())
    assert choices(_schemas_apiframe.ApiframeJob, "model") == {apiframe.MODEL}
    submit = _schemas_apiframe.ApiframeSubmit.model_json_schema()
    params = submit["$defs"]["ApiframeParams"]["properties"]
    assert set(params) == {apiframe.IMAGE_FIELD, *apiframe.OPTION_NAMES}
    assert set(params["format"]["enum"]) == apiframe.FORMATS
    assert params["format"]["default"] == apiframe.DEFAULTS["format"]
    assert apiframe.PARAMS in submit["properties"]
    assert set(submit["properties"]["webhookEvents"]["items"]["enum"]) == set(apiframe.WEBHOOK_EVENTS)
    assert set(_schemas_apiframe.STATUS_FILTERS) == {status.value for status in JobStatus}


def test_what_the_vendors_documents_send_fits(doc: Json) -> None:
    # The requests of the seeds' own examples (and the official clients' fields) are documented requests.
    check_request(
        doc,
        "POST /replicate/v1/predictions",
        _schemas_replicate.ReplicatePredictionCreate,
        {"version": replicate.DEFAULT_VERSION, "input": {"image": "https://replicate.delivery/shoe.jpg"}},
    )
    check_request(
        doc,
        "POST /v1/predictions",
        _schemas_replicate.ReplicatePredictionCreate,
        {
            "version": "u2netp",
            "input": {"image": DATA_URI, "format": "png", "background_type": "white"},
            "webhook": "https://hooks.example/r",
            "webhook_completed": None,
            "webhook_events_filter": ["completed"],
            "stream": False,
        },
    )
    check_request(
        doc,
        "POST /v1/chat/completions",
        _schemas_openai.OpenAIChatCompletionRequest,
        {
            "model": "remove-bg",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "a person"},
                        {"type": "image_url", "image_url": {"url": "https://file.example/msk.jpg"}},
                    ],
                }
            ],
        },
    )
    check_request(
        doc,
        "POST /v2/images/background-remove",
        _schemas_apiframe.ApiframeSubmit,
        {
            "model": "851-bg-remove",
            "lab851BgRemoveParams": {
                "image": "https://example.com/input.jpg",
                "format": "png",
                "threshold": 0,
                "background_type": "rgba",
            },
            "webhook_url": "https://hooks.example/a",
        },
    )


# ------------------------------------------------------------------------------------------ mapping functions
@pytest.mark.parametrize("status", list(JobStatus))
def test_replicate_predictions_fit(doc: Json, status: JobStatus) -> None:
    hooked = {
        replicate.EXTRA_VERSION: "u2netp",
        replicate.EXTRA_INPUT: {"image": "data:image/png;base64,...(99 characters)", "format": "png"},
        replicate.EXTRA_WEBHOOK: "https://hooks.example/r",
        replicate.EXTRA_EVENTS: ["completed"],
    }
    for job in (sample_job(status), sample_job(status, extra=hooked)):
        for waited in (False, True):
            body = replicate.prediction(job, waited_unfinished=waited, base_url="https://api.example")
            fits(_schemas_replicate.ReplicatePrediction, body)
            validate(doc, {"$ref": "#/components/schemas/ReplicatePrediction"}, body)
        delivered = json.loads(replicate.webhook_body(job, None))
        fits(_schemas_replicate.ReplicatePrediction, delivered)


def test_replicate_version_fits(doc: Json) -> None:
    for version in replicate.VERSIONS:
        body = replicate.version_object(version)
        fits(_schemas_replicate.ReplicateVersion, body)
        validate(doc, {"$ref": "#/components/schemas/ReplicateVersion"}, body)


def test_openai_completion_stream_and_models_fit(doc: Json) -> None:
    body = openai.completion("job1", 1_704_067_200, "remove-bg", "https://bucket.example/out.png?sig")
    fits(_schemas_openai.OpenAIChatCompletion, body)
    validate(doc, {"$ref": "#/components/schemas/OpenAIChatCompletion"}, body)
    events = openai.stream_body("job1", 1_704_067_200, "remove-bg", "https://bucket.example/out.png").split(
        "\n\n"
    )
    assert events[-2:] == ["data: [DONE]", ""]
    for event in events[:-2]:
        assert event.startswith("data: ")
        chunk = json.loads(event.removeprefix("data: "))
        fits(_schemas_openai.OpenAIChatCompletionChunk, chunk)
        validate(doc, {"$ref": "#/components/schemas/OpenAIChatCompletionChunk"}, chunk)
    listed = openai.models_list(["u2net", "u2netp"], 1_704_067_200)
    fits(_schemas_openai.OpenAIModelList, listed)
    validate(doc, {"$ref": "#/components/schemas/OpenAIModelList"}, listed)


@pytest.mark.parametrize("status", list(JobStatus))
def test_apiframe_jobs_fit(doc: Json, status: JobStatus) -> None:
    url = "https://bucket.example/out.png?sig" if status is JobStatus.COMPLETED else None
    for job in (sample_job(status), sample_job(status, webhook_status={"completed": "delivered"})):
        body = apiframe.job_object(job, url)
        fits(_schemas_apiframe.ApiframeJob, body)
        validate(doc, {"$ref": "#/components/schemas/ApiframeJob"}, body)


def _failure(status: int) -> Failure:
    """A failure of ``status`` as the app classifies it (429 and 503 with their headers and rate window)."""
    if status == 429:
        return classify(RateLimitedError(2, RateState(10, 0, 1_704_067_201), "rate"))
    if status == 503:
        return classify(ServiceUnavailableError("DynamoDB is busy, retry shortly"))
    if status == 504:
        return classify(openai.JobUnfinishedError("job j1 is not finished after 25 s"))
    return Failure(status, "SOME_CODE", f"a failure of status {status}")


def test_every_documented_error_is_in_the_dialects_shape(doc: Json) -> None:
    # Each route's dialect renders each status the route documents; the answer fits the document.
    for route in routes(doc):
        dialect = for_path(route.split(" ", 1)[1])
        assert dialect is not None, route
        for status in operation(doc, route)["responses"]:
            if status.startswith(("4", "5")):
                response = dialect.error_response(_failure(int(status)))
                assert response.status_code == int(status), (route, status)
                check_response(doc, route, response)


def test_removebg_documents_only_the_statuses_it_answers(doc: Json) -> None:
    # remove.bg's clients branch on its statuses: no 401 (403) and no 413 (400 file_too_large)
    for route, raised in (("POST /v1.0/removebg", (401, 413)), ("GET /v1.0/account", (401,))):
        assert not {"401", "413"} & set(operation(doc, route)["responses"])
        dialect = for_path(route.split(" ", 1)[1])
        assert dialect is not None
        for status in raised:
            rendered = dialect.error_response(_failure(status))
            assert str(rendered.status_code) in operation(doc, route)["responses"]


# ------------------------------------------------------------------------------------------ routes: Replicate
def test_replicate_routes_answer_as_documented(doc: Json, stack: Stack) -> None:
    prediction = _schemas_replicate.ReplicatePrediction
    request = {"version": "u2netp", "input": {"image": "http://images/shoe.jpg", "format": "jpg"}}
    body = check_request(doc, "POST /v1/predictions", _schemas_replicate.ReplicatePredictionCreate, request)
    status, headers, data = stack.api.call("POST", "/v1/predictions", body, stack.bearer())
    created = check_answer(doc, "POST /v1/predictions", status, headers, data, prediction)
    job_id = created["id"]
    status, headers, data = stack.api.call("POST", "/replicate/v1/predictions", body, stack.bearer())
    check_answer(doc, "POST /replicate/v1/predictions", status, headers, data, prediction)

    model_request = {"input": {"image": DATA_URI}, "webhook": "https://hooks.example/r"}
    model_route = "POST /v1/models/{owner}/{name}/predictions"
    body = check_request(doc, model_route, _schemas_replicate.ReplicateModelPredictionCreate, model_request)
    waited = {**stack.bearer(), "Prefer": "wait=1"}
    answer = stack.api.call("POST", "/v1/models/lucataco/remove-bg/predictions", body, waited)
    assert check_answer(doc, model_route, *answer, prediction)["webhook_events_filter"]
    answer = stack.api.call("POST", "/v1/models/other/model/predictions", body, stack.bearer())
    assert check_answer(doc, model_route, *answer)["code"] == "MODEL_NOT_FOUND"

    one = "GET /v1/predictions/{prediction_id}"
    check_answer(
        doc, one, *stack.api.call("GET", f"/v1/predictions/{job_id}", headers=stack.bearer()), prediction
    )
    stack.finish(job_id)
    done = check_answer(
        doc, one, *stack.api.call("GET", f"/v1/predictions/{job_id}", headers=stack.bearer()), prediction
    )
    assert done["status"] == "succeeded"
    check_answer(
        doc,
        "GET /v1/files/{file_id}",
        *stack.api.call("GET", urlsplit(done["output"]).path, headers=stack.bearer()),
    )
    page = check_answer(
        doc,
        "GET /v1/predictions",
        *stack.api.call("GET", "/v1/predictions", headers=stack.bearer()),
        _schemas_replicate.ReplicatePredictionPage,
    )
    canceled = page["results"][0]["id"]
    answer = stack.api.call("POST", f"/v1/predictions/{canceled}/cancel", headers=stack.bearer())
    assert (
        check_answer(doc, "POST /v1/predictions/{prediction_id}/cancel", *answer, prediction)["status"]
        == "canceled"
    )
    answer = stack.api.call("GET", "/v1/predictions?cursor=not-a-cursor", headers=stack.bearer())
    assert answer[0] == 400
    check_answer(doc, "GET /v1/predictions", *answer, _schemas_replicate.ReplicateProblem)

    upload, upload_headers = multipart({"content": PNG, "metadata": '{"a": 1}'})
    answer = stack.api.call("POST", "/v1/files", upload, {**stack.bearer(), **upload_headers})
    stored = check_answer(doc, "POST /v1/files", *answer, _schemas_replicate.ReplicateFile)
    answer = stack.api.call("GET", urlsplit(stored["urls"]["get"]).path, headers=stack.bearer())
    check_answer(doc, "GET /v1/files/{file_id}", *answer)
    answer = stack.api.call("GET", "/v1/files/0123", headers=stack.bearer())
    check_answer(doc, "GET /v1/files/{file_id}", *answer)

    version = "GET /v1/models/{owner}/{name}/versions/{version_id}"
    path = f"/v1/models/lucataco/remove-bg/versions/{replicate.DEFAULT_VERSION}"
    check_answer(
        doc,
        version,
        *stack.api.call("GET", path, headers=stack.bearer()),
        _schemas_replicate.ReplicateVersion,
    )
    check_answer(
        doc,
        version,
        *stack.api.call("GET", "/v1/models/lucataco/remove-bg/versions/isnet", headers=stack.bearer()),
    )
    answer = stack.api.call("GET", "/v1/webhooks/default/secret", headers=stack.bearer())
    check_answer(doc, "GET /v1/webhooks/default/secret", *answer, _schemas_replicate.ReplicateWebhookSecret)


def test_replicate_errors_answer_as_documented(doc: Json, stack: Stack) -> None:
    route = "POST /v1/predictions"
    unknown = json.dumps({"version": "nope", "input": {"image": DATA_URI}}).encode()
    answers = [
        stack.api.call("POST", "/v1/predictions", unknown, stack.bearer()),  # 422
        stack.api.call("POST", "/v1/predictions", unknown, {"Authorization": "Bearer bad"}),  # 401
        stack.api.call("POST", "/v1/predictions", b"{not json", stack.bearer()),  # 400
        stack.api.call("POST", "/v1/predictions", b'{"version": "u2netp"}', stack.bearer()),  # 422
    ]
    assert [answer[0] for answer in answers] == [422, 401, 400, 422]
    for answer in answers:
        check_answer(doc, route, *answer, _schemas_replicate.ReplicateProblem)
    answer = stack.api.call("GET", "/v1/predictions/nope", headers=stack.bearer())
    assert answer[0] == 404
    check_answer(doc, "GET /v1/predictions/{prediction_id}", *answer, _schemas_replicate.ReplicateProblem)


# --------------------------------------------------------------------------------------- routes: OpenAI-style
def test_openai_routes_answer_as_documented(doc: Json, stack: Stack) -> None:
    route = "POST /v1/chat/completions"
    request = {
        "model": "remove-bg",
        "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": DATA_URI}}]}],
    }
    body = check_request(doc, route, _schemas_openai.OpenAIChatCompletionRequest, request)
    streamed = check_request(
        doc, route, _schemas_openai.OpenAIChatCompletionRequest, {**request, "stream": True}
    )
    with finishing(stack):
        answer = stack.api.call("POST", "/v1/chat/completions", body, stack.bearer())
        completed = check_answer(doc, route, *answer, _schemas_openai.OpenAIChatCompletion)
        events = stack.api.call("POST", "/v1/chat/completions", streamed, stack.bearer())
    assert completed["choices"][0]["message"]["content"].startswith("https://")
    check_answer(doc, route, *events)
    for event in events[2].decode().split("\n\n")[:-2]:
        fits(_schemas_openai.OpenAIChatCompletionChunk, json.loads(event.removeprefix("data: ")))

    no_image = {"model": "remove-bg", "messages": [{"role": "user", "content": "no image"}]}
    for wrong, expected in ((no_image, 400), ({**request, "model": "gpt-4o"}, 404)):
        answer = stack.api.call("POST", "/v1/chat/completions", json.dumps(wrong).encode(), stack.bearer())
        assert answer[0] == expected
        check_answer(doc, route, *answer, _schemas_openai.OpenAIError)
    stack.api.timeout_s = 3  # no pipeline: the job is not finished when the wait ends
    answer = stack.api.call("POST", "/v1/chat/completions", body, stack.bearer())
    assert answer[0] == 504 and answer[1]["x-should-retry"] == "false"
    check_answer(doc, route, *answer, _schemas_openai.OpenAIError)

    models = stack.api.call("GET", "/v1/models", headers=stack.bearer())
    check_answer(doc, "GET /v1/models", *models, _schemas_openai.OpenAIModelList)
    refused = stack.api.call("GET", "/v1/models", headers={"Authorization": "Bearer bad"})
    check_answer(doc, "GET /v1/models", *refused, _schemas_openai.OpenAIError)


# ------------------------------------------------------------------------------------------- routes: Apiframe
def test_apiframe_routes_answer_as_documented(doc: Json, stack: Stack) -> None:
    route = "POST /v2/images/background-remove"
    request = {
        "model": "851-bg-remove",
        "lab851BgRemoveParams": {
            "image": DATA_URI,
            "format": "jpg",
            "threshold": 0.5,
            "background_type": "white",
        },
        "webhookUrl": "https://hooks.example/a",
        "webhookEvents": ["completed"],
    }
    body = check_request(doc, route, _schemas_apiframe.ApiframeSubmit, request)
    answer = stack.api.call("POST", "/v2/images/background-remove", body, stack.apiframe("k1"))
    job_id = check_answer(doc, route, *answer, _schemas_apiframe.ApiframeSubmitted)["jobId"]
    again = stack.api.call("POST", "/v2/images/background-remove", body, stack.apiframe("k1"))
    check_answer(doc, route, *again, _schemas_apiframe.ApiframeSubmitted)
    other = json.dumps({**request, "lab851BgRemoveParams": {"image": DATA_URI}}).encode()
    reused = stack.api.call("POST", "/v2/images/background-remove", other, stack.apiframe("k1"))
    assert reused[0] == 422
    check_answer(doc, route, *reused, _schemas_apiframe.ApiframeError)
    bad = json.dumps({"lab851BgRemoveParams": {"image": DATA_URI, "threshold": 2}}).encode()
    refused = stack.api.call("POST", "/v2/images/background-remove", bad, stack.apiframe())
    assert refused[0] == 400
    check_answer(doc, route, *refused, _schemas_apiframe.ApiframeError)

    one, key = "GET /v2/jobs/{job_id}", {"X-API-Key": stack.api.key}
    check_answer(
        doc, one, *stack.api.call("GET", f"/v2/jobs/{job_id}", headers=key), _schemas_apiframe.ApiframeJob
    )
    stack.finish(job_id)
    done = check_answer(
        doc, one, *stack.api.call("GET", f"/v2/jobs/{job_id}", headers=key), _schemas_apiframe.ApiframeJob
    )
    assert done["status"] == "COMPLETED"
    check_answer(
        doc, one, *stack.api.call("GET", "/v2/jobs/nope", headers=key), _schemas_apiframe.ApiframeError
    )
    listed = stack.api.call("GET", "/v2/jobs?status=completed&limit=1&model=851-bg-remove", headers=key)
    check_answer(doc, "GET /v2/jobs", *listed, _schemas_apiframe.ApiframeJobList)
    wrong = stack.api.call("GET", "/v2/jobs?limit=0", headers=key)
    check_answer(doc, "GET /v2/jobs", *wrong, _schemas_apiframe.ApiframeError)
    unauthorized = stack.api.call("GET", "/v2/jobs", headers={"X-API-Key": "nope"})
    check_answer(doc, "GET /v2/jobs", *unauthorized, _schemas_apiframe.ApiframeError)


# ---------------------------------------------------------------------------------------------- routes: forms
def test_pixian_answers_as_documented(doc: Json, api: Api) -> None:
    route = "POST /api/v2/remove-background"
    body, headers = multipart({"image": b"jpeg bytes", "test": "true"})
    answer = api.call("POST", "/api/v2/remove-background", body, {**api.basic(), **headers})
    assert answer[0] == 200 and answer[1]["X-Credits-Calculated"] == "1"
    check_answer(doc, route, *answer)
    unauthorized = api.call("POST", "/api/v2/remove-background", body, headers)
    assert unauthorized[0] == 401
    check_answer(doc, route, *unauthorized, _schemas_forms.PixianError)
    empty, headers = multipart({"output.format": "png"})
    missing = api.call("POST", "/api/v2/remove-background", empty, {**api.basic(), **headers})
    assert missing[0] == 400
    check_answer(doc, route, *missing, _schemas_forms.PixianError)


def test_removebg_answers_as_documented(doc: Json, api: Api) -> None:
    route = "POST /v1.0/removebg"
    body, headers = multipart({"image_file": b"jpeg bytes", "size": "auto"})
    key = {"X-Api-Key": api.key}
    check_answer(doc, route, *api.call("POST", "/v1.0/removebg", body, {**key, **headers}))
    as_json = api.call("POST", "/v1.0/removebg", body, {**key, **headers, "Accept": "application/json"})
    check_answer(doc, route, *as_json, _schemas_forms.RemoveBgResult)
    refused = api.call("POST", "/v1.0/removebg", body, headers)
    assert refused[0] == 403
    check_answer(doc, route, *refused, _schemas_forms.RemoveBgError)
    account = api.call("GET", "/v1.0/account", headers=key)
    check_answer(doc, "GET /v1.0/account", *account, _schemas_forms.RemoveBgAccount)


def test_the_page_answers_as_documented(doc: Json, api: Api) -> None:
    check_answer(doc, "GET /", *api.call("GET", "/"))
    route = "POST /remove-background"
    body, headers = multipart({"image": b"jpeg bytes", "background_type": "white"})
    check_answer(doc, route, *api.call("POST", "/remove-background", body, {"X-Api-Key": api.key, **headers}))
    refused = api.call("POST", "/remove-background", body, headers)
    assert refused[0] == 401
    check_answer(doc, route, *refused, _schemas_forms.PageError)
    bad, headers = multipart({"image": b"jpeg bytes", "threshold": "2"})
    invalid = api.call("POST", "/remove-background", bad, {"X-Api-Key": api.key, **headers})
    assert invalid[0] == 400
    check_answer(doc, route, *invalid, _schemas_forms.PageError)
