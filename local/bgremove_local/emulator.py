"""An embedded AWS on loopback: moto in server mode, with the stack of template.yaml created in it."""

from __future__ import annotations

import json
import logging
import os
import re
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from bgremove_local import notifications
from bgremove_local.template import ACCOUNT_ID, REGION, Template, TemplateError

SUBSCRIBER_QUEUE = "bgremove-local-subscriber"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": REGION}


@dataclass
class FunctionSpec:
    """What the runner must know to behave like Lambda for the processing function."""

    logical_id: str
    handler: str
    code_dir: Path
    timeout_s: int
    memory_mb: int
    environment: dict[str, str]
    queue_arn: str
    batch_size: int
    report_batch_item_failures: bool
    schedules_s: list[float] = field(default_factory=list)
    """The periods of the function's ``Schedule`` events (EventBridge ``rate(...)``), in seconds."""


@dataclass
class LocalStack:
    """Names of everything created, as a user or test needs them."""

    endpoint: str
    input_bucket: str
    output_bucket: str
    queue_url: str
    dead_letter_queue_url: str
    topic_arn: str
    subscriber_queue_url: str
    table: str
    function: FunctionSpec
    max_receive_count: int
    functions: list[FunctionSpec] = field(default_factory=list)
    """Every function with an SQS event source (``function``, the processor, first), each with its poller."""
    queue_urls: dict[str, str] = field(default_factory=dict)
    """Every queue's URL by its logical id in the template."""


