"""The local stage: the real Lambda handlers behind `serverless offline`, DynamoDB and SQS as moto, a dev key, one
command.

    python -m scripts.local_stage [--api-port 3000] [--dynamodb-port 8000] [--sqs-port 9324] [--lambda-port 3002]
                                  [--console-port 5173]

It starts, in this order, each in its own process group:
1. moto in server mode on 127.0.0.1 (scripts/moto_dynamodb.py), with the tables created from the definitions in
   serverless.yml (scripts/dynamodb_tables.py), the events table's stream included (and mended: see
   scripts/moto_dynamodb.py keep_streams_through_transactions);
2. a second moto server, for SQS, with the queues of serverless.yml (the jobs queue and its dead-letter queue, the
   fan-out's failure queue). Apart from the first because the jobs function's poller long-polls (ReceiveMessage
   with WaitTimeSeconds 5): on the one-request-at-a-time DynamoDB server every long poll would hold up every
   DynamoDB call for up to 5 s. This one is moto's own threaded server;
3. `serverless offline start --stage local` (the project's osls and serverless-offline): API Gateway REST events
   of the real shape, handed to handlers/lambda_handler.py in Python workers; with the plugins
   serverless-offline-dynamodb-streams (the `fanout` function, fed from the events table's stream) and
   serverless-offline-sqs (the `jobs` and `deliver` functions, fed from their queues), configured in serverless.yml's
   `custom`;
then creates an API key for tenant "dev" and one for a second tenant, "dev-peer", in the keys table (with the key
tool operators use, triggers/cli/api_keys.py), serves the web console (build/console, which `make run` builds first:
docs/console.md) with a config.json pointing it at this stage, and prints the stage URL, the console and docs URLs,
the keys, a curl line that creates an event and the command that fuzzes the stage. Ctrl-C (or SIGTERM) stops every
process it started.

The functions' environment is serverless.yml's `provider.environment` for stage `local` (AUTH_MODE=aws, table
names, rate limit, ...) plus what only the local stage has: DYNAMODB_ENDPOINT_URL, SQS_ENDPOINT_URL and fake AWS
credentials, given to serverless-offline's `--localEnvironment`. The two plugins read the same two endpoints
(serverless.yml's `custom`). No code path knows it runs offline.

How serverless-offline differs from API Gateway, and what this does about it (docs/local-stage.md has more):
- routes are served without the stage prefix (`--noPrependStageInUrl`): the stage URL is http://127.0.0.1:<port>,
  exactly as on a custom domain, so Location headers and the docs UI's spec URL need no prefix;
- OPTIONS reaches the function (the http events declare no `cors`, so offline adds no preflight route of its own);
  offline still rewrites every preflight's status to 200 and adds `Access-Control-Allow-Credentials: true`;
- trailing slashes are stripped before the function sees the path;
- no X-Forwarded-* headers (the WSGI adapter fills in the port itself);
- each concurrent request gets a Python worker of its own, and a worker idle for 60 s is stopped: the first
  request after a pause pays for an import of the app (about a second).
"""

import argparse
import http.client
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import yaml

from scripts import dynamodb_tables, moto_dynamodb
from triggers.settings import SERVICE

ROOT = Path(__file__).resolve().parents[1]
SERVERLESS = ROOT / "node_modules" / ".bin" / "serverless"
REGION = "us-east-1"
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}
DEV_TENANT = "dev"
PEER_TENANT = "dev-peer"
DOCS_PATH = "/v1/docs/"
# `npm run console:build`'s output: the same files a deploy uploads to the console's bucket.
CONSOLE_BUILD = ROOT / "build" / "console"
STOP_TIMEOUT_SECONDS = 10.0
START_TIMEOUT_SECONDS = 120.0
# serverless.yml, custom.serverless-offline-dynamodb-streams.checkpointFile: a file of this run's own.
STREAMS_CHECKPOINT_VARIABLE = "TRIGGERS_OFFLINE_STREAMS_CHECKPOINT"

