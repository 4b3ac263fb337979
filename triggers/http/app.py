"""Builds the Connexion app from openapi.yaml: routes, auth and validation all come from the spec."""

from pathlib import Path

import yaml
from connexion import AsyncApp
from connexion.datastructures import MediaTypeDict
from connexion.middleware import MiddlewarePosition
from connexion.options import SwaggerUIOptions
from starlette.middleware.cors import CORSMiddleware

from triggers import logs, settings
from triggers.http import problems
from triggers.http.json_body import StrictJsonBodyValidator
from triggers.http.middleware import BodySizeLimit, RequestContext

SPEC = Path(__file__).resolve().parents[2] / "openapi.yaml"


def create_app(config: settings.Settings | None = None) -> AsyncApp:
    config = config or settings.current()
    logs.configure(config.log_level)
    app = AsyncApp(
        __name__,
        specification_dir=SPEC.parent,
        strict_validation=True,
        validate_responses=config.validate_responses,
        validator_map={"body": MediaTypeDict({"*/*json": StrictJsonBodyValidator})},
        swagger_ui_options=SwaggerUIOptions(swagger_ui_path="/v1/docs", spec_path="/v1/openapi.json"),
    )
    spec = yaml.safe_load(SPEC.read_text())
    app.add_api(spec)
    # Outermost first: CORS headers go on every answer, errors included; then the request id and log line.
    app.add_middleware(
        CORSMiddleware,
        position=MiddlewarePosition.BEFORE_EXCEPTION,
        allow_origins=list(config.cors_origins),
        allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
        allow_headers=["Content-Type", "X-API-Key", "X-Request-ID", "Idempotency-Key"],
        expose_headers=[
            "X-Request-ID",
            "Location",
            "Retry-After",
            "RateLimit-Limit",
            "RateLimit-Remaining",
            "RateLimit-Reset",
        ],
        max_age=3600,
    )
    app.add_middleware(RequestContext, position=MiddlewarePosition.BEFORE_EXCEPTION)
    app.add_middleware(BodySizeLimit, position=MiddlewarePosition.BEFORE_ROUTING)
    problems.register(app, spec["paths"])
    return app
