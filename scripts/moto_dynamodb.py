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
    """moto.server's main, but one request at a time (see the module's docstring), with streams that survive
    transactions."""
    keep_streams_through_transactions()
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import run_simple

    run_simple(
        "127.0.0.1",
        port,
        DomainDispatcherApplication(create_backend_app),
        threaded=False,
        request_handler=MotoRequestHandler,
    )


def keep_streams_through_transactions() -> None:
    """Mend moto's TransactWriteItems (5.2) for a table with a stream, in this process.

    Before a transaction moto deep-copies every table it names, to put the copies back if the transaction is
    cancelled. The copy included the table's stream shard, which holds every record since the table was made: each
    create with an Idempotency-Key (a transaction on the events table) got slower as the stream grew. Worse, once a
    cancelled transaction (any replayed Idempotency-Key) had put its copy in place, every shard iterator handed out
    before read the old shard, which no record reaches any more: the stream plugin's poller, which only follows
    NextShardIterator, saw nothing again, and the fan-out stopped for the rest of the run.

    Here the copy shares the shard, and the records that a cancelled transaction's earlier writes added to it are
    taken out again (DynamoDB streams nothing of a cancelled transaction).
    """
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import StreamShard

    setattr(StreamShard, "__deepcopy__", lambda shard, memo: shard)  # noqa: B010 (mypy: no such attribute)
    transact = DynamoDBBackend.transact_write_items

    def transact_write_items(backend: DynamoDBBackend, transact_items: list[dict]) -> None:
        shards = {
            name: (table.stream_shard, len(table.stream_shard.items))
            for name, table in backend.tables.items()
            if table.stream_shard is not None
        }
        try:
            transact(backend, transact_items)
        except Exception:
            for name, (shard, length) in shards.items():
                del shard.items[length:]
                shard.table = backend.tables[name]  # the copy put back in the original's place
            raise

    setattr(DynamoDBBackend, "transact_write_items", transact_write_items)  # noqa: B010


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
