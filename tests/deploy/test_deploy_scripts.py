"""The scripts serverless.yml's hooks run, on their own: scripts/byte_compile.py and scripts/stage_settings.cjs.

Each runs from the repository root, as the hooks do. What they do inside a real build and deploy is checked by
test_deploy_package (the packaged zip's byte code) and test_deploy_rehearsal (the stage settings on moto).
"""

import importlib.util
import subprocess
import sys
import zipfile

import pytest
from deploy_support import REPO, base_environment, run, unpack

BYTE_COMPILE = [sys.executable, "scripts/byte_compile.py"]  # the venv's Python, which is 3.13 as the hook's
STAGE_SETTINGS = ["node", "scripts/stage_settings.cjs"]


@pytest.mark.parametrize("command", [BYTE_COMPILE, STAGE_SETTINGS], ids=["byte_compile", "stage_settings"])
def test_script_answers_help(command):
    result = run([*command, "--help"], env=base_environment())
    assert result.stdout.startswith("usage: "), result.stdout


def test_byte_compile_rewrites_the_zip_with_unchecked_hash_byte_code(tmp_path):
    source = b"VALUE = 6 * 7\n"
    archive = tmp_path / "function.zip"
    with zipfile.ZipFile(archive, "w") as zout:
        zout.writestr("pkg/mod.py", source)
        zout.writestr("pkg/__pycache__/mod.cpython-312.pyc", b"stale byte code of another Python")
        zout.writestr("pkg/old.pyc", b"a legacy .pyc next to its source")
        zout.writestr("pkg/broken.py", b"def (:\n")
        zout.writestr("pkg/data.txt", b"not code")

    result = run([*BYTE_COMPILE, str(archive), str(tmp_path / "absent.zip")], env=base_environment())

    assert f"byte-compile: 1 modules compiled for cpython-313 in {archive}" in result.stdout
    assert "byte-compile: not compiled (it cannot be imported either): pkg/broken.py: " in result.stdout
    with zipfile.ZipFile(archive) as zin:
        assert sorted(zin.namelist()) == [
            "pkg/__pycache__/mod.cpython-313.pyc",
            "pkg/broken.py",
            "pkg/data.txt",
            "pkg/mod.py",
        ]
        pyc = zin.read("pkg/__pycache__/mod.cpython-313.pyc")
    assert pyc[:4] == importlib.util.MAGIC_NUMBER
    assert int.from_bytes(pyc[4:8], "little") == 0b01  # PEP 552: hash-based, source not checked
    assert pyc[8:16] == importlib.util.source_hash(source)
    assert not (tmp_path / "function.zip.tmp").exists()

    # Python runs that byte code without looking at the source: a changed source makes no difference.
    task = unpack(archive, tmp_path / "task")
    (task / "pkg" / "mod.py").write_text("VALUE = 0\n")
    imported = run([sys.executable, "-E", "-s", "-c", "import pkg.mod; print(pkg.mod.VALUE)"], cwd=task, env={})
    assert imported.stdout == "42\n"


def test_byte_compile_fails_without_a_zip(tmp_path):
    result = subprocess.run(
        [*BYTE_COMPILE, str(tmp_path / "service.zip"), str(tmp_path / "api.zip")],
        cwd=REPO,
        env=base_environment(),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode != 0
    assert "byte-compile: no zip to compile" in result.stderr


def test_stage_settings_wants_its_five_arguments():
    result = subprocess.run(
        [*STAGE_SETTINGS, "us-east-1", "triggers-api-dev"],
        cwd=REPO,
        env=base_environment(),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("usage: "), result.stderr
