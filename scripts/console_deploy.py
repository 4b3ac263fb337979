"""Upload the built web console (build/console, `make console`) to a deployed stage and point it at the stage's API.

    python -m scripts.console_deploy --stage <stage> [--region us-east-1] [--build build/console]

Run after `serverless deploy` of the same stage (docs/console.md): it reads the stack's outputs (ServiceEndpoint,
ConsoleBucketName, ConsoleDistributionId), uploads every built file to the console's bucket, writes
config.json there with the stage's API URL (the one file that differs per stage: one build serves them all), asks
CloudFront to drop its copies of the files whose names do not change, and prints the console's URL (the
distribution's own domain, or its alias when the stage has `consoleDomain`). AWS credentials
come the usual way (environment, profile, role).

The hashed assets (assets/index-<hash>.js) never change under their name: cached for a year. index.html and
config.json are revalidated on every load, so a new deploy is seen at once. Older assets are left in the bucket: a
tab opened before the upload still loads the ones its index.html names.
"""

import argparse
import json
import mimetypes
import sys
import time
from pathlib import Path

import boto3

from triggers.cli.aws_failures import exit_status
from triggers.settings import SERVICE

ROOT = Path(__file__).resolve().parents[1]
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
CHANGING = ("/", "/index.html", "/config.json")


class ConsoleDeployError(Exception):
    """Why nothing was uploaded: one line for the operator, exit status 1."""


def stack_outputs(cloudformation, stage: str) -> dict[str, str]:
    (stack,) = cloudformation.describe_stacks(StackName=f"{SERVICE}-{stage}")["Stacks"]
    return {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}


def upload(s3, bucket: str, build: Path, api_url: str) -> list[str]:
    """Every file of `build`, then config.json naming `api_url`; the keys written."""
    written = []
    for path in sorted(p for p in build.rglob("*") if p.is_file() and p.name != "config.json"):
        key = path.relative_to(build).as_posix()
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        cache = IMMUTABLE if key.startswith("assets/") else REVALIDATE
        s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes(), ContentType=content_type, CacheControl=cache)
        written.append(key)
    config = json.dumps({"api_url": api_url.rstrip("/")}).encode()
    s3.put_object(
        Bucket=bucket, Key="config.json", Body=config, ContentType="application/json", CacheControl=REVALIDATE
    )
    return [*written, "config.json"]


def deploy(session, stage: str, build: Path) -> str:
    """Upload the console of `build` to `stage` and invalidate what changed; the console's URL."""
    if not (build / "index.html").exists():
        raise ConsoleDeployError(f"{build} has no index.html: run `make console` first")
    outputs = stack_outputs(session.client("cloudformation"), stage)
    missing = {"ServiceEndpoint", "ConsoleBucketName", "ConsoleDistributionId"} - set(outputs)
    if missing:
        raise ConsoleDeployError(f"the stack of stage {stage} has no {', '.join(sorted(missing))}: deploy it first")
    keys = upload(session.client("s3"), outputs["ConsoleBucketName"], build, outputs["ServiceEndpoint"])
    print(f"uploaded {len(keys)} files to s3://{outputs['ConsoleBucketName']}/", flush=True)
    cloudfront = session.client("cloudfront")
    cloudfront.create_invalidation(
        DistributionId=outputs["ConsoleDistributionId"],
        InvalidationBatch={
            "Paths": {"Quantity": len(CHANGING), "Items": list(CHANGING)},
            "CallerReference": f"console-deploy-{time.time_ns()}",
        },
    )
    distribution = cloudfront.get_distribution(Id=outputs["ConsoleDistributionId"])["Distribution"]
    aliases = distribution["DistributionConfig"].get("Aliases", {}).get("Items") or [distribution["DomainName"]]
    return f"https://{aliases[0]}/"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.console_deploy",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--stage", required=True, help="the deployed stage (its stack is triggers-api-<stage>)")
    parser.add_argument("--region", default="us-east-1", help="the stage's region (default us-east-1)")
    parser.add_argument("--profile", help="an AWS profile (default: the usual credential chain)")
    parser.add_argument(
        "--build", type=Path, default=ROOT / "build" / "console", help="the built console (default build/console)"
    )
    args = parser.parse_args(argv)
    session = boto3.Session(region_name=args.region, profile_name=args.profile)

    def act() -> None:
        url = deploy(session, args.stage, args.build)
        print(f"The console of stage {args.stage}: {url} (CloudFront takes a minute or two to drop its old copies)")

    return exit_status(act, ConsoleDeployError, "AWS")


if __name__ == "__main__":
    sys.exit(main())
