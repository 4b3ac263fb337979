"""`python -m scripts.local_stage`, the README's run command, as a person uses it: it starts, prints a curl line that
works when pasted, and Ctrl-C leaves nothing behind. A port in use stops it before it starts anything."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from stage_support import REPO, free_ports

from scripts.moto_dynamodb import port_in_use

COMMAND = [sys.executable, "-m", "scripts.local_stage"]


def stage_processes(marker: str) -> list[str]:
    """Processes of this machine whose command line or environment contains `marker` (a port only this run uses)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            status = (proc / "status").read_text()
            if "\nState:\tZ" in status:
                continue  # a zombie has exited; only its parent's wait() is missing
            seen = (proc / "cmdline").read_bytes() + b"\0" + (proc / "environ").read_bytes()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if marker.encode() in seen:
            found.append(f"{proc.name}: {(proc / 'cmdline').read_bytes().replace(b'\0', b' ').decode()[:200]}")
    return found


def test_a_port_in_use_is_reported_and_nothing_starts():
    api_port, dynamodb_port, lambda_port = free_ports(3)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", api_port))
        busy.listen()
        ports = ["--api-port", str(api_port), "--dynamodb-port", str(dynamodb_port), "--lambda-port", str(lambda_port)]
        result = subprocess.run(COMMAND + ports, cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert f"port {api_port} on 127.0.0.1 (api) is in use" in result.stderr
    assert "--api-port" in result.stderr
    assert not port_in_use(dynamodb_port), "moto was started although the API's port was taken"


def test_the_run_command_prints_a_working_curl_line_and_ctrl_c_stops_everything():
    api_port, dynamodb_port, lambda_port, console_port = free_ports(4)
    ports = ["--api-port", str(api_port), "--dynamodb-port", str(dynamodb_port), "--lambda-port", str(lambda_port)]
    ports += ["--console-port", str(console_port)]
    process = subprocess.Popen(
        COMMAND + ports,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # so that the SIGINT below reaches this command alone, as a terminal's would
    )
    lines: list[str] = []
    assert process.stdout is not None
    stdout = process.stdout
    reader = threading.Thread(target=lambda: lines.extend(stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 120
        while not any("Ctrl-C stops everything" in line for line in lines):
            assert process.poll() is None, "the command exited:\n" + "".join(lines[-60:])
            assert time.monotonic() < deadline, "no banner within 120 s:\n" + "".join(lines[-60:])
            time.sleep(0.2)
        output = "".join(lines)
        assert f"Stage URL    http://127.0.0.1:{api_port}" in output
        assert f"Docs         http://127.0.0.1:{api_port}/v1/docs/" in output
        # The console when `make run` has built it (build/console), else how to get it.
        assert f"Console      http://127.0.0.1:{console_port}/" in output or "Console      not built" in output
        curl_line = next(lines[i + 1] for i, line in enumerate(lines) if line.startswith("Create an event"))

        pasted = subprocess.run(["sh", "-c", curl_line.strip()], capture_output=True, text=True, timeout=30)
        assert pasted.stdout.startswith("HTTP/1.1 201"), pasted.stdout + pasted.stderr
        assert '"status": "pending"' in pasted.stdout

        assert stage_processes(f"127.0.0.1:{dynamodb_port}"), "no process of the stage found to watch"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    reader.join(timeout=5)

    deadline = time.monotonic() + 10
    while (left := stage_processes(f"127.0.0.1:{dynamodb_port}")) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, "processes left running after Ctrl-C:\n" + "\n".join(left)
    for port in (api_port, dynamodb_port, lambda_port, console_port):
        assert not port_in_use(port), f"port {port} still answers after Ctrl-C"