# Never inherited from the shell: AWS credentials and profiles (the stage must never reach a real account), every
# variable triggers/settings.py reads (the stage's settings come from serverless.yml and from here only; a test
# keeps this list equal to what settings.py reads), and PYTHONPATH (the function imports from the repository).
_DROPPED_PREFIXES = ("AWS_", "DYNAMODB_", "SQS_", "TRIGGERS_")
APP_SETTINGS = frozenset(
    {
        "STAGE",
        "AUTH_MODE",
        "CURSOR_SECRET",
        "CURSOR_SECRET_PARAMETER",
        "SSM_ENDPOINT_URL",
        "DYNAMODB_TABLE_EVENTS",
        "DYNAMODB_TABLE_KEYS",
        "DYNAMODB_TABLE_RATE_LIMITS",
        "DYNAMODB_TABLE_SUBSCRIPTIONS",
        "DYNAMODB_TABLE_DELIVERIES",
        "DYNAMODB_TABLE_JOBS",
        "DYNAMODB_TABLE_AUDIT",
        "DYNAMODB_ENDPOINT_URL",
        "JOBS_QUEUE",
        "PUSH_QUEUE",
        "PUSH_ALLOW_PRIVATE_TARGETS",
        "PUSH_TIMEOUT_SECONDS",
        "SQS_ENDPOINT_URL",
        "DELIVERY_SHARDS",
        "DEV_API_KEY",
        "CORS_ORIGINS",
        "LOG_LEVEL",
        "EVENT_RETENTION_DAYS",
        "API_KEY_CACHE_SECONDS",
        "VALIDATE_RESPONSES",
        "DYNAMODB_TIMEOUT_SECONDS",
        "DYNAMODB_MAX_ATTEMPTS",
        "RATE_LIMIT_PER_MINUTE",
        "RATE_LIMIT_PER_TENANT_PER_MINUTE",
        "RATE_LIMIT_PER_ADDRESS_PER_MINUTE",
        "RATE_LIMIT_TIMEOUT_SECONDS",
        "UNKNOWN_KEY_CACHE_SECONDS",
    }
)
_DROPPED = APP_SETTINGS | {"PYTHONPATH"}
_ENV_ASSIGNMENT = re.compile(r"[A-Z][A-Z0-9_]*=.*", re.DOTALL)

Progress = Callable[[str], None]


class StageError(Exception):
    """A failure to start the stage, told in one message (a port in use, a missing tool, a child that died)."""


def _print_progress(message: str) -> None:
    print(message, flush=True)


