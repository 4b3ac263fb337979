"""Fuzz a running stage with schemathesis: every check, every phase, two tenants; the exit status is the verdict.

    TRIGGERS_API_KEY=... TRIGGERS_PEER_API_KEY=... python -m scripts.fuzz_stage <stage-url> [options]

<stage-url> is where the stage serves /v1/...: the local stage's http://127.0.0.1:3000, or a deployed one such as
https://<api-id>.execute-api.<region>.amazonaws.com/<stage>. The spec comes from the stage itself
(<stage-url>/v1/openapi.json), so what is tested is what that stage serves.

The two keys must belong to two different tenants of that stage (`python -m triggers.cli.api_keys create`; the
local stage prints two). Schemathesis sends every request as the first tenant; its `object_level_authorization`
check replays the first tenant's successful reads as the second one and fails if that tenant gets the object too.

Everything schemathesis.toml sets (the narrowed check exceptions, with their reasons) applies, and [auth.wfc] is
added: the only form of authentication that names peers. This command writes, into the report directory, a Web
Fuzzing Commons auth file with the two keys (mode 0600) and a copy of schemathesis.toml whose [auth] is that file
and its two peers; then it runs

    schemathesis --config-file <report-dir>/schemathesis.toml run <stage-url>/v1/openapi.json --url <stage-url>
        --checks all --phases examples,coverage,fuzzing,stateful --report junit ...

and exits with schemathesis's status (0: no failure). The JUnit report is <report-dir>/junit.xml.
"""

import argparse
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import tomli_w
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "schemathesis.toml"
DEFAULT_REPORT_DIR = ROOT / "build" / "fuzz"
KEY_VARIABLES = ("TRIGGERS_API_KEY", "TRIGGERS_PEER_API_KEY")
# Names of the two identities in the auth file, in schemathesis's output and in the JUnit report.
OWNER, PEER = "tenant-a", "tenant-b"
PHASES = ("examples", "coverage", "fuzzing", "stateful")


class UsageError(Exception):
    """Bad input to this command: told in one line, exit status 2."""


def read_keys(env=os.environ) -> tuple[str, str]:
    missing = [name for name in KEY_VARIABLES if not env.get(name)]
    if missing:
        raise UsageError(
            f"set {' and '.join(missing)}: two API keys of two different tenants of the stage "
            "(`python -m triggers.cli.api_keys create --stage <stage> --tenant <tenant>` makes one)"
        )
    owner, peer = (env[name] for name in KEY_VARIABLES)
    if owner == peer:
        raise UsageError("TRIGGERS_API_KEY and TRIGGERS_PEER_API_KEY are the same key: give keys of two tenants")
    return owner, peer


def write_auth_file(path: Path, owner_key: str, peer_key: str) -> None:
    """A Web Fuzzing Commons auth document: one entry per tenant, each sending its key in X-API-Key."""
    document = {
        "schemaVersion": "0.2.0",
        "auth": [
            {"name": name, "fixedHeaders": [{"name": "X-API-Key", "value": key}]}
            for name, key in ((OWNER, owner_key), (PEER, peer_key))
        ],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # keys: readable by this user only
    with os.fdopen(descriptor, "w") as auth_file:
        yaml.safe_dump(document, auth_file, sort_keys=False)


def stage_config(auth_file: Path, source: Path = CONFIG) -> dict:
    """schemathesis.toml with its [auth] replaced by the two tenants of `auth_file`, the first one sending."""
    config = tomllib.loads(source.read_text())
    config["auth"] = {"wfc": {"path": str(auth_file), "user": OWNER, "peers": [OWNER, PEER]}}
    return config


def disabled_checks(source: Path = CONFIG) -> list[str]:
    """The checks schemathesis.toml turns off for the whole spec (with its reasons): `--checks all` would turn them
    back on."""
    checks = tomllib.loads(source.read_text()).get("checks", {})
    off = [name for name, options in checks.items() if isinstance(options, dict) and options.get("enabled") is False]
    return sorted(off)


def schemathesis_command(url: str, config_file: Path, report_dir: Path, args: argparse.Namespace) -> list[str]:
    command = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(config_file), "run"]
    command += [f"{url}/v1/openapi.json", "--url", url]
    command += ["--checks", "all", "--phases", ",".join(PHASES)]
    if disabled_checks():
        command += ["--exclude-checks", ",".join(disabled_checks())]
    command += ["--max-examples", str(args.max_examples), "--workers", str(args.workers)]
    command += ["--report", "junit", "--report-junit-path", str(report_dir / "junit.xml")]
    command += ["--request-timeout", str(args.request_timeout), "--generation-database", "none"]
    command += ["--wait-for-schema", str(args.wait_for_schema)]
    if args.rate_limit:
        command += ["--rate-limit", args.rate_limit]
    if args.seed is not None:
        command += ["--seed", str(args.seed)]
    return command + args.schemathesis_args


def parse_arguments(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.fuzz_stage",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("url", help="the stage URL, e.g. http://127.0.0.1:3000")
    parser.add_argument("--max-examples", type=int, default=50, help="test cases per operation and phase (50)")
    parser.add_argument("--workers", type=int, default=1, help="concurrent requests (1)")
    parser.add_argument(
        "--rate-limit",
        help="at most this many requests, e.g. 15/s: keep under the stage's per-key rate limit "
        "(rateLimitPerMinute, 1000/min by default) and its API Gateway throttling (dev: 10/s)",
    )
    parser.add_argument("--seed", type=int, help="schemathesis's random seed, to repeat a run")
    parser.add_argument("--request-timeout", type=float, default=30.0, help="seconds per request (30)")
    parser.add_argument("--wait-for-schema", type=float, default=30.0, help="seconds to wait for the spec (30)")
    parser.add_argument(
        "--report-dir",
        type=Path,
        default=DEFAULT_REPORT_DIR,
        help=f"where the JUnit report and the run's auth and config files go ({DEFAULT_REPORT_DIR.relative_to(ROOT)})",
    )
    parser.epilog = "After --, more `schemathesis run` options: ... -- --include-path /v1/inbox --seed 1"
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    args = parser.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    args.schemathesis_args = extra
    args.url = args.url.rstrip("/")
    if not args.url.startswith(("http://", "https://")):
        parser.error(f"the stage URL must start with http:// or https://, not {args.url!r}")
    return args


def main(argv=None) -> int:
    args = parse_arguments(argv)
    try:
        owner_key, peer_key = read_keys()
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report_dir = args.report_dir.resolve()
    auth_file = report_dir / "auth.yaml"
    config_file = report_dir / "schemathesis.toml"
    write_auth_file(auth_file, owner_key, peer_key)
    config_file.write_text(
        f"# Written by scripts/fuzz_stage.py from {CONFIG.name}: the same settings, [auth] = the two tenants.\n"
        + tomli_w.dumps(stage_config(auth_file))
    )
    command = schemathesis_command(args.url, config_file, report_dir, args)
    print(f"fuzzing {args.url} as {OWNER}, with {PEER} as its peer; JUnit report: {report_dir / 'junit.xml'}")
    print("$ " + " ".join(command[1:]), flush=True)
    # Schemathesis reads its settings from the written file only: no key variable is needed in its environment.
    env = {k: v for k, v in os.environ.items() if k not in KEY_VARIABLES}
    return subprocess.run(command, cwd=ROOT, env=env, check=False).returncode


if __name__ == "__main__":
    raise SystemExit(main())
