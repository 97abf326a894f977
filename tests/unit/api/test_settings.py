"""The API function's settings (api.settings): read once from the environment, every value checked."""

from __future__ import annotations

import pytest

from bgremove import limits
from bgremove_api.exceptions import SettingsError
from bgremove_api.settings import ApiSettings, Env

REQUIRED = {Env.API_KEYS_TABLE: "keys", Env.RATE_LIMIT_TABLE: "rates", Env.OUTPUT_BUCKET: "out"}


def test_defaults() -> None:
    settings = ApiSettings.from_env(REQUIRED)
    assert settings == ApiSettings(api_keys_table="keys", rate_limit_table="rates", output_bucket="out")
    assert settings.result_url_ttl_s == 3600
    assert settings.url_fetch_allow_loopback is False
    assert settings.url_fetch_timeout_s == 10
    # 25 MiB: two fetches (image and background) must not hold 200 MiB in a 2 GB function
    assert settings.url_fetch_max_bytes == 25 * 1024 * 1024 < limits.MAX_INPUT_BYTES


def test_every_variable_is_read() -> None:
    env = {
        **REQUIRED,
        Env.INPUT_BUCKET: "in",
        Env.RESULT_URL_TTL_S: "600",
        Env.URL_FETCH_ALLOW_LOOPBACK: "True",
        Env.URL_FETCH_TIMEOUT_S: "3",
        Env.URL_FETCH_MAX_BYTES: "2048",
        Env.DEFAULT_RATE_PER_SECOND: "4",
        Env.DEFAULT_MAX_IN_FLIGHT: "2",
    }
    settings = ApiSettings.from_env(env)
    assert (settings.input_bucket, settings.result_url_ttl_s, settings.url_fetch_allow_loopback) == (
        "in",
        600,
        True,
    )
    assert (settings.url_fetch_timeout_s, settings.url_fetch_max_bytes) == (3, 2048)
    assert (settings.default_rate_per_second, settings.default_max_in_flight) == (4, 2)


@pytest.mark.parametrize("missing", sorted(REQUIRED))
def test_required(missing: str) -> None:
    with pytest.raises(SettingsError) as caught:
        ApiSettings.from_env({**REQUIRED, missing: " "})
    assert caught.value.setting == missing
    assert (caught.value.code, caught.value.http_status) == ("INVALID_SETTING", 500)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        (Env.URL_FETCH_ALLOW_LOOPBACK, "maybe"),
        (Env.URL_FETCH_TIMEOUT_S, "0"),
        (Env.URL_FETCH_TIMEOUT_S, "30"),  # API Gateway would end the request first
        (Env.URL_FETCH_MAX_BYTES, str(limits.MAX_INPUT_BYTES + 1)),
        (Env.RESULT_URL_TTL_S, "604801"),
        (Env.DEFAULT_RATE_PER_SECOND, "-1"),
        (Env.DEFAULT_MAX_IN_FLIGHT, "101"),
        (Env.DEFAULT_MAX_IN_FLIGHT, "²"),
        (Env.RESULT_URL_TTL_S, "9" * 30),
    ],
)
def test_bad_values(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        ApiSettings.from_env({**REQUIRED, name: value})
    assert caught.value.setting == name


@pytest.mark.parametrize(
    ("value", "expected"), [("", False), ("0", False), ("off", False), ("1", True), ("YES", True)]
)
def test_loopback_switch(value: str, expected: bool) -> None:
    settings = ApiSettings.from_env({**REQUIRED, Env.URL_FETCH_ALLOW_LOOPBACK: value})
    assert settings.url_fetch_allow_loopback is expected
