"""The OpenAPI document's request and response schemas, from pydantic models: what a route declaration takes.

The routes read their bodies themselves (:mod:`bgremove_api.forms`), so powertools has no parameters to
describe. A route declares what it reads and answers with the helpers here, which build the two arguments
powertools' route decorators take (:class:`RouteDoc`):

- ``openapi_extensions``: :func:`request_body` gives a ``requestBody`` whose schema is a ``$ref`` to the
  model in ``components.schemas``, and the header and query ``parameters`` the route reads;
- ``responses``: :func:`json_response`, :func:`binary_response`, :func:`redirect_response`,
  :func:`html_response` and :func:`error_responses`. powertools renders a ``{"model": Model}`` content as a
  ``$ref`` and puts the model, and every model it nests, in ``components.schemas``.

powertools fills ``components.schemas`` only from its own fields (parameters, bodies, return annotations,
``responses``): a model named only in ``openapi_extensions`` is not among them. :class:`DocumentedResolver`
adds those (the models :func:`component_ref` handed out), so every ``$ref`` resolves in ``/docs`` and in
docs/openapi.json alike. It also drops the 422 ``HTTPValidationError`` powertools adds to every route when
validation is on: the app answers a body powertools cannot read as the dialect's own 400
(:mod:`bgremove_api.app`), never in that shape.

The models themselves, one module per dialect: :mod:`._schemas_replicate`, :mod:`._schemas_openai`,
:mod:`._schemas_apiframe` and :mod:`._schemas_forms` (Pixian, remove.bg, the page). Each also holds the
:class:`RouteDoc` of each of its dialect's routes. tests/unit/api/test_openapi_schemas.py holds them to the
wire: real answers of the dialects' mapping functions and routes validate against them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.openapi.models import OpenAPI, Operation, Parameter, Schema
from aws_lambda_powertools.event_handler.openapi.types import (
    COMPONENT_REF_PREFIX,
    COMPONENT_REF_TEMPLATE,
    OpenAPIResponse,
    OpenAPIResponseContentModel,
    OpenAPIResponseContentSchema,
    OpenAPIResponseHeader,
)
from pydantic import BaseModel, ConfigDict
from pydantic.config import JsonDict
from pydantic.fields import ComputedFieldInfo, FieldInfo
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode

from bgremove.options import option_field
from bgremove_api import forms

__all__ = [
    "DocumentedResolver",
    "RouteDoc",
    "WireModel",
    "binary_response",
    "component_ref",
    "error_responses",
    "header_parameter",
    "html_response",
    "json_response",
    "option_schema",
    "query_parameter",
    "redirect_response",
    "request_body",
    "with_content",
]

JSON = forms.JSON
PROBLEM_JSON = "application/problem+json"

RETRY_AFTER: dict[str, OpenAPIResponseHeader] = {
    "Retry-After": {"description": "Seconds to wait before trying again", "schema": {"type": "integer"}}
}

ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "The request cannot be used: a body that is not JSON or not the shape this route reads, no image or "
    "more than one, an image or option that is not valid, an image URL that cannot be fetched",
    401: "No key, or a key that is not valid",
    403: "The key is disabled",
    404: "No such resource for this key",
    413: "The request body is over the 6 MB a request carries: send the image's URL instead (the message "
    "names the field)",
    422: "The body is well formed but names something this deployment does not run",
    429: "The key's rate or in-flight limit is reached: retry after Retry-After seconds",
    500: "A fault of ours (logged with its stack); nothing to change in the request",
    503: "A dependency (DynamoDB, S3) is busy or unreachable: retry after Retry-After seconds",
    504: "The job did not finish within the wait",
}
"""What each error status means, the same in every dialect (a route adds what is its own)."""

_EXTRA_COMPONENTS: dict[type[BaseModel], JsonSchemaMode] = {}
"""The models named by :func:`component_ref` (outside powertools' fields), with the mode they describe."""


def _wire_title(name: str, info: FieldInfo | ComputedFieldInfo) -> str:
    return info.alias or name


def _one_line(schema: JsonDict) -> None:
    description = schema.get("description")
    if isinstance(description, str):
        schema["description"] = " ".join(description.split())


class WireModel(BaseModel):
    """A body on the wire: each field titled by its name there (``webhookUrl``, not ``Webhook Url``), the
    model's docstring its description, on one line."""

    model_config = ConfigDict(field_title_generator=_wire_title, json_schema_extra=_one_line)


@dataclass(frozen=True)
class RouteDoc:
    """What one route's declaration passes to powertools: ``responses=doc.responses,
    openapi_extensions=doc.openapi_extensions``."""

    responses: dict[int, OpenAPIResponse]
    openapi_extensions: dict[str, Any] | None = None


# ----------------------------------------------------------------------------------------------- requests
def option_schema(name: str) -> Callable[[JsonDict], None]:
    """A field's ``json_schema_extra`` that makes its schema the option table's for option ``name`` (type,
    choices or limits, default, help): ``Field(None, json_schema_extra=option_schema("threshold"))``."""
    table: JsonDict = option_field(name).json_schema()

    def apply(schema: JsonDict) -> None:
        title = schema.get("title")
        schema.clear()
        schema.update(table)
        if title is not None:
            schema["title"] = title

    return apply


def component_ref(model: type[BaseModel], mode: JsonSchemaMode = "validation") -> dict[str, str]:
    """``{"$ref": "#/components/schemas/<Model>"}``; :class:`DocumentedResolver` puts the model there.

    ``mode`` is the side of the wire the model describes: ``validation`` for what a route reads,
    ``serialization`` for what it answers.
    """
    _EXTRA_COMPONENTS[model] = mode
    return {"$ref": COMPONENT_REF_TEMPLATE.format(model=model.__name__)}


def header_parameter(name: str, description: str, schema: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """An optional request header the route reads (an OpenAPI Parameter Object)."""
    return {
        "name": name,
        "in": "header",
        "required": False,
        "description": description,
        "schema": dict(schema or {"type": "string"}),
    }


def query_parameter(name: str, description: str, schema: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """An optional query parameter the route reads (an OpenAPI Parameter Object)."""
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": dict(schema or {"type": "string"}),
    }


def request_body(
    model: type[BaseModel] | None = None,
    *,
    description: str = "",
    media_type: str = JSON,
    parameters: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """``openapi_extensions`` for a route that reads ``model`` as its body itself (and ``parameters``).

    Without ``model``, only the parameters (a route that reads no body).
    """
    extensions: dict[str, Any] = {}
    if model is not None:
        body: dict[str, Any] = {"required": True, "content": {media_type: {"schema": component_ref(model)}}}
        if description:
            body["description"] = description
        extensions["requestBody"] = body
    if parameters:
        extensions["parameters"] = [dict(p) for p in parameters]
    return extensions


# ----------------------------------------------------------------------------------------------- responses
def json_response(
    model: type[BaseModel],
    description: str,
    *,
    media_type: str = JSON,
    headers: Mapping[str, OpenAPIResponseHeader] | None = None,
) -> OpenAPIResponse:
    """An answer whose body is ``model`` as JSON (powertools renders the ``$ref`` and the component)."""
    content: OpenAPIResponseContentModel = {"model": model}
    response: OpenAPIResponse = {"description": description, "content": {media_type: content}}
    if headers:
        response["headers"] = dict(headers)
    return response


def binary_response(
    description: str,
    media_types: Iterable[str],
    headers: Mapping[str, OpenAPIResponseHeader] | None = None,
) -> OpenAPIResponse:
    """An answer whose body is bytes (an image) in one of ``media_types``."""
    content: dict[str, OpenAPIResponseContentSchema | OpenAPIResponseContentModel] = {
        media_type: {"schema": {"type": "string", "format": "binary"}} for media_type in media_types
    }
    response: OpenAPIResponse = {"description": description, "content": content}
    if headers:
        response["headers"] = dict(headers)
    return response


def text_response(description: str, media_type: str, example: str | None = None) -> OpenAPIResponse:
    """An answer whose body is text of ``media_type`` (a stream of server-sent events, a page)."""
    content: OpenAPIResponseContentSchema = {"schema": {"type": "string"}}
    if example is not None:
        content["schema"]["example"] = example
    return {"description": description, "content": {media_type: content}}


def html_response(description: str) -> OpenAPIResponse:
    return text_response(description, "text/html")


def redirect_response(
    description: str, headers: Mapping[str, OpenAPIResponseHeader] | None = None
) -> OpenAPIResponse:
    """A ``303`` with an empty body: ``Location`` names where the answer is (a presigned URL)."""
    location: dict[str, OpenAPIResponseHeader] = {
        "Location": {
            "description": "Where the answer is: a presigned URL of the output bucket (RESULT_URL_TTL_S)",
            "schema": {"type": "string", "format": "uri"},
        }
    }
    return {"description": description, "headers": {**location, **(headers or {})}}


def with_content(
    response: OpenAPIResponse,
    media_type: str,
    content: OpenAPIResponseContentSchema | OpenAPIResponseContentModel,
) -> OpenAPIResponse:
    """``response`` that also answers ``media_type`` (JSON or an image, JSON or events)."""
    answer = OpenAPIResponse(**response)
    answer["content"] = {**(response.get("content") or {}), media_type: content}
    return answer


def headers_doc(descriptions: Mapping[str, str]) -> dict[str, OpenAPIResponseHeader]:
    """Response headers (all text) by name, from their descriptions."""
    return {name: {"description": text, "schema": {"type": "string"}} for name, text in descriptions.items()}


def error_responses(
    model: type[BaseModel],
    statuses: Iterable[int],
    *,
    media_type: str = JSON,
    notes: Mapping[int, str] | None = None,
    descriptions: Mapping[int, str] | None = None,
    headers: Mapping[int, Mapping[str, OpenAPIResponseHeader]] | None = None,
) -> dict[int, OpenAPIResponse]:
    """Each of ``statuses`` as an answer in the dialect's error shape ``model``.

    Parameters
    ----------
    notes
        What a status also means on this route, after :data:`ERROR_DESCRIPTIONS`' text.
    descriptions
        What a status means on this route, instead of :data:`ERROR_DESCRIPTIONS`' text.
    headers
        Headers a status carries on this route, beyond ``Retry-After`` on 429 and 503.
    """
    answers: dict[int, OpenAPIResponse] = {}
    for status in statuses:
        text = (descriptions or {}).get(status) or ERROR_DESCRIPTIONS.get(status, "An error")
        note = (notes or {}).get(status)
        answer = json_response(model, f"{text}. {note}" if note else text, media_type=media_type)
        extra = {**(RETRY_AFTER if status in (429, 503) else {}), **((headers or {}).get(status) or {})}
        if extra:
            answer["headers"] = extra
        answers[status] = answer
    return answers


# ----------------------------------------------------------------------------------------------- the document
def component_schemas(models: Mapping[type[BaseModel], JsonSchemaMode]) -> dict[str, dict[str, Any]]:
    """``models``' JSON schemas, and those of the models they nest, by component name (the class name).

    Raises
    ------
    RuntimeError
        pydantic named a model other than by its class name (two models of one name): its ``$ref``
        (:func:`component_ref`) would point at another schema.
    """
    generator = GenerateJsonSchema(ref_template=COMPONENT_REF_TEMPLATE)
    inputs = [(model, mode, model.__pydantic_core_schema__) for model, mode in models.items()]
    refs, definitions = generator.generate_definitions(inputs=inputs)
    for model, mode in models.items():
        if refs[(model, mode)].get("$ref") != component_ref_of(model):
            raise RuntimeError(
                f"{model.__name__} is not named by its class name: give each model its own name"
            )
    return {str(name): schema for name, schema in definitions.items()}


def component_ref_of(model: type[BaseModel]) -> str:
    return COMPONENT_REF_TEMPLATE.format(model=model.__name__)


VALIDATION_ERROR_REF = f"{COMPONENT_REF_PREFIX}HTTPValidationError"
POWERTOOLS_SCHEMAS = ("HTTPValidationError", "ResponseValidationError", "ValidationError")
"""The error schemas powertools puts in every document; none is an answer of this API once the 422s go."""
_METHODS: tuple[Literal["get", "put", "post", "delete", "options", "head", "patch", "trace"], ...] = (
    "get",
    "put",
    "post",
    "delete",
    "options",
    "head",
    "patch",
    "trace",
)


def _operations(document: OpenAPI) -> Iterable[tuple[str, str, Operation]]:
    for path, item in (document.paths or {}).items():
        for method in _METHODS:
            operation = getattr(item, method)
            if isinstance(operation, Operation):
                yield path, method, operation


def _is_validation_error(response: object) -> bool:
    dumped = response.model_dump(by_alias=True) if isinstance(response, BaseModel) else response
    if not isinstance(dumped, dict):
        return False
    schema = (dumped.get("content") or {}).get(JSON, {}).get("schema") or {}
    return isinstance(schema, dict) and schema.get("$ref") == VALIDATION_ERROR_REF


def complete(document: OpenAPI, extensions: Mapping[tuple[str, str], Mapping[str, Any]]) -> OpenAPI:
    """``document`` with the components :func:`component_ref` named, without powertools' 422s (and its
    error schemas, once nothing names them), with the ``parameters`` of ``extensions`` (by path and method)
    that powertools replaced by the path's own, and each operation's responses in order of status.

    Raises
    ------
    RuntimeError
        A component of that name already holds another schema.
    """
    components = document.components
    if components is None:
        raise RuntimeError("the document has no components")
    schemas = dict(components.schemas or {})
    for name, definition in component_schemas(_EXTRA_COMPONENTS).items():
        added = Schema.model_validate(definition)
        existing = schemas.get(name)
        if existing is not None and existing.model_dump(by_alias=True) != added.model_dump(by_alias=True):
            raise RuntimeError(f"two schemas are named {name}: give each model its own name")
        schemas[name] = added
    for path, method, operation in _operations(document):
        responses = operation.responses or {}
        if 422 in responses and _is_validation_error(responses[422]):
            del responses[422]
        operation.responses = dict(sorted(responses.items()))
        wanted = extensions.get((path, method), {}).get("parameters") or []
        present = {(p.in_.value, p.name) for p in operation.parameters or [] if isinstance(p, Parameter)}
        missing = [Parameter.model_validate(p) for p in wanted if (p["in"], p["name"]) not in present]
        if missing:
            operation.parameters = [*(operation.parameters or []), *missing]
    named = document.model_dump_json(by_alias=True, exclude={"components"})
    for name in POWERTOOLS_SCHEMAS:  # ValidationError last: the other two name it
        kept = [schemas[other] for other in POWERTOOLS_SCHEMAS if other != name and other in schemas]
        naming = named + "".join(other.model_dump_json(by_alias=True) for other in kept)
        if f"{COMPONENT_REF_PREFIX}{name}" not in naming:
            schemas.pop(name, None)
    components.schemas = schemas
    return document


class DocumentedResolver(APIGatewayRestResolver):
    """powertools' REST resolver whose OpenAPI document (``/docs`` and ``get_openapi_json_schema``) holds
    every component the routes' ``$ref`` name (:func:`complete`). It reads the resolver's route lists
    (``_static_routes``, ``_dynamic_routes``, as powertools' own ``get_openapi_schema`` does);
    tests/unit/api/test_openapi_schemas.py fails if a powertools release renames them."""

    def get_openapi_schema(self, *args: Any, **kwargs: Any) -> OpenAPI:
        document = super().get_openapi_schema(*args, **kwargs)
        extensions = {
            (route.openapi_path, route.method.lower()): route.openapi_extensions
            for route in self._dynamic_routes + self._static_routes
            if route.openapi_extensions
        }
        return complete(document, extensions)
