"""The stage fuzzing command against the local stage: every check, every phase (stateful through the spec's links),
two tenants for object_level_authorization; it must find nothing. The command's exit status is the verdict."""

import os
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET

from stage_support import REPO

from scripts import fuzz_stage
from tests.support import unique

# Per operation and phase; the coverage phase adds its boundary cases whatever this is. This run is about the whole
# path (serverless offline, the functions, moto); depth is tests/contract's, in process and much faster. 100 took
# 12 minutes of a loaded CI run, 25 took 3.5: moto reads a whole table per index Query, so each example costs more
# than the last.
MAX_EXAMPLES = 10


def fuzz(stage_url: str, report_dir, owner_key: str, peer_key: str, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TRIGGERS_API_KEY": owner_key, "TRIGGERS_PEER_API_KEY": peer_key}
    command = [sys.executable, "-m", "scripts.fuzz_stage", stage_url, "--report-dir", str(report_dir), *extra]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=900, check=False)


def test_fuzzing_the_local_stage_finds_nothing(own_stage, tmp_path):
    """On a stage of its own (conftest.py's `own_stage` says why)."""
    stage = own_stage
    keys = [stage.create_key(unique(prefix)) for prefix in ("fuzz-a", "fuzz-b")]
    result = fuzz(stage.url, tmp_path, *keys, "--max-examples", str(MAX_EXAMPLES))
    output = result.stdout + result.stderr
    log = stage.log_path.read_text()[-3000:] if stage.log_path else ""
    assert result.returncode == 0, f"{output[-12000:]}\n--- the stage's log, last lines ---\n{log}"

    for phase in fuzz_stage.PHASES:
        assert f"✅ {phase.capitalize()}" in output, f"phase {phase} did not run and pass:\n{output[-4000:]}"
    assert "Stateful tests" in (tmp_path / "junit.xml").read_text()
    report = ET.parse(tmp_path / "junit.xml").getroot()  # noqa: S314 (the report this test just had written)
    assert int(report.get("tests", "0")) >= 8  # 7 operations and the stateful run
    assert report.get("failures") == "0" and report.get("errors") == "0"


def test_the_peers_configuration_keeps_every_setting_of_schemathesis_toml(tmp_path):
    """The run's config is schemathesis.toml with only [auth] replaced: the narrowed exceptions still apply."""
    original = tomllib.loads(fuzz_stage.CONFIG.read_text())
    derived = fuzz_stage.stage_config(tmp_path / "auth.yaml")
    assert derived["auth"] == {
        "wfc": {"path": str(tmp_path / "auth.yaml"), "user": "tenant-a", "peers": ["tenant-a", "tenant-b"]}
    }
    assert {k: v for k, v in derived.items() if k != "auth"} == {k: v for k, v in original.items() if k != "auth"}


def test_the_auth_file_is_readable_by_its_owner_only(tmp_path):
    path = tmp_path / "auth.yaml"
    fuzz_stage.write_auth_file(path, "trg_owner", "trg_peer")
    assert path.stat().st_mode & 0o777 == 0o600


def test_missing_or_equal_keys_are_a_usage_error(tmp_path):
    missing = fuzz("http://127.0.0.1:9", tmp_path, "", "")
    assert missing.returncode == 2
    assert "set TRIGGERS_API_KEY and TRIGGERS_PEER_API_KEY" in missing.stderr
    same = fuzz("http://127.0.0.1:9", tmp_path, "trg_same", "trg_same")
    assert same.returncode == 2
    assert "the same key" in same.stderr


def test_an_unreachable_stage_fails_the_run(tmp_path):
    result = fuzz("http://127.0.0.1:9", tmp_path, "trg_a", "trg_b", "--wait-for-schema", "1")
    assert result.returncode != 0
