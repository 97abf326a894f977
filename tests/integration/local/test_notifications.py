"""The emulator's S3 notifications carry what S3's do: a sequencer per event, a version id when versioned."""

from __future__ import annotations

import json
from typing import Any

from moto.s3 import notifications as moto_notifications

from bgremove_local import notifications
from bgremove_local.emulator import LocalCloud
from bgremove_local.runner import TEMPLATE


def _notified(cloud: LocalCloud) -> list[dict[str, Any]]:
    """The ``s3.object`` of each S3 notification waiting in the function's queue, in order."""
    assert cloud.stack is not None
    sqs, url = cloud.client("sqs"), cloud.stack.queue_url
    objects = []
    while True:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        for message in batch:
            document = json.loads(message["Body"])
            objects += [record["s3"]["object"] for record in document.get("Records", [])]
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        if not batch:
            return objects


def test_each_upload_gets_a_greater_sequencer_and_versioned_ones_a_version_id() -> None:
    original = moto_notifications.send_event
    with LocalCloud(TEMPLATE) as cloud:
        assert cloud.stack is not None
        s3, bucket = cloud.client("s3"), cloud.stack.input_bucket
        s3.put_object(Bucket=bucket, Key="same.jpg", Body=b"same bytes")
        s3.put_object(Bucket=bucket, Key="same.jpg", Body=b"same bytes")
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        version = s3.put_object(Bucket=bucket, Key="same.jpg", Body=b"same bytes")["VersionId"]
        latest = notifications.latest_sequencer(bucket, "same.jpg")

        first, second, third = _notified(cloud)

    assert first["eTag"] == second["eTag"] == third["eTag"]
    sequencers = [first["sequencer"], second["sequencer"], third["sequencer"]]
    assert all(len(s) == notifications.SEQUENCER_DIGITS and int(s, 16) for s in sequencers)
    assert sequencers == sorted(set(sequencers)), "later uploads of a key must compare greater"
    assert third["sequencer"] == latest
    assert "versionId" not in first and "versionId" not in second
    assert third["versionId"] == version
    assert moto_notifications.send_event is original, "the emulator must give moto its own functions back"
