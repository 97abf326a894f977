"""API keys: created and revoked by ``bgremove-keys``, checked on every request, one key for every dialect.

A key reads ``bgr_<key id>_<secret>``. The key id (12 hex digits) is not secret: it is the table's partition
key, so a request costs one ``GetItem``, and it names the key in ``bgremove-keys list`` and in logs. The
table stores only the SHA-256 of the whole key, never the key; the key is shown once, by ``create``. The
presented key's hash is compared with the stored one by :func:`hmac.compare_digest` (constant time), and an
unknown id is compared against a dummy hash, so the answer's timing tells nothing about which ids exist.
SHA-256 without salt or stretching is enough here: the secret is 256 random bits, not a password.

Item layout (table ``ApiKeys``, partition key ``key_id``)::

    key_id S, key_hash S (hex SHA-256), name S, created_at S (ISO 8601, UTC), disabled BOOL,
    rate_per_second N, max_in_flight N
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from bgremove_api import observability
from bgremove_api.aws import error_code
from bgremove_api.dynamodb import CONDITION_FAILED, dynamodb_errors
from bgremove_api.exceptions import (
    DisabledKeyError,
    InvalidKeyError,
    KeyNameTakenError,
    KeyNotFoundError,
    MissingKeyError,
)
from bgremove_api.settings import (
    DEFAULT_MAX_IN_FLIGHT,
    DEFAULT_RATE_PER_SECOND,
    MAX_IN_FLIGHT_RANGE,
    RATE_PER_SECOND_RANGE,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["KEY_PREFIX", "ApiKey", "ApiKeyStore"]

KEY_PREFIX = "bgr"
_KEY_ID_HEX = 12
_SECRET_BYTES = 32
_KEY_PATTERN = re.compile(rf"{KEY_PREFIX}_([0-9a-f]{{{_KEY_ID_HEX}}})_[A-Za-z0-9_-]{{43}}")
_MAX_PRESENTED_CHARS = 256
_DUMMY_HASH = hashlib.sha256(b"no such key").hexdigest()
_MAX_NAME_CHARS = 128

_Item = dict[str, Any]
"""One DynamoDB item, in the low-level client's attribute-value form."""


@dataclass(frozen=True)
class ApiKey:
    """One key's record (never the key itself).

    Parameters
    ----------
    key_id
        Public id, the part between ``bgr_`` and the secret.
    name
        Who or what the key is for (unique in the table).
    created_at
        ISO 8601 UTC time of creation.
    disabled
        True once revoked; such a key gets 403.
    rate_per_second, max_in_flight
        The key's rate limits (:class:`bgremove_api.ratelimit.RateLimiter`).
    """

    key_id: str
    name: str
    created_at: str
    disabled: bool
    rate_per_second: int
    max_in_flight: int

    @classmethod
    def from_item(cls, item: _Item) -> ApiKey:
        return cls(
            key_id=item["key_id"]["S"],
            name=item["name"]["S"],
            created_at=item["created_at"]["S"],
            disabled=bool(item.get("disabled", {}).get("BOOL", False)),
            rate_per_second=int(item["rate_per_second"]["N"]),
            max_in_flight=int(item["max_in_flight"]["N"]),
        )


