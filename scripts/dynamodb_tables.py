"""Create the DynamoDB tables from their one definition, serverless.yml's `resources`, on any endpoint.

Tests and the local stage use this, so neither can drift from what `serverless deploy` creates.
"""

import argparse
from pathlib import Path

import boto3
import yaml

from triggers.settings import SERVICE

SERVERLESS_YML = Path(__file__).resolve().parents[1] / "serverless.yml"
TABLE_RESOURCES = {
    "events": "EventsTable",
    "keys": "ApiKeysTable",
    "ratelimits": "RateLimitsTable",
    "subscriptions": "SubscriptionsTable",
    "deliveries": "DeliveriesTable",
    "jobs": "JobsTable",
    "audit": "AuditTable",
}
_CREATE_FIELDS = (
    "AttributeDefinitions",
    "KeySchema",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "BillingMode",
    "StreamSpecification",
)


def table_properties(kind: str) -> dict:
    resources = yaml.safe_load(SERVERLESS_YML.read_text())["resources"]["Resources"]
    return resources[TABLE_RESOURCES[kind]]["Properties"]


def table_name(kind: str, stage: str) -> str:
    """serverless.yml's TableName with its two variables resolved."""
    template = table_properties(kind)["TableName"]
    return template.replace("${self:service}", SERVICE).replace("${sls:stage}", stage)


def create_table(client, kind: str, name: str) -> None:
    properties = table_properties(kind)
    fields = {field: properties[field] for field in _CREATE_FIELDS if field in properties}
    if "StreamSpecification" in fields:  # CloudFormation implies StreamEnabled; the API wants it said
        fields["StreamSpecification"] = {"StreamEnabled": True, **fields["StreamSpecification"]}
    client.create_table(TableName=name, **fields)
    ttl = properties.get("TimeToLiveSpecification")
    if ttl:
        client.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)


def ensure_tables(client, names: dict[str, str]) -> None:
    """Create each table of {kind: name} that does not exist yet."""
    existing = set(client.list_tables()["TableNames"])
    for kind, name in names.items():
        if name not in existing:
            create_table(client, kind, name)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stage", required=True, help="stage whose table names to use, e.g. local")
    parser.add_argument("--endpoint-url", required=True, help="DynamoDB endpoint, e.g. http://127.0.0.1:8000")
    parser.add_argument("--region", default="us-east-1")
    args = parser.parse_args(argv)
    client = boto3.client("dynamodb", endpoint_url=args.endpoint_url, region_name=args.region)
    names = {kind: table_name(kind, args.stage) for kind in TABLE_RESOURCES}
    ensure_tables(client, names)
    for name in names.values():
        print(f"table ready: {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
