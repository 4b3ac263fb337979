"""The zip alone runs the three functions: unpacked into an empty folder, with Python 3.13, the standard library and
boto3.

lambda_runner.py imports a configured handler in a `python -I -S` process whose path holds the unpacked zip and the
runtime's boto3 only, and sends it API Gateway REST (payload v1) events, DynamoDB Streams batches or SQS batches;
DynamoDB and SQS are a moto server, with tables and queues made from the packaged template's own properties. The
stream records are moto's own, read from the events table's stream; the SQS messages are moto's, read from the jobs
queue.
"""

import json
import shutil
import uuid
from pathlib import Path

import pytest
from deploy_support import (
    EventsStream,
    QueueFeed,
    assert_lifecycle,
    aws_client,
    create_queues_from_template,
    create_tables_from_template,
    dynamodb_permissions,
    handler_environment,
    put_cursor_secret,
    subscription_journey,
)

# environment variable -> table in the template
TABLES = {
    "DYNAMODB_TABLE_EVENTS": "EventsTable",
    "DYNAMODB_TABLE_KEYS": "ApiKeysTable",
    "DYNAMODB_TABLE_RATE_LIMITS": "RateLimitsTable",
    "DYNAMODB_TABLE_SUBSCRIPTIONS": "SubscriptionsTable",
    "DYNAMODB_TABLE_DELIVERIES": "DeliveriesTable",
    "DYNAMODB_TABLE_JOBS": "JobsTable",
    "DYNAMODB_TABLE_AUDIT": "AuditTable",
}
WORKERS = ("handlers.fanout_handler", "handlers.jobs_handler", "handlers.deliver_handler")
DEV_API_KEY = "trg_zip-test-key-0123456789abcdef"


@pytest.fixture(scope="module")
def zip_environment(dev_package, moto_server) -> dict:
    """The dev functions' own variables, with fresh tables and queues in moto and the local (single-key) auth mode."""
    suffix = uuid.uuid4().hex[:8]
    names = {variable: f"zip-{logical_id.lower()}-{suffix}" for variable, logical_id in TABLES.items()}
    template = dev_package.update_template
    create_tables_from_template(aws_client("dynamodb", moto_server), template, {TABLES[v]: n for v, n in names.items()})
    queues = {"JobsQueue": f"zip-jobs-{suffix}", "JobsDeadLetterQueue": f"zip-jobs-dlq-{suffix}"}
    create_queues_from_template(aws_client("sqs", moto_server), template, queues)
    variables = dict(dev_package.function["Properties"]["Environment"]["Variables"])
    for name in ("fanout", "jobs"):  # one environment for the three functions (provider.environment)
        assert dev_package.function_of(name)["Properties"]["Environment"]["Variables"] == variables
    variables.update(names)
    variables.update({"JOBS_QUEUE": queues["JobsQueue"], "AUTH_MODE": "local", "DEV_API_KEY": DEV_API_KEY})
    put_cursor_secret(moto_server, variables["CURSOR_SECRET_PARAMETER"])  # read by the functions at start-up
    return handler_environment(variables, moto_server)


def assert_runs_from(result: dict, task_dir: Path, runtime_dir: Path, handler="handlers.lambda_handler") -> None:
    assert result["python"][:2] == [3, 13]
    assert result["flags"]["isolated"] == 1
    modules = result["modules"]
    for name in (handler, "triggers", "connexion", "awsgi", "yaml", "rpds"):
        assert modules[name] and Path(modules[name]).is_relative_to(task_dir), (name, modules[name])
    for name in ("boto3", "botocore"):
        assert modules[name] and Path(modules[name]).is_relative_to(runtime_dir), (name, modules[name])
    assert not [p for p in result["sys_path"] if "site-packages" in p or "dist-packages" in p]


