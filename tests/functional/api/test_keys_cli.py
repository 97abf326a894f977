"""``bgremove-keys`` against the local stack (template.yaml's tables on the local runner's moto) and against a
CloudFormation stack's outputs; and the installed console script."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from bgremove_api import admin
from bgremove_api.exceptions import DisabledKeyError
from bgremove_api.keys import ApiKeyStore
from bgremove_local.emulator import LocalCloud

REPO = Path(__file__).resolve().parents[3]
KEY_LINE = re.compile(r"^key: (bgr_[0-9a-f]{12}_[A-Za-z0-9_-]{43})$", re.MULTILINE)


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    # Per test: moto's state is per process, and mock_aws() (the stack test) resets it on exit.
    with LocalCloud(REPO / "template.yaml") as running:
        yield running


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = admin.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_the_local_stack_has_the_api_tables(cloud: LocalCloud) -> None:
    dynamodb = cloud.client("dynamodb")
    names = dynamodb.list_tables()["TableNames"]
    assert "bgremove-local-ApiKeysTable" in names
    assert "bgremove-local-RateLimitTable" in names
    ttl = dynamodb.describe_time_to_live(TableName="bgremove-local-RateLimitTable")["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expires_at")


def test_create_list_revoke_against_the_local_stack(
    cloud: LocalCloud, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)  # the CLI fills in dummies for a local endpoint
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    endpoint = ["--endpoint-url", cloud.endpoint]

    status, out, err = run(capsys, *endpoint, "create", "cli-team", "--rate", "3", "--in-flight", "2")
    assert status == 0, err
    match = KEY_LINE.search(out)
    assert match, out
    key = match.group(1)
    assert "cannot be shown again" in err
    store = ApiKeyStore("bgremove-local-ApiKeysTable", cloud.client("dynamodb"))
    record = store.authenticate(key)
    assert (record.name, record.rate_per_second, record.max_in_flight) == ("cli-team", 3, 2)

    status, out, _ = run(capsys, *endpoint, "list")
    assert status == 0
    assert key not in out  # never shown again
    line = next(line for line in out.splitlines() if record.key_id in line)
    assert "cli-team" in line
    assert "active" in line

    status, out, _ = run(capsys, *endpoint, "create", "cli-team")
    assert status == 1  # names are unique

    status, out, _ = run(capsys, *endpoint, "revoke", "cli-team")
    assert (status, out.strip()) == (0, f"revoked: {record.key_id} (cli-team)")
    with pytest.raises(DisabledKeyError):
        store.authenticate(key)
    _, out, _ = run(capsys, *endpoint, "list")
    assert "revoked" in next(line for line in out.splitlines() if record.key_id in line)

    status, _, err = run(capsys, *endpoint, "revoke", "nobody")
    assert status == 1
    assert "no key" in err


def test_table_named_explicitly(cloud: LocalCloud, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(
        capsys,
        "--endpoint-url",
        cloud.endpoint,
        "--table",
        "bgremove-local-ApiKeysTable",
        "create",
        "by-table",
    )
    assert status == 0
    assert KEY_LINE.search(out)


@pytest.mark.parametrize(
    "argv", [["create", "x", "--rate", "0"], ["create", "x", "--in-flight", "101"], ["nothing"]]
)
def test_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        admin.main(["--table", "t", *argv])
    assert caught.value.code == 2


def test_table_from_the_stack_outputs(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    template = """
Resources:
  ApiKeysTable:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: key_id, AttributeType: S}]
      KeySchema: [{AttributeName: key_id, KeyType: HASH}]
Outputs:
  ApiKeysTableName:
    Value: !Ref ApiKeysTable
"""
    with mock_aws():
        boto3.client("cloudformation").create_stack(StackName="bg-test", TemplateBody=template)
        status, out, err = run(capsys, "--stack", "bg-test", "create", "from-stack")
        assert status == 0, err
        key = KEY_LINE.search(out)
        assert key
        (table,) = boto3.client("dynamodb").list_tables()["TableNames"]
        assert ApiKeyStore(table, boto3.client("dynamodb")).authenticate(key.group(1)).name == "from-stack"

        boto3.client("cloudformation").create_stack(
            StackName="no-api", TemplateBody=template.split("Outputs:", maxsplit=1)[0]
        )
        status, _, err = run(capsys, "--stack", "no-api", "list")
        assert status == 1
        assert "ApiKeysTableName" in err


def test_installed_console_script(cloud: LocalCloud) -> None:
    script = Path(sys.executable).with_name("bgremove-keys")
    assert script.is_file(), "run `.venv/bin/pip install -e .` to install the console script"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    done = subprocess.run(
        [str(script), "--endpoint-url", cloud.endpoint, "create", "script-team"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**env, "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_CONFIG_FILE": os.devnull},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert KEY_LINE.search(done.stdout)


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("0", "must be a whole number from 1 to 10000, got '0'"),
        ("+3", "must be a whole number from 1 to 10000, got '+3'"),
        ("\u0663", "must be a whole number from 1 to 10000, got '\u0663'"),  # an Arabic-Indic 3
        ("", "must be a whole number from 1 to 10000, got nothing"),
    ],
)
def test_rates_are_read_like_settings(value: str, says: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        admin.main(["--table", "t", "create", "x", "--rate", value])
    assert caught.value.code == 2
    assert f"argument --rate: {says}" in capsys.readouterr().err


def test_limits_are_plain_digits() -> None:
    args = admin.build_parser().parse_args(["create", "x", "--rate", "12", "--in-flight", "007"])
    assert (args.rate, args.in_flight) == (12, 7)


# The console scripts of a plain `pip install bgremove` (no aws extra): boto3 and botocore are absent.
WITHOUT_AWS_SDK = """
import sys
for name in ("boto3", "botocore"):
    sys.modules[name] = None  # import fails as if not installed
from bgremove_api.{module} import main
sys.exit(main({argv!r}))
"""


@pytest.mark.parametrize(
    ("module", "argv"),
    [("admin", ["--table", "t", "list"]), ("ops", ["status"])],
)
def test_without_the_aws_sdk_a_command_says_what_to_install(module: str, argv: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_AWS_SDK.format(module=module, argv=argv)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    prog = {"admin": "bgremove-keys", "ops": "bgremove-ops"}[module]
    assert done.stderr.splitlines() == [
        f"{prog}: the AWS SDK is not installed (botocore); install it with: pip install 'bgremove[aws]'"
    ]


def test_other_import_errors_are_not_blamed_on_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> int:
        raise ModuleNotFoundError("No module named 'bgremove_api.nothing'", name="bgremove_api.nothing")

    with pytest.raises(ModuleNotFoundError):
        admin.with_aws_sdk("bgremove-keys", broken)