@dataclass
class LocalStage:
    """A running local stage: its URLs, its dev and peer keys, and the process groups to stop."""

    stage: str
    url: str
    dynamodb_endpoint: str
    sqs_endpoint: str = ""
    dev_key: str = ""
    peer_key: str = ""
    queues: list[str] = field(default_factory=list)
    log_path: Path | None = None  # where serverless offline writes, when not to this process's output
    scratch: Path | None = None  # this run's own files (the stream plugin's checkpoint), removed by stop()
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    console: ThreadingHTTPServer | None = None

    @property
    def docs_url(self) -> str:
        return self.url + DOCS_PATH

    @property
    def console_url(self) -> str | None:
        return None if self.console is None else f"http://127.0.0.1:{self.console.server_address[1]}/"

    def create_key(self, tenant: str, name: str = "local-stage", scopes: Sequence[str] = ()) -> str:
        """A new active key for `tenant` in this stage's keys table, made by the operators' key tool."""
        return create_key(self.dynamodb_endpoint, self.stage, tenant, name, scopes)

    def curl_line(self) -> str:
        """A command that creates an event when pasted into a POSIX shell (it prints the 201 response)."""
        body = '{"source":"billing","event_type":"invoice.paid","payload":{"invoice_id":"inv_1001"}}'
        return (
            f"curl -i -X POST {shlex.quote(self.url + '/v1/events')} -H {shlex.quote('X-API-Key: ' + self.dev_key)}"
            f" -H 'Content-Type: application/json' -d {shlex.quote(body)}"
        )

    def fuzz_line(self) -> str:
        """The fuzz command, sending as the peer tenant (its inbox takes the fuzzer's events, not dev's), with the
        dev tenant as the one that must not see them; under the stage's default limit of 1000 requests a minute."""
        return (
            f"TRIGGERS_API_KEY={shlex.quote(self.peer_key)} TRIGGERS_PEER_API_KEY={shlex.quote(self.dev_key)} "
            f".venv/bin/python -m scripts.fuzz_stage {self.url} --rate-limit 15/s"
        )

    def banner(self) -> str:
        return "\n".join(
            [
                "",
                f"The local stage '{self.stage}' is up; its DynamoDB and SQS are moto, in memory (gone when it stops).",
                f"  Stage URL    {self.url}",
                f"  Console      {self.console_url}  (sign in with the dev key)"
                if self.console_url
                else f"  Console      not built: `make run` builds it ({CONSOLE_BUILD.relative_to(ROOT)} is missing)",
                f"  Docs         {self.docs_url}",
                f"  DynamoDB     {self.dynamodb_endpoint}  (tables triggers-api-*-{self.stage})",
                f"  SQS          {self.sqs_endpoint}  (queues {', '.join(self.queues)})",
                f"  Fan-out      function `fanout` runs, on the stream of table {self.events_table}",
                f"  Jobs         function `jobs` runs, on queue {self.jobs_queue}",
                f"  Push         function `deliver` runs, on queue {queue_name('PushQueue', self.stage)}"
                " (http and 127.0.0.1 URLs allowed here only)",
                f"  Dev key      {self.dev_key}  (tenant '{DEV_TENANT}')",
                f"  Peer key     {self.peer_key}  (tenant '{PEER_TENANT}': another tenant, for cross-tenant tries)",
                "",
                "Create an event (expect HTTP 201):",
                f"  {self.curl_line()}",
                f"Fuzz this stage as tenant '{PEER_TENANT}' (from another terminal, in the repository):",
                f"  {self.fuzz_line()}",
                "",
                "Ctrl-C stops everything.",
            ]
        )

    @property
    def events_table(self) -> str:
        return dynamodb_tables.table_name("events", self.stage)

    @property
    def jobs_queue(self) -> str:
        return queue_name("JobsQueue", self.stage)

    def failed_process(self) -> str | None:
        """The name of a child that has exited, if any: the stage is then no longer whole."""
        for name, process in self.processes.items():
            if process.poll() is not None:
                return name
        return None

    def stop(self) -> None:
        """Stop the console's server and every process group this stage started, the API first, and remove its
        files; idempotent."""
        if self.console is not None:
            self.console.shutdown()
            self.console.server_close()
            self.console = None
        for name in reversed(list(self.processes)):
            stop_group(self.processes.pop(name))
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = None


def stop_group(process: subprocess.Popen, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
    """SIGTERM to the child's whole process group, then SIGKILL to whatever of the group is left.

    Killing only the leader would leave its children behind: `serverless offline` runs Python workers of its own.
    """
    # SIGKILL second: for members that outlived the leader, or a leader that hung.
    for stop_signal in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, stop_signal)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass


def stage_environment(
    dynamodb_endpoint: str,
    cursor_secret: str,
    extra: dict[str, str] | None = None,
    *,
    sqs_endpoint: str | None = None,
    streams_checkpoint: Path | None = None,
) -> dict:
    """The environment of `serverless offline`, which `--localEnvironment` hands on to the functions; the plugins'
    settings in serverless.yml's `custom` read the endpoints and the checkpoint file from it too."""
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(_DROPPED_PREFIXES) and key not in _DROPPED
    }
    if sys.prefix != sys.base_prefix:
        # serverless-offline starts `python3` from PATH, after putting $VIRTUAL_ENV/bin first: this virtualenv.
        env["VIRTUAL_ENV"] = sys.prefix
        env["PATH"] = f"{Path(sys.prefix) / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env.update(FAKE_CREDENTIALS)
    env.update(
        {
            "AWS_DEFAULT_REGION": REGION,
            "DYNAMODB_ENDPOINT_URL": dynamodb_endpoint,
            # Given directly: the local stage has no Parameter Store (serverless.yml: cursorSecretParameter '' there).
            "CURSOR_SECRET": cursor_secret,
            "SLS_TELEMETRY_DISABLED": "1",
            "SLS_NOTIFICATIONS_MODE": "off",
            # Node refuses a request line and headers over 16 KiB with a bare 400 of its own before the function
            # sees it; a 2,048-character cursor of 4-byte characters is 24 KiB percent-encoded. Let the API answer.
            "NODE_OPTIONS": "--max-http-header-size=65536",
        }
    )
    if sqs_endpoint:
        env["SQS_ENDPOINT_URL"] = sqs_endpoint
    if streams_checkpoint is not None:
        env[STREAMS_CHECKPOINT_VARIABLE] = str(streams_checkpoint)
    env.update(extra or {})
    return env


