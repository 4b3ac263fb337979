"""Helpers of the deployment checks in tests/deploy: constants, subprocess runs, the packaged output.

Kept apart from conftest.py so that test modules import them under a name no other test folder uses.
"""

import json
import os
import shlex
import shutil
import subprocess
import uuid
import venv
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from itertools import count
from pathlib import Path

import boto3
import pytest

REPO = Path(__file__).resolve().parents[2]
RUNNER = Path(__file__).with_name("lambda_runner.py")
SERVICE = "triggers-api"
REGION = "us-east-1"
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
CURSOR_SECRET = "5f0c3c5e1d6b4a8e9f7a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f70"  # a test value, never deployed
# What staging and prod must be given (TRIGGERS_CORS_ORIGINS): they have no default.
CORS_ORIGINS = "https://app.example.com,https://admin.example.com"
CHECKOV_VERSION = "3.3.30"  # as in requirements-checkov.txt; it pins boto3==1.35.49, hence a virtualenv of its own
# What the Lambda runtime provides next to the function's code: boto3, botocore (noDeploy) and their dependencies.
SERVERLESS = ("npx", "--no", "--", "serverless")  # the project's osls, never a download
RUNTIME_PACKAGES = ("boto3", "botocore", "jmespath", "dateutil", "s3transfer", "urllib3", "six")


def base_environment() -> dict:
    """This machine's environment without anything AWS- or application-specific (another fixture may set some)."""
    dropped_prefixes = ("AWS_", "DYNAMODB_", "TRIGGERS_")
    dropped = {"STAGE", "AUTH_MODE", "CURSOR_SECRET", "CURSOR_SECRET_PARAMETER", "SSM_ENDPOINT_URL", "DEV_API_KEY"}
    dropped |= {"LOG_LEVEL", "CORS_ORIGINS", "PYTHONPATH"}
    return {k: v for k, v in os.environ.items() if not k.startswith(dropped_prefixes) and k not in dropped}


def run(command, *, cwd=REPO, env=None, timeout=600) -> subprocess.CompletedProcess:
    """Run a command to completion; if it fails, fail the test with the end of its output."""
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        output = (result.stdout + "\n" + result.stderr)[-6000:]
        pytest.fail(f"{' '.join(map(str, command))} exited with {result.returncode}:\n{output}", pytrace=False)
    return result


@dataclass
class Package:
    """The output of `serverless package --stage <stage> --package <directory>`."""

    stage: str
    directory: Path
    log: str

    @cached_property
    def update_template(self) -> dict:
        return json.loads((self.directory / "cloudformation-template-update-stack.json").read_text())

    @cached_property
    def create_template(self) -> dict:
        return json.loads((self.directory / "cloudformation-template-create-stack.json").read_text())

    @cached_property
    def state(self) -> dict:
        """serverless-state.json: the service configuration with every variable resolved."""
        return json.loads((self.directory / "serverless-state.json").read_text())

    @property
    def zip_path(self) -> Path:
        return self.directory / f"{SERVICE}.zip"

    @property
    def function(self) -> dict:
        return self.update_template["Resources"]["ApiLambdaFunction"]

    def function_of(self, name: str) -> dict:
        """The Lambda function resource of `functions.<name>` (osls names it <Name>LambdaFunction)."""
        return self.update_template["Resources"][f"{name[0].upper()}{name[1:]}LambdaFunction"]

    def resources(self, resource_type: str) -> dict:
        return {k: v for k, v in self.update_template["Resources"].items() if v["Type"] == resource_type}

    def hook(self, event: str) -> str:
        """The shell command of a serverless-plugin-scripts hook, variables resolved for this stage.

        The plugin runs it with /bin/sh in serverless's working directory, the repository root: run it the same way.
        """
        return self.state["service"]["custom"]["scripts"]["hooks"][event]

    def hook_argv(self, event: str) -> list[str]:
        """The hook's command split as /bin/sh splits it: the program, the script under scripts/, its arguments."""
        return shlex.split(self.hook(event))


