"""Replicate predictions for ``lucataco/remove-bg`` (the official ``replicate`` client, 1.0.7, unchanged but
for ``base_url`` and the key).

Routes: ``POST /v1/predictions`` (also the reseller's ``/replicate/v1/predictions``), ``POST
/v1/models/lucataco/remove-bg/predictions``, ``GET /v1/predictions[/{id}]``, ``POST
/v1/predictions/{id}/cancel``, ``GET /v1/models/{owner}/{name}/versions/{id}`` (``replicate.run`` reads
it), ``POST /v1/files`` and ``GET /v1/files/{id}`` (uploads, and each job's output read with the key),
``GET /v1/webhooks/default/secret``. Auth is ``Authorization: Bearer KEY`` (or ``Token KEY``).

A prediction is a job of :mod:`bgremove_api.jobs`; its ``version`` picks the model (:data:`VERSIONS`). The
input ``image`` is an https URL (behind the SSRF guard), a ``data:`` URI, or the ``urls.get`` of a file
uploaded to ``/v1/files`` (read from the bucket, not fetched). ``output`` is ``/v1/files/{id}`` on this API:
the client sends its ``Authorization`` header when it reads an output, which a presigned S3 URL refuses.
Errors are RFC 7807 ``application/problem+json``. The wire mappings are pure functions in
:mod:`bgremove_api.dialects.replicate_wire`; this module holds the routes and their I/O.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import mimetypes
import re
import uuid
from typing import Any
from urllib.parse import urlencode, urlsplit

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import UploadFile
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from botocore.exceptions import ClientError

from bgremove_api import jobs, webhooks
from bgremove_api.aws import MISSING_OBJECT_CODES, error_code
from bgremove_api.dialects import _schemas_replicate as route_docs
from bgremove_api.dialects import async_common, common
from bgremove_api.dialects.dialect import BEARER, Dialect, requires
from bgremove_api.dialects.replicate_wire import (
    CANCEL_PATH,
    DEFAULT_VERSION,
    EXTRA_INPUT,
    FILE_PATH,
    FILES_PATH,
    IMAGE_FIELD,
    MODEL,
    MODEL_PREDICTIONS_PATH,
    NAME,
    PAGE_SIZE,
    PATH_PREFIXES,
    PREDICTION_PATH,
    PREDICTIONS_PATH,
    RESELLER_PREDICTIONS_PATH,
    SECRET_PATH,
    STATUSES,
    VERSION_PATH,
    VERSIONS,
    WEBHOOK,
    InvalidInputError,
    error_response,
    prediction,
    prediction_request,
    version_object,
)
from bgremove_api.exceptions import JobNotFoundError, UnknownModelError
from bgremove_api.keys import ApiKey, hash_key
from bgremove_api.runtime import ApiRuntime, get_runtime

MAX_FILE_METADATA_CHARS = 16_384
"""Largest ``metadata`` of an upload, as JSON: the answer repeats it, far under Lambda's 6 MB."""

UPLOAD_PREFIX = f"{common.RESULT_KEY_PREFIX}files/"
"""Where ``POST /v1/files`` keeps uploads (output bucket, under each key's id; the bucket's retention)."""

router = APIGatewayRouter()  # type: ignore[no-untyped-call]  # powertools leaves __init__ unannotated


# ----------------------------------------------------------------------------------------------- requests
def _base_url() -> str:
    event = router.current_event
    return async_common.public_base_url(event.headers, event.raw_event.get("requestContext") or {})


def _presented() -> str | None:
    return async_common.bearer_key(router.current_event.headers.get("authorization"))


def _admit_read(runtime: ApiRuntime) -> ApiKey:
    return common.admit_read(runtime, _presented())[0]


def _upload_key(owner: ApiKey, file_id: str) -> str:
    return f"{UPLOAD_PREFIX}{owner.key_id}/{file_id}"


def _own_upload_id(reference: str, base_url: str) -> str | None:
    """The file id when ``reference`` is a ``/v1/files/{id}`` URL of this API (``urls.get`` of an upload)."""
    try:
        parts, ours = urlsplit(reference), urlsplit(base_url)
    except ValueError:  # not a URL at all ("http://[::1/"): the fetcher says why
        return None
    prefix = f"{ours.path}{FILES_PATH}/"
    if parts.netloc.lower() != ours.netloc.lower() or not parts.path.startswith(prefix):
        return None
    file_id = parts.path[len(prefix) :]
    return file_id if file_id and "/" not in file_id else None


