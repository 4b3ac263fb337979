"""The zip alone runs the API: unpacked into an empty folder, with Python 3.13, the standard library and boto3.

lambda_runner.py imports the configured handler in a `python -I -S` process whose path holds the unpacked zip and
the runtime's boto3 only, and sends it API Gateway REST (payload v1) events; DynamoDB is a moto server with tables
made from the packaged template's own properties.
"""

import shutil
import uuid
from pathlib import Path

import pytest
from deploy_support import assert_lifecycle, aws_client, create_tables_from_template, handler_environment

TABLES = {"events": "EventsTable", "keys": "ApiKeysTable", "ratelimits": "RateLimitsTable"}
DEV_API_KEY = "trg_zip-test-key-0123456789abcdef"


@pytest.fixture(scope="module")
def zip_environment(dev_package, moto_server) -> dict:
    """The dev function's own variables, with fresh tables in moto and the local (single-key) auth mode."""
    suffix = uuid.uuid4().hex[:8]
    names = {kind: f"zip-{kind}-{suffix}" for kind in TABLES}
    create_tables_from_template(
        aws_client("dynamodb", moto_server), dev_package.update_template, {TABLES[k]: n for k, n in names.items()}
    )
    variables = dict(dev_package.function["Properties"]["Environment"]["Variables"])
    variables.update(
        {
            "DYNAMODB_TABLE_EVENTS": names["events"],
            "DYNAMODB_TABLE_KEYS": names["keys"],
            "DYNAMODB_TABLE_RATE_LIMITS": names["ratelimits"],
            "AUTH_MODE": "local",
            "DEV_API_KEY": DEV_API_KEY,
        }
    )
    return handler_environment(variables, moto_server)


def assert_runs_from(result: dict, task_dir: Path, runtime_dir: Path) -> None:
    assert result["python"][:2] == [3, 13]
    assert result["flags"]["isolated"] == 1
    modules = result["modules"]
    for name in ("handlers.lambda_handler", "triggers", "connexion", "awsgi", "yaml", "rpds"):
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


def test_every_module_loads_from_its_python_3_13_byte_code(unpacked_dev, zip_environment, invoke, tmp_path):
    """With every .py of the package replaced by a raise, the app still imports and answers: the byte code in the
    zip is valid for this interpreter and used as is (Lambda's /var/task is read-only: no recompiling there)."""
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
