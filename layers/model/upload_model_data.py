#!/usr/bin/env python3
"""Put the GPU endpoint's model data (``model.tar.gz``) in the SAM artifact bucket; print ``GpuModelDataUrl``.

    upload_model_data.py [ARCHIVE] [--bucket BUCKET] [--prefix bgremove/gpu-model]

The bucket is the one ``sam deploy`` uploads the functions and layers to (``resolve_s3 = true`` in
samconfig.toml: the ``SourceBucket`` output of the ``aws-sam-cli-managed-default`` stack), unless
``--bucket`` names another. The key is the archive's sha256 (``<prefix>/<sha256>.tar.gz``): a rebuilt model
gets a new key, so CloudFormation replaces the SageMaker Model and the endpoint rolls over to it, and an
archive already there is not sent again. Uses the AWS credentials and region of the environment (boto3's
usual chain), in the project's venv (``make gpu-upload``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from fetch_model import sha256_of  # one hash helper for the model scripts (layers/model/)

REPO = Path(__file__).resolve().parents[2]
SAM_MANAGED_STACK = "aws-sam-cli-managed-default"
DEFAULT_ARCHIVE = REPO / "out" / "gpu-model" / "model.tar.gz"


class UploadError(RuntimeError):
    """No archive, or no bucket to put it in."""


def artifact_bucket(cloudformation: Any) -> str:
    """The SAM CLI's managed artifact bucket (what ``sam deploy --resolve-s3`` uploads to)."""
    try:
        stacks = cloudformation.describe_stacks(StackName=SAM_MANAGED_STACK)["Stacks"]
    except Exception as error:  # botocore's ClientError: the stack does not exist in this account and region
        raise UploadError(
            f"no {SAM_MANAGED_STACK} stack here ({error}): run `sam deploy --guided` once (it creates SAM's "
            "artifact bucket), or name a bucket with BUCKET=..."
        ) from None
    for output in stacks[0].get("Outputs", []):
        if output.get("OutputKey") == "SourceBucket":
            return str(output["OutputValue"])
    raise UploadError(f"the {SAM_MANAGED_STACK} stack has no SourceBucket output")


def upload(archive: Path, bucket: str, prefix: str, s3: Any) -> str:
    """Upload ``archive`` under its sha256 unless it is already there; returns its ``s3://`` URL."""
    if not archive.is_file():
        raise UploadError(f"{archive} is missing: run `make gpu-model` first")
    key = f"{prefix.strip('/')}/{sha256_of(archive)}.tar.gz"
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
        present = int(head["ContentLength"]) == archive.stat().st_size
    except Exception:  # botocore's ClientError 404: not there yet
        present = False
    if not present:
        s3.upload_file(str(archive), bucket, key)
    return f"s3://{bucket}/{key}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("archive", nargs="?", type=Path, default=DEFAULT_ARCHIVE)
    parser.add_argument("--bucket", default="", help="default: SAM's artifact bucket")
    parser.add_argument("--prefix", default="bgremove/gpu-model")
    args = parser.parse_args(argv)
    import boto3  # noqa: PLC0415 - the project's venv has it; --help works without

    try:
        bucket = args.bucket or artifact_bucket(boto3.client("cloudformation"))
        url = upload(args.archive, bucket, args.prefix, boto3.client("s3"))
    except UploadError as error:
        print(f"gpu-upload: {error}", file=sys.stderr)
        return 1
    print(f"GpuModelDataUrl={url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
