"""Sending one push over HTTP, to the address the name resolved to and was checked against, so a name that
resolves to a public address for the check and a private one for the connection (DNS rebinding) cannot reach
the inside. Redirects are not followed, a response is read up to 64 KiB, and a send takes at most `timeout`
seconds in all. Nothing here logs the URL, the response or a header: the caller logs the outcome.
"""

import socket
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import urllib3
from urllib3.exceptions import HTTPError, NewConnectionError, TimeoutError

from triggers.domain.push import SendResult, address_allowed

MAX_RESPONSE_BYTES = 64 * 1024

Resolver = Callable[..., list[Any]]


class WebhookSender:
    def __init__(self, allow_private: bool, timeout: float = 10.0, resolve: Resolver = socket.getaddrinfo):
        self.allow_private = allow_private
        self.timeout = timeout
        self.resolve = resolve

    def post(self, url: str, headers: dict[str, str], body: bytes) -> SendResult:
        started = time.monotonic()

        def result(**fields: Any) -> SendResult:
            return SendResult(duration_ms=int((time.monotonic() - started) * 1000), **fields)

        try:
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            return result(error="invalid_url")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return result(error="invalid_url")
        try:
            addresses = [info[4][0] for info in self.resolve(parts.hostname, port, type=socket.SOCK_STREAM)]
        except (OSError, UnicodeError):
            return result(error="dns_error")
        allowed = [a for a in addresses if self.allow_private or address_allowed(a)]
        if not allowed:
            return result(error="address_not_allowed")
        pool: urllib3.HTTPConnectionPool
        timeout = urllib3.Timeout(total=self.timeout)
        if parts.scheme == "https":
            pool = urllib3.HTTPSConnectionPool(
                allowed[0], port, timeout=timeout, server_hostname=parts.hostname, assert_hostname=parts.hostname
            )
        else:
            pool = urllib3.HTTPConnectionPool(allowed[0], port, timeout=timeout)
        host = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            response = pool.urlopen(
                "POST",
                target,
                body=body,
                headers={**headers, "host": host},
                redirect=False,
                retries=False,
                preload_content=False,
            )
            try:
                # The status is all we need; read a little so the receiver is not cut off mid-answer, but never
                # past the size or the time allowed (a receiver that dribbles bytes must not hold the send).
                read = 0
                while read < MAX_RESPONSE_BYTES and time.monotonic() - started < self.timeout:
                    chunk = response.read(4096)
                    if not chunk:
                        break
                    read += len(chunk)
            finally:
                response.release_conn()
            return result(status_code=response.status)
        except NewConnectionError:  # a subclass of the timeout error, for urllib3's own history
            return result(error="connection_error")
        except TimeoutError:
            return result(error="timeout")
        except (HTTPError, OSError):
            return result(error="connection_error")
        finally:
            pool.close()
