"""template.yaml's HTTP API resources against the dialects' code: every route the app serves is an API
event and nothing else is, bodies travel as binary, and the function's role reaches only its own objects
and tables (read the input bucket, write results under api-results/, read keys, count requests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from api.app import DOCS_PATH, app
from api.dialects.common import RESULT_KEY_PREFIX
from bgremove_local.template import Template

REPO = Path(__file__).resolve().parents[2]
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
        for path, operations in app.get_openapi_schema().paths.items()
        for method in operations.model_dump(exclude_none=True)
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
    input_objects = f"{template.get_att('InputBucket', 'Arn')}/*"
    results = f"{template.get_att('OutputBucket', 'Arn')}/{RESULT_KEY_PREFIX}*"
    assert grants == {
        input_objects: {"s3:GetObject"},
        results: {"s3:PutObject", "s3:GetObject"},
        str(keys_table): {"dynamodb:GetItem"},
        str(rate_table): {"dynamodb:UpdateItem", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:Query"},
    }
    assert BUCKETS["input"] in input_objects and BUCKETS["output"] in results