def test_health_from_the_unpacked_zip(unpacked_dev, runtime_packages, zip_environment, invoke):
    result = invoke(unpacked_dev, zip_environment, "health")
    assert_runs_from(result, unpacked_dev, runtime_packages)
    (health,) = result["requests"]
    assert health["status"] == 200, health
    assert health["body"]["status"] == "ok"
    assert health["headers"]["content-type"].startswith("application/json")


def test_event_lifecycle_from_the_unpacked_zip(unpacked_dev, runtime_packages, zip_environment, invoke):
    result = invoke(unpacked_dev, zip_environment, "lifecycle", api_key=DEV_API_KEY)
    assert_runs_from(result, unpacked_dev, runtime_packages)
    assert_lifecycle(result["requests"])


@pytest.mark.parametrize("handler", WORKERS)
def test_stream_and_queue_functions_from_the_unpacked_zip(
    unpacked_dev, runtime_packages, zip_environment, invoke, handler
):
    result = invoke(unpacked_dev, zip_environment, "event", handler=handler, event={"Records": []})
    assert_runs_from(result, unpacked_dev, runtime_packages, handler)
    assert result["handler_result"] == {"batchItemFailures": []}


def test_a_subscription_through_the_three_functions(unpacked_dev, zip_environment, moto_server, invoke):
    """The API, the fan-out on the events table's stream and the jobs function on the jobs queue, each from the zip."""
    stream = EventsStream(moto_server, zip_environment["DYNAMODB_TABLE_EVENTS"])
    queue = QueueFeed(moto_server, zip_environment["JOBS_QUEUE"])

    def run(scenario: str, **request) -> dict:
        return invoke(unpacked_dev, zip_environment, scenario, api_key=DEV_API_KEY, **request)

    event_id, outcomes = subscription_journey(run, stream, queue)
    deliveries = aws_client("dynamodb", moto_server).scan(TableName=zip_environment["DYNAMODB_TABLE_DELIVERIES"])
    assert event_id not in json.dumps(deliveries["Items"])  # the REMOVE record took the delivery along
    permissions = [p for outcome in outcomes for call in outcome["dynamodb_calls"] for p in dynamodb_permissions(call)]
    # Every table but the keys table, which AUTH_MODE=local leaves alone.
    assert {table for _, table, _ in permissions} == {n for v, n in zip_environment.items() if v in TABLES} - {
        zip_environment["DYNAMODB_TABLE_KEYS"]
    }
    sqs = [
        (call["operation"], call["queue_name"] or call["queue_url"].rsplit("/", 1)[-1])
        for o in outcomes
        for call in o["sqs_calls"]
    ]
    assert sqs == [("GetQueueUrl", zip_environment["JOBS_QUEUE"]), ("SendMessageBatch", zip_environment["JOBS_QUEUE"])]


def test_every_module_loads_from_its_python_3_13_byte_code(unpacked_dev, zip_environment, invoke, tmp_path):
    """With every .py of the package replaced by a raise, the entry points still import and answer: the byte
    code in the zip is valid for this interpreter and used as is (Lambda's /var/task is read-only: no recompiling
    there)."""
    task = tmp_path / "task"
    shutil.copytree(unpacked_dev, task, symlinks=True)
    replaced = 0
    for source in task.rglob("*.py"):
        source.write_text("raise ImportError('the source was read instead of the byte code')\n")
        replaced += 1
    assert replaced > 500
    result = invoke(task, zip_environment, "health")
    (health,) = result["requests"]
    assert health["status"] == 200, result["log"][-3000:]
    for handler in WORKERS:  # the stream and queue functions' entry points too
        result = invoke(task, zip_environment, "event", handler=handler, event={"Records": []})
        assert result["handler_result"] == {"batchItemFailures": []}, result["log"][-3000:]
    # The canary's before-traffic hook: only CodeDeploy calls it, so it is imported (its container built) only.
    result = invoke(task, zip_environment, "import", handler="handlers.before_traffic_handler")
    assert result["modules"]["handlers.before_traffic_handler"].startswith(str(task)), result["log"][-3000:]
