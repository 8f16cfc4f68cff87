"""JSON Schema validation in two steps: decide fast, word the errors with jsonschema.

jsonschema-rs (compiled) decides whether a document is valid, about 50 times faster than
jsonschema; only a document it rejects goes through jsonschema, whose error objects and
messages precex shows users. jsonschema-rs is never more lenient than jsonschema on precex's
schemas (ECMA-262 patterns, RFC 3339 dates: it is the stricter one where they differ;
tests/unit/test_schema_check.py checks it on damaged prescriptions and sheet rows), so a
document that passes the first step has no error for the second to find.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError


class SchemaCheck:
    """iter_errors like a jsonschema validator, answered by jsonschema-rs when valid."""

    def __init__(self, schema: dict[str, Any], formats: bool = False) -> None:
        checker = Draft202012Validator.FORMAT_CHECKER if formats else None
        self.worded = Draft202012Validator(schema, format_checker=checker)
        self.fast = jsonschema_rs.validator_for(schema, validate_formats=formats)

    def _fast_valid(self, document: Any) -> bool:
        try:
            return bool(self.fast.is_valid(document))
        except (ValueError, TypeError, OverflowError):
            # A value JSON has no type for (a YAML date, a huge integer): jsonschema decides.
            return False

    def is_valid(self, document: Any) -> bool:
        return self._fast_valid(document) or not any(self.worded.iter_errors(document))

    def iter_errors(self, document: Any) -> Iterator[ValidationError]:
        if self._fast_valid(document):
            return iter(())
        return self.worded.iter_errors(document)