def unpack(zip_path: Path, directory: Path) -> Path:
    """Extract a zip into a new, empty folder, as Lambda does into /var/task."""
    directory.mkdir(parents=True)
    assert not any(directory.iterdir())
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(directory)
    return directory


def aws_client(service: str, endpoint: str):
    return boto3.client(  # type: ignore[call-overload]
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def put_cursor_secret(endpoint: str, name: str) -> None:
    """Create the stage's cursor secret as docs/deploy.md says (`aws ssm put-parameter --type SecureString`)."""
    aws_client("ssm", endpoint).put_parameter(Name=name, Value=CURSOR_SECRET, Type="SecureString", Overwrite=True)


def handler_environment(variables: dict, endpoint: str) -> dict:
    """What the function sees: its configured variables, plus what Lambda (or the local stage) adds: here the moto
    server, which serves DynamoDB, SQS and SSM on one endpoint."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "AWS_CONFIG_FILE": os.devnull,  # no profile of this machine may leak in
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        **variables,
        **FAKE_CREDENTIALS,
        "AWS_REGION": REGION,  # Lambda sets it; the function's configuration must not
        "AWS_DEFAULT_REGION": REGION,
        "DYNAMODB_ENDPOINT_URL": endpoint,
        "SQS_ENDPOINT_URL": endpoint,
        "SSM_ENDPOINT_URL": endpoint,
    }


def create_tables_from_template(dynamodb, template: dict, names: dict[str, str]) -> None:
    """Create {logical id: table name} on an endpoint from the packaged template's own table properties."""
    fields = ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode")
    for logical_id, name in names.items():
        properties = template["Resources"][logical_id]["Properties"]
        options = {f: properties[f] for f in fields if f in properties}
        if "StreamSpecification" in properties:  # CloudFormation implies StreamEnabled; the API wants it said
            options["StreamSpecification"] = {"StreamEnabled": True, **properties["StreamSpecification"]}
        dynamodb.create_table(TableName=name, **options)
        if "TimeToLiveSpecification" in properties:
            dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=properties["TimeToLiveSpecification"])


def create_queues_from_template(sqs, template: dict, names: dict[str, str]) -> dict[str, str]:
    """Create {logical id: queue name} from the packaged template's queue properties, dead-letter queues first (a
    redrive policy names its queue by `Fn::GetAtt`); {logical id: queue URL}."""
    urls: dict[str, str] = {}
    pending = dict(names)
    for _ in range(len(names)):  # one queue at least each round, or a redrive target is missing
        for logical_id, name in list(pending.items()):
            properties = template["Resources"][logical_id]["Properties"]
            attributes = {
                key: json.dumps(value) if isinstance(value, bool) else str(value)
                for key, value in properties.items()
                if key in ("VisibilityTimeout", "MessageRetentionPeriod", "SqsManagedSseEnabled")
            }
            redrive = properties.get("RedrivePolicy")
            if redrive:
                target = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
                if target not in urls:  # its dead-letter queue first
                    continue
                arn = sqs.get_queue_attributes(QueueUrl=urls[target], AttributeNames=["QueueArn"])["Attributes"]
                attributes["RedrivePolicy"] = json.dumps(
                    {"deadLetterTargetArn": arn["QueueArn"], "maxReceiveCount": redrive["maxReceiveCount"]}
                )
            urls[logical_id] = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
            del pending[logical_id]
    assert not pending, f"no dead-letter queue among the queues to create for {sorted(pending)}"
    return urls


def dynamodb_permissions(call: dict) -> list[tuple[str, str, str | None]]:
    """(IAM action, table, index) for each authorisation a DynamoDB call recorded by lambda_runner.py needs: a
    transaction needs its items' own actions, a batch its action on each of its tables."""
    if call["items"]:
        kinds = {
            "Put": "PutItem",
            "Update": "UpdateItem",
            "Delete": "DeleteItem",
            "ConditionCheck": "ConditionCheckItem",
        }
        return [(f"dynamodb:{kinds[kind]}", table, None) for kind, table in call["items"]]
    if call["tables"]:
        return [(f"dynamodb:{call['operation']}", table, None) for table in call["tables"]]
    return [(f"dynamodb:{call['operation']}", call["table"], call["index"])]


