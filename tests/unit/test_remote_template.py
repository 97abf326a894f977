"""template.yaml's GPU offload: the endpoint resources, the function's settings and its one IAM grant, per
``GpuEndpoint`` (read through the local runner's resolver, as ``make run`` reads it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bgremove_local.template import ACCOUNT_ID, REGION, Template

REPO = Path(__file__).resolve().parents[2]
GPU_TYPES = {
    "AWS::SageMaker::Model",
    "AWS::SageMaker::EndpointConfig",
    "AWS::SageMaker::Endpoint",
    "AWS::ApplicationAutoScaling::ScalableTarget",
    "AWS::ApplicationAutoScaling::ScalingPolicy",
}


def _template(**overrides: str) -> Template:
    return Template(REPO / "template.yaml", "http://127.0.0.1:1", overrides)


def _function(template: Template) -> dict[str, Any]:
    return template.properties("ProcessorFunction")


def _invoke_statements(template: Template) -> list[dict[str, Any]]:
    return [
        statement
        for policy in _function(template)["Policies"]
        if isinstance(policy, dict)
        for statement in policy["Statement"]
        if "sagemaker:InvokeEndpoint" in str(statement["Action"])
    ]


def _gpu_resources(template: Template) -> set[str]:
    return {lid for kind in GPU_TYPES for lid in template.of_type(kind)}


def test_no_endpoint_by_default_no_grant_no_resources() -> None:
    template = _template()
    assert template.parameters["GpuEndpoint"] == "none"
    assert _invoke_statements(template) == []
    assert _gpu_resources(template) == set()
    variables = _function(template)["Environment"]["Variables"]
    assert variables["SAGEMAKER_ENDPOINT_NAME"] == ""
    assert variables["INFERENCE_FALLBACK"] == "off"


def test_an_existing_endpoint_is_granted_by_its_arn_only() -> None:
    template = _template(GpuEndpoint="existing", GpuEndpointName="my-gpu", InferenceFallback="on")
    (statement,) = _invoke_statements(template)
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "sagemaker:InvokeEndpoint"
    assert statement["Resource"] == f"arn:aws:sagemaker:{REGION}:{ACCOUNT_ID}:endpoint/my-gpu"
    assert _gpu_resources(template) == set()
    variables = _function(template)["Environment"]["Variables"]
    assert variables["SAGEMAKER_ENDPOINT_NAME"] == "my-gpu"
    assert variables["INFERENCE_FALLBACK"] == "on"


def test_create_builds_the_endpoint_with_autoscaling_and_alarms() -> None:
    template = _template(
        GpuEndpoint="create",
        GpuImageUri=f"{ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com/bgremove-inference:abc123",
        GpuModelDataUrl="s3://my-models/bgremove/model.tar.gz",
    )
    resources = _gpu_resources(template)
    assert len(resources) == len(GPU_TYPES)
    # the grant names the created endpoint (its Ref is its ARN), nothing wider
    raw = template.resources["ProcessorFunction"]["Properties"]["Policies"]
    condition = next(p["Fn::If"] for p in raw if isinstance(p, dict) and "Fn::If" in p)
    resource = condition[1]["Statement"][0]["Resource"]["Fn::If"]
    assert resource[0] == "CreateGpuEndpoint" and resource[1] == {"Ref": "GpuEndpointResource"}
    assert template.resources["GpuEndpointResource"]["Type"] == "AWS::SageMaker::Endpoint"

    model = template.properties("GpuModel")
    assert model["PrimaryContainer"]["Image"].endswith("bgremove-inference:abc123")
    assert model["PrimaryContainer"]["Environment"]["INFERENCE_DEVICE"] == "cuda"
    assert model["EnableNetworkIsolation"] is True
    role = template.properties("GpuModelRole")["Policies"][0]["PolicyDocument"]["Statement"]
    read = next(s for s in role if s["Sid"] == "ReadModelData")
    assert read["Resource"] == "arn:aws:s3:::my-models/bgremove/model.tar.gz"
    variant = template.properties("GpuEndpointConfig")["ProductionVariants"][0]
    assert variant["InstanceType"] == "ml.g6.xlarge"
    policy = template.properties("GpuScalingPolicy")["TargetTrackingScalingPolicyConfiguration"]
    assert (
        policy["PredefinedMetricSpecification"]["PredefinedMetricType"]
        == "SageMakerVariantInvocationsPerInstance"
    )
    alarms = {
        lid: template.properties(lid)
        for lid in template.of_type("AWS::CloudWatch::Alarm")
        if lid.startswith("Gpu")
    }
    metrics = {
        a.get("MetricName") or a["Metrics"][0]["MetricStat"]["Metric"]["MetricName"] for a in alarms.values()
    }
    assert metrics == {"Invocation5XXErrors", "ModelLatency"}


@pytest.mark.parametrize("value", ["none", "create", "existing"])
def test_every_choice_resolves_for_the_local_runner(value: str) -> None:
    template = _template(GpuEndpoint=value, GpuEndpointName="x")
    assert template.conditions["UseGpuEndpoint"] is (value != "none")
    assert _function(template)["Handler"] == "processor.handler.lambda_handler"
