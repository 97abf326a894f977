"""The HTTP API's DynamoDB tables on moto, created from template.yaml's own definitions (no second copy)."""

from __future__ import annotations

import threading
from functools import cache
from pathlib import Path
from typing import Any

from bgremove_local.template import Template

TEMPLATE = Path(__file__).resolve().parents[1] / "template.yaml"


@cache
def _template() -> Template:
    return Template(TEMPLATE, endpoint="http://127.0.0.1:1")  # parsing takes a while: once per session


def create_table(dynamodb: Any, logical_id: str, name: str) -> str:
    """Create the template's ``logical_id`` table as ``name`` (with its TTL setting) and return the name."""
    props = _template().properties(logical_id)
    dynamodb.create_table(
        TableName=name,
        KeySchema=props["KeySchema"],
        AttributeDefinitions=props["AttributeDefinitions"],
        BillingMode=props["BillingMode"],
        **(
            {"GlobalSecondaryIndexes": props["GlobalSecondaryIndexes"]}
            if "GlobalSecondaryIndexes" in props
            else {}
        ),
    )
    ttl = props.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        dynamodb.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
        )
    return name


_ITEM_OPERATIONS = (
    "put_item",
    "update_item",
    "delete_item",
    "get_item",
    "query",
    "scan",
    "transact_write_items",
)


def make_moto_dynamodb_atomic(monkeypatch: Any) -> None:
    """Serialise moto's DynamoDB item operations, as DynamoDB serialises writes to an item.

    moto checks a ``ConditionExpression`` and then applies the write in two Python steps, without a lock:
    two threads can both pass ``count < limit`` and both increment (seen: 10 admitted at a limit of 5 with
    30 threads), and it builds ``ReturnValues`` from the live item after the write, so a concurrent write
    can show through (seen: two increments both answered with the same new count). DynamoDB does each
    operation atomically, and that is exactly what the rate limiter relies on, so concurrency tests run
    with one lock around each of moto's DynamoDB request handlers (request parsing, write and answer).
    """
    from moto.dynamodb.responses import DynamoHandler

    lock = threading.RLock()
    for name in _ITEM_OPERATIONS:
        original = getattr(DynamoHandler, name)

        def locked(self: Any, __original: Any = original) -> Any:
            with lock:
                return __original(self)

        monkeypatch.setattr(DynamoHandler, name, locked)
