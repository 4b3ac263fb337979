"""Fixtures of the deployment checks: `serverless package` per stage, the unpacked zip, a moto server, checkov.

Everything runs offline. `serverless package` needs no AWS account: it gets fake credentials and a region in its
own environment only. Each stage is packaged once per session into its own directory under pytest's temporary
directory, and every test of that stage reads that output.

These tests carry the `deploy` marker: select them with `-m deploy`, leave them out with `-m "not deploy"`.
"""

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from itertools import count
from pathlib import Path

import pytest
from deploy_support import (
    CORS_ORIGINS,
    FAKE_CREDENTIALS,
    REGION,
    REPO,
    RUNNER,
    RUNTIME_PACKAGES,
    SERVERLESS,
    Package,
    base_environment,
    checkov_executable,
    run,
    unpack,
)

HERE = Path(__file__).parent


def pytest_configure(config):
    config.addinivalue_line("markers", "deploy: packaging, template, zip and deploy-rehearsal checks (tests/deploy)")


# tryfirst: pytest-xdist reads `xdist_group` in a hook of its own, registered after this conftest when pytest is
# given this folder's path (not when it collects from the root), so without it the group would be ignored.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.deploy)
            item.add_marker(pytest.mark.xdist_group("deploy"))  # one pytest-xdist worker: the packages made once


@pytest.fixture(scope="session")
def serverless_environment() -> dict:
    """The environment `serverless` runs in: fake credentials, a region, and the CORS origins staging and prod need."""
    if not (REPO / "node_modules" / ".bin" / "serverless").exists():
        pytest.fail("node_modules/.bin/serverless is missing: run `npm ci` first", pytrace=False)
    return {**base_environment(), **FAKE_CREDENTIALS, "AWS_REGION": REGION, "TRIGGERS_CORS_ORIGINS": CORS_ORIGINS}


@pytest.fixture(scope="session")
def packages(tmp_path_factory, serverless_environment):
    """packages(stage, *params) -> Package: `npx serverless package --stage <stage> [--param=name=value ...]`, run
    at most once per session for each stage and parameters."""
    made: dict[tuple[str, ...], Package] = {}

    def package(stage: str, *params: str) -> Package:
        if (stage, *params) not in made:
            directory = tmp_path_factory.mktemp(f"package-{stage}")
            command = [*SERVERLESS, "package", "--stage", stage, "--package", str(directory)]
            command += [f"--param={param}" for param in params]
            result = run(command, env=serverless_environment)
            made[(stage, *params)] = Package(stage, directory, result.stdout + result.stderr)
        return made[(stage, *params)]

    return package


@pytest.fixture(scope="session")
def dev_package(packages) -> Package:
    return packages("dev")


@pytest.fixture(scope="session")
def prod_package(packages) -> Package:
    return packages("prod")


@pytest.fixture(scope="session")
def unpacked_dev(dev_package, tmp_path_factory) -> Path:
    """The dev zip, extracted into an empty folder (shared: tests must not write into it)."""
    return unpack(dev_package.zip_path, tmp_path_factory.mktemp("unpacked") / "task")


@pytest.fixture(scope="session")
def runtime_packages(tmp_path_factory) -> Path:
    """A folder holding only boto3, botocore and their dependencies: symlinks into this virtualenv.

    It stands for the boto3 that the Lambda runtime puts on the path after the function's code.
    """
    folder = tmp_path_factory.mktemp("runtime")
    for name in RUNTIME_PACKAGES:
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin, f"{name} is not installed in {sys.prefix}"
        source = Path(spec.origin).parent if spec.submodule_search_locations else Path(spec.origin)
        (folder / source.name).symlink_to(source, target_is_directory=source.is_dir())
    return folder


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory):
    """`python -m moto.server` (every service) on 127.0.0.1 and a free port, for the whole session."""
    port = _free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with log.open("w") as stream:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=stream,
            stderr=subprocess.STDOUT,
            env={**base_environment(), **FAKE_CREDENTIALS, "AWS_DEFAULT_REGION": REGION},
            start_new_session=True,
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):  # 30 s at most
            if process.poll() is not None:
                pytest.fail(f"moto exited with {process.returncode}:\n{log.read_text()[-3000:]}", pytrace=False)
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1)  # noqa: S310 (loopback only)
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)
        else:
            pytest.fail("moto server did not answer within 30 s", pytrace=False)
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def invoke(tmp_path_factory, runtime_packages):
    """invoke(task_dir, env, scenario, api_key=None, **request) -> what lambda_runner.py reports.

    The runner runs as `python -I -S`: no site-packages, no PYTHON* variables, not even its own folder on the path;
    it adds the unpacked zip and then the runtime's boto3 folder, nothing else. `request` adds to what it is asked
    (`handler`, `requests`, `event`: see lambda_runner.py).
    """
    numbers = count()

    def run_handler(task_dir: Path, env: dict, scenario: str, api_key: str | None = None, **extra) -> dict:
        work = tmp_path_factory.mktemp(f"invoke-{next(numbers)}")
        request, result = work / "request.json", work / "result.json"
        sys_path = [str(task_dir), str(runtime_packages)]
        request.write_text(json.dumps({"sys_path": sys_path, "scenario": scenario, "api_key": api_key, **extra}))
        completed = run([sys.executable, "-I", "-S", str(RUNNER), str(request), str(result)], cwd=work, env=env)
        outcome = json.loads(result.read_text())
        outcome["log"] = completed.stdout + completed.stderr
        return outcome

    return run_handler


@pytest.fixture(scope="session")
def checkov() -> str:
    """The checkov executable (see deploy_support.checkov_executable)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "triggers-api"
    return checkov_executable(cache)
