"""The Lambda entry point: API Gateway REST events (payload v1) → aws-wsgi → the Connexion app.

The app is built once per container, at import, so only the first request of a container pays for it.
"""

import awsgi

from triggers.http.app import create_app
from triggers.http.wsgi import WsgiAdapter

# Swagger UI's images are binary; API Gateway needs them base64-encoded.
_BINARY_TYPES = {"image/png", "image/x-icon"}

wsgi_app = WsgiAdapter(create_app())


def handler(event, context):
    return awsgi.response(wsgi_app, event, context, base64_content_types=_BINARY_TYPES)
