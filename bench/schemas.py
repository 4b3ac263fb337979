"""The create body's schema as the references write it by hand (bench/warm.py checks it still matches the spec)."""

_NAME = {"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[A-Za-z0-9][A-Za-z0-9._:/-]*$"}

NEW_EVENT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["source", "event_type", "payload"],
    "properties": {"source": _NAME, "event_type": _NAME, "payload": {"type": "object"}},
}
