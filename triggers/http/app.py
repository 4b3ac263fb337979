"""Builds the Connexion app from openapi.yaml: routes, auth and validation all come from the spec.

Shaped for a Lambda container; each choice below was measured (docs/performance.md, `make bench`):
- API requests run through Connexion's stack without the docs UI's router; the docs UI and the spec document
  come from a second app, built the first time someone asks for them;
- request validators are built once per schema, not per request (triggers/http/validation.py);
- the API key scheme inspects the key function's signature once, not twice per request;
- error handlers run on the event loop: Connexion would start a worker thread for each error response;
- the spec is not validated against the OpenAPI schema at every cold start (below).
"""

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import inflection
import yaml
from connexion import AsyncApp
from connexion.middleware import ConnexionMiddleware, MiddlewarePosition
from connexion.middleware.swagger_ui import SwaggerUIMiddleware
from connexion.options import SwaggerUIOptions
from connexion.resolver import Resolver
from connexion.security import NO_VALUE, ApiKeySecurityHandler
from connexion.spec import OpenAPISpecification
from starlette.responses import RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from triggers.http import cloudevents, problems, routing, validation
from triggers.http.middleware import (
    BodySizeLimit,
    ContentTypes,
    ProblemCors,
    RelativeRedirects,
    RequestContext,
    SecurityHeaders,
    Unreadable,
)
from triggers.settings import Settings

SPEC = Path(__file__).resolve().parents[2] / "openapi.yaml"
DOCS = SwaggerUIOptions(swagger_ui_path="/v1/docs", spec_path="/v1/openapi.json")
DOCS_PATHS = ("/v1/docs", "/v1/openapi.json", "/v1/openapi.yaml")
NO_DOCS = SwaggerUIOptions(serve_spec=False, swagger_ui=False)
API_MIDDLEWARES = [m for m in ConnexionMiddleware.default_middlewares if m is not SwaggerUIMiddleware]
# CloudEvents' binary mode (triggers/http/cloudevents.py): the attributes a browser may send as headers.
BINARY_MODE_HEADERS = ["ce-specversion", "ce-id", "ce-source", "ce-type", "ce-time", "ce-subject", "ce-dataschema"]

# Connexion checks the whole spec against the OpenAPI schema each time it loads it: about 110 ms of every cold
# start for this spec, and two loads at the first docs request (docs/performance.md). The spec is checked where it
# changes instead, by `make test` (openapi-spec-validator and Redocly, tests/stage/test_clients_and_spec.py), so
# the app loads it as it is; Connexion has no option for this, hence the one replaced method.
OpenAPISpecification._validate_spec = classmethod(lambda cls, spec: None)


def load_spec() -> dict:
    """openapi.yaml, parsed by libyaml (PyYAML's wheels include it): 8× faster than `yaml.safe_load`'s parser."""
    with SPEC.open("rb") as spec:
        return yaml.load(spec, Loader=yaml.CSafeLoader)


class Handlers:
    """Resolves the names the spec gives (`x-openapi-router-controller` + `operationId`, `x-apikeyInfoFunc`) to
    methods of the objects the composition root built: `triggers.operations.events.Events` + `createEvent` is the
    `create_event` method of the app's `Events` object."""

    def __init__(self, objects: list[object]):
        self.objects = {f"{type(o).__module__}.{type(o).__qualname__}": o for o in objects}

    def __call__(self, name: str) -> Callable:
        owner, _, method = name.rpartition(".")
        return getattr(self.objects[owner], inflection.underscore(method))


def create_api(settings: Settings, handlers: Handlers) -> ASGIApp:
    """The Connexion app of the spec; the docs UI and the spec document come from a second one built on demand."""
    spec = load_spec()
    docs = functools.partial(build, settings, spec, handlers, docs=True)
    return SecurityHeaders(DocsOnDemand(build(settings, spec, handlers), docs), DOCS_PATHS)


def build(settings: Settings, spec: dict, handlers: Handlers, *, docs: bool = False) -> AsyncApp:
    """The Connexion app of the spec: its API routes, or (docs=True) also the docs UI and the spec document."""
    app = AsyncApp(
        __name__,
        specification_dir=SPEC.parent,
        middlewares=None if docs else list(API_MIDDLEWARES),
        strict_validation=True,
        validate_responses=settings.validate_responses,
        validator_map=validation.VALIDATORS,
        security_map={"apiKey": api_key_scheme(handlers)},
        swagger_ui_options=DOCS if docs else NO_DOCS,
    )
    app.add_api(spec, resolver=Resolver(function_resolver=handlers))
    add_request_handling(app, settings, spec)
    return app


