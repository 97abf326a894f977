"""template.yaml's security settings and MemorySize, read through the local runner's resolver.

`make validate` runs sam validate, cfn-lint and checkov; these tests pin what those tools cannot see: that the
dead-letter queue names the processing queue's real ARN, that every queue and topic refuses plain HTTP, that
every checkov skip says why, and that MemorySize's floor still covers the measured worst case
(docs/decisions/0008-memory-size-u2net.md).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest

from bgremove_local.template import Template

REPO = Path(__file__).resolve().parents[3]
MEMORY_TABLE = REPO / "docs" / "decisions" / "0008-memory-size-u2net" / "memory.json"


@pytest.fixture(scope="module")
def template() -> Template:
    return Template(REPO / "template.yaml", "http://127.0.0.1:1")


Statement = dict[str, Any]


def _statements(template: Template, policy_type: str, targets_key: str) -> list[tuple[list[Any], Statement]]:
    """(resolved targets, statement) for every statement of every policy resource of ``policy_type``."""
    found = []
    for logical_id in template.of_type(policy_type):
        properties = template.properties(logical_id)
        for statement in properties["PolicyDocument"]["Statement"]:
            found.append((properties[targets_key], statement))
    return found


def _denies_plain_http(statement: Statement) -> bool:
    return (
        statement["Effect"] == "Deny"
        and statement["Principal"] == "*"
        and statement.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
    )


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_dead_letter_queue_accepts_only_the_processing_queue(template: Template) -> None:
    # RedriveAllowPolicy names the processing queue with !Sub (a !GetAtt would be circular): both must
    # resolve to the same ARN, or SQS refuses ProcessingQueue's RedrivePolicy when the stack is created.
    dlq = template.properties("DeadLetterQueue")
    assert dlq["RedriveAllowPolicy"] == {
        "redrivePermission": "byQueue",
        "sourceQueueArns": [template.get_att("ProcessingQueue", "Arn")],
    }
    redrive = template.properties("ProcessingQueue")["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == template.get_att("DeadLetterQueue", "Arn")


@pytest.mark.parametrize("queue", ["ProcessingQueue", "DeadLetterQueue"])
def test_queues_refuse_plain_http(template: Template, queue: str) -> None:
    url, arn = template.ref(queue), template.get_att(queue, "Arn")
    assert any(
        url in queues and _denies_plain_http(s) and s["Action"] == "sqs:*" and arn in _as_list(s["Resource"])
        for queues, s in _statements(template, "AWS::SQS::QueuePolicy", "Queues")
    )


def test_completion_topic_refuses_plain_http(template: Template) -> None:
    arn = template.ref("CompletionTopic")
    assert any(
        arn in topics
        and _denies_plain_http(s)
        and "sns:Publish" in _as_list(s["Action"])
        and arn in _as_list(s["Resource"])
        for topics, s in _statements(template, "AWS::SNS::TopicPolicy", "Topics")
    )


def test_s3_can_still_notify_the_processing_queue(template: Template) -> None:
    arn = template.get_att("ProcessingQueue", "Arn")
    allows = [
        s
        for queues, s in _statements(template, "AWS::SQS::QueuePolicy", "Queues")
        if s["Effect"] == "Allow" and s["Principal"] == {"Service": "s3.amazonaws.com"}
    ]
    assert [s["Resource"] for s in allows] == [arn]


def test_every_checkov_skip_says_why(template: Template) -> None:
    skips = [
        (logical_id, skip)
        for logical_id, resource in template.resources.items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    assert skips, "template.yaml has no checkov skips: update this test if that is on purpose"
    for logical_id, skip in skips:
        assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"]), (logical_id, skip)
        assert len(skip.get("comment", "").split()) >= 8, f"{logical_id} skips {skip['id']} without a reason"


def test_memory_size_floor_covers_the_measured_worst_case(template: Template) -> None:
    # Rule of docs/decisions/0006-memory-size.md, measured again in 0008: (worst peak + the function's AWS
    # libraries) x 1.25, rounded up to a multiple of 128 MB.
    table = json.loads(MEMORY_TABLE.read_text())
    worst = max(case["peak_mib"] for case in table["cases"])
    needed = math.ceil((worst + table["baselines"]["function_libs_mib"]) * 1.25 / 128) * 128
    spec = template.document["Parameters"]["MemorySize"]
    assert spec["MinValue"] >= needed
    assert spec["Default"] >= spec["MinValue"]
