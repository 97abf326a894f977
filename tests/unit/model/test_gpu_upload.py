"""`make gpu-upload`: the model data goes to SAM's artifact bucket under its sha256 (moto)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.helpers import REPO_ROOT

REGION = "us-east-1"


def _script() -> ModuleType:
    path = REPO_ROOT / "layers" / "model" / "upload_model_data.py"
    spec = importlib.util.spec_from_file_location("upload_model_data", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield


class CountingS3:
    def __init__(self, client: Any) -> None:
        self.client = client
        self.uploads = 0

    def head_object(self, **kwargs: Any) -> Any:
        return self.client.head_object(**kwargs)

    def upload_file(self, *args: Any) -> None:
        self.uploads += 1
        self.client.upload_file(*args)


def test_the_archive_goes_to_sams_artifact_bucket_once_under_its_sha256(aws: None, tmp_path: Path) -> None:
    script = _script()
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    template = {
        "Resources": {"Bucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "sam-artifacts"}}},
        "Outputs": {"SourceBucket": {"Value": {"Ref": "Bucket"}}},
    }
    cloudformation.create_stack(StackName=script.SAM_MANAGED_STACK, TemplateBody=json.dumps(template))
    archive = tmp_path / "model.tar.gz"
    archive.write_bytes(b"a Triton repository")
    s3 = CountingS3(boto3.client("s3", region_name=REGION))

    bucket = script.artifact_bucket(cloudformation)
    url = script.upload(archive, bucket, "bgremove/gpu-model", s3)
    again = script.upload(archive, bucket, "bgremove/gpu-model", s3)

    digest = hashlib.sha256(b"a Triton repository").hexdigest()
    assert bucket == "sam-artifacts"
    assert url == again == f"s3://sam-artifacts/bgremove/gpu-model/{digest}.tar.gz"
    assert s3.uploads == 1, "an archive already there is not sent again"
    body = s3.client.get_object(Bucket="sam-artifacts", Key=f"bgremove/gpu-model/{digest}.tar.gz")["Body"]
    assert body.read() == b"a Triton repository"


def test_without_sams_stack_it_says_what_to_do(aws: None, tmp_path: Path) -> None:
    script = _script()
    with pytest.raises(script.UploadError, match="sam deploy --guided"):
        script.artifact_bucket(boto3.client("cloudformation", region_name=REGION))
    with pytest.raises(script.UploadError, match="make gpu-model"):
        script.upload(tmp_path / "missing.tar.gz", "b", "p", boto3.client("s3", region_name=REGION))
