"""``bgremove-ops`` against the local stack (template.yaml on the local runner's moto) and a CloudFormation
stack: status, redrive (and its dry run), usage."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from bgremove_api import ops
from bgremove_api.keys import ApiKeyStore
from bgremove_local.emulator import LocalCloud

REPO = Path(__file__).resolve().parents[3]
NOW = datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.fixture
def cloud(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalCloud]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)  # the CLI fills in dummies for a local endpoint
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    with LocalCloud(REPO / "template.yaml") as running:
        yield running


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    status = ops.main(list(argv))
    out, err = capsys.readouterr()
    assert status == 0, err
    return status, out


def put_job(dynamodb: object, table: str, job_id: str, key_id: str, status: str, **extra: str) -> None:
    item = {
        "job_id": {"S": job_id},
        "owner_key_id": {"S": key_id},
        "status": {"S": status},
        "created_at": {"S": extra.pop("created_at", iso(NOW - timedelta(minutes=5)))},
    }
    item.update({name: {"S": value} for name, value in extra.items()})
    dynamodb.put_item(TableName=table, Item=item)  # type: ignore[attr-defined]


def test_status_redrive_and_usage_against_the_local_stack(
    cloud: LocalCloud, capsys: pytest.CaptureFixture[str]
) -> None:
    sqs, dynamodb = cloud.client("sqs"), cloud.client("dynamodb")
    assert cloud.stack is not None
    queues = cloud.stack.queue_urls
    dlq = queues["DeadLetterQueue"]
    webhooks_dlq = queues["WebhooksDeadLetterQueue"]
    for number in range(12):
        sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps({"n": number}))
    sqs.send_message(
        QueueUrl=webhooks_dlq,
        MessageBody='{"job_id":"j1"}',
        MessageAttributes={"reason": {"DataType": "String", "StringValue": "HTTP 500"}},
    )
    keys = ApiKeyStore("bgremove-local-ApiKeysTable", dynamodb)
    _, team = keys.create("team-a")
    jobs = "bgremove-local-JobsTable"
    put_job(dynamodb, jobs, "j1", team.key_id, "COMPLETED", completed_at=iso(NOW))
    put_job(dynamodb, jobs, "j2", team.key_id, "FAILED", error_code="INPUT_TOO_LARGE", completed_at=iso(NOW))
    put_job(dynamodb, jobs, "j3", "otherkey0000", "FAILED", error_code="JOB_TIMED_OUT", completed_at=iso(NOW))
    put_job(dynamodb, jobs, "j4", team.key_id, "QUEUED", created_at=iso(NOW - timedelta(days=3)))
    dynamodb.put_item(TableName=jobs, Item={"job_id": {"S": "idem#x#y"}, "target_job_id": {"S": "j1"}})
    endpoint = ["--endpoint-url", cloud.endpoint]

    _, out = run(capsys, *endpoint, "status")
    lines = {line.split("  ")[0].strip(): line.split() for line in out.splitlines() if line}
    assert lines["processing DLQ"][2] == "12"
    assert lines["webhooks DLQ"][2] == "1"
    assert lines["processing"][1] in {"0", "1"}  # S3's test event of the notification setup, if still there
    assert "jobs by status: COMPLETED=1, FAILED=2, QUEUED=1" in out
    assert "INPUT_TOO_LARGE=1" in out and "JOB_TIMED_OUT=1" in out
    assert "last 2 failures:" in out

    _, out = run(capsys, *endpoint, "redrive", "--dry-run")
    assert "processing: would move 12 message(s)" in out
    assert "webhooks: would move 1 message(s)" in out
    assert (
        sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"][
            "ApproximateNumberOfMessages"
        ]
        == "12"
    )

    _, out = run(capsys, *endpoint, "redrive", "--queue", "webhooks")
    assert "webhooks: moved 1 message(s)" in out
    moved = sqs.receive_message(QueueUrl=queues["WebhooksQueue"], MessageAttributeNames=["All"])
    assert moved["Messages"][0]["Body"] == '{"job_id":"j1"}'
    assert moved["Messages"][0]["MessageAttributes"]["reason"]["StringValue"] == "HTTP 500"

    _, out = run(capsys, *endpoint, "redrive", "--queue", "processing", "--max", "5")
    assert "processing: moved 5 message(s)" in out
    _, out = run(capsys, *endpoint, "redrive")
    assert "processing: moved 7 message(s)" in out
    bodies = set()
    for _ in range(5):
        for message in sqs.receive_message(QueueUrl=queues["ProcessingQueue"], MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            bodies.add(message["Body"])
    assert {json.dumps({"n": n}) for n in range(12)} <= bodies

    _, out = run(capsys, *endpoint, "usage", "--since", "24h")
    rows = {line.split()[0]: line.split() for line in out.splitlines()[2:-1]}
    assert rows[team.key_id][1:] == ["team-a", "2", "1", "1", "0"]  # j4 is older than a day
    assert rows["otherkey0000"][1:] == ["-", "1", "0", "1", "0"]
    assert out.splitlines()[-1] == "total: keys=2 jobs=3"
    _, out = run(capsys, *endpoint, "usage", "--since", "7d")
    assert out.splitlines()[-1] == "total: keys=2 jobs=4"


def test_resources_of_a_cloudformation_stack(capsys: pytest.CaptureFixture[str]) -> None:
    template = {
        "Resources": {
            "DeadLetterQueue": {"Type": "AWS::SQS::Queue"},
            "ProcessingQueue": {"Type": "AWS::SQS::Queue"},
        }
    }
    with mock_aws():
        boto3.client("cloudformation", region_name="us-east-1").create_stack(
            StackName="bg-ops", TemplateBody=json.dumps(template)
        )
        sqs = boto3.client("sqs", region_name="us-east-1")
        resources = ops.find_resources(
            boto3.Session(region_name="us-east-1"), stack="bg-ops", endpoint_url=None
        )
        dlq = resources.need("DeadLetterQueue")
        sqs.send_message(QueueUrl=dlq, MessageBody="x")
        status = ops.main(["--stack", "bg-ops", "--region", "us-east-1", "redrive"])
        out, err = capsys.readouterr()
        assert status == 0, err
        assert "processing: moved 1 message(s)" in out
        assert sqs.receive_message(QueueUrl=resources.need("ProcessingQueue"))["Messages"][0]["Body"] == "x"
        status = ops.main(["--stack", "bg-ops", "--region", "us-east-1", "status"])
        out, err = capsys.readouterr()
        assert status == 0, err
        assert "jobs: none" in out


def test_since_reads_hours_days_and_times() -> None:
    now = datetime(2026, 1, 8, tzinfo=UTC)
    assert ops.parse_since("24h", now) == datetime(2026, 1, 7, tzinfo=UTC)
    assert ops.parse_since("7d", now) == datetime(2026, 1, 1, tzinfo=UTC)
    assert ops.parse_since("2026-01-02T00:00:00Z", now) == datetime(2026, 1, 2, tzinfo=UTC)