_FILE_ID = re.compile(r"[0-9a-f]{32}")
"""An upload's id (``uuid4().hex``): anything else names no upload and never reaches S3 as a key."""


def _read_upload(runtime: ApiRuntime, owner: ApiKey, file_id: str) -> tuple[bytes, str] | None:
    """An upload's bytes and content type, or ``None`` when this key uploaded no such file."""
    if not _FILE_ID.fullmatch(file_id):
        return None
    try:
        stored = runtime.s3.get_object(Bucket=runtime.settings.output_bucket, Key=_upload_key(owner, file_id))
    except ClientError as error:
        if error_code(error) in MISSING_OBJECT_CODES:
            return None
        raise
    return stored["Body"].read(), str(stored.get("ContentType") or "application/octet-stream")


def _read_image(
    runtime: ApiRuntime, owner: ApiKey, reference: object, base_url: str, deadline: float | None = None
) -> bytes:
    if isinstance(reference, str):
        file_id = _own_upload_id(reference.strip(), base_url)
        if file_id is not None:
            upload = _read_upload(runtime, owner, file_id)
            if upload is None:
                raise InvalidInputError(f"input.image: no file {file_id} was uploaded with this key")
            return upload[0]
    return async_common.image_from_reference(runtime, reference, f"input.{IMAGE_FIELD}", deadline)


def _create(version: object, model_path: str = MODEL) -> Response[str]:
    runtime = get_runtime()
    event = router.current_event
    with common.admitted(runtime, _presented()) as (key, _):
        if model_path != MODEL:  # after the key: an unknown path tells a keyless prober nothing
            raise UnknownModelError(f"model {model_path[:81]} does not exist; this API runs {MODEL}")
        body = async_common.json_object(event, empty_is_object=True)
        base_url = _base_url()
        request = prediction_request(body, version, common.deployed_models(runtime), base_url)

        def read_image(runtime: ApiRuntime, reference: object, field: str, deadline: float | None) -> bytes:
            del field  # Replicate's is always input.image
            return _read_image(runtime, key, reference, base_url, deadline)

        job = async_common.submit(runtime, key, NAME, request, router.lambda_context, read_image=read_image)
        wait_s = async_common.wait_seconds(event.headers.get("prefer"))
        headers: dict[str, str] = {"Location": f"{base_url}{PREDICTIONS_PATH}/{job.job_id}"}
        if wait_s is not None:
            wait_s = async_common.wait_budget(router.lambda_context, wait_s)
            job = jobs.wait_for(runtime.jobs.store, job.job_id, key, wait_s, poll_s=async_common.WAIT_POLL_S)
            headers["Preference-Applied"] = "wait"
        return common.json_response(201, prediction(job, waited_unfinished=wait_s is not None), headers)


@router.post(
    PREDICTIONS_PATH,
    summary="Replicate: create a prediction",
    tags=["Replicate"],
    security=requires(BEARER),
    responses=route_docs.CREATE.responses,
    openapi_extensions=route_docs.CREATE.openapi_extensions,
)
def create_prediction() -> Response[str]:
    """``{version, input: {image}, webhook, webhook_events_filter}``; ``Prefer: wait[=N]`` holds <= 25 s."""
    return _create(None)


@router.post(
    RESELLER_PREDICTIONS_PATH,
    summary="Replicate (reseller path): create a prediction",
    tags=["Replicate"],
    security=requires(BEARER),
    responses=route_docs.CREATE.responses,
    openapi_extensions=route_docs.CREATE.openapi_extensions,
)
def create_prediction_reseller() -> Response[str]:
    """The same as ``POST /v1/predictions``, at the path a reseller's document gives."""
    return _create(None)


@router.post(
    MODEL_PREDICTIONS_PATH,
    summary="Replicate: create a prediction of lucataco/remove-bg",
    tags=["Replicate"],
    security=requires(BEARER),
    responses=route_docs.CREATE_FOR_MODEL.responses,
    openapi_extensions=route_docs.CREATE_FOR_MODEL.openapi_extensions,
)
def create_model_prediction(owner: str, name: str) -> Response[str]:
    """``{input: {image}, ...}`` without ``version``: lucataco/remove-bg, the default model."""
    return _create(DEFAULT_VERSION, f"{owner[:40]}/{name[:40]}")