class EventsStream:
    """A table's DynamoDB stream, read from now on: `batch()` is what Lambda would hand the stream function next,
    every record written since the last call, in the shape of a DynamoDB Streams event's records."""

    def __init__(self, endpoint: str, table: str):
        self.client = aws_client("dynamodbstreams", endpoint)
        self.arn = aws_client("dynamodb", endpoint).describe_table(TableName=table)["Table"]["LatestStreamArn"]
        shards = self.client.describe_stream(StreamArn=self.arn)["StreamDescription"]["Shards"]
        self.iterators = [
            self.client.get_shard_iterator(StreamArn=self.arn, ShardId=shard["ShardId"], ShardIteratorType="LATEST")[
                "ShardIterator"
            ]
            for shard in shards
        ]

    def batch(self) -> list[dict]:
        records = []
        for index, iterator in enumerate(self.iterators):
            response = self.client.get_records(ShardIterator=iterator)
            for record in response["Records"]:
                change = dict(record["dynamodb"])
                change["ApproximateCreationDateTime"] = change["ApproximateCreationDateTime"].timestamp()
                records.append({**record, "dynamodb": change, "eventSourceARN": self.arn})
            self.iterators[index] = response["NextShardIterator"]
        return records


class TableChanges:
    """Stands in for a NEW_IMAGE stream that moto empties itself (see test_deploy_rehearsal): the records such a
    stream would hold for what changed in the table since the last call, found by comparing two scans (INSERT and
    MODIFY with the new image, REMOVE with the keys), in the shape of a DynamoDB Streams event's records."""

    def __init__(self, endpoint: str, table: str, key: tuple[str, ...]):
        self.dynamodb = aws_client("dynamodb", endpoint)
        self.table, self.key = table, key
        self.real = EventsStream(endpoint, table)
        self.sequence = count(1)
        self.seen = self.scan()

    def scan(self) -> dict[str, dict]:
        items = self.dynamodb.scan(TableName=self.table, ConsistentRead=True)["Items"]
        return {json.dumps([item[k] for k in self.key]): item for item in items}

    def record(self, name: str, item: dict, image: bool) -> dict:
        change: dict[str, object] = {"Keys": {k: item[k] for k in self.key}}
        change["SequenceNumber"] = f"{next(self.sequence):021d}"
        if image:
            change["NewImage"] = item
        change.update({"SizeBytes": len(json.dumps(item)), "StreamViewType": "NEW_IMAGE"})
        return {
            "eventID": uuid.uuid4().hex,
            "eventName": name,
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": REGION,
            "dynamodb": change,
            "eventSourceARN": self.real.arn,
        }

    def batch(self) -> list[dict]:
        assert self.real.batch() == [], "moto keeps this stream's records now: feed those (EventsStream) instead"
        now = self.scan()
        records = [self.record("INSERT", item, True) for key, item in now.items() if key not in self.seen]
        records += [self.record("MODIFY", i, True) for k, i in now.items() if k in self.seen and self.seen[k] != i]
        records += [self.record("REMOVE", item, False) for key, item in self.seen.items() if key not in now]
        self.seen = now
        return records


