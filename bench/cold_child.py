"""One cold start: import a handler, build it, answer one create. Run by bench/cold.py in a fresh `python -S`.

The parent times the whole process; this records where the time went inside it. Storage is the in-memory double,
installed after the handler's import, the same way for every subject.
"""

import time

STARTED = time.perf_counter()

import json  # noqa: E402
import sys  # noqa: E402


def import_handler(subject: str):
    if subject == "ours":
        from handlers.lambda_handler import handler
    elif subject == "before":
        from bench import levers

        handler = levers.variant(())
    elif subject == "flask":
        from bench.reference_flask import handler
    elif subject == "raw":
        from bench.reference_raw import handler
    else:
        raise SystemExit(f"unknown subject {subject!r}")
    return handler


def main(subject: str, out: str) -> None:
    from bench import workload

    workload.configure_environment()
    handler = import_handler(subject)
    imported = time.perf_counter()

    from bench.gateway import lambda_context
    from bench.storage_double import InMemoryDynamoDB
    from triggers.storage import dynamodb

    dynamodb.use_client(InMemoryDynamoDB())
    key, _ = workload.new_tenant()
    request = workload.create_request(key)
    ready = time.perf_counter()
    response = handler(request, lambda_context())
    answered = time.perf_counter()
    figures = {
        "status": int(response["statusCode"]),
        "import_ms": (imported - STARTED) * 1000,
        "first_request_ms": (answered - ready) * 1000,
        "in_process_ms": ((answered - STARTED) - (ready - imported)) * 1000,  # without the benchmark's set-up
    }
    with open(out, "w") as file:
        json.dump(figures, file)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
