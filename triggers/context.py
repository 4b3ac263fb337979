"""What the code knows about the request being served, for responses and log lines."""

import re
import uuid
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from triggers.auth.rate_limits import Quota

_SANE_REQUEST_ID = re.compile(r"[\x21-\x7e]{1,128}")


@dataclass
class RequestState:
    request_id: str
    lambda_request_id: str | None = None
    tenant: str | None = None
    key_id: str | None = None  # the caller's key, once known (the audit trail's "who")
    quota: "Quota | None" = None  # once the key is known


_state: ContextVar[RequestState | None] = ContextVar("request_state", default=None)


def begin(client_request_id: str | None, lambda_request_id: str | None) -> RequestState:
    """Start a request: echo a sane client X-Request-ID, else make a new UUID v4."""
    if client_request_id is None or not _SANE_REQUEST_ID.fullmatch(client_request_id):
        client_request_id = str(uuid.uuid4())
    state = RequestState(request_id=client_request_id, lambda_request_id=lambda_request_id)
    _state.set(state)
    return state


def current() -> RequestState | None:
    return _state.get()


def request_id() -> str:
    state = _state.get()
    return state.request_id if state else str(uuid.uuid4())
