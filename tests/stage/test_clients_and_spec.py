"""The spec lints clean (Redocly CLI's recommended rules, openapi-spec-validator), and the TypeScript types
generated from it type-check the usage file consumers start from (clients/typescript/usage.ts)."""

import json
import os

import yaml
from openapi_spec_validator import validate
from stage_support import BUILD, NPX, REPO, request, run

SPEC = REPO / "openapi.yaml"
TYPES = BUILD / "typescript" / "schema.d.ts"
# What the recommended rules report today and openapi.yaml is to be changed for (docs/local-stage.md, "Pending").


def node_environment() -> dict:
    """No telemetry, no update check: tests run without a network."""
    return {**os.environ, "REDOCLY_TELEMETRY": "off", "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true"}


def test_redocly_recommended_rules_report_no_error_and_no_warning():
    result = run([*NPX, "@redocly/cli", "lint", str(SPEC), "--format", "json"], env=node_environment(), timeout=120)
    report = json.loads(result.stdout)
    problems = {
        (problem["ruleId"], location["pointer"])
        for problem in report["problems"]
        for location in problem["location"][:1]
    }
    assert report["totals"]["errors"] == 0, json.dumps(report["problems"], indent=2)
    assert report["totals"]["warnings"] == 0, json.dumps(report["problems"], indent=2)
    assert problems == set()


def test_openapi_spec_validator_accepts_the_spec():
    validate(yaml.safe_load(SPEC.read_text()))


def test_the_spec_the_stage_serves_is_valid_too(stage):
    served = request("GET", stage.url + "/v1/openapi.json")
    assert served.status == 200
    validate(served.json)


def test_the_generated_typescript_types_check_the_usage_file():
    TYPES.parent.mkdir(parents=True, exist_ok=True)
    env = node_environment()
    run([*NPX, "openapi-typescript", str(SPEC), "--empty-objects-unknown", "-o", str(TYPES)], env=env, timeout=120)
    assert "export interface paths" in TYPES.read_text()
    # Strict options; every `@ts-expect-error` in the file must meet an error, or tsc fails.
    run([*NPX, "tsc", "-p", str(REPO / "clients" / "typescript")], env=env, timeout=180)
