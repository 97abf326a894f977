"""The function's SageMaker transport: KServe v2 through InvokeEndpoint (the binary extension's JSON length in
the content type, as Triton's SageMaker front reads it), what each failure becomes, which model runs where."""

from __future__ import annotations

import io
from typing import Any

import boto3
import pytest
from botocore.exceptions import (
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from botocore.response import StreamingBody
from botocore.stub import Stubber

from bgremove import EngineSettings
from bgremove.exceptions import ConfigurationError, InferenceUnavailableError, RemoteModelError
from bgremove.models import Payload, RemoteRegistry
from processor.inference import (
    ATTEMPTS,
    SageMakerInvoker,
    build_registry,
    endpoint_routes,
    runtime_config,
)
from processor.settings import InferenceSettings, ProcessorSettings

ENDPOINT = "gpu-endpoint"
REQUIRED = {
    "OUTPUT_BUCKET": "out",
    "COMPLETION_TOPIC_ARN": "arn:aws:sns:us-east-1:1:t",
    "INPUT_BUCKETS": "in",
}


@pytest.fixture
def client() -> Any:
    return boto3.client(
        "sagemaker-runtime", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


BINARY = "application/vnd.sagemaker-triton.binary+json;json-header-size="
REQUEST = Payload(b'{"inputs":[]}' + b"\0" * 4, 13)


def _expected(payload: Payload) -> dict[str, Any]:
    return {"EndpointName": ENDPOINT, "Body": payload.body, "ContentType": f"{BINARY}{payload.json_length}"}


def test_binary_tensors_travel_with_their_json_length_in_the_content_type(client: Any) -> None:
    with Stubber(client) as stub:
        answer = b'{"outputs":[]}' + b"\1" * 8
        body = StreamingBody(io.BytesIO(answer), len(answer))
        stub.add_response("invoke_endpoint", {"Body": body, "ContentType": f"{BINARY}14"}, _expected(REQUEST))
        invoker = SageMakerInvoker(client, ENDPOINT)
        assert invoker.invoke(REQUEST) == Payload(answer, 14)
        assert invoker.backend == f"sagemaker:{ENDPOINT}"


def test_json_travels_as_json(client: Any) -> None:
    with Stubber(client) as stub:
        body = StreamingBody(io.BytesIO(b'{"outputs":[]}'), 14)
        expected = {"EndpointName": ENDPOINT, "Body": b"{}", "ContentType": "application/json"}
        stub.add_response("invoke_endpoint", {"Body": body, "ContentType": "application/json"}, expected)
        assert SageMakerInvoker(client, ENDPOINT).invoke(Payload(b"{}")) == Payload(b'{"outputs":[]}')


def test_a_content_type_that_does_not_fit_its_body_is_a_model_error(client: Any) -> None:
    with Stubber(client) as stub:
        body = StreamingBody(io.BytesIO(b"{}"), 2)
        stub.add_response(
            "invoke_endpoint", {"Body": body, "ContentType": f"{BINARY}999"}, _expected(REQUEST)
        )
        with pytest.raises(RemoteModelError, match="json-header-size"):
            SageMakerInvoker(client, ENDPOINT).invoke(REQUEST)


@pytest.mark.parametrize(
    ("code", "status", "fields"),
    [
        ("ThrottlingException", 400, {}),
        ("ServiceUnavailable", 503, {}),
        ("InternalFailure", 500, {}),
        ("ModelNotReadyException", 429, {}),
        ("ValidationError", 400, {}),  # endpoint missing or not InService (being created or updated)
        ("ModelError", 424, {"OriginalStatusCode": 503, "OriginalMessage": '{"code": "OVERLOADED"}'}),
        ("ModelError", 424, {"OriginalStatusCode": 504, "OriginalMessage": '{"code": "TIMEOUT"}'}),
        (
            "ModelError",
            424,
            {"OriginalStatusCode": 507, "OriginalMessage": '{"error": "CUDA out of memory"}'},
        ),
    ],
    ids=[
        "throttled",
        "503",
        "500",
        "not-ready",
        "no-endpoint",
        "container-busy",
        "container-timeout",
        "gpu-oom",
    ],
)
def test_transient_failures_are_unavailable(
    client: Any, code: str, status: int, fields: dict[str, Any]
) -> None:
    with Stubber(client) as stub:
        stub.add_client_error(
            "invoke_endpoint", service_error_code=code, http_status_code=status, modeled_fields=fields or None
        )
        with pytest.raises(InferenceUnavailableError) as caught:
            SageMakerInvoker(client, ENDPOINT).invoke(REQUEST)
    assert caught.value.code == "INFERENCE_UNAVAILABLE"
    assert ENDPOINT in caught.value.message


@pytest.mark.parametrize(
    ("code", "status", "fields", "said"),
    [
        ("ModelError", 424, {"OriginalStatusCode": 404, "OriginalMessage": "isnet is not found"}, "isnet"),
        ("ModelError", 424, {"OriginalStatusCode": 500, "OriginalMessage": "internal"}, "internal"),
        (
            "ModelError",
            424,
            {
                "OriginalStatusCode": 400,
                "OriginalMessage": '{"error":"unexpected shape for input \'IMAGE\'"}',
            },
            "unexpected shape",
        ),
        ("AccessDeniedException", 403, {}, "AccessDenied"),
    ],
    ids=["unknown-model", "internal", "bad-request", "access-denied"],
)
def test_model_errors_are_permanent(
    client: Any, code: str, status: int, fields: dict[str, Any], said: str
) -> None:
    with Stubber(client) as stub:
        stub.add_client_error(
            "invoke_endpoint", service_error_code=code, http_status_code=status, modeled_fields=fields or None
        )
        with pytest.raises(RemoteModelError) as caught:
            SageMakerInvoker(client, ENDPOINT).invoke(REQUEST)
    assert caught.value.code == "REMOTE_MODEL_ERROR"
    assert said in caught.value.message


class _FailingClient:
    """A client whose every call raises ``error`` (timeouts and refused connections cannot be stubbed)."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def invoke_endpoint(self, **_: Any) -> Any:
        raise self.error


@pytest.mark.parametrize(
    "error",
    [
        ReadTimeoutError(endpoint_url="https://runtime.sagemaker"),
        ConnectTimeoutError(endpoint_url="https://runtime.sagemaker"),
        EndpointConnectionError(endpoint_url="https://runtime.sagemaker"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_timeouts_and_connection_failures_are_unavailable(error: Exception) -> None:
    with pytest.raises(InferenceUnavailableError, match=type(error).__name__):
        SageMakerInvoker(_FailingClient(error), ENDPOINT).invoke(REQUEST)


def test_the_client_has_short_timeouts_and_one_retry() -> None:
    config = runtime_config(InferenceSettings.from_env({"SAGEMAKER_TIMEOUT_SECONDS": "7"}))
    assert config.read_timeout == 7
    assert config.connect_timeout <= 5
    assert config.retries == {"mode": "standard", "max_attempts": ATTEMPTS}


# --- settings and routes -----------------------------------------------------------------------------------
def _settings(**env: str) -> InferenceSettings:
    settings = ProcessorSettings.from_env({**REQUIRED, **env})
    assert settings.inference == InferenceSettings.from_env(env), "read the same way on its own"
    return settings.inference


def test_no_endpoint_means_everything_runs_locally() -> None:
    settings = _settings()
    assert endpoint_routes(settings, "u2net") == {}
    assert not settings.inference_fallback
    made: list[str] = []
    registry = build_registry(
        EngineSettings(model_dirs=()), settings, client_factory=lambda: made.append("client")
    )
    assert registry is None and not made, "no SageMaker client without an endpoint"


def test_the_default_model_goes_to_the_endpoint_and_the_map_adjusts_per_model() -> None:
    settings = _settings(
        SAGEMAKER_ENDPOINT_NAME="gpu-a",
        SAGEMAKER_ENDPOINTS=" isnet = gpu-b , u2netp=local ",
        INFERENCE_FALLBACK="on",
    )
    assert endpoint_routes(settings, "u2net") == {"u2net": "gpu-a", "isnet": "gpu-b"}
    assert endpoint_routes(settings, "u2netp") == {"isnet": "gpu-b"}
    assert settings.inference_fallback

    registry = build_registry(
        EngineSettings(model_dirs=(), default_model="u2net"), settings, client_factory=object
    )
    assert isinstance(registry, RemoteRegistry)
    assert registry.backend("u2net") == "sagemaker:gpu-a"
    assert registry.backend("isnet") == "sagemaker:gpu-b"
    assert registry.backend("u2netp") == "local"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SAGEMAKER_ENDPOINT_NAME", "not an endpoint!"),
        ("SAGEMAKER_ENDPOINTS", "isnet"),
        ("SAGEMAKER_ENDPOINTS", "isnet=a,isnet=b"),
        ("SAGEMAKER_ENDPOINTS", "isnet=bad_name"),
        ("INFERENCE_FALLBACK", "maybe"),
        ("SAGEMAKER_TIMEOUT_SECONDS", "0"),
    ],
)
def test_malformed_inference_settings_are_named(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        _settings(**{name: value})
    assert caught.value.setting == name
    assert caught.value.code == "INVALID_SETTING"


# --- where inference ran, kept with the output ----------------------------------------------------------
def test_the_backend_is_stored_with_the_output_for_replays() -> None:
    from bgremove import BBox, Report
    from processor import metadata

    report = Report(
        input_size=(40, 30),
        result_size=(40, 30),
        orientation=1,
        input_foreground=BBox(1, 2, 3, 4),
        result_foreground=BBox(1, 2, 3, 4),
        model="u2net",
        format="png",
        content_type="image/png",
        source_format="JPEG",
        backend=f"sagemaker:{ENDPOINT}",
    )
    written = metadata.result_metadata(
        report, source_key="k.jpg", source_etag="e", source_sequencer="1", job_id=None
    )
    assert written["inference-backend"] == f"sagemaker:{ENDPOINT}"
    replayed = metadata.report_from_metadata(written, content_type="image/png")
    assert replayed is not None and replayed.backend == f"sagemaker:{ENDPOINT}"
    older = {k: v for k, v in written.items() if k != "inference-backend"}  # written before the offload
    replayed_older = metadata.report_from_metadata(older, content_type="image/png")
    assert replayed_older is not None and replayed_older.backend == "local"