def _queue_resources() -> dict[str, dict]:
    """serverless.yml's SQS queues: {logical id: Properties}."""
    resources = yaml.safe_load(dynamodb_tables.SERVERLESS_YML.read_text())["resources"]["Resources"]
    return {rid: r.get("Properties", {}) for rid, r in resources.items() if r.get("Type") == "AWS::SQS::Queue"}


def queue_name(resource: str, stage: str) -> str:
    """serverless.yml's QueueName of a queue resource with its two variables resolved."""
    template = _queue_resources()[resource]["QueueName"]
    return template.replace("${self:service}", SERVICE).replace("${sls:stage}", stage)


def create_queues(client, stage: str) -> list[str]:
    """Create serverless.yml's queues on `client`'s endpoint with their attributes (a redrive policy's
    `Fn::GetAtt: [<queue>, Arn]` becomes that queue's ARN here, the dead-letter queue made first); their names.

    The plugin could create the jobs queue itself (`autoCreate`), but it passes the resource's properties as they are:
    its dead-letter queue's ARN would name account 000000000000, which moto does not know, and the redrive policy,
    so moto's maxReceiveCount, would be lost.
    """
    resources = _queue_resources()
    arns: dict[str, str] = {}

    def create(resource: str) -> None:
        if resource in arns:
            return
        attributes = {}
        for key, value in resources[resource].items():
            if key == "QueueName":
                continue
            if key == "RedrivePolicy":
                target = value["deadLetterTargetArn"]["Fn::GetAtt"][0]
                create(target)
                value = json.dumps({**value, "deadLetterTargetArn": arns[target]})
            attributes[key] = str(value).lower() if isinstance(value, bool) else str(value)
        url = client.create_queue(QueueName=queue_name(resource, stage), Attributes=attributes)["QueueUrl"]
        arns[resource] = client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]

    for resource in resources:
        create(resource)
    return [queue_name(resource, stage) for resource in resources]


def _start_server(what: str, command: list[str], port: int, timeout: float = 30.0) -> subprocess.Popen:
    """A server in its own process group on 127.0.0.1:`port`, returned once it answers."""
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env={**os.environ, "MOTO_PORT": str(port), "PYTHONPATH": str(ROOT)},
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StageError(f"the {what} exited with status {process.returncode}")
        if moto_dynamodb.port_in_use(port):
            return process
        time.sleep(0.1)
    stop_group(process)
    raise StageError(f"the {what} did not answer on port {port} within {timeout:.0f}s")


def start_moto_sqs(port: int) -> subprocess.Popen:
    """moto's own server, threaded: a long poll (the jobs poller's ReceiveMessage waits up to 5 s) holds up no
    other call."""
    command = [sys.executable, "-m", "moto.server", "--host", "127.0.0.1", "--port", str(port)]
    return _start_server("SQS moto server", command, port)


def create_key(
    dynamodb_endpoint: str, stage: str, tenant: str, name: str = "local-stage", scopes: Sequence[str] = ()
) -> str:
    """Create a key with `python -m triggers.cli.api_keys create` (it prints the key last) and return it; no
    `scopes`: all of them, as the tool gives."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED_PREFIXES)}
    env.update(FAKE_CREDENTIALS, PYTHONPATH=str(ROOT))
    command = [sys.executable, "-m", "triggers.cli.api_keys", "create", "--stage", stage, "--tenant", tenant]
    command += ["--name", name, "--endpoint-url", dynamodb_endpoint, "--region", REGION, "--yes"]
    command += [argument for scope in scopes for argument in ("--scope", scope)]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)
    if result.returncode != 0:
        raise StageError(f"could not create a key for tenant '{tenant}': {result.stderr.strip() or result.stdout}")
    return result.stdout.strip().splitlines()[-1]


def serve_console(directory: Path, api_url: str, port: int) -> ThreadingHTTPServer:
    """Serve the built console from `directory` on 127.0.0.1:`port`, in threads of this process, with a config.json
    naming `api_url`: the one file that differs per stage, so that one build serves them all (CloudFront serves the
    same files with the stage's config.json)."""
    config = json.dumps({"api_url": api_url}).encode()

    class Files(SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(directory), **kwargs)

        def do_GET(self) -> None:
            if urlsplit(self.path).path != "/config.json":
                super().do_GET()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(config)))
            self.end_headers()
            self.wfile.write(config)

        def end_headers(self) -> None:
            # A rebuilt console (new asset names) must be seen on the next reload.
            self.send_header("Cache-Control", "no-store")
            super().end_headers()

        def log_message(self, format, *args) -> None:  # noqa: A002 (the base class's name)
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Files)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _check_ports(ports: dict[str, int]) -> None:
    if len(set(ports.values())) != len(ports):
        raise StageError(f"the ports must differ: {', '.join(f'{k} {v}' for k, v in ports.items())}")
    for what, port in ports.items():
        if not 0 < port < 65536:
            raise StageError(f"{what} port {port} is not a TCP port")
        if moto_dynamodb.port_in_use(port):
            flag = "--" + what.replace(" ", "-") + "-port"
            raise StageError(
                f"port {port} on 127.0.0.1 ({what}) is in use: stop what listens there "
                f"(`lsof -i :{port}` or `ss -ltnp` shows it) or choose another port with {flag}"
            )