class QueueFeed:
    """An SQS queue read as Lambda's poller reads it for the function: `batch()` takes the waiting messages and
    returns them as an SQS event; `done()` deletes them, as Lambda does when the function reports no failure."""

    def __init__(self, endpoint: str, queue_name: str):
        self.sqs = aws_client("sqs", endpoint)
        self.url = self.sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
        self.arn = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        self.taken: list[dict] = []

    def batch(self) -> dict:
        self.taken = self.sqs.receive_message(
            QueueUrl=self.url, MaxNumberOfMessages=10, AttributeNames=["All"], MessageAttributeNames=["All"]
        ).get("Messages", [])
        return {
            "Records": [
                {
                    "messageId": message["MessageId"],
                    "receiptHandle": message["ReceiptHandle"],
                    "body": message["Body"],
                    "attributes": message["Attributes"],
                    "messageAttributes": message.get("MessageAttributes", {}),
                    "md5OfBody": message["MD5OfBody"],
                    "eventSource": "aws:sqs",
                    "eventSourceARN": self.arn,
                    "awsRegion": REGION,
                }
                for message in self.taken
            ]
        }

    def done(self) -> None:
        for message in self.taken:
            self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
        self.taken = []


def subscription_journey(run: Callable[..., dict], stream, queue: QueueFeed) -> tuple[str, list[dict]]:
    """One subscription and one event through the three functions, each step as AWS would trigger it:

    the API creates a subscription (max_deliveries 1) and an event; the fan-out gets the event's INSERT record and
    writes the delivery; the API leases it, releases it (nack), finds it dead at the next receive, lists the dead
    letters and starts a `redrive all` job; the jobs function gets the job's message and redrives the delivery; the
    API shows the job succeeded, leases the delivery again, acknowledges it, deletes the event and the subscription;
    the fan-out gets the REMOVE record and removes the event's deliveries.

    `run(scenario, **request)` invokes the unpacked zip (lambda_runner.py); `stream.batch()` gives the events
    table's new stream records; `queue` is the jobs queue. Returns the event's id and every invocation's outcome
    (each with the DynamoDB and SQS calls it made)."""
    outcomes: list[dict] = []

    def api(*requests) -> list[dict]:
        outcome = run("requests", requests=[{"method": m, "path": p, "body": b} for m, p, b in requests])
        outcomes.append(outcome)
        return outcome["requests"]

    def handle(handler: str, event: dict) -> None:
        outcome = run("event", handler=handler, event=event)
        outcomes.append(outcome)
        assert outcome["handler_result"] == {"batchItemFailures": []}, outcome["log"][-3000:]

    def statuses(answers: list[dict]) -> list[int]:
        return [answer["status"] for answer in answers]

    event = {"source": "billing", "event_type": "invoice.paid", "payload": {"invoice_id": "inv_journey"}}
    created = api(
        ("POST", "/v1/subscriptions", {"name": "deploy journey", "max_deliveries": 1}), ("POST", "/v1/events", event)
    )
    assert statuses(created) == [201, 201], created
    subscription_id, event_id = created[0]["body"]["subscription_id"], created[1]["body"]["event_id"]
    path = f"/v1/subscriptions/{subscription_id}"

    inserted = stream.batch()
    assert [(r["eventName"], r["dynamodb"]["NewImage"]["event_id"]["S"]) for r in inserted] == [("INSERT", event_id)]
    handle("handlers.fanout_handler", {"Records": inserted})

    (leased,) = api(("POST", f"{path}/receive", {"visibility_timeout": 30}))
    assert leased["status"] == 200, leased
    (delivery,) = leased["body"]["deliveries"]
    assert (delivery["event"]["event_id"], delivery["delivery_count"]) == (event_id, 1)

    released, buried, dead, started = api(
        ("POST", f"{path}/nack", {"items": [{"lease_token": delivery["lease_token"]}]}),
        ("POST", f"{path}/receive", {}),
        ("GET", f"{path}/dead-letters", None),
        ("POST", f"{path}/redrive", {"all": True}),
    )
    assert statuses([released, buried, dead, started]) == [200, 200, 200, 202], [released, buried, dead, started]
    assert [r["outcome"] for r in released["body"]["results"]] == ["released"]
    assert buried["body"]["deliveries"] == []  # received max_deliveries times: dead, not leased
    assert [d["event_id"] for d in dead["body"]["dead_letters"]] == [event_id]
    job_id = started["body"]["job_id"]

    messages = queue.batch()
    assert [json.loads(r["body"])["job_id"] for r in messages["Records"]] == [job_id]
    handle("handlers.jobs_handler", messages)
    queue.done()

    job, again = api(("GET", f"/v1/jobs/{job_id}", None), ("POST", f"{path}/receive", {}))
    assert statuses([job, again]) == [200, 200], [job, again]
    assert (job["body"]["state"], job["body"]["processed"], job["body"]["errors"]) == ("succeeded", 1, [])
    (redriven,) = again["body"]["deliveries"]
    assert (redriven["event"]["event_id"], redriven["delivery_count"]) == (event_id, 1)

    acked, deleted, unsubscribed = api(
        ("POST", f"{path}/ack", {"lease_tokens": [redriven["lease_token"]]}),
        ("DELETE", f"/v1/events/{event_id}", None),
        ("DELETE", path, None),
    )
    assert statuses([acked, deleted, unsubscribed]) == [200, 200, 200], [acked, deleted, unsubscribed]
    assert [r["outcome"] for r in acked["body"]["results"]] == ["acknowledged"]

    removed = stream.batch()
    assert [(r["eventName"], r["dynamodb"]["Keys"]["pk"]["S"].endswith(event_id)) for r in removed] == [
        ("REMOVE", True)
    ]
    handle("handlers.fanout_handler", {"Records": removed})
    return event_id, outcomes


