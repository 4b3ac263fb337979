"""One cold start: build a handler from the environment's settings, answer one create. Run by bench/cold.py.

The parent times the whole process; this records the status and where the time went inside it.
"""

import time

STARTED = time.perf_counter()

import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402


def main(subject: str, out: str) -> None:
    from bench.storage_double import new_client
    from triggers.settings import from_environment

    settings, dynamodb = from_environment(os.environ), new_client()
    if subject == "ours":  # handlers/lambda_handler.py, with the double for a client
        from triggers.app import create_app
        from triggers.http.wsgi import lambda_handler

        handler = lambda_handler(create_app(settings, dynamodb))
    else:
        from bench import reference_flask
        from triggers.services import build_services

        services = build_services(settings, dynamodb)
        handler = reference_flask.lambda_handler(services.events, services.authenticator)
    built = time.perf_counter()

    from bench import workload

    key, _ = workload.new_tenant(settings, dynamodb)
    request, context = workload.create_request(key), workload.lambda_context()
    ready = time.perf_counter()
    response = handler(request, context)
    answered = time.perf_counter()
    figures = {
        "status": int(response["statusCode"]),
        "build_ms": (built - STARTED) * 1000,  # imports and the app's build
        "first_request_ms": (answered - ready) * 1000,
    }
    with open(out, "w") as file:
        json.dump(figures, file)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
