"""The Lambda entry point: the app is built once per container, at import, from the function's environment, so
only the first request of a container pays for it. With SnapStart (the stage parameter `snapStart`) "once" is once
per published version, and a container restored from its snapshot first redoes what must not be shared or stale
(triggers/snapstart.py)."""

import os

from triggers import snapstart
from triggers.app import create_app
from triggers.http.wsgi import lambda_handler
from triggers.settings import from_environment

settings = from_environment(os.environ)
container = snapstart.restorable(lambda: lambda_handler(create_app(settings)), settings)


def handler(event: dict, context) -> dict:
    return container(event, context)
