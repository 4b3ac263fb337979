"""Request validation with validators built once: Connexion's `validator_map`, with its own validator classes.

Connexion builds a new `jsonschema` validator for every parameter and every body of every request (deep-copying
each parameter's schema first): about 20 µs of a create and 10 µs per parameter. These build each validator once,
from the same classes and options, and keep it for the life of the container; what is accepted stays exactly
Connexion's. (Connexion also logged each failed body check at INFO, with the offending value; the request's own
log line and the refusal's warning remain, and payload values stay out of the logs.)

Error messages are jsonschema's, as Connexion's are, with two changes: the offending value is cut to a short prefix
(it can be a 256 KiB body or a 100 KB cursor, and a problem's detail is no place to echo it), and a parameter's
message names the parameter instead of appending its whole schema and value.

jsonschema-rs would validate a body in under 1 µs instead of about 30 µs, but its wheel adds 6 MB to the zip and
20 ms to a cold start (docs/performance.md): not worth it at this API's sizes.
"""

import reprlib

from connexion.datastructures import MediaTypeDict
from connexion.exceptions import BadRequestProblem
from connexion.json_schema import Draft4RequestValidator, format_error_with_path
from connexion.utils import is_null, is_nullable
from connexion.validators import DefaultsJSONRequestBodyValidator, ParameterValidator
from jsonschema import Draft4Validator, ValidationError

from triggers.http.json_body import StrictJsonBodyValidator

# repr() of the offending value, at most about 40 characters of a string and a few items of a list or object.
_short = reprlib.Repr(maxstring=40, maxother=40, maxlist=3, maxdict=3, maxlevel=2).repr


def message(exception: ValidationError) -> str:
    """jsonschema's message, with the value it quotes whole cut to a short prefix."""
    whole = repr(exception.instance)
    return exception.message.replace(whole, _short(exception.instance)) if len(whole) > 40 else exception.message


class Validators:
    """One validator per schema object of the spec, built on first use and kept.

    Keyed by the identity of the schema dict: Connexion hands the same dicts (parts of the loaded spec) to every
    request, and the cache holds on to each one, so its id cannot be taken by another dict.
    """

    def __init__(self, validator_class):
        self.validator_class = validator_class
        self._validators: dict[int, tuple[dict, Draft4Validator]] = {}

    def __call__(self, schema: dict) -> Draft4Validator:
        entry = self._validators.get(id(schema))
        if entry is None or entry[0] is not schema:
            entry = (schema, self.validator_class(schema, format_checker=Draft4Validator.FORMAT_CHECKER))
            self._validators[id(schema)] = entry
        return entry[1]


# The classes Connexion uses: plain draft 4 for parameters; for bodies, draft 4 with OpenAPI's `nullable` and the
# spec's defaults filled in (Connexion's DefaultsJSONRequestBodyValidator), so no operation restates a default.
parameter_validators = Validators(Draft4Validator)
body_validators = Validators(DefaultsJSONRequestBodyValidator.extend_with_set_default(Draft4RequestValidator))


class BuiltOnceParameterValidator(ParameterValidator):
    def validate_parameter(self, parameter_type, value, param, param_name=None):
        """Connexion's check of one parameter, with the parameter's validator built once."""
        if value is None or (is_nullable(param) and is_null(value)):
            return ParameterValidator.validate_parameter(parameter_type, value, param, param_name)  # required?
        try:
            parameter_validators(param.get("schema", param)).validate(value)
        except ValidationError as exception:
            return f"{message(exception)} ({parameter_type} parameter {param['name']!r})"
        return None


class BuiltOnceJSONBodyValidator(StrictJsonBodyValidator):
    """The strict JSON parser of triggers/http/json_body.py, then Connexion's body check with a kept validator.
    The body with its defaults is what the operation gets."""

    MUTABLE_VALIDATION = True

    def _validate(self, body):
        if not self._nullable and body is None:
            raise BadRequestProblem("Request body must not be empty")
        try:
            return body_validators(self._schema).validate(body)
        except ValidationError as exception:
            detail = message(exception) + format_error_with_path(exception=exception)
            raise BadRequestProblem(detail=detail) from None


VALIDATORS = {
    "parameter": BuiltOnceParameterValidator,
    "body": MediaTypeDict({"*/*json": BuiltOnceJSONBodyValidator}),
}
