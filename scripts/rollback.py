"""Roll a stage back to an earlier deploy: its code and configuration, never its tables.

    python -m scripts.rollback --stage prod --list                   the deploys that can be rolled back to
    python -m scripts.rollback --stage prod --version 1764500000000  roll back to that one
    make rollback STAGE=prod VERSION=1764500000000                   the same

A version is a deploy's timestamp in milliseconds, as `--list` (or `npx serverless deploy list`) shows it. osls keeps
each deploy's template and zips in the deployment bucket, `serverless/triggers-api/<stage>/<version>-<date>/`: the
last five deploys. What this does, saying each step as it goes:

1. reads the stack `triggers-api-<stage>`: it must be settled (not in the middle of a deploy: then stop that deploy
   instead, docs/deploy.md "Canary and rollback");
2. reads that deploy's template from the bucket and checks that its zips are still there;
3. builds the template to apply: that deploy's, except
   - the DynamoDB tables, which stay as the stack has them now: a table is never rolled back (below);
   - the api function's CodeDeploy deployment group, which shifts all the traffic at once (`LambdaAllAtOnce`) instead
     of the canary's steps: a rollback is urgent, and the before-traffic hook still checks the version first
     (`--keep-canary` keeps the deploy's own traffic shifting);
4. asks for confirmation on prod (`--yes` does not ask), writes that template next to the deploy's own in the bucket
   (`rollback-cloudformation-template.json`) and updates the stack with it;
5. waits for the update and prints each status, then the outcome; exit status 0 only when it completed.

Why tables are not rolled back: CloudFormation would make a table match the old template, which destroys data or
fails. A key schema change replaces a table, and a table with a fixed name cannot be replaced (the update fails); a
global secondary index added since would be deleted (rebuilt from scratch if rolled forward again), TTL or stream
settings would change under the running code. The code of the version rolled back to ran on the tables as they were;
this project changes tables only by adding (an index, an attribute), so that code ignores what was added. When the
last deploy changed a table, this says so and which one, and leaves it; if the old code cannot work with the table
as it is now (a change that was not additive), roll forward with a fix instead, or restore the table (point-in-time
recovery on prod) as docs/deploy.md says.

`--endpoint-url` sends every call to another endpoint (the tests: moto's server); `--dry-run` stops before the update.
"""

import argparse
import copy
import json
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.exceptions import ClientError

from triggers.cli.aws_failures import exit_status

SERVICE = "triggers-api"
DEPLOYMENTS_PREFIX = "serverless"  # osls's deployment prefix in the bucket (provider.deploymentPrefix: not set)
TEMPLATE = "compiled-cloudformation-template.json"
ROLLBACK_TEMPLATE = "rollback-cloudformation-template.json"
ALL_AT_ONCE = "CodeDeployDefault.LambdaAllAtOnce"
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
SETTLED = re.compile(r"^(CREATE|UPDATE|UPDATE_ROLLBACK|IMPORT)_COMPLETE$")
DIRECTORY = re.compile(r"^(\d{13})-(\S+)$")


class RollbackError(Exception):
    """Why nothing was (or could be) done: one line for the operator, exit status 1."""


@dataclass(frozen=True)
class Deployment:
    version: str  # milliseconds since the epoch, as osls names the deploy's folder
    when: str  # the same instant, ISO 8601
    prefix: str  # the folder in the deployment bucket, with its trailing slash


@dataclass
class Plan:
    deployment: Deployment
    template: dict
    changed_tables: list[str] = field(default_factory=list)  # changed since that deploy: kept as they are now
    added_tables: list[str] = field(default_factory=list)  # added since: kept
    all_at_once: list[str] = field(default_factory=list)  # deployment groups made to shift everything at once


def tables_of(template: dict) -> dict[str, dict]:
    return {k: v for k, v in template.get("Resources", {}).items() if v.get("Type") == "AWS::DynamoDB::Table"}


def rollback_template(old: dict, current: dict, keep_canary: bool = False) -> tuple[dict, list, list, list]:
    """The template to apply: `old`, with `current`'s tables, and all at once unless `keep_canary`. Also the tables
    that changed since `old`, those added since, and the deployment groups made all at once."""
    template = copy.deepcopy(old)
    resources = template["Resources"]
    old_tables, current_tables = tables_of(old), tables_of(current)
    changed = sorted(k for k in old_tables.keys() & current_tables.keys() if old_tables[k] != current_tables[k])
    added = sorted(current_tables.keys() - old_tables.keys())
    gone = sorted(old_tables.keys() - current_tables.keys())
    if gone:
        # The stack deleted (or let go of) them since: making them again could only clash with what is left of them.
        raise RollbackError(f"that deploy had tables the stack no longer has ({', '.join(gone)}): roll forward instead")
    for logical_id in changed + added:
        resources[logical_id] = copy.deepcopy(current_tables[logical_id])
    groups = []
    if not keep_canary:
        for logical_id, resource in resources.items():
            if resource.get("Type") == "AWS::CodeDeploy::DeploymentGroup":
                resource["Properties"]["DeploymentConfigName"] = ALL_AT_ONCE
                groups.append(logical_id)
    return template, changed, added, groups


