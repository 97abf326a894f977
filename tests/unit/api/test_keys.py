"""API keys (bgremove_api.keys) on moto: created once, stored as a hash, checked in constant time, revoked
for good."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from bgremove_api import keys as keys_module
from bgremove_api.exceptions import (
    DisabledKeyError,
    InvalidKeyError,
    KeyNameTakenError,
    KeyNotFoundError,
    MissingKeyError,
    ServiceUnavailableError,
)
from bgremove_api.keys import ApiKey, ApiKeyStore
from tests.api_tables import create_table

TABLE = "test-api-keys"


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, "ApiKeysTable", TABLE)
        yield client


@pytest.fixture
def store(dynamodb: Any) -> ApiKeyStore:
    return ApiKeyStore(TABLE, dynamodb, default_rate_per_second=7, default_max_in_flight=3)


def test_create_returns_the_key_once_and_stores_only_its_hash(store: ApiKeyStore, dynamodb: Any) -> None:
    key, record = store.create("team-a")
    assert re.fullmatch(r"bgr_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", key)
    assert key.split("_", 2)[1] == record.key_id
    assert (record.name, record.disabled, record.rate_per_second, record.max_in_flight) == (
        "team-a",
        False,
        7,
        3,
    )
    items = dynamodb.scan(TableName=TABLE)["Items"]
    assert len(items) == 1
    stored = repr(items)
    secret = key.split("_", 2)[2]
    assert key not in stored
    assert secret not in stored
    assert items[0]["key_hash"]["S"] == hashlib.sha256(key.encode()).hexdigest()


def test_every_key_is_new(store: ApiKeyStore) -> None:
    created = [store.create(f"k{i}")[0] for i in range(5)]
    assert len(set(created)) == 5
    assert len({k.split("_", 2)[1] for k in created}) == 5


def test_authenticate_returns_the_record(store: ApiKeyStore) -> None:
    key, record = store.create("team-a", rate_per_second=20, max_in_flight=5)
    assert store.authenticate(key) == record
    assert store.authenticate(f"  {key}\n") == record  # headers may carry blanks around the value


@pytest.mark.parametrize("presented", [None, "", "   "])
def test_missing_key(store: ApiKeyStore, presented: str | None) -> None:
    with pytest.raises(MissingKeyError) as caught:
        store.authenticate(presented)
    assert (caught.value.code, caught.value.http_status) == ("UNAUTHORIZED", 401)


def test_wrong_unknown_and_malformed_keys(store: ApiKeyStore) -> None:
    key, record = store.create("team-a")
    prefix, key_id, secret = key.split("_", 2)
    flipped = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    other_id = "0" * 12 if key_id != "0" * 12 else "1" * 12
    for presented in (
        f"{prefix}_{key_id}_{flipped}",  # right id, wrong secret
        f"{prefix}_{other_id}_{secret}",  # unknown id
        key_id,  # the public part alone
        key[:-1],  # truncated
        key + "x",
        key.upper(),
        "x" * 10_000,
        f"Bearer {key}",
    ):
        with pytest.raises(InvalidKeyError) as caught:
            store.authenticate(presented)
        assert (caught.value.code, caught.value.http_status) == ("UNAUTHORIZED", 401)
    assert store.authenticate(key) == record


def test_hashes_are_compared_in_constant_time(store: ApiKeyStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every answer, right or wrong, goes through hmac.compare_digest on the full hashes."""
    key, _ = store.create("team-a")
    compared: list[tuple[str, str]] = []
    real_compare = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        compared.append((a, b))
        return real_compare(a, b)

    monkeypatch.setattr(keys_module.hmac, "compare_digest", spy)
    store.authenticate(key)
    wrong = key[:-1] + ("A" if key[-1] != "A" else "B")
    for presented in (wrong, "bgr_000000000000_" + "A" * 43, "garbage"):
        with pytest.raises(InvalidKeyError):
            store.authenticate(presented)
    assert len(compared) == 4
    assert all(len(a) == len(b) == 64 for a, b in compared)


