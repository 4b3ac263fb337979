"""The Lambda entry point: the app is built once per container, at import, from the function's environment, so
only the first request of a container pays for it."""

import os

from triggers.app import create_app
from triggers.http.wsgi import lambda_handler
from triggers.settings import from_environment

handler = lambda_handler(create_app(from_environment(os.environ)))