class Rollback:
    def __init__(
        self,
        cloudformation: Any,
        s3: Any,
        stage: str,
        region: str,
        out=None,
        poll_seconds: float = 10,
        timeout_seconds: float = 3600,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.cloudformation = cloudformation
        self.s3 = s3
        self.stage = stage
        self.region = region
        self.stack_name = f"{SERVICE}-{stage}"
        self.out = out or sys.stdout
        self.poll_seconds = poll_seconds
        self.timeout_seconds = timeout_seconds
        self.sleep = sleep
        self.clock = clock

    def say(self, line: str) -> None:
        print(line, file=self.out, flush=True)

    def stack(self) -> dict:
        try:
            return self.cloudformation.describe_stacks(StackName=self.stack_name)["Stacks"][0]
        except ClientError as exc:
            raise RollbackError(f"no stack {self.stack_name} in {self.region} ({_code(exc)})") from exc

    def bucket(self) -> str:
        detail = self.cloudformation.describe_stack_resource(
            StackName=self.stack_name, LogicalResourceId="ServerlessDeploymentBucket"
        )
        return detail["StackResourceDetail"]["PhysicalResourceId"]

    def deployments(self, bucket: str) -> list[Deployment]:
        """The deploys whose template is in the bucket, newest first."""
        prefix = f"{DEPLOYMENTS_PREFIX}/{SERVICE}/{self.stage}/"
        found = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                directory, _, name = item["Key"][len(prefix) :].partition("/")
                match = DIRECTORY.match(directory)
                if match and name == TEMPLATE:
                    found.append(Deployment(match.group(1), match.group(2), f"{prefix}{directory}/"))
        return sorted(found, key=lambda d: d.version, reverse=True)

    def read_json(self, bucket: str, key: str) -> dict:
        return json.loads(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read())

    def rolled_back_to(self, bucket: str, deployment: Deployment) -> dict | None:
        """The template a rollback to this deploy applied, if there was one."""
        try:
            return self.read_json(bucket, deployment.prefix + ROLLBACK_TEMPLATE)
        except ClientError:
            return None

    def current_template(self) -> dict:
        body = self.cloudformation.get_template(StackName=self.stack_name, TemplateStage="Original")["TemplateBody"]
        return body if isinstance(body, dict) else json.loads(body)

    def show_deployments(self) -> None:
        bucket = self.bucket()
        current = self.current_template()
        deployments = self.deployments(bucket)
        if not deployments:
            raise RollbackError(f"no deploy of {self.stack_name} in s3://{bucket}")
        self.say(f"Deploys of {self.stack_name} in s3://{bucket}, newest first:")
        for deployment in deployments:
            live = current in (
                self.read_json(bucket, deployment.prefix + TEMPLATE),
                self.rolled_back_to(bucket, deployment),
            )
            self.say(f"  {deployment.version}  {deployment.when}{'  (the stack runs this one)' if live else ''}")

    def plan(self, version: str, keep_canary: bool = False) -> tuple[str, Plan]:
        stack = self.stack()
        status = stack["StackStatus"]
        self.say(f"stack {self.stack_name}: {status}")
        if not SETTLED.match(status):
            raise RollbackError(
                f"the stack is {status}: wait for it to settle, or stop a deploy in flight (docs/deploy.md, "
                "'Canary and rollback': aws deploy stop-deployment --auto-rollback-enabled)"
            )
        bucket = self.bucket()
        deployments = {d.version: d for d in self.deployments(bucket)}
        if version not in deployments:
            kept = ", ".join(sorted(deployments, reverse=True)) or "none"
            raise RollbackError(f"no deploy {version} in s3://{bucket} (the ones kept: {kept})")
        deployment = deployments[version]
        self.say(f"deploy {version} ({deployment.when}): s3://{bucket}/{deployment.prefix}")
        old = self.read_json(bucket, deployment.prefix + TEMPLATE)
        current = self.current_template()
        template, changed, added, groups = rollback_template(old, current, keep_canary)
        if current in (old, template):
            raise RollbackError(f"the stack already runs deploy {version}: nothing to roll back")
        self.check_code(bucket, old)
        plan = Plan(deployment, template, changed, added, groups)
        if changed or added:
            self.say(
                "tables changed since that deploy, kept as they are now (tables are never rolled back): "
                + ", ".join([*(f"{t} (changed)" for t in changed), *(f"{t} (added)" for t in added)])
            )
        else:
            self.say("tables: as they were at that deploy")
        for group in groups:
            self.say(f"{group}: all the traffic at once ({ALL_AT_ONCE}), after the before-traffic hook")
        return bucket, plan

    def check_code(self, bucket: str, template: dict) -> None:
        for logical_id, resource in template.get("Resources", {}).items():
            if resource.get("Type") != "AWS::Lambda::Function":
                continue
            key = resource["Properties"]["Code"]["S3Key"]
            try:
                self.s3.head_object(Bucket=bucket, Key=key)
            except ClientError as exc:
                raise RollbackError(
                    f"the code of {logical_id} is gone from the bucket ({key}): cannot roll back"
                ) from exc
        self.say("code: every zip of that deploy is in the bucket")

    def apply(self, bucket: str, plan: Plan) -> None:
        key = plan.deployment.prefix + ROLLBACK_TEMPLATE
        body = json.dumps(plan.template).encode()
        self.s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
        url = f"https://s3.{self.region}.amazonaws.com/{bucket}/{key}"
        self.say(f"template: s3://{bucket}/{key}")
        started = self.clock()
        self.cloudformation.update_stack(StackName=self.stack_name, TemplateURL=url, Capabilities=CAPABILITIES)
        self.say(f"updating {self.stack_name} to deploy {plan.deployment.version}...")
        self.wait(started)
        self.say(f"rolled back: {self.stack_name} runs the code and configuration of deploy {plan.deployment.version}")

    def wait(self, started: float) -> None:
        last = None
        while True:
            status = self.stack()["StackStatus"]
            if status != last:
                self.say(f"[{self.clock() - started:5.0f} s] {status}")
                last = status
            if status == "UPDATE_COMPLETE":
                return
            if status.endswith("_COMPLETE") or status.endswith("_FAILED"):
                raise RollbackError(f"the update did not complete ({status}): {self.failures()}")
            if self.clock() - started > self.timeout_seconds:
                raise RollbackError(f"still {status} after {self.timeout_seconds:.0f} s: see the stack's events")
            self.sleep(self.poll_seconds)

    def failures(self) -> str:
        events = self.cloudformation.describe_stack_events(StackName=self.stack_name)["StackEvents"]
        reasons = [
            f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason', '')}"
            for e in events
            if e.get("ResourceStatus", "").endswith("_FAILED")
        ]
        return "; ".join(reasons[:5]) or "no failed resource in the stack's events"


def _code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "error")


