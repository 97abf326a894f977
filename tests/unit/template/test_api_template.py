"""template.yaml's HTTP API resources against the dialects' code: every route the app serves is an API
event and nothing else is, bodies travel as binary, and the function's role reaches only its own objects
and tables (write results under api-results/, read keys, count requests), and the stage is throttled."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bgremove_api.app import DOCS_PATH, openapi_document
from bgremove_api.dialects.common import RESULT_KEY_PREFIX
from bgremove_local.template import Template

REPO = Path(__file__).resolve().parents[3]
BUCKETS = {
    "input": "bgremove-local-input-123456789012-us-east-1",
    "output": "bgremove-local-output-123456789012-us-east-1",
}


@pytest.fixture(scope="module")
def template() -> Template:
    return Template(REPO / "template.yaml", "http://127.0.0.1:1")


@pytest.fixture(scope="module")
def function(template: Template) -> dict[str, Any]:
    return template.properties("ApiFunction")


def test_every_route_is_an_api_event_and_nothing_else(function: dict[str, Any]) -> None:
    served = {
        (path, method.upper())
        for path, operations in json.loads(openapi_document())["paths"].items()
        for method in operations
    }
    served.add((DOCS_PATH, "GET"))
    events = {
        (e["Properties"]["Path"], e["Properties"]["Method"].upper()) for e in function["Events"].values()
    }
    assert events == served
    assert all(e["Type"] == "Api" for e in function["Events"].values())


def test_bodies_are_binary_both_ways(template: Template) -> None:
    (api,) = template.of_type("AWS::Serverless::Api")
    assert template.properties(api)["BinaryMediaTypes"] == ["*~1*"]


def test_same_layers_as_the_processor_plus_its_own(template: Template, function: dict[str, Any]) -> None:
    processor = template.properties("ProcessorFunction")["Layers"]
    assert function["Layers"][: len(processor)] == processor
    assert len(function["Layers"]) == len(processor) + 1
    assert (
        function["Environment"]["Variables"]["BGREMOVE_DEFAULT_MODEL"]
        == template.properties("ProcessorFunction")["Environment"]["Variables"]["BGREMOVE_DEFAULT_MODEL"]
    )


def test_role_reaches_only_its_own_objects_and_tables(template: Template, function: dict[str, Any]) -> None:
    grants: dict[str, set[str]] = {}
    for policy in function["Policies"]:
        for statement in policy["Statement"]:
            assert statement["Effect"] == "Allow"
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = (
                statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            )
            for resource in resources:
                grants.setdefault(str(resource), set()).update(actions)
    keys_table = template.get_att("ApiKeysTable", "Arn")
    rate_table = template.get_att("RateLimitTable", "Arn")
    jobs_table = template.get_att("JobsTable", "Arn")
    results = f"{template.get_att('OutputBucket', 'Arn')}/{RESULT_KEY_PREFIX}*"
    # No read of the input bucket: the synchronous path never reads it, the jobs only write under api/.
    assert grants == {
        results: {"s3:PutObject", "s3:GetObject"},
        str(keys_table): {"dynamodb:GetItem"},
        str(rate_table): {"dynamodb:UpdateItem", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:Query"},
        # Asynchronous jobs (bgremove_api.jobs): their records and owner index, their inputs under api/, their
        # results.
        **{
            resource: {
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:DeleteItem",
                "dynamodb:Query",
            }
            for resource in (str(jobs_table), f"{jobs_table}/index/by_owner")
        },
        f"{template.get_att('InputBucket', 'Arn')}/api/*": {"s3:PutObject"},
        f"{template.get_att('OutputBucket', 'Arn')}/api/*": {"s3:GetObject"},
    }
    assert BUCKETS["output"] in results


def test_the_stage_is_throttled_by_parameters(template: Template) -> None:
    # The checkov skip of CKV_AWS_115 (no reserved concurrency) rests on this overall limit.
    api = template.properties("Api")
    (everything,) = api["MethodSettings"]
    assert (everything["HttpMethod"], everything["ResourcePath"]) == ("*", "/*")
    rate, burst = everything["ThrottlingRateLimit"], everything["ThrottlingBurstLimit"]
    assert 0 < float(rate) <= 1000 and 0 < int(burst) <= 5000


def test_the_stages_own_429_is_in_both_dialects_shapes(template: Template) -> None:
    throttled = template.properties("Api")["GatewayResponses"]["THROTTLED"]
    assert throttled["StatusCode"] == "429"
    assert throttled["ResponseParameters"]["Headers"]["Retry-After"] == "'1'"
    body = json.loads(throttled["ResponseTemplates"]["application/json"])
    assert body["error"]["code"] == 1003 and body["errors"][0]["code"] == "rate_limit_exceeded"