@router.get(
    PREDICTION_PATH,
    summary="Replicate: get a prediction",
    tags=["Replicate"],
    security=requires(BEARER),
    responses=route_docs.GET.responses,
)
def get_prediction(prediction_id: str) -> Response[str]:
    runtime = get_runtime()
    key = _admit_read(runtime)
    job = runtime.jobs.store.get(prediction_id, key)
    return common.json_response(200, prediction(job, base_url=_base_url()))


@router.post(
    CANCEL_PATH,
    summary="Replicate: cancel a prediction",
    tags=["Replicate"],
    security=requires(BEARER),
    responses=route_docs.CANCEL.responses,
)
def cancel_prediction(prediction_id: str) -> Response[str]:
    runtime = get_runtime()
    key = _admit_read(runtime)
    job = runtime.jobs.store.cancel(prediction_id, key)
    return common.json_response(200, prediction(job, base_url=_base_url()))


@router.get(
    PREDICTIONS_PATH,
    summary="Replicate: list predictions, newest first",
    tags=["Replicate"],
    security=requires(BEARER),
    responses=route_docs.LIST.responses,
    openapi_extensions=route_docs.LIST.openapi_extensions,
)
def list_predictions() -> Response[str]:
    """``{next, previous, results}``; ``next`` is the next page's full URL (the client follows it)."""
    runtime = get_runtime()
    key = _admit_read(runtime)
    query = router.current_event.query_string_parameters or {}
    cursor = query.get("cursor") or None
    found, next_cursor = runtime.jobs.store.list(key, dialect=NAME, limit=PAGE_SIZE, cursor=cursor)
    base = _base_url()
    next_url = f"{base}{PREDICTIONS_PATH}?{urlencode({'cursor': next_cursor})}" if next_cursor else None
    results = [prediction(job, base_url=base) for job in found]
    return common.json_response(200, {"next": next_url, "previous": None, "results": results})


@router.get(
    VERSION_PATH,
    summary="Replicate: a model version (replicate.run reads it)",
    tags=["Replicate"],
    security=requires(BEARER),
    responses=route_docs.VERSION.responses,
)
def get_version(owner: str, name: str, version_id: str) -> Response[str]:
    _admit_read(get_runtime())
    deployed = common.deployed_models(get_runtime())
    model = VERSIONS.get(version_id, "")
    if f"{owner}/{name}" != MODEL or version_id not in VERSIONS or model not in (None, *deployed):
        raise UnknownModelError(f"model version {owner}/{name}:{version_id[:80]} does not exist")
    return common.json_response(200, version_object(version_id))


@router.get(
    SECRET_PATH,
    summary="Replicate: the key's webhook signing secret",
    tags=["Replicate"],
    security=requires(BEARER),
    responses=route_docs.WEBHOOK_SECRET.responses,
)
def webhook_secret() -> Response[str]:
    """``{"key": "whsec_..."}``: what ``replicate.webhooks.validate`` checks deliveries with."""
    presented = _presented()
    common.admit_read(get_runtime(), presented)
    return common.json_response(200, {"key": webhooks.standard_webhook_secret(hash_key(presented or ""))})


FILE_FIELDS = (
    common.FormField("content", "the file (run() uploads local files here)", file=True),
    common.FormField("filename", "the file's name (default: the part's filename)"),
    common.FormField("metadata", "a JSON object kept with the file"),
)

SERVED_TYPES = frozenset(
    {"image/jpeg", "image/png", "image/webp", "image/gif", "image/bmp", "image/tiff", "image/heic",
     "image/heif", "image/avif"}
)  # fmt: skip
"""Content types a stored file is served as; any other (``text/html``, ``image/svg+xml``: active content
a browser would run on this API's origin) is served as ``application/octet-stream``."""


