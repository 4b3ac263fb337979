"""Every pattern of openapi.yaml refuses a trailing newline when Python checks it, as request validation does.

jsonschema checks `pattern` with re.search, and Python's `$` also matches before a final newline: `^[a-z]+$`
took "billing\\n"."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft4Validator

from triggers.http.app import load_spec


def patterns(node) -> set[str]:
    if isinstance(node, dict):
        found = {node["pattern"]} if isinstance(node.get("pattern"), str) else set()
        return found.union(*(patterns(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(patterns(item) for item in node))
    return set()


PATTERNS = sorted(patterns(load_spec()))


def test_the_spec_has_patterns():
    assert len(PATTERNS) >= 8


@pytest.mark.parametrize("pattern", PATTERNS)
@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_no_value_passes_with_a_trailing_newline(pattern, data):
    validator = Draft4Validator({"type": "string", "pattern": pattern})
    value = data.draw(st.from_regex(pattern))
    assert validator.is_valid(value)
    assert not validator.is_valid(value + "\n")
