"""The success responses of the operations."""

from triggers import context


def json_response(body: dict, status: int = 200, headers: dict | None = None):
    """Body with the request id; the content type explicit, because operations that document problem+json too
    make Connexion refuse to guess it."""
    return {**body, "request_id": context.request_id()}, status, {"Content-Type": "application/json", **(headers or {})}
