"""template.yaml's GPU offload: the endpoint resources, the function's settings and its one IAM grant, per
``GpuEndpoint`` (read through the local runner's resolver, as ``make run`` reads it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bgremove_local.template import ACCOUNT_ID, REGION, Template

REPO = Path(__file__).resolve().parents[3]
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


TRITON_IMAGE = f"763104351884.dkr.ecr.{REGION}.amazonaws.com/sagemaker-tritonserver:24.09-py3"


def _pull_statement(template: Template) -> dict[str, Any]:
    role = template.properties("GpuModelRole")["Policies"][0]["PolicyDocument"]["Statement"]
    return next(s for s in role if s["Sid"] == "PullImage")


def test_create_runs_aws_triton_image_on_the_model_repository_with_autoscaling_and_alarms() -> None:
    template = _template(GpuEndpoint="create", GpuModelDataUrl="s3://my-models/bgremove/model.tar.gz")
    resources = _gpu_resources(template)
    assert len(resources) == len(GPU_TYPES)
    # the grant names the created endpoint (its Ref is its ARN), nothing wider
    raw = template.resources["ProcessorFunction"]["Properties"]["Policies"]
    condition = next(p["Fn::If"] for p in raw if isinstance(p, dict) and "Fn::If" in p)
    resource = condition[1]["Statement"][0]["Resource"]["Fn::If"]
    assert resource[0] == "CreateGpuEndpoint" and resource[1] == {"Ref": "GpuEndpointResource"}
    assert template.resources["GpuEndpointResource"]["Type"] == "AWS::SageMaker::Endpoint"

    model = template.properties("GpuModel")
    container = model["PrimaryContainer"]
    assert container["Image"] == TRITON_IMAGE, "AWS's Triton image for the region: nothing to build"
    assert container["ModelDataUrl"] == "s3://my-models/bgremove/model.tar.gz"
    assert (
        container["Environment"]["SAGEMAKER_TRITON_DEFAULT_MODEL_NAME"] == template.parameters["DefaultModel"]
    )
    assert model["EnableNetworkIsolation"] is True
    assert _pull_statement(template)["Resource"] == (
        f"arn:aws:ecr:{REGION}:763104351884:repository/sagemaker-tritonserver"
    )
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


def test_the_default_model_names_the_repository_model_to_serve() -> None:
    template = _template(GpuEndpoint="create", GpuModelDataUrl="s3://b/k.tar.gz", DefaultModel="u2netp")
    environment = template.properties("GpuModel")["PrimaryContainer"]["Environment"]
    assert environment["SAGEMAKER_TRITON_DEFAULT_MODEL_NAME"] == "u2netp"


def test_your_own_image_replaces_aws_triton_image() -> None:
    own = f"{ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com/my-triton:25.01@sha256:{'a' * 64}"
    template = _template(GpuEndpoint="create", GpuImageUri=own, GpuModelDataUrl="s3://b/k.tar.gz")
    assert template.properties("GpuModel")["PrimaryContainer"]["Image"] == own
    assert _pull_statement(template)["Resource"] == f"arn:aws:ecr:{REGION}:{ACCOUNT_ID}:repository/*"


def test_every_mapped_region_has_a_registry_account() -> None:
    mapping = _template().document["Mappings"]["TritonImage"]
    assert {"us-east-1", "us-west-2", "eu-west-1", "ap-northeast-1", "cn-north-1"} <= set(mapping)
    assert all(len(entry["Registry"]) == 12 and entry["Registry"].isdigit() for entry in mapping.values())


@pytest.mark.parametrize("value", ["none", "create", "existing"])
def test_every_choice_resolves_for_the_local_runner(value: str) -> None:
    template = _template(GpuEndpoint=value, GpuEndpointName="x")
    assert template.conditions["UseGpuEndpoint"] is (value != "none")
    assert _function(template)["Handler"] == "processor.handler.lambda_handler"
