"""What routing alone would answer wrongly.

Starlette takes the first route whose path and method both match, so `GET /v1/events/batch` (the spec declares
only POST there) would reach `GET /v1/events/{event_id}` and answer 400 for the id "batch", where the answer is 405.
And Connexion mounts the API at `{path:path}`, whose pattern (`.*`) stops at a line break: a path holding one
(`%0A`) matched no route, a 404 that the spec gives for none of the operations.
"""

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from triggers.http.problems import _HTTP_METHODS, _path_pattern


def shadowed_paths(spec_paths: dict) -> dict[str, set[str]]:
    """Each literal path that a templated path also matches, with the methods the spec declares for it."""
    templated = [_path_pattern(path) for path in spec_paths if "{" in path]
    methods = {}
    for path, operations in spec_paths.items():
        if "{" not in path and any(pattern.match(path) for pattern in templated):
            declared = {method.upper() for method in operations if method in _HTTP_METHODS}
            methods[path] = declared | ({"HEAD"} if "GET" in declared else set())
    return methods


class LineBreaksInPaths:
    """400 for a path with a line break, before routing: every path parameter's pattern refuses one anyway."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and "\n" in scope.get("path", ""):
            raise HTTPException(status_code=400, detail="The path holds a line break (%0A): no path of this API does.")
        await self.app(scope, receive, send)


class LiteralPathMethods:
    """405 for a method a shadowed literal path does not declare, before routing can hand it to the templated one."""

    def __init__(self, app: ASGIApp, methods: dict[str, set[str]]):
        self.app = app
        self.methods = methods

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            allowed = self.methods.get(scope.get("path", "")[len(scope.get("root_path", "")) :])
            if allowed is not None and scope["method"] not in allowed:
                raise HTTPException(status_code=405)
        await self.app(scope, receive, send)
