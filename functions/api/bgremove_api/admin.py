"""``bgremove-keys``: create, list and revoke API keys, in the deployed stack or in ``make serve``'s emulator.

::

    bgremove-keys [--stack NAME | --table NAME | --endpoint-url URL] create NAME [--rate N] [--in-flight N]
    bgremove-keys ... list
    bgremove-keys ... revoke KEY_ID_OR_NAME

The table is found, in this order: ``--table``; with ``--endpoint-url`` (the local emulator) and no
``--stack``, the one table whose name ends in ``-ApiKeysTable``; otherwise the output ``ApiKeysTableName`` of
the CloudFormation stack ``--stack`` (default ``bgremove``, as in samconfig.toml). ``create`` prints the new
key once, on a line ``key: <key>``; it is stored only as a hash and cannot be shown again.

The AWS SDK comes with the ``aws`` extra: it is imported when a command runs, and without it the command
says in one line what to install (:func:`with_aws_sdk`, which ``bgremove-ops`` uses too).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from bgremove import env
from bgremove.exceptions import ConfigurationError
from bgremove_api.exceptions import ApiError
from bgremove_api.settings import MAX_IN_FLIGHT_RANGE, RATE_PER_SECOND_RANGE

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_dynamodb import DynamoDBClient

    from bgremove_api.keys import ApiKey

__all__ = ["AWS_EXTRA_INSTALL", "TABLE_OUTPUT", "aws_session", "find_table", "main", "with_aws_sdk"]

DEFAULT_STACK = "bgremove"
TABLE_OUTPUT = "ApiKeysTableName"
"""The stack output naming the keys table (template.yaml)."""
LOCAL_TABLE_SUFFIX = "-ApiKeysTable"
LOCAL_REGION = "us-east-1"
_EXIT_ERROR = 1
_EXIT_USAGE = 2

AWS_EXTRA_INSTALL = "pip install 'bgremove[aws]'"
"""What installs the AWS SDK these commands need (a plain ``pip install bgremove`` has only the engine)."""
_AWS_EXTRA_PACKAGES = frozenset({"boto3", "botocore", "s3transfer", "jmespath", "aws_lambda_powertools"})


def with_aws_sdk(prog: str, command: Callable[[], int]) -> int:
    """``command()``, or one line naming the extra to install and exit status 2 when it needs a package of
    the ``aws`` extra that is not installed. Any other import error is a bug, and propagates."""
    try:
        return command()
    except ImportError as error:
        missing = (error.name or "").partition(".")[0]
        if missing not in _AWS_EXTRA_PACKAGES:
            raise
        print(
            f"{prog}: the AWS SDK is not installed ({missing}); install it with: {AWS_EXTRA_INSTALL}",
            file=sys.stderr,
        )
        return _EXIT_USAGE


def _limit(bounds: tuple[int, int]) -> Callable[[str], int]:
    """An argparse ``type`` accepting whole numbers within ``bounds``, read as settings are
    (:func:`bgremove.env.whole_number`: ASCII digits only)."""
    low, high = bounds

    def parse(text: str) -> int:
        if not text:  # whole_number's "unset": here a mistake, not the default
            raise argparse.ArgumentTypeError(f"must be a whole number from {low} to {high}, got nothing")
        try:
            return env.whole_number({"value": text}, "value", low, low=low, high=high)
        except ConfigurationError as error:
            raise argparse.ArgumentTypeError(error.message.removeprefix("value: ")) from None

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bgremove-keys",
        description="Create, list and revoke API keys of a bgremove deployment (or of `make serve`).",
    )
    where = parser.add_argument_group("where the keys are (default: the stack 'bgremove')")
    where.add_argument("--stack", help=f"CloudFormation stack whose output {TABLE_OUTPUT} names the table")
    where.add_argument("--table", help="the keys table's name")
    where.add_argument(
        "--endpoint-url",
        help="AWS endpoint, e.g. http://127.0.0.1:4577 for `make serve` (dummy credentials if none are set)",
    )
    where.add_argument("--region", help="AWS region (default: your AWS configuration; us-east-1 locally)")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="create a key and print it once")
    create.add_argument("name", help="who or what the key is for (unique)")
    create.add_argument(
        "--rate",
        type=_limit(RATE_PER_SECOND_RANGE),
        help="requests per second (default: the API's DEFAULT_RATE_PER_SECOND)",
    )
    create.add_argument(
        "--in-flight",
        type=_limit(MAX_IN_FLIGHT_RANGE),
        help="requests in flight at once (default: the API's DEFAULT_MAX_IN_FLIGHT)",
    )
    commands.add_parser("list", help="list keys (never the keys themselves)")
    revoke = commands.add_parser("revoke", help="disable a key, by id or name")
    revoke.add_argument("key", metavar="KEY_ID_OR_NAME")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``bgremove-keys``; returns the exit status (0 ok, 1 failed, 2 usage or no AWS SDK)."""
    args = build_parser().parse_args(argv)
    return with_aws_sdk("bgremove-keys", lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415 - the aws extra

    from bgremove_api.keys import ApiKeyStore  # noqa: PLC0415 - needs the aws extra

    try:
        session = aws_session(args.endpoint_url, args.region)
        dynamodb: DynamoDBClient = session.client("dynamodb", endpoint_url=args.endpoint_url)
        table = find_table(
            session, dynamodb, stack=args.stack, table=args.table, endpoint_url=args.endpoint_url
        )
        store = ApiKeyStore(table, dynamodb)
        if args.command == "create":
            key, record = store.create(args.name, rate_per_second=args.rate, max_in_flight=args.in_flight)
            print(f"key: {key}")
            _print_records([record])
            print("Store the key now: it is kept only as a hash and cannot be shown again.", file=sys.stderr)
        elif args.command == "list":
            _print_records(store.list())
        else:
            record = store.revoke(args.key)
            print(f"revoked: {record.key_id} ({record.name})")
    except ValueError as error:
        print(f"bgremove-keys: error: {error}", file=sys.stderr)
        return _EXIT_USAGE
    except (ApiError, LookupError) as error:
        print(f"bgremove-keys: error: {error}", file=sys.stderr)
        return _EXIT_ERROR
    except (ClientError, BotoCoreError) as error:
        print(f"bgremove-keys: AWS error: {error}", file=sys.stderr)
        return _EXIT_ERROR
    return 0


def find_table(
    session: boto3.Session,
    dynamodb: DynamoDBClient,
    *,
    stack: str | None,
    table: str | None,
    endpoint_url: str | None,
) -> str:
    """The keys table's name (see the module docstring for the order).

    Raises
    ------
    LookupError
        The stack has no such output, or the emulator no (or more than one) keys table.
    """
    if table:
        return table
    if endpoint_url and not stack:
        names = [
            name
            for page in dynamodb.get_paginator("list_tables").paginate()
            for name in page.get("TableNames", [])
            if name.endswith(LOCAL_TABLE_SUFFIX)
        ]
        if len(names) != 1:
            found = ", ".join(names) or "none"
            raise LookupError(
                f"expected one table named *{LOCAL_TABLE_SUFFIX} at {endpoint_url}, found {found}"
            )
        return names[0]
    stack = stack or DEFAULT_STACK
    cloudformation = session.client("cloudformation", endpoint_url=endpoint_url)
    stacks = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    for output in stacks[0].get("Outputs", []) if stacks else []:
        if output.get("OutputKey") == TABLE_OUTPUT and output.get("OutputValue"):
            return output["OutputValue"]
    raise LookupError(f"stack {stack!r} has no output {TABLE_OUTPUT}; was it deployed with the HTTP API?")


def aws_session(endpoint_url: str | None, region: str | None) -> boto3.Session:
    """A boto3 session; against a local endpoint, dummy credentials and us-east-1 fill in what is unset."""
    import boto3  # noqa: PLC0415 - the aws extra

    session = boto3.Session(region_name=region)
    if endpoint_url:
        credentials = None if session.get_credentials() else ("local", "local")
        session = boto3.Session(
            aws_access_key_id=credentials[0] if credentials else None,
            aws_secret_access_key=credentials[1] if credentials else None,
            region_name=region or session.region_name or LOCAL_REGION,
        )
    return session


def _print_records(records: list[ApiKey]) -> None:
    print(f"{'id':<12}  {'name':<24}  {'created':<25}  {'status':<8}  {'rate/s':>6}  {'in flight':>9}")
    for key in records:
        status = "revoked" if key.disabled else "active"
        print(
            f"{key.key_id:<12}  {key.name:<24}  {key.created_at:<25}  {status:<8}  "
            f"{key.rate_per_second:>6}  {key.max_in_flight:>9}"
        )


if __name__ == "__main__":
    sys.exit(main())
