"""Connexion's JSON request-body validator, made to answer 400 wherever it would crash or silently lose data.

Connexion's own parser lets a non-UTF-8 body or a deeply nested one escape as a 500, accepts NaN and Infinity
(which JSON does not have), turns numbers a double cannot hold into approximations, and keeps the last of two
values of one key. A payload is stored as JSON text and given back as stored, so what is accepted here comes back
exactly.
"""

import json
import re
from collections import Counter
from decimal import Decimal, InvalidOperation

from connexion.exceptions import BadRequestProblem
from connexion.validators import JSONRequestBodyValidator

# A \uD800-\uDFFF escape: only these can make a lone surrogate, which no UTF-8 text (nor DynamoDB) can hold.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _reject_constant(name: str):
    raise BadRequestProblem(detail=f"{name} is not a JSON number.")


def _object(pairs: list[tuple[str, object]]) -> dict:
    """A JSON object, unless a key appears twice in it: which of the two values counts differs from one parser to
    the next (Python keeps the last, others the first), so the sender and this API could read different events."""
    body = dict(pairs)
    if len(body) < len(pairs):
        twice = next(key for key, count in Counter(key for key, _ in pairs).items() if count > 1)
        raise BadRequestProblem(detail=f"The key {twice[:40]!r} appears twice in one object.")
    return body


def _exact_float(text: str) -> float:
    value = float(text)
    try:
        exact = Decimal(text) == Decimal(repr(value))
    except InvalidOperation:
        exact = False
    if not exact:
        raise BadRequestProblem(
            detail=f"The number {text[:40]} cannot be stored exactly (at most 17 significant digits)."
        )
    return value


class StrictJsonBodyValidator(JSONRequestBodyValidator):
    async def _parse(self, stream, scope):
        return loads(b"".join([message async for message in stream]))


def loads(raw: bytes):
    """The JSON value of a body (None for an empty one), or BadRequestProblem saying what is wrong with it."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequestProblem(detail="The body is not valid UTF-8.") from None
    if not text:
        return None
    try:
        body = json.loads(text, parse_constant=_reject_constant, parse_float=_exact_float, object_pairs_hook=_object)
    except json.JSONDecodeError as exc:
        raise BadRequestProblem(detail=f"The body is not valid JSON: {exc}") from None
    except RecursionError:
        raise BadRequestProblem(detail="The body is nested too deeply.") from None
    if body is None:
        # `null` is no body: no operation takes one, and one that may be left out would otherwise take its default.
        raise BadRequestProblem(detail="The body is null; send a JSON object.")
    if _SURROGATE_ESCAPE.search(text):
        try:
            json.dumps(body, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise BadRequestProblem(detail="The body holds a lone UTF-16 surrogate (\\uD800-\\uDFFF).") from None
    return body
