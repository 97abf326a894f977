"""The API function's settings (bgremove_api.settings): read once from the environment, every value
checked."""

from __future__ import annotations

import pytest

from bgremove import ConfigurationError, limits
from bgremove_api.dialects.common import classify
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
    with pytest.raises(ConfigurationError) as caught:
        ApiSettings.from_env({**REQUIRED, missing: " "})
    assert caught.value.setting == missing
    failure = classify(caught.value)
    assert (failure.status, failure.code) == (500, "INVALID_SETTING")
    assert missing not in failure.message  # the client is told the service is misconfigured, no more


def test_every_missing_variable_is_listed_in_one_error() -> None:
    with pytest.raises(ConfigurationError) as caught:
        ApiSettings.from_env({Env.OUTPUT_BUCKET: "out"})
    assert caught.value.setting == Env.API_KEYS_TABLE
    assert caught.value.message == "API_KEYS_TABLE: is required but not set (nor is RATE_LIMIT_TABLE)"


def test_blanks_around_names_are_ignored() -> None:
    settings = ApiSettings.from_env(
        {
            Env.API_KEYS_TABLE: " keys ",
            Env.RATE_LIMIT_TABLE: "rates\n",
            Env.OUTPUT_BUCKET: "out",
            Env.INPUT_BUCKET: " in ",
        }
    )
    assert (settings.api_keys_table, settings.rate_limit_table, settings.input_bucket) == (
        "keys",
        "rates",
        "in",
    )


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
        (Env.RESULT_URL_TTL_S, " 600"),  # a number is its digits alone
        (Env.RESULT_URL_TTL_S, "   "),
    ],
)
def test_bad_values(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        ApiSettings.from_env({**REQUIRED, name: value})
    assert caught.value.setting == name
    assert caught.value.code == "INVALID_SETTING"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("", False), (" ", False), ("0", False), ("off", False), ("1", True), ("YES", True), (" on\n", True)],
)
def test_loopback_switch(value: str, expected: bool) -> None:
    settings = ApiSettings.from_env({**REQUIRED, Env.URL_FETCH_ALLOW_LOOPBACK: value})
    assert settings.url_fetch_allow_loopback is expected
