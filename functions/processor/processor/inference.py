"""Inference on SageMaker endpoints: the boto3 transport behind the engine's :class:`bgremove.models.Invoker`,
and which model runs where.

The engine knows nothing of AWS: :class:`bgremove.models.RemoteSegmenter` sends KServe v2 requests (see
:mod:`bgremove.models._kserve`) through an invoker and maps nothing itself. This module is that invoker for
``sagemaker-runtime`` ``InvokeEndpoint`` to Triton's SageMaker front (the binary tensor extension's JSON
length travels in the content type, :func:`bgremove.models._kserve.sagemaker_content_type`), and the only
place that decides what a failure of it means:

- ``InferenceUnavailableError`` (``INFERENCE_UNAVAILABLE``; retried, then dead-lettered, or the local
  fallback when enabled): throttling, SageMaker 5xx, an endpoint that is missing or not in service, the
  container answering 429, 502, 503, 504 or 507 (Triton: out of GPU memory), connect and read timeouts,
  refused or closed connections.
- ``RemoteModelError`` (``REMOTE_MODEL_ERROR``; retried, then dead-lettered, never the fallback): the
  container answering 400, 404 or 500 (Triton answers 400 ``{"error": ...}`` to a request that does not fit
  the model, and to a model that failed on it), a response that is not the model's matte, and SageMaker
  refusing the call itself (access denied, payload too large).

botocore retries throttling and 5xx once within the call (standard mode, :data:`ATTEMPTS`); SQS does the
rest, so one record never holds the function for long.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from bgremove import EngineSettings
from bgremove.exceptions import InferenceUnavailableError, RemoteModelError
from bgremove.models import Invoker, ModelFetcher, ModelRegistry, Payload, RemoteRegistry, SessionConfig
from bgremove.models._kserve import ProtocolError, from_sagemaker, sagemaker_content_type
from processor.settings import LOCAL_INFERENCE, InferenceSettings

CONNECT_TIMEOUT_SECONDS = 2
"""Connecting to SageMaker's runtime endpoint is quick or broken: fail fast and let SQS retry."""

ATTEMPTS = 2
"""botocore attempts per call (standard retry mode backs off on throttling and 5xx between them)."""

# SageMaker's own answers meaning "not now": its throttling and 5xx codes, and an endpoint that is missing or
# not InService (ValidationError), e.g. while it is being created, updated or deleted.
_UNAVAILABLE_CODES = frozenset(
    {
        "ThrottlingException",
        "ServiceUnavailable",
        "InternalFailure",
        "InternalDependencyException",
        "InternalStreamFailure",
        "ModelNotReadyException",
        "ValidationError",
    }
)
# What the container itself answers when it is overloaded, restarting or out of GPU memory (Triton's SageMaker
# front answers 507 to an out-of-memory error; see containers/inference/README.md).
_CONTAINER_BUSY_STATUSES = frozenset({429, 502, 503, 504, 507})


class SageMakerInvoker:
    """An :class:`~bgremove.models.Invoker` on boto3's ``sagemaker-runtime`` ``InvokeEndpoint``.

    Parameters
    ----------
    client
        A ``sagemaker-runtime`` client; :func:`runtime_config` gives its timeouts and retries.
    endpoint
        The endpoint's name.
    """

    def __init__(self, client: Any, endpoint: str) -> None:
        self._client = client
        self._endpoint = endpoint

    @property
    def backend(self) -> str:
        return f"sagemaker:{self._endpoint}"

    def invoke(self, request: Payload) -> Payload:
        """The endpoint's answer to ``request``.

        Raises
        ------
        InferenceUnavailableError
            SageMaker or the container could not answer now (see the module's table).
        RemoteModelError
            The container refused the request or failed running the model, or its answer's content type
            does not describe its body.
        """
        try:
            response = self._client.invoke_endpoint(
                EndpointName=self._endpoint, Body=request.body, ContentType=sagemaker_content_type(request)
            )
            body: bytes = response["Body"].read()
        except ClientError as error:
            raise self._classify(error) from None
        except (BotoConnectionError, HTTPClientError) as error:  # timeouts, refused or closed connections
            raise InferenceUnavailableError(f"{self.backend}: {type(error).__name__}: {error}") from None
        except BotoCoreError as error:  # anything else on the way (e.g. a response that does not parse)
            raise InferenceUnavailableError(f"{self.backend}: {type(error).__name__}: {error}") from None
        try:
            return from_sagemaker(body, response.get("ContentType"))
        except ProtocolError as error:
            raise RemoteModelError(f"{self.backend}: {error}") from None

    def _classify(self, error: ClientError) -> InferenceUnavailableError | RemoteModelError:
        response: Mapping[str, Any] = error.response
        code = str(response.get("Error", {}).get("Code", ""))
        message = str(response.get("Error", {}).get("Message", ""))
        status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if code == "ModelError":
            original = int(response.get("OriginalStatusCode") or 0)
            said = str(response.get("OriginalMessage") or message)
            if original in _CONTAINER_BUSY_STATUSES:
                return InferenceUnavailableError(
                    f"{self.backend}: the container is busy ({original}): {said}"
                )
            return RemoteModelError(f"{self.backend}: the container answered {original}: {said}")
        if code in _UNAVAILABLE_CODES or status >= 500 or status == 429:
            return InferenceUnavailableError(f"{self.backend}: {code or status}: {message}")
        # Anything else is how we call it (access denied, a payload over the limit): a deployment fault that
        # a retry does not mend, but no reason to use the fallback either.
        return RemoteModelError(f"{self.backend}: {code or status}: {message}")


def runtime_config(settings: InferenceSettings) -> Config:
    """botocore settings of the ``sagemaker-runtime`` client: short connect, bounded read, one retry."""
    return Config(
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=settings.sagemaker_timeout_seconds,
        retries={"mode": "standard", "max_attempts": ATTEMPTS},
    )


def endpoint_routes(settings: InferenceSettings, default_model: str) -> dict[str, str]:
    """Model name -> endpoint name, for every model that runs on an endpoint.

    ``SAGEMAKER_ENDPOINT_NAME`` serves the default model; ``SAGEMAKER_ENDPOINTS`` adds or overrides per
    model, ``local`` keeping one in the function.
    """
    routes = {default_model: settings.sagemaker_endpoint} if settings.sagemaker_endpoint else {}
    for model, endpoint in settings.sagemaker_endpoints:
        if endpoint == LOCAL_INFERENCE:
            routes.pop(model, None)
        else:
            routes[model] = endpoint
    return routes


def build_registry(
    engine_settings: EngineSettings,
    settings: InferenceSettings,
    *,
    client_factory: Callable[[], Any],
    fetcher: ModelFetcher | None = None,
) -> RemoteRegistry | None:
    """The engine's registry for this deployment, or ``None`` when every model runs in the function.

    Parameters
    ----------
    engine_settings, settings
        The engine's and the function's settings (the default model, the endpoints, the fallback).
    client_factory
        Makes the ``sagemaker-runtime`` client, called once and only when a model is routed.
    fetcher
        Downloads ``s3://`` models for the local registry.
    """
    routes = endpoint_routes(settings, engine_settings.default_model)
    if not routes:
        return None
    client = client_factory()
    invokers: dict[str, Invoker] = {
        model: SageMakerInvoker(client, endpoint) for model, endpoint in routes.items()
    }
    local = ModelRegistry(
        engine_settings.model_dirs,
        SessionConfig(intra_op_threads=engine_settings.threads),
        fetcher=fetcher,
        cache_dir=engine_settings.model_cache_dir,
    )
    return RemoteRegistry(local, invokers, fallback=settings.inference_fallback)