class LocalCloud:
    """Start moto on ``host:port`` (0 = any free port) and create the template's resources in it.

    Parameters
    ----------
    template_path
        The SAM template to mirror.
    overrides
        Template parameter values (e.g. ``{"OutputPrefix": "results/"}``).
    """

    def __init__(
        self,
        template_path: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        overrides: Mapping[str, str] | None = None,
    ) -> None:
        self._template_path = template_path
        self._overrides = dict(overrides or {})
        self._server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
        self.endpoint = ""
        self.stack: LocalStack | None = None
        self._notifying = False

    def __enter__(self) -> LocalCloud:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def client(self, service: str) -> Any:
        return boto3.client(  # type: ignore[call-overload]
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )

    def start(self) -> LocalStack:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per HTTP request otherwise
        notifications.install()  # S3's sequencer (and versionId) in every event notification
        self._notifying = True
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        # moto keeps its state per process, not per server: start from an empty account every time, or a
        # second emulator in the same process (tests) would find the first one's table, objects and queues.
        reset = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(reset, timeout=30):
            pass
        template = Template(self._template_path, self.endpoint, self._overrides)
        self.stack = self._create(template)
        return self.stack

    def stop(self) -> None:
        self._server.stop()
        if self._notifying:
            self._notifying = False
            notifications.uninstall()

    def function_environment(self) -> dict[str, str]:
        """Environment the handler runs with: the template's variables, pointed at the emulator."""
        assert self.stack is not None, "start() first"
        return {
            **self.stack.function.environment,
            **CREDENTIALS,
            "AWS_ENDPOINT_URL": self.endpoint,
            "POWERTOOLS_TRACE_DISABLED": "1",
            # /opt/models exists only in Lambda; the engine falls back to the repository's models/ folder.
            "BGREMOVE_MODELS_DIR": os.environ.get("BGREMOVE_MODELS_DIR", ""),
        }

    # --- creation ---------------------------------------------------------------------------------------
    def _create(self, template: Template) -> LocalStack:
        sqs, sns, s3, dynamodb = (self.client(s) for s in ("sqs", "sns", "s3", "dynamodb"))
        queues = template.of_type("AWS::SQS::Queue")
        # Dead-letter queues first: the others' redrive policies point at them.
        queues.sort(key=lambda lid: "RedrivePolicy" in template.properties(lid))
        queue_urls: dict[str, str] = {}
        max_receive = 0
        for logical_id in queues:
            props = template.properties(logical_id)
            attributes: dict[str, str] = {
                key: str(props[key])
                for key in (
                    "VisibilityTimeout",
                    "MessageRetentionPeriod",
                    "DelaySeconds",
                    "ReceiveMessageWaitTimeSeconds",
                )
                if key in props
            }
            if "RedrivePolicy" in props:
                policy = props["RedrivePolicy"]
                max_receive = int(policy["maxReceiveCount"])
                attributes["RedrivePolicy"] = json.dumps(
                    {
                        "deadLetterTargetArn": policy["deadLetterTargetArn"],
                        "maxReceiveCount": str(max_receive),
                    }
                )
            name = template.physical_name(logical_id)
            queue_urls[logical_id] = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]

        topics = {
            lid: sns.create_topic(Name=template.physical_name(lid))["TopicArn"]
            for lid in template.of_type("AWS::SNS::Topic")
        }

        for logical_id in template.of_type("AWS::DynamoDB::Table"):
            props = template.properties(logical_id)
            name = template.physical_name(logical_id)
            dynamodb.create_table(
                TableName=name,
                KeySchema=props["KeySchema"],
                AttributeDefinitions=props["AttributeDefinitions"],
                BillingMode=props.get("BillingMode", "PAY_PER_REQUEST"),
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

        buckets = {lid: template.physical_name(lid) for lid in template.of_type("AWS::S3::Bucket")}
        for logical_id, name in buckets.items():
            s3.create_bucket(Bucket=name)
            props = template.properties(logical_id)
            if props.get("VersioningConfiguration", {}).get("Status") == "Enabled":
                s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
            queue_configs = props.get("NotificationConfiguration", {}).get("QueueConfigurations", [])
            if queue_configs:
                s3.put_bucket_notification_configuration(
                    Bucket=name,
                    NotificationConfiguration={
                        "QueueConfigurations": [
                            {
                                "QueueArn": c["Queue"],
                                "Events": [c["Event"]],
                                **({"Filter": c["Filter"]} if "Filter" in c else {}),
                            }
                            for c in queue_configs
                        ]
                    },
                )

        functions = self._functions(template)
        # The processor: the function on the queue the input bucket notifies.
        notified_queues = {
            str(c["Queue"])
            for lid in buckets
            for c in template.properties(lid)
            .get("NotificationConfiguration", {})
            .get("QueueConfigurations", [])
        }
        processors = [f for f in functions if f.queue_arn in notified_queues]
        if len(processors) != 1:
            raise RuntimeError(f"expected one function on the notified queue, found {processors}")
        function = processors[0]
        functions = [function, *(f for f in functions if f is not function)]
        processing_queue = next(
            lid for lid in queues if template.resolve({"Fn::GetAtt": [lid, "Arn"]}) == function.queue_arn
        )
        processing_policy = template.properties(processing_queue).get("RedrivePolicy", {})
        max_receive = int(processing_policy.get("maxReceiveCount", max_receive))
        self._subscribe(template, sns)
        subscriber_url = sqs.create_queue(QueueName=SUBSCRIBER_QUEUE)["QueueUrl"]
        topic_arn = function.environment["COMPLETION_TOPIC_ARN"]
        sns.subscribe(
            TopicArn=topic_arn,
            Protocol="sqs",
            Endpoint=f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{SUBSCRIBER_QUEUE}",
        )
        queue_name = function.queue_arn.rsplit(":", 1)[1]
        dlq_arn = processing_policy.get("deadLetterTargetArn")
        dlq_ids = [
            lid
            for lid in queues
            if "RedrivePolicy" not in template.properties(lid)
            and (dlq_arn is None or template.resolve({"Fn::GetAtt": [lid, "Arn"]}) == dlq_arn)
        ]
        notified = [lid for lid in buckets if template.properties(lid).get("NotificationConfiguration")]
        if not notified or not dlq_ids or not topics:
            raise RuntimeError("template.yaml lacks a notifying input bucket, a dead-letter queue or a topic")
        return LocalStack(
            endpoint=self.endpoint,
            input_bucket=buckets[notified[0]],
            output_bucket=function.environment["OUTPUT_BUCKET"],
            queue_url=f"{self.endpoint}/{ACCOUNT_ID}/{queue_name}",
            dead_letter_queue_url=queue_urls[dlq_ids[0]],
            topic_arn=topic_arn,
            subscriber_queue_url=subscriber_url,
            table=function.environment.get("IDEMPOTENCY_TABLE", ""),
            function=function,
            max_receive_count=max_receive,
            functions=functions,
            queue_urls=queue_urls,
        )

    def _subscribe(self, template: Template, sns: Any) -> None:
        """The template's SNS subscriptions, filter policies included (moto applies them, body scope too)."""
        for logical_id in template.of_type("AWS::SNS::Subscription"):
            props = template.properties(logical_id)
            attributes: dict[str, str] = {}
            for name in ("RawMessageDelivery", "FilterPolicy", "FilterPolicyScope"):
                value = props.get(name)
                if isinstance(value, bool):
                    attributes[name] = str(value).lower()
                elif isinstance(value, dict):
                    attributes[name] = json.dumps(value)
                elif value is not None:
                    attributes[name] = str(value)
            sns.subscribe(
                TopicArn=str(props["TopicArn"]),
                Protocol=str(props["Protocol"]),
                Endpoint=str(props["Endpoint"]),
                Attributes=attributes,
            )

    def _functions(self, template: Template) -> list[FunctionSpec]:
        """Every function with an SQS event source, in template order (the API function has none)."""
        return [
            self._function(template, lid)
            for lid in template.of_type("AWS::Serverless::Function")
            if any(e.get("Type") == "SQS" for e in template.properties(lid).get("Events", {}).values())
        ]

    def _function(self, template: Template, logical_id: str) -> FunctionSpec:
        props = template.properties(logical_id)
        globals_function = template.resolve(template.document.get("Globals", {}).get("Function", {}))
        merged = {**globals_function, **props}
        environment = {
            **globals_function.get("Environment", {}).get("Variables", {}),
            **props.get("Environment", {}).get("Variables", {}),
        }
        sqs_events = [e["Properties"] for e in merged.get("Events", {}).values() if e.get("Type") == "SQS"]
        if not sqs_events:
            raise RuntimeError(f"{logical_id} has no SQS event source")
        event = sqs_events[0]
        return FunctionSpec(
            logical_id=logical_id,
            handler=str(merged["Handler"]),
            code_dir=(self._template_path.parent / str(merged["CodeUri"])).resolve(),
            timeout_s=int(merged.get("Timeout", 3)),
            memory_mb=int(merged.get("MemorySize", 128)),
            environment={k: str(v) for k, v in environment.items()},
            queue_arn=str(event["Queue"]),
            batch_size=int(event.get("BatchSize", 10)),
            report_batch_item_failures="ReportBatchItemFailures" in event.get("FunctionResponseTypes", []),
            schedules_s=[
                rate_seconds(str(e["Properties"]["Schedule"]))
                for e in merged.get("Events", {}).values()
                if e.get("Type") == "Schedule"
                and e.get("Properties", {}).get("Enabled", True) is not False
                and e.get("Properties", {}).get("State", "ENABLED") != "DISABLED"
            ],
        )


_RATE = re.compile(r"rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)")
_UNIT_S = {"minute": 60, "hour": 3600, "day": 86_400}


def rate_seconds(expression: str) -> float:
    """The period of an EventBridge ``rate(N unit)`` schedule; ``cron(...)`` is not emulated.

    Raises
    ------
    TemplateError
        Not a rate expression.
    """
    match = _RATE.fullmatch(expression.strip())
    if match is None:
        raise TemplateError(f"schedule {expression!r}: only rate(N minutes|hours|days) is emulated")
    return int(match.group(1)) * _UNIT_S[match.group(2).rstrip("s")]