def _wait_until_ready(port: int, process: subprocess.Popen, timeout: float, log_hint: str) -> None:
    """Poll the readiness operation (the function and DynamoDB both answer) until it says 200."""
    deadline = time.monotonic() + timeout
    last_error = "no answer yet"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StageError(f"serverless offline exited with status {process.returncode}{log_hint}")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            connection.request("GET", "/v1/health/ready")
            status = connection.getresponse().status
            if status == 200:
                return
            last_error = f"HTTP {status}"
        except (OSError, http.client.HTTPException) as exc:
            last_error = str(exc) or type(exc).__name__
        finally:
            connection.close()
        time.sleep(0.25)
    raise StageError(f"the API did not get ready within {timeout:.0f}s ({last_error}){log_hint}")


def start(
    *,
    api_port: int = 3000,
    dynamodb_port: int = 8000,
    sqs_port: int = 9324,
    lambda_port: int = 3002,
    console_port: int | None = None,
    stage: str = "local",
    params: dict[str, str] | None = None,
    extra_env: dict[str, str] | None = None,
    output=None,
    progress: Progress = _print_progress,
    timeout: float = START_TIMEOUT_SECONDS,
) -> LocalStage:
    """Start the whole stage and return it once the API answers; on any failure stop what was started and raise.

    `output` is where serverless offline writes (a file object; None: this process's stdout and stderr).
    `params` override the stage's params (serverless.yml), e.g. {"rateLimitPerMinute": "5000"}.
    `console_port`: serve the built console there (if it is built: see CONSOLE_BUILD); None: no console.
    """
    if not SERVERLESS.exists():
        raise StageError(f"{SERVERLESS.relative_to(ROOT)} is missing: run `make setup` (or `npm ci`) first")
    ports = {"api": api_port, "dynamodb": dynamodb_port, "sqs": sqs_port, "lambda": lambda_port}
    _check_ports(ports if console_port is None else {**ports, "console": console_port})
    endpoint = f"http://127.0.0.1:{dynamodb_port}"
    running = LocalStage(
        stage=stage,
        url=f"http://127.0.0.1:{api_port}",
        dynamodb_endpoint=endpoint,
        sqs_endpoint=f"http://127.0.0.1:{sqs_port}",
    )
    if output is not None and isinstance(getattr(output, "name", None), str):
        running.log_path = Path(output.name)
    log_hint = f" (see {running.log_path})" if running.log_path else " (its output is above)"
    try:
        progress(f"[1/5] DynamoDB: moto on {endpoint}")
        running.processes["moto"] = moto_dynamodb.start(dynamodb_port)
        client = boto3.client(
            "dynamodb",
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )
        names = {kind: dynamodb_tables.table_name(kind, stage) for kind in dynamodb_tables.TABLE_RESOURCES}
        dynamodb_tables.ensure_tables(client, names)
        progress(f"[2/5] tables from serverless.yml: {', '.join(names.values())}")

        running.processes["moto sqs"] = start_moto_sqs(sqs_port)
        sqs = boto3.client(
            "sqs",
            endpoint_url=running.sqs_endpoint,
            region_name=REGION,
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )
        running.queues = create_queues(sqs, stage)
        progress(f"[3/5] SQS: moto on {running.sqs_endpoint}, queues from serverless.yml: {', '.join(running.queues)}")

        running.dev_key = create_key(endpoint, stage, DEV_TENANT)
        running.peer_key = create_key(endpoint, stage, PEER_TENANT)
        progress(f"[4/5] API keys for tenants '{DEV_TENANT}' and '{PEER_TENANT}' (in the keys table)")

        command = [str(SERVERLESS), "offline", "start", "--stage", stage, "--host", "127.0.0.1"]
        command += ["--httpPort", str(api_port), "--lambdaPort", str(lambda_port)]
        command += ["--noPrependStageInUrl", "--localEnvironment"]
        for name, value in (params or {}).items():
            command += ["--param", f"{name}={value}"]
        cursor_secret = os.environ.get("TRIGGERS_CURSOR_SECRET") or secrets.token_hex(32)
        running.scratch = Path(tempfile.mkdtemp(prefix="triggers-local-stage-"))
        progress(
            f"[5/5] API, fan-out and jobs: serverless offline on {running.url} (the first start takes a few seconds)"
        )
        running.processes["serverless offline"] = subprocess.Popen(
            command,
            cwd=ROOT,
            env=stage_environment(
                endpoint,
                cursor_secret,
                extra_env,
                sqs_endpoint=running.sqs_endpoint,
                streams_checkpoint=running.scratch / "streams-checkpoint.json",
            ),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT if output is not None else None,
            start_new_session=True,
        )
        _wait_until_ready(api_port, running.processes["serverless offline"], timeout, log_hint)
        if console_port is not None and (CONSOLE_BUILD / "index.html").exists():
            running.console = serve_console(CONSOLE_BUILD, running.url, console_port)
    except BaseException:
        running.stop()
        raise
    return running