def create_file() -> Response[str]:
    """Store an upload for ``input.image`` (``urls.get`` points at it); the key is checked before the body."""
    runtime = get_runtime()
    with common.admitted(runtime, _presented()) as (key, _):
        values = common.request_values(router.current_event, FILE_FIELDS)
        content = values.get("content")
        if content is None:
            raise InvalidInputError("content is required: the file, as a multipart part named content")
        if not isinstance(content, UploadFile):
            content = UploadFile(content=common.text_bytes(content), filename=None, content_type=None)
        kept = async_common.json_value(values["metadata"], "metadata") if "metadata" in values else {}
        if not isinstance(kept, dict):
            raise InvalidInputError("metadata must be a JSON object")
        if len(json.dumps(kept)) > MAX_FILE_METADATA_CHARS:  # the answer repeats it: keep it small
            raise InvalidInputError(f"metadata is over {MAX_FILE_METADATA_CHARS:,} characters as JSON")
        file_id = uuid.uuid4().hex
        name = str(values.get("filename") or content.filename or "file")[:255]
        content_type = content.content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
        runtime.s3.put_object(
            Bucket=runtime.settings.output_bucket,
            Key=_upload_key(key, file_id),
            Body=content.content,
            ContentType=content_type,
        )
        base = _base_url()
        body = {
            "id": file_id,
            "name": name,
            "content_type": content_type,
            "size": len(content.content),
            "etag": hashlib.md5(content.content, usedforsecurity=False).hexdigest(),
            "checksums": {"sha256": hashlib.sha256(content.content).hexdigest()},
            "metadata": kept,
            "created_at": jobs.now_iso(),
            "expires_at": None,
            "urls": {"get": f"{base}{FILES_PATH}/{file_id}"},
        }
    return common.json_response(201, body)


# Registered without parameters: the route reads its own body after the key check (bgremove_api.forms).
create_file.__signature__ = inspect.Signature()  # type: ignore[attr-defined]
router.post(
    FILES_PATH,
    summary="Replicate: upload a file (run() uploads local files here)",
    tags=["Replicate"],
    security=requires(BEARER),
    openapi_extensions=common.request_body_doc(FILE_FIELDS),
    responses=route_docs.FILE_UPLOAD.responses,
)(create_file)


def _served(content_type: str) -> dict[str, str]:
    """Headers for stored bytes: only image types as declared, never sniffed."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    shown = media_type if media_type in SERVED_TYPES else "application/octet-stream"
    return {"Content-Type": shown, "X-Content-Type-Options": "nosniff"}


def get_file(file_id: str) -> Response[Any]:
    """A finished prediction's output bytes (``output`` points here), or an uploaded file's bytes."""
    runtime = get_runtime()
    with common.admitted(runtime, _presented()) as (key, _):
        upload = _read_upload(runtime, key, file_id)
        if upload is not None:
            return Response(status_code=200, body=upload[0], headers=_served(upload[1]))
        job = runtime.jobs.store.get(file_id, key)
        if job.status is not jobs.JobStatus.COMPLETED or not job.output_key:
            raise JobNotFoundError(f"prediction {file_id} has no output (status {STATUSES[job.status]})")
        try:
            stored = runtime.s3.get_object(Bucket=runtime.settings.output_bucket, Key=job.output_key)
        except ClientError as error:
            if error_code(error) in MISSING_OBJECT_CODES:  # expired before its record (TTL lags)
                raise JobNotFoundError(f"prediction {file_id}'s output has expired") from None
            raise
        data: bytes = stored["Body"].read()
    content_type = job.output_content_type or str(stored.get("ContentType") or "application/octet-stream")
    if common.encoded_size(data) > common.MAX_INLINE_BODY_BYTES:
        # Over Lambda's 6 MB response: the object's presigned URL instead (clients that follow it).
        return Response(
            status_code=303, body="", headers={"Location": jobs.result_url(runtime.presigner, job)}
        )
    return Response(status_code=200, body=data, headers=_served(content_type))


# Registered without its return annotation: powertools would otherwise serialise the image bytes as text.
get_file.__signature__ = inspect.signature(get_file).replace(  # type: ignore[attr-defined]
    return_annotation=inspect.Signature.empty
)
router.get(
    FILE_PATH,
    summary="Replicate: a prediction's output (or an upload), read with the key",
    tags=["Replicate"],
    security=requires(BEARER),
    responses=route_docs.FILE.responses,
)(get_file)


DIALECT = Dialect(
    name=NAME,
    router=router,
    error_response=error_response,
    url_field=f"{EXTRA_INPUT}.{IMAGE_FIELD}",
    security_scheme=BEARER,
    path_prefixes=PATH_PREFIXES,
    webhook=WEBHOOK,
)
