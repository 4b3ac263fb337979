"""The lever not pulled: request validation with jsonschema-rs, measured against the validators built once.

Same contract as triggers/http/validation.py: jsonschema-rs decides whether a value is valid (each schema compiled
once); a failing request goes on to the kept `jsonschema` validator, which writes Connexion's message. OpenAPI's
`nullable` becomes a `null` type. Measured, not shipped: its wheel adds 6 MB to the zip (docs/performance.md).
"""

from connexion.datastructures import MediaTypeDict

from triggers.http.validation import BuiltOnceJSONBodyValidator, BuiltOnceParameterValidator


def json_schema(schema):
    """An OpenAPI 3.0 schema object as JSON Schema draft 4: `nullable: true` admits null."""
    if isinstance(schema, list):
        return [json_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    converted = {key: json_schema(value) for key, value in schema.items() if key != "nullable"}
    if schema.get("nullable") is True:
        if isinstance(converted.get("type"), str):
            converted["type"] = [converted["type"], "null"]
        if isinstance(converted.get("enum"), list) and None not in converted["enum"]:
            converted["enum"] = [*converted["enum"], None]
    return converted


_compiled: dict[int, tuple[dict, object]] = {}


def is_valid(schema: dict, value) -> bool:
    import jsonschema_rs

    entry = _compiled.get(id(schema))
    if entry is None or entry[0] is not schema:
        entry = _compiled[id(schema)] = (schema, jsonschema_rs.Draft4Validator(json_schema(schema)))
    try:
        return entry[1].is_valid(value)
    except ValueError:  # a value it cannot take (a lone surrogate): let jsonschema decide
        return False


class RsParameterValidator(BuiltOnceParameterValidator):
    def validate_parameter(self, parameter_type, value, param, param_name=None):
        if value is not None and is_valid(param.get("schema", param), value):
            return None
        return super().validate_parameter(parameter_type, value, param, param_name)


class RsJSONBodyValidator(BuiltOnceJSONBodyValidator):
    def _validate(self, body):
        if body is not None and is_valid(self._schema, body):
            return None
        return super()._validate(body)


VALIDATORS = {"parameter": RsParameterValidator, "body": MediaTypeDict({"*/*json": RsJSONBodyValidator})}