def _env_assignment(value: str) -> tuple[str, str]:
    if not _ENV_ASSIGNMENT.fullmatch(value):
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {value!r}")
    name, _, setting = value.partition("=")
    return name, setting


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.local_stage",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--api-port", type=int, default=3000, help="the API's port on 127.0.0.1 (default 3000)")
    parser.add_argument("--dynamodb-port", type=int, default=8000, help="moto's port on 127.0.0.1 (default 8000)")
    parser.add_argument(
        "--sqs-port", type=int, default=9324, help="the SQS moto server's port on 127.0.0.1 (default 9324)"
    )
    parser.add_argument(
        "--lambda-port", type=int, default=3002, help="serverless-offline's Lambda invoke port (default 3002)"
    )
    parser.add_argument(
        "--console-port", type=int, default=5173, help="the web console's port on 127.0.0.1 (default 5173)"
    )
    parser.add_argument("--stage", default="local", help="the stage name: table names and STAGE (default local)")
    parser.add_argument(
        "--rate-limit-per-minute",
        type=int,
        metavar="N",
        help="requests per API key per minute (default: the stage's rateLimitPerMinute in serverless.yml; 0: off)",
    )
    parser.add_argument(
        "--env",
        type=_env_assignment,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="another setting for the function, e.g. VALIDATE_RESPONSES=true (serverless.yml's own values win)",
    )
    args = parser.parse_args(argv)
    if args.stage in ("prod", "production"):
        parser.error("the local stage cannot be called prod or production (the code treats those as production)")

    # Ctrl-C stops the stage even where SIGINT came ignored (a shell's background job), which Python would keep.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    signal.signal(signal.SIGHUP, _raise_keyboard_interrupt)
    running = None
    try:
        running = start(
            api_port=args.api_port,
            dynamodb_port=args.dynamodb_port,
            sqs_port=args.sqs_port,
            lambda_port=args.lambda_port,
            console_port=args.console_port,
            stage=args.stage,
            params={}
            if args.rate_limit_per_minute is None
            else {"rateLimitPerMinute": str(args.rate_limit_per_minute)},
            extra_env=dict(args.env),
        )
        print(running.banner(), flush=True)
        while (failed := running.failed_process()) is None:
            time.sleep(0.5)
        print(f"error: {failed} exited unexpectedly; stopping the stage", file=sys.stderr, flush=True)
        return 1
    except StageError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print("\nstopping the local stage ...", flush=True)
        return 0
    finally:
        # A second Ctrl-C (a terminal, or make passing on its own) must not cut the clean-up short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if running is not None:
            running.stop()


if __name__ == "__main__":
    raise SystemExit(main())