def confirm(stage: str, version: str, yes: bool, ask: Callable[[str], str] = input) -> None:
    if stage != "prod" or yes:
        return
    try:
        answer = ask(f"Roll stage prod back to deploy {version}? Type the stage name to go on: ")
    except EOFError:  # no terminal to ask on
        answer = ""
    if answer.strip() != "prod":
        raise RollbackError("not confirmed: nothing was changed (pass --yes where nobody can answer)")


def main(argv=None, session: boto3.Session | None = None, ask: Callable[[str], str] = input) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.rollback",
        description="Roll a stage back to an earlier deploy (its code and configuration; never its tables).",
        epilog="docs/deploy.md, 'Canary and rollback', says when and how.",
    )
    parser.add_argument("--stage", required=True, help="the stage, e.g. prod")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--version", help="the deploy to roll back to: its timestamp in ms, as --list shows it")
    which.add_argument("--list", action="store_true", help="list the deploys that can be rolled back to")
    parser.add_argument("--region", default=None, help="AWS region (default: your AWS configuration, else us-east-1)")
    parser.add_argument("--endpoint-url", help="send every AWS call here instead (tests: a moto server)")
    parser.add_argument("--yes", action="store_true", help="do not ask before rolling prod back")
    parser.add_argument("--dry-run", action="store_true", help="say what would be done, change nothing")
    parser.add_argument(
        "--keep-canary", action="store_true", help="shift traffic as that deploy's canary does, not all at once"
    )
    parser.add_argument("--poll-seconds", type=float, default=10, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.version is not None and not re.fullmatch(r"\d{13}", args.version):
        parser.error(f"--version is a deploy's timestamp in milliseconds (13 digits), not {args.version!r}")

    session = session or boto3.Session()
    region = args.region or session.region_name or "us-east-1"
    cloudformation = session.client("cloudformation", region_name=region, endpoint_url=args.endpoint_url)
    s3 = session.client("s3", region_name=region, endpoint_url=args.endpoint_url)
    rollback = Rollback(cloudformation, s3, args.stage, region, poll_seconds=args.poll_seconds)

    def act() -> None:
        if args.list:
            rollback.show_deployments()
            return
        bucket, plan = rollback.plan(args.version, args.keep_canary)
        if args.dry_run:
            rollback.say("dry run: nothing was changed")
            return
        confirm(args.stage, args.version, args.yes, ask)
        rollback.apply(bucket, plan)

    return exit_status(act, RollbackError, "AWS")


if __name__ == "__main__":
    raise SystemExit(main())
