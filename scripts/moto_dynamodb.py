"""Start moto in server mode on 127.0.0.1: the embedded DynamoDB of tests and of the local stage.

The server handles one request at a time. DynamoDB applies each write to an item atomically, so of two concurrent
conditional writes exactly one succeeds; moto's default threaded server does not serialise them (two concurrent
acks both answered 200 in our race test). Serving requests one by one gives moto DynamoDB's atomicity; clients
still race exactly as they would against AWS.
"""

import argparse
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def start(port: int, timeout: float = 30.0) -> subprocess.Popen:
    """Start the server in its own process group and wait until it answers; raise if it cannot."""
    if port_in_use(port):
        raise RuntimeError(f"port {port} on 127.0.0.1 is in use: choose another one")
    process = subprocess.Popen(
        [sys.executable, "-m", "scripts.moto_dynamodb", "--serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env={**os.environ, "MOTO_PORT": str(port), "PYTHONPATH": str(_ROOT)},
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto server exited with status {process.returncode}")
        if port_in_use(port):
            return process
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"moto server did not answer on port {port} within {timeout:.0f}s")


def serve(port: int) -> None:
    """moto.server's main, but one request at a time (see the module's docstring)."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import run_simple

    run_simple(
        "127.0.0.1",
        port,
        DomainDispatcherApplication(create_backend_app),
        threaded=False,
        request_handler=MotoRequestHandler,
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--serve", action="store_true", help="serve in this process (what start() runs)")
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.port)
        return 0
    process = start(args.port)
    print(f"moto DynamoDB on http://127.0.0.1:{args.port} (Ctrl-C stops it)", flush=True)
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.terminate()
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
