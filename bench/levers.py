"""The app as it was before each performance lever, for the before/after figures of docs/performance.md.

`variant(levers)` builds the Lambda handler with only the named levers pulled, from the same pieces as
triggers/http/app.py (`build` there is what all of them together amount to; the warm benchmark measures that real
handler as "ours" next to these). Levers, in the order they were pulled:

- `in_thread`: the ASGI app driven in the calling thread (triggers/http/wsgi.py) instead of through a2wsgi,
  which runs an event loop in another thread and hands it every request;
- `on_the_loop`: error handlers run on the event loop, not in Starlette's thread pool;
- `built_once`: request validators built once per schema (triggers/http/validation.py), not a `jsonschema`
  validator built per parameter and per body on every request;
- `key_scheme`: the API key scheme that inspects the key function's signature once, not twice per request;
- `no_docs_router`: the API app without the docs UI middleware; the docs come from a second app built on demand
  (so a cold start builds one app, not two).
And one for cold starts only: `libyaml`, the spec parsed by PyYAML's C loader instead of its pure-Python one.
One more is measured but not pulled: `jsonschema_rs`, validation by jsonschema-rs (bench/rs_validation.py).
"""

import dataclasses
import importlib.util
from functools import partial

import awsgi
import yaml
from connexion import AsyncApp
from connexion.datastructures import MediaTypeDict

from triggers import settings
from triggers.http import app as our_app
from triggers.http import validation
from triggers.http.json_body import StrictJsonBodyValidator
from triggers.http.wsgi import WsgiAdapter, mend_environ

# Before `built_once`: Connexion's validators, with the strict JSON parsing the app had then too.
PLAIN_BODY = MediaTypeDict({"*/*json": StrictJsonBodyValidator})

ORDER = ("in_thread", "on_the_loop", "built_once", "key_scheme", "no_docs_router")

# name → (levers pulled, what the row shows)
VARIANTS = {
    "before": ((), "no lever: a2wsgi, Connexion's defaults"),
    "+in_thread": (ORDER[:1], "+ ASGI app driven in the calling thread"),
    "+on_the_loop": (ORDER[:2], "+ error handlers on the event loop"),
    "+built_once": (ORDER[:3], "+ validators built once per schema"),
    "+key_scheme": (ORDER[:4], "+ key function's signature inspected once"),
    "+no_docs_router": (ORDER[:5], "+ docs UI off the API path (all levers)"),
    "+jsonschema_rs": ((*ORDER, "jsonschema_rs"), "+ jsonschema-rs (not pulled: +6 MB zipped)"),
}


def missing_modules(levers) -> list[str]:
    """What a variant needs that is not installed (a2wsgi before `in_thread`; jsonschema_rs for its lever)."""
    needed = ([] if "in_thread" in levers else ["a2wsgi"]) + (["jsonschema_rs"] if "jsonschema_rs" in levers else [])
    return [name for name in needed if importlib.util.find_spec(name) is None]


def _connexion_app(config: settings.Settings, spec: dict, levers: set[str], *, docs: bool) -> AsyncApp:
    api_only = "no_docs_router" in levers and not docs
    app = AsyncApp(
        our_app.__name__,
        specification_dir=our_app.SPEC.parent,
        middlewares=list(our_app.API_MIDDLEWARES) if api_only else None,
        strict_validation=True,
        validate_responses=config.validate_responses,
        validator_map=_validators(levers),
        security_map={"apiKey": our_app.ApiKeyScheme} if "key_scheme" in levers else None,
        swagger_ui_options=our_app.NO_DOCS if api_only else our_app.DOCS,
    )
    app.add_api(spec)
    our_app.add_request_handling(app, config, spec, error_handlers_on_the_loop="on_the_loop" in levers)
    return app


def _validators(levers: set[str]) -> dict:
    if "jsonschema_rs" in levers:
        from bench import rs_validation

        return rs_validation.VALIDATORS
    return validation.VALIDATORS if "built_once" in levers else {"body": PLAIN_BODY}


def _a2wsgi(asgi_app):
    """a2wsgi as the adapter, with the same environ mending; the body materialised, as aws-wsgi needs."""
    from a2wsgi import ASGIMiddleware

    middleware = ASGIMiddleware(asgi_app)

    def wsgi_app(environ, start_response):
        mend_environ(environ)
        return list(middleware(environ, start_response))

    return wsgi_app


def variant(levers, *, validate_responses: bool | None = None):
    """The Lambda handler with only `levers` pulled (and, optionally, response validation switched)."""
    levers = set(levers)
    config = settings.current()
    if validate_responses is not None:
        config = dataclasses.replace(config, validate_responses=validate_responses)
    spec = our_app.load_spec() if "libyaml" in levers else yaml.safe_load(our_app.SPEC.read_text())
    asgi_app = _connexion_app(config, spec, levers, docs="no_docs_router" not in levers)
    if "no_docs_router" in levers:
        asgi_app = our_app.DocsOnDemand(asgi_app, partial(_connexion_app, config, spec, levers, docs=True))
    wsgi_app = WsgiAdapter(asgi_app) if "in_thread" in levers else _a2wsgi(asgi_app)

    def handler(event, context):
        return awsgi.response(wsgi_app, event, context)

    return handler
