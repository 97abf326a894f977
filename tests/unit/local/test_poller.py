"""The local runner's stand-ins for Lambda: the invocation context and the SQS records it builds."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

import bgremove_local
from bgremove_local import poller, template
from bgremove_local.emulator import FunctionSpec
from bgremove_local.poller import LambdaContext, to_lambda_record
from bgremove_local.template import ACCOUNT_ID, REGION

PACKAGE_DIR = Path(bgremove_local.__file__).parent


def function_spec(**changes: object) -> FunctionSpec:
    values: dict[str, object] = {
        "logical_id": "ProcessorFunction",
        "handler": "processor.handler.lambda_handler",
        "code_dir": Path("functions/processor"),
        "timeout_s": 120,
        "memory_mb": 3008,
        "environment": {},
        "queue_arn": f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:bgremove-local-ProcessingQueue",
        "batch_size": 5,
        "report_batch_item_failures": True,
    }
    return FunctionSpec(**{**values, **changes})  # type: ignore[arg-type]


def test_context_describes_the_function_in_the_emulated_account() -> None:
    context = LambdaContext.for_function(function_spec())
    assert context.function_name == "ProcessorFunction"
    assert context.memory_limit_in_mb == 3008
    assert context.invoked_function_arn == f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:ProcessorFunction"
    assert LambdaContext.for_function(function_spec()).aws_request_id != context.aws_request_id


def test_context_arn_follows_the_account_constant(monkeypatch: pytest.MonkeyPatch) -> None:
    # Fails if the poller hard-codes an account id instead of using the emulator's constant.
    monkeypatch.setattr(poller, "ACCOUNT_ID", "000011112222")
    context = LambdaContext("Fn", timeout_s=1, memory_mb=128)
    assert context.invoked_function_arn == f"arn:aws:lambda:{REGION}:000011112222:function:Fn"


@pytest.mark.parametrize("module", sorted(p.name for p in PACKAGE_DIR.glob("*.py")))
def test_account_id_is_written_down_once(module: str) -> None:
    """Only template.py spells out the emulated account id; everything else uses ``ACCOUNT_ID``."""
    text = (PACKAGE_DIR / module).read_text()
    literals = re.findall(r"(?<![0-9])[0-9]{12}(?![0-9])", text)
    expected = [ACCOUNT_ID] if module == Path(template.__file__).name else []
    assert literals == expected


def test_context_counts_down_from_the_timeout() -> None:
    context = LambdaContext.for_function(function_spec(timeout_s=2))
    first = context.get_remaining_time_in_millis()
    assert 1_500 < first <= 2_000
    time.sleep(0.05)
    assert context.get_remaining_time_in_millis() < first
    assert LambdaContext("Fn", timeout_s=0, memory_mb=128).get_remaining_time_in_millis() == 0


def test_sqs_records_look_like_lambdas() -> None:
    message = {
        "MessageId": "m-1",
        "ReceiptHandle": "r-1",
        "Body": "{}",
        "MD5OfBody": "99914b932bd37a50b983c5e7c90ae93b",
        "Attributes": {"ApproximateReceiveCount": "2", "SentTimestamp": "1", "MessageGroupId": "dropped"},
    }
    spec = function_spec()
    record = to_lambda_record(message, spec.queue_arn)
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == spec.queue_arn
    assert record["awsRegion"] == REGION
    assert (record["messageId"], record["receiptHandle"], record["body"]) == ("m-1", "r-1", "{}")
    assert record["attributes"] == {"ApproximateReceiveCount": "2", "SentTimestamp": "1"}