def hash_key(key: str) -> str:
    """The hex SHA-256 the table stores for ``key``."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def looks_like_key(text: str) -> bool:
    """Whether ``text`` has the form of a key ``bgremove-keys`` makes (not whether the key exists)."""
    return len(text) <= _MAX_PRESENTED_CHARS and _KEY_PATTERN.fullmatch(text.strip()) is not None


class ApiKeyStore:
    """Keys in the ``ApiKeys`` DynamoDB table.

    Parameters
    ----------
    table_name
        The table (``API_KEYS_TABLE``; the stack output ``ApiKeysTableName``).
    dynamodb_client
        A boto3 DynamoDB client (tests pass one bound to moto).
    default_rate_per_second, default_max_in_flight
        Limits of keys created without explicit ones (settings ``DEFAULT_RATE_PER_SECOND`` and
        ``DEFAULT_MAX_IN_FLIGHT``).
    """

    def __init__(
        self,
        table_name: str,
        dynamodb_client: DynamoDBClient,
        *,
        default_rate_per_second: int = DEFAULT_RATE_PER_SECOND,
        default_max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
    ) -> None:
        self.table_name = table_name
        self._dynamodb = dynamodb_client
        self.default_rate_per_second = default_rate_per_second
        self.default_max_in_flight = default_max_in_flight

    # --- admin ----------------------------------------------------------------------------------------------
    def create(
        self, name: str, *, rate_per_second: int | None = None, max_in_flight: int | None = None
    ) -> tuple[str, ApiKey]:
        """Create a key named ``name``; returns ``(key, record)``. The key is never stored: show it once.

        Raises
        ------
        ValueError
            ``name`` is empty or too long, or a limit is out of range.
        KeyNameTakenError
            Another key has this name.
        """
        name, rate, in_flight = self._checked(name, rate_per_second, max_in_flight)
        key_id = secrets.token_hex(_KEY_ID_HEX // 2)
        key = f"{KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(_SECRET_BYTES)}"
        return key, self._put(key, key_id, name, rate, in_flight)

    def add(
        self, key: str, name: str, *, rate_per_second: int | None = None, max_in_flight: int | None = None
    ) -> ApiKey:
        """Store a key made elsewhere (by ``bgremove-keys`` for another stack; ``BGREMOVE_API_KEY`` locally).

        Raises
        ------
        ValueError
            ``key`` is not a key ``create`` could have made, or as for :meth:`create`.
        KeyNameTakenError
            Another key has this name, or this key id is in use.
        """
        match = _KEY_PATTERN.fullmatch(key.strip())
        if match is None:
            raise ValueError(
                f"not a key made by bgremove-keys ({KEY_PREFIX}_<12 hex digits>_<43 characters>)"
            )
        name, rate, in_flight = self._checked(name, rate_per_second, max_in_flight)
        return self._put(key.strip(), match.group(1), name, rate, in_flight)

    def _checked(
        self, name: str, rate_per_second: int | None, max_in_flight: int | None
    ) -> tuple[str, int, int]:
        name = name.strip()
        if not name or len(name) > _MAX_NAME_CHARS:
            raise ValueError(f"name must be 1 to {_MAX_NAME_CHARS} characters")
        rate = self.default_rate_per_second if rate_per_second is None else rate_per_second
        in_flight = self.default_max_in_flight if max_in_flight is None else max_in_flight
        _check_range("rate_per_second", rate, RATE_PER_SECOND_RANGE)
        _check_range("max_in_flight", in_flight, MAX_IN_FLIGHT_RANGE)
        return name, rate, in_flight

    def _put(self, key: str, key_id: str, name: str, rate: int, in_flight: int) -> ApiKey:
        if self._by_name(name):
            raise KeyNameTakenError(f"a key named {name!r} exists already")
        record = ApiKey(
            key_id=key_id,
            name=name,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            disabled=False,
            rate_per_second=rate,
            max_in_flight=in_flight,
        )
        with dynamodb_errors("storing the key"):
            try:
                self._dynamodb.put_item(
                    TableName=self.table_name,
                    Item={
                        "key_id": {"S": record.key_id},
                        "key_hash": {"S": hash_key(key)},
                        "name": {"S": record.name},
                        "created_at": {"S": record.created_at},
                        "disabled": {"BOOL": False},
                        "rate_per_second": {"N": str(rate)},
                        "max_in_flight": {"N": str(in_flight)},
                    },
                    # 48 random bits make a collision unlikely; the condition makes it harmless.
                    ConditionExpression="attribute_not_exists(key_id)",
                )
            except ClientError as error:
                if error_code(error) == CONDITION_FAILED:
                    raise KeyNameTakenError(f"key id {key_id} is in use; create another key") from None
                raise
        return record

    def list(self) -> list[ApiKey]:
        """Every key, oldest first."""
        return sorted((ApiKey.from_item(item) for item in self._scan()), key=lambda k: k.created_at)

    def revoke(self, key_id_or_name: str) -> ApiKey:
        """Disable the key with this id (or, failing that, this name); returns the updated record.

        Revoking is final and takes effect on the next request. Revoking a revoked key is harmless.

        Raises
        ------
        KeyNotFoundError
            No key has this id or name.
        """
        wanted = key_id_or_name.strip()
        item = self._get(wanted) if re.fullmatch(r"[0-9a-f]+", wanted) else None
        if item is None:
            named = self._by_name(wanted)
            if not named:
                raise KeyNotFoundError(f"no key has the id or name {wanted!r}")
            item = named[0]
        with dynamodb_errors("revoking the key"):
            try:
                updated = self._dynamodb.update_item(
                    TableName=self.table_name,
                    Key={"key_id": item["key_id"]},
                    UpdateExpression="SET disabled = :true",
                    ConditionExpression="attribute_exists(key_id)",
                    ExpressionAttributeValues={":true": {"BOOL": True}},
                    ReturnValues="ALL_NEW",
                )
            except ClientError as error:
                if error_code(error) == CONDITION_FAILED:
                    raise KeyNotFoundError(f"no key has the id or name {wanted!r}") from None
                raise
        return ApiKey.from_item(updated["Attributes"])

    # --- requests -------------------------------------------------------------------------------------------
    def authenticate(self, presented: str | None) -> ApiKey:
        """The record of the presented key.

        Raises
        ------
        MissingKeyError
            No key (``None`` or blank).
        InvalidKeyError
            Malformed, unknown, or the secret does not match.
        DisabledKeyError
            A revoked key.
        ServiceUnavailableError
            DynamoDB is throttled or unreachable.
        """
        if presented is None or not presented.strip():
            observability.count(observability.AUTH_REFUSED, Reason="missing")
            raise MissingKeyError("no API key given")
        presented = presented.strip()
        match = _KEY_PATTERN.fullmatch(presented) if len(presented) <= _MAX_PRESENTED_CHARS else None
        item = self._get(match.group(1)) if match else None
        stored = item["key_hash"]["S"] if item is not None else _DUMMY_HASH
        # Hash and compare even for a malformed or unknown key: every rejection costs the same.
        matches = hmac.compare_digest(hash_key(presented), stored)
        if item is None or not matches:
            observability.count(observability.AUTH_REFUSED, Reason="invalid")
            raise InvalidKeyError("invalid API key")
        record = ApiKey.from_item(item)
        if record.disabled:
            observability.count(observability.AUTH_REFUSED, Reason="disabled")
            raise DisabledKeyError(f"API key {record.key_id} is disabled")
        observability.annotate(key_id=record.key_id)
        return record

    # --- table access ---------------------------------------------------------------------------------------
    def _get(self, key_id: str) -> _Item | None:
        with dynamodb_errors("reading the key"):
            response = self._dynamodb.get_item(TableName=self.table_name, Key={"key_id": {"S": key_id}})
        return response.get("Item")

    def _scan(self, **filters: Any) -> Iterator[_Item]:
        paginator = self._dynamodb.get_paginator("scan")
        with dynamodb_errors("listing the keys"):
            for page in paginator.paginate(TableName=self.table_name, **filters):
                yield from page.get("Items", [])

    def _by_name(self, name: str) -> builtins.list[_Item]:
        return list(
            self._scan(
                FilterExpression="#name = :name",
                ExpressionAttributeNames={"#name": "name"},
                ExpressionAttributeValues={":name": {"S": name}},
            )
        )


def _check_range(what: str, value: int, bounds: tuple[int, int]) -> None:
    low, high = bounds
    if not low <= value <= high:
        raise ValueError(f"{what} must be from {low} to {high}, got {value}")