def checkov_executable(cache_root: Path) -> str:
    """checkov from $CHECKOV, else from PATH (`make test` puts .venv-checkov/bin there), else from a virtualenv of
    its own made once under `cache_root` from requirements-checkov.txt."""
    configured = os.environ.get("CHECKOV") or shutil.which("checkov")
    if configured:
        return configured
    pins = REPO / "requirements-checkov.txt"
    requirements = ["-r", str(pins)] if pins.exists() else [f"checkov=={CHECKOV_VERSION}"]
    home = cache_root / f"checkov-{CHECKOV_VERSION}"
    executable = home / "bin" / "checkov"
    if not executable.exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(home)
        run([str(home / "bin" / "python"), "-m", "pip", "install", "--quiet", *requirements])
    return str(executable)


def strings_in(value):
    """Every string inside a JSON value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)


def assert_lifecycle(requests: list[dict]) -> None:
    """The answers lambda_runner's lifecycle scenario must get, in order."""
    steps = [(r["method"], r["path"].replace(requests[2]["body"]["event_id"], "{id}"), r["status"]) for r in requests]
    assert steps == [
        ("GET", "/v1/health", 200),
        ("GET", "/v1/health/ready", 200),
        ("POST", "/v1/events", 201),
        ("GET", "/v1/events/{id}", 200),
        ("GET", "/v1/inbox", 200),
        *[("GET", "/v1/events", 200)] * 4,
        ("POST", "/v1/events/{id}/ack", 200),
        ("DELETE", "/v1/events/{id}", 200),
        ("GET", "/v1/events/{id}", 404),
        ("GET", "/v1/inbox", 401),
    ], requests
    health, ready, created, fetched, inbox, *listings, acked, deleted, gone, unknown_key = requests
    event_id = created["body"]["event_id"]
    assert created["body"]["status"] == "pending"
    assert created["body"]["created_at"] and created["body"]["request_id"]
    assert fetched["body"]["event_id"] == event_id
    assert fetched["body"]["payload"] == {"invoice_id": "inv_rehearsal", "n": 1}
    assert event_id in [event["event_id"] for event in inbox["body"]["events"]]
    assert "next_cursor" in inbox["body"] and inbox["body"]["request_id"]
    for listing in listings:  # unfiltered, by source, by type, by both: the new event matches each
        assert [event["event_id"] for event in listing["body"]["events"]] == [event_id]
    assert acked["body"]["status"] == "acknowledged"
    assert deleted["body"]["deleted"] is True
    for problem in (gone, unknown_key):
        assert problem["headers"]["content-type"].startswith("application/problem+json")