def test_revoke_by_id_and_by_name(store: ApiKeyStore) -> None:
    key_a, record_a = store.create("team-a")
    key_b, _ = store.create("team-b")
    revoked = store.revoke(record_a.key_id)
    assert revoked.disabled
    assert revoked.key_id == record_a.key_id
    with pytest.raises(DisabledKeyError) as caught:
        store.authenticate(key_a)
    assert (caught.value.code, caught.value.http_status) == ("KEY_DISABLED", 403)
    assert store.authenticate(key_b).name == "team-b"  # others unaffected
    assert store.revoke("team-b").name == "team-b"
    with pytest.raises(DisabledKeyError):
        store.authenticate(key_b)
    assert store.revoke("team-b").disabled  # again: harmless


def test_revoke_unknown(store: ApiKeyStore) -> None:
    store.create("team-a")
    for wanted in ("nobody", "0123456789ab"):
        with pytest.raises(KeyNotFoundError) as caught:
            store.revoke(wanted)
        assert caught.value.code == "KEY_NOT_FOUND"


def test_list_oldest_first_with_status(store: ApiKeyStore) -> None:
    assert store.list() == []
    records = [store.create(name)[1] for name in ("a", "b", "c")]
    store.revoke("b")
    listed = store.list()
    assert sorted(k.key_id for k in listed) == sorted(r.key_id for r in records)
    assert [k.created_at for k in listed] == sorted(k.created_at for k in listed)
    assert {k.name: k.disabled for k in listed} == {"a": False, "b": True, "c": False}


def test_names_are_unique(store: ApiKeyStore) -> None:
    store.create("team-a")
    with pytest.raises(KeyNameTakenError):
        store.create("team-a")


@pytest.mark.parametrize(
    ("name", "rate", "in_flight"),
    [("", None, None), ("x" * 129, None, None), ("a", 0, None), ("a", None, 101)],
)
def test_bad_create_arguments(store: ApiKeyStore, name: str, rate: int | None, in_flight: int | None) -> None:
    with pytest.raises(ValueError):
        store.create(name, rate_per_second=rate, max_in_flight=in_flight)
    assert store.list() == []


class _Throttled:
    """A DynamoDB client whose reads are throttled even after botocore's retries."""

    def get_item(self, **_: object) -> dict[str, Any]:
        raise ClientError(
            {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, "GetItem"
        )


class _Denied:
    def get_item(self, **_: object) -> dict[str, Any]:
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "GetItem")


def test_throttled_table_is_a_clean_503() -> None:
    store = ApiKeyStore(TABLE, _Throttled())  # type: ignore[arg-type]
    with pytest.raises(ServiceUnavailableError) as caught:
        store.authenticate("bgr_0123456789ab_" + "A" * 43)
    assert (caught.value.code, caught.value.http_status) == ("SERVICE_UNAVAILABLE", 503)


def test_a_deployment_fault_is_not_hidden() -> None:
    store = ApiKeyStore(TABLE, _Denied())  # type: ignore[arg-type]
    with pytest.raises(ClientError):
        store.authenticate("bgr_0123456789ab_" + "A" * 43)


def test_record_round_trip() -> None:
    record = ApiKey("0123456789ab", "n", "2026-11-28T00:00:00+00:00", True, 3, 4)
    item = {
        "key_id": {"S": record.key_id},
        "name": {"S": record.name},
        "created_at": {"S": record.created_at},
        "disabled": {"BOOL": True},
        "rate_per_second": {"N": "3"},
        "max_in_flight": {"N": "4"},
    }
    assert ApiKey.from_item(item) == record


def test_add_stores_a_key_made_elsewhere(store: ApiKeyStore, dynamodb: Any) -> None:
    key = "bgr_abcdefabcdef_" + "k" * 43
    record = store.add(key, "from-env", rate_per_second=2)
    assert (record.key_id, record.name, record.rate_per_second, record.max_in_flight) == (
        "abcdefabcdef",
        "from-env",
        2,
        3,
    )
    assert store.authenticate(key) == record
    assert key not in repr(dynamodb.scan(TableName=TABLE)["Items"])
    with pytest.raises(KeyNameTakenError):
        store.add(key, "again")  # same id
    for bad in ("bgr_abcdefabcdef_short", "abc", "bgr_ABCDEFABCDEF_" + "k" * 43):
        with pytest.raises(ValueError):
            store.add(bad, "bad")
