"""Read template.yaml and resolve what the local runner needs, so it never keeps a second copy of it.

Only the intrinsic functions the template uses are resolved: Ref, Fn::Sub, Fn::GetAtt, Fn::If, Fn::Join,
Fn::Select, Fn::Split, Fn::FindInMap, Fn::Equals/Not/And/Or in conditions. Physical names follow
CloudFormation's habit of ``<stack>-<LogicalId>`` when the template names none.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cfnlint.decode import cfn_yaml

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
STACK_NAME = "bgremove-local"
_NO_VALUE = object()

# Resource types the runner creates, and the property that names each physically.
NAME_PROPERTY = {
    "AWS::S3::Bucket": "BucketName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::DynamoDB::Table": "TableName",
}


class TemplateError(ValueError):
    """The template uses something the local runner cannot emulate."""


@dataclass
class Template:
    """A resolved view of template.yaml for one local stack.

    Parameters
    ----------
    path
        The SAM template.
    endpoint
        The emulator's URL, used for queue URLs.
    overrides
        Parameter values replacing the template's defaults.
    """

    path: Path
    endpoint: str
    overrides: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.document: dict[str, Any] = cfn_yaml.loads(self.path.read_text(), fname=str(self.path))
        self.resources: dict[str, dict[str, Any]] = self.document.get("Resources", {})
        self.parameters: dict[str, Any] = {}
        for name, spec in self.document.get("Parameters", {}).items():
            value = self.overrides.get(name, spec.get("Default"))
            self.parameters[name] = "" if value is None else value
        self.conditions: dict[str, bool] = {}
        for name in self.document.get("Conditions", {}):
            self.conditions[name] = self._condition(name)

    # --- names ------------------------------------------------------------------------------------------
    def physical_name(self, logical_id: str) -> str:
        resource = self.resources[logical_id]
        prop = NAME_PROPERTY.get(resource["Type"])
        named = resource.get("Properties", {}).get(prop) if prop else None
        if named is not None:
            return str(self.resolve(named))
        base = f"{STACK_NAME}-{logical_id}"
        return base.lower() if resource["Type"] == "AWS::S3::Bucket" else base

    def of_type(self, resource_type: str) -> list[str]:
        return [
            lid for lid, res in self.resources.items() if res["Type"] == resource_type and self._wanted(res)
        ]

    def properties(self, logical_id: str) -> dict[str, Any]:
        resolved = self.resolve(self.resources[logical_id].get("Properties", {}))
        return resolved if isinstance(resolved, dict) else {}

    def _wanted(self, resource: Mapping[str, Any]) -> bool:
        condition = resource.get("Condition")
        return condition is None or self.conditions.get(condition, False)

    # --- intrinsic functions ------------------------------------------------------------------------------
    def ref(self, name: str) -> Any:
        pseudo = {
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::Region": REGION,
            "AWS::StackName": STACK_NAME,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": _NO_VALUE,
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.resources:
            kind = self.resources[name]["Type"]
            physical = self.physical_name(name) if kind in NAME_PROPERTY else name
            if kind == "AWS::SQS::Queue":
                return f"{self.endpoint}/{ACCOUNT_ID}/{physical}"
            if kind == "AWS::SNS::Topic":
                return f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:{physical}"
            return physical
        raise TemplateError(f"Ref to unknown name {name!r}")

    def get_att(self, logical_id: str, attribute: str) -> Any:
        kind = self.resources[logical_id]["Type"]
        physical = self.physical_name(logical_id) if kind in NAME_PROPERTY else logical_id
        arn_prefix = {
            "AWS::SQS::Queue": f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:",
            "AWS::SNS::Topic": f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:",
            "AWS::S3::Bucket": "arn:aws:s3:::",
            "AWS::DynamoDB::Table": f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/",
            "AWS::Serverless::Function": f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:",
        }
        if attribute == "Arn" and kind in arn_prefix:
            return arn_prefix[kind] + physical
        if attribute in {"QueueName", "TopicName", "BucketName"}:
            return physical
        if attribute == "QueueUrl":
            return f"{self.endpoint}/{ACCOUNT_ID}/{physical}"
        return f"{logical_id}.{attribute}"  # attributes the runner never uses stay symbolic

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            items = [self.resolve(item) for item in node]
            return [item for item in items if item is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, value),) = node.items()
            if key == "Ref":
                return self.ref(value)
            if key == "Fn::GetAtt":
                logical, attribute = value if isinstance(value, list) else value.split(".", 1)
                return self.get_att(logical, attribute)
            if key == "Fn::Sub":
                return self._sub(value)
            if key == "Fn::If":
                name, when_true, when_false = value
                return self.resolve(when_true if self.conditions.get(name, False) else when_false)
            if key == "Fn::Join":
                separator, items = value
                return separator.join(str(i) for i in self.resolve(items))
            if key == "Fn::Select":
                index, items = value
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::Split":
                separator, text = value
                return str(self.resolve(text)).split(separator)
            if key == "Fn::FindInMap":
                mapping, top, second = (self.resolve(v) for v in value)
                try:
                    return self.document["Mappings"][mapping][top][second]
                except KeyError:
                    raise TemplateError(f"no {mapping}.{top}.{second} in the template's Mappings") from None
        resolved = {k: self.resolve(v) for k, v in node.items()}
        return {k: v for k, v in resolved.items() if v is not _NO_VALUE}

    def _sub(self, value: Any) -> str:
        text, variables = (value, {}) if isinstance(value, str) else (value[0], value[1])

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(self.resolve(variables[name]))
            if "." in name and name.split(".", 1)[0] in self.resources:
                logical, attribute = name.split(".", 1)
                return str(self.get_att(logical, attribute))
            return str(self.ref(name))

        return re.sub(r"\$\{([^!}][^}]*)\}", replace, text)

    def _condition(self, name: str) -> bool:
        return self._evaluate(self.document["Conditions"][name])

    def _evaluate(self, node: Any) -> bool:
        if isinstance(node, dict) and len(node) == 1:
            ((key, value),) = node.items()
            if key == "Fn::Equals":
                left, right = (self.resolve(v) for v in value)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self._evaluate(value[0])
            if key == "Fn::And":
                return all(self._evaluate(v) for v in value)
            if key == "Fn::Or":
                return any(self._evaluate(v) for v in value)
            if key == "Condition":
                return self._condition(value)
        raise TemplateError(f"unsupported condition {node!r}")
