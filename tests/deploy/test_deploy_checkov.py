"""checkov on the packaged templates: no failed IAM check, and every other finding is one docs/deploy.md explains.

checkov cannot evaluate the IAM checks (CKV_AWS_109, CKV_AWS_111) on the template as osls writes it: the role's
PolicyName is an `Fn::Join` of literals, which makes checkov give up on the whole role ("unknown", neither passed
nor failed). So it also runs on a copy in which every `Fn::Join` of plain strings is joined (what CloudFormation
would do; nothing else changes), and there the IAM checks must run and pass.
"""

import json
import os
import subprocess
from pathlib import Path

import pytest
from deploy_support import REPO

IAM_CHECKS = {"CKV_AWS_63", "CKV_AWS_109", "CKV_AWS_111"}
# Findings we accept, each explained in docs/deploy.md ("checkov findings").
ACCEPTED = {
    "CKV_AWS_18",  # deployment and console buckets' access logging
    "CKV_AWS_21",  # deployment and console buckets' versioning
    "CKV_AWS_27",  # queues encrypted with SSE-SQS, which this check does not see (see below)
    "CKV_AWS_28",  # point-in-time recovery off outside prod, and never on the rate-limit counters or job records
    "CKV_AWS_59",  # API methods without an API Gateway authorizer: the app checks the API key
    "CKV_AWS_115",  # reserved concurrency optional
    "CKV_AWS_116",  # no function dead-letter queue: none is invoked asynchronously
    "CKV_AWS_117",  # not in a VPC
    "CKV_AWS_119",  # tables encrypted with the AWS-owned key, not a customer-managed one
    "CKV_AWS_158",  # log groups encrypted with CloudWatch's key, not a customer-managed one
    "CKV_AWS_173",  # environment encrypted with Lambda's key, not a customer-managed one
    "CKV_AWS_26",  # the alarm topic unencrypted: CloudWatch cannot publish to a topic under aws/sns
    "CKV_AWS_192",  # the web ACL (prod) has no Log4j rule group: no Java anywhere, its one job is the rate rule
    "CKV_AWS_68",  # no WAF on the console's CloudFront: static files only
    "CKV_AWS_86",  # no access logs on the console's CloudFront
    "CKV_AWS_174",  # CloudFront's default certificate when the stage has no console domain (TLS 1.2 with one)
}


def join_literals(value):
    if isinstance(value, dict):
        if set(value) == {"Fn::Join"}:
            separator, parts = value["Fn::Join"]
            parts = [join_literals(part) for part in parts]
            if all(isinstance(part, str) for part in parts):
                return separator.join(parts)
            return {"Fn::Join": [separator, parts]}
        return {key: join_literals(item) for key, item in value.items()}
    if isinstance(value, list):
        return [join_literals(item) for item in value]
    return value


def run_checkov(checkov: str, folder: Path, templates: dict[str, dict]) -> dict[str, dict]:
    """One run over the named templates, written to `folder` (checkov's start costs more than a template's checks);
    each name's results."""
    for name, template in templates.items():
        (folder / f"{name}.json").write_text(json.dumps(template, indent=1))
    result = subprocess.run(
        [checkov, "-d", str(folder), "--framework", "cloudformation", "--skip-download", "-o", "json", "--soft-fail"],
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["check_type"] == "cloudformation"
    assert report["summary"]["parsing_errors"] == 0
    assert report["summary"]["resource_count"] == sum(len(t["Resources"]) for t in templates.values())
    return {
        name: {
            outcome: [c for c in report["results"][outcome] if c["file_path"] == f"/{name}.json"]
            for outcome in ("passed_checks", "failed_checks")
        }
        for name in templates
    }


@pytest.fixture(params=["dev", "prod"], scope="module")
def reports(request, packages, checkov, tmp_path_factory):
    package = packages(request.param)
    templates = {"original": package.update_template, "joined": join_literals(package.update_template)}
    results = run_checkov(checkov, tmp_path_factory.mktemp(f"checkov-{request.param}"), templates)
    return results["original"], results["joined"]


def test_no_failed_iam_check(reports):
    for results in reports:
        failed = {(c["check_id"], c["resource"]) for c in results["failed_checks"] if c["check_id"] in IAM_CHECKS}
        assert not failed


def test_iam_checks_really_ran_on_every_role(reports, request, packages):
    """The functions' role; on prod the canary's two roles too (CodeDeploy's, the hook's: scripts/canary_glue.cjs)."""
    _, joined = reports
    passed = {(c["check_id"], c["resource"]) for c in joined["passed_checks"]}
    roles = packages(request.node.callspec.params["reports"]).resources("AWS::IAM::Role")
    assert "IamRoleLambdaExecution" in roles
    for role in roles:
        for check in IAM_CHECKS:
            assert (check, f"AWS::IAM::Role.{role}") in passed, (check, role)


def test_queues_are_encrypted_with_sse_sqs(reports, packages):
    """CKV_AWS_27 (checkov 3.3.30) looks for KmsMasterKeyId only. The queues use SSE-SQS (SqsManagedSseEnabled), so
    it fails on each of them: accepted there and nowhere else, and only while every failing queue has SSE-SQS on."""
    for results in reports:
        failed = {c["resource"] for c in results["failed_checks"] if c["check_id"] == "CKV_AWS_27"}
        for stage in ("dev", "prod"):
            resources = packages(stage).update_template["Resources"]
            for resource in failed:
                kind, name = resource.split(".", 1)
                assert kind == "AWS::SQS::Queue" and resources[name]["Type"] == kind, resource
                assert resources[name]["Properties"]["SqsManagedSseEnabled"] is True, resource


def test_other_findings_are_the_documented_ones(reports):
    docs = (REPO / "docs" / "deploy.md").read_text()
    for results in reports:
        failed = {c["check_id"] for c in results["failed_checks"]}
        assert failed <= ACCEPTED, failed - ACCEPTED
    for check in ACCEPTED:
        assert check in docs, f"{check} is accepted but docs/deploy.md does not explain it"
