"""Helpers of the tests in tests/stage: ports, one-shot HTTP requests, tool runs, where generated clients go.

Kept apart from conftest.py so that test modules import them under a name no other test folder uses.
"""

import json
import socket
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "build" / "clients"
NPX = ("npx", "--no", "--")  # the project's pinned packages, never a download
RATE_LIMIT_PER_MINUTE = 1_000_000  # the session's stage: more than any test sends


def free_ports(count: int) -> list[int]:
    """Distinct free ports on 127.0.0.1 (held open together, so none is handed out twice)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@dataclass
class Answer:
    status: int
    headers: dict
    body: bytes

    @property
    def json(self):
        return json.loads(self.body)


class NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


_opener = urllib.request.build_opener(NoRedirects)


def request(method: str, url: str, *, headers: dict | None = None, body: bytes | None = None) -> Answer:
    """One HTTP request, redirects not followed; any status is an answer."""
    prepared = urllib.request.Request(url, data=body, method=method, headers=headers or {})  # noqa: S310 (loopback)
    try:
        with _opener.open(prepared, timeout=30) as response:
            return Answer(response.status, {k.lower(): v for k, v in response.headers.items()}, response.read())
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read())


def run(command, *, timeout=300, env=None, cwd=REPO) -> subprocess.CompletedProcess:
    """Run a tool to completion; if it fails, fail the test with the end of its output."""
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        output = (result.stdout + "\n" + result.stderr)[-6000:]
        pytest.fail(f"{' '.join(map(str, command))} exited with {result.returncode}:\n{output}", pytrace=False)
    return result