def add_request_handling(app: AsyncApp, settings: Settings, spec: dict) -> None:
    """What every request gets around Connexion's own handling: its id and log line, CORS, the body limit, and
    problem responses for every error."""
    # Outermost first: the request id and log line of every answer, CORS's own included (a refused preflight is a
    # problem with the request id); then CORS headers on every answer, errors included.
    app.add_middleware(RequestContext, position=MiddlewarePosition.BEFORE_EXCEPTION)
    app.add_middleware(
        ProblemCors,
        position=MiddlewarePosition.BEFORE_EXCEPTION,
        allow_origins=list(settings.cors_origins),
        allow_methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=["Content-Type", "X-API-Key", "X-Request-ID", "Idempotency-Key", *BINARY_MODE_HEADERS],
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
    # Around every router (the API's, and the docs UI's): each redirects a path with a trailing slash.
    app.add_middleware(RelativeRedirects, position=MiddlewarePosition.BEFORE_EXCEPTION)
    app.add_middleware(Unreadable, position=MiddlewarePosition.BEFORE_ROUTING)
    app.add_middleware(BodySizeLimit, position=MiddlewarePosition.BEFORE_ROUTING)
    app.add_middleware(ContentTypes, position=MiddlewarePosition.BEFORE_ROUTING)
    app.add_middleware(routing.LineBreaksInPaths, position=MiddlewarePosition.BEFORE_ROUTING)
    app.add_middleware(
        routing.LiteralPathMethods,
        position=MiddlewarePosition.BEFORE_ROUTING,
        methods=routing.shadowed_paths(spec["paths"]),
    )
    # Inside ContentTypes (it sees the lower-cased media type): CloudEvents' binary mode read as structured mode,
    # and 415 for CloudEvents whose data is not JSON.
    app.add_middleware(
        cloudevents.CloudEventsRequests,
        position=MiddlewarePosition.BEFORE_ROUTING,
        paths=cloudevents.cloudevents_paths(spec["paths"]),
    )
    problems.register(OnTheLoop(app), spec["paths"])


def api_key_scheme(handlers: Handlers) -> type[ApiKeySecurityHandler]:
    """Connexion's API key scheme, with the spec's `x-apikeyInfoFunc` resolved by `handlers` (Connexion makes an
    instance per scheme itself, so the resolver travels in the class). Connexion also inspects the signature of
    that function twice on every request to see which keyword arguments it takes; the answer cannot change, so it
    is kept.

    Connexion answers a request without the key's header with 401 itself, without calling the key function; here
    the function gets it as an empty key, so that it counts the request against its client address's rate limit
    as it does an unknown key's (triggers/auth/api_keys.py). The answer is the same 401 either way."""

    class ApiKeyScheme(ApiKeySecurityHandler):
        _accepts_kwarg = staticmethod(functools.cache(ApiKeySecurityHandler._accepts_kwarg))

        def _resolve_func(self, security_scheme: dict) -> Any:
            return handlers(security_scheme[self.security_definition_key])

        def _get_verify_func(self, api_key_info_func, loc, name, required_scopes):
            verify = super()._get_verify_func(api_key_info_func, loc, name, required_scopes)
            check = self.check_api_key(api_key_info_func)

            def verify_or_count(request):
                verified = verify(request)
                return check(request, "", required_scopes=required_scopes) if verified is NO_VALUE else verified

            return verify_or_count

    return ApiKeyScheme


class OnTheLoop:
    """Registers error handlers on an app so that they run on the event loop.

    Connexion hands a plain-function error handler to Starlette's thread pool, whose worker threads end with each
    request's run of the loop (triggers/http/wsgi.py): every error response started a thread. The handlers only
    build a response, so each is wrapped in a coroutine.
    """

    def __init__(self, app: AsyncApp):
        self.app = app

    def add_error_handler(self, code_or_exception, handler) -> None:
        self.app.add_error_handler(
            code_or_exception, handler if inspect.iscoroutinefunction(handler) else _async(handler)
        )


def _async(handler):
    async def run_on_the_loop(request, exc):
        return handler(request, exc)

    return run_on_the_loop


class DocsOnDemand:
    """Sends the docs paths to an app that it builds on first use, and every other request to the API app."""

    def __init__(self, api: ASGIApp, build_docs, docs_paths: tuple[str, ...] = DOCS_PATHS):
        self.api = api
        self.build_docs = build_docs
        self.docs_paths = docs_paths
        self.docs: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")[len(scope.get("root_path", "")) :]
        if scope["type"] == "http" and path == DOCS.swagger_ui_path:
            # Connexion would redirect to .../docs/, which serverless-offline (and some proxies) strip back to
            # .../docs: a loop. index.html is the same page, at a path no one strips.
            location = scope.get("root_path", "") + DOCS.swagger_ui_path + "/index.html"
            await RedirectResponse(location)(scope, receive, send)
            return
        if scope["type"] == "http" and path.startswith(self.docs_paths):
            if self.docs is None:
                self.docs = self.build_docs()
            await self.docs(scope, receive, send)
        else:
            await self.api(scope, receive, send)
