"""Check type ``schema``: the whole record against the brand's JSON Schema.

No type-specific keys: the schema is the brand kit's ``schema`` file (already checked to
be a valid JSON Schema when the brand loads). One finding per schema error; message
placeholders: ``{path}`` (where in the record, e.g. ``bullets/2``; ``<record>`` for the
top level) and ``{error}`` (what is wrong; lengths are given as numbers, not by quoting
the whole text back).

Not checked: text from a .txt/.md file (one field, not a published record), and keys the
reader already reported as malformed input (``Stylegen.Input``: a missing id, a field of
the wrong type), so one problem gives one finding.
"""
from __future__ import annotations

from stylegen.validation.checks import Check, Hit, register


@register("schema")
class Schema(Check):
    """Checks each record against the brand's JSON Schema (jsonschema)."""

    scope = "record"

    def setup(self, problem):
        import jsonschema

        doc = self.brand.schema_doc
        if not doc:
            return problem("extends", f"the brand kit has no usable schema ({self.brand.schema})")
        self.validator = jsonschema.validators.validator_for(doc)(doc)

    def check(self, target):
        record = target.record
        if record.positions is not None:
            return  # a plain text file: not a record
        errors = sorted(self.validator.iter_errors(record.as_document()), key=lambda e: list(map(str, e.path)))
        for error in errors:
            path = list(error.absolute_path)
            if _already_reported(error, path, record.invalid):
                continue
            where = "/".join(str(p) for p in path) or "<record>"
            yield Hit(values={"path": where, "error": _describe(error)}, key=_field_key(path))


def _already_reported(error, path: list, invalid) -> bool:
    if path:
        return str(path[0]) in invalid
    return error.validator == "required" and any(f"'{key}'" in error.message for key in invalid)


def _describe(error) -> str:
    """jsonschema's message, with lengths as numbers instead of the whole value quoted back."""
    value, kind, limit = error.instance, error.validator, error.validator_value
    if kind in ("minLength", "maxLength") and isinstance(value, str):
        return f"{len(value)} characters, {'at least' if kind == 'minLength' else 'at most'} {limit} allowed"
    if kind in ("minItems", "maxItems") and isinstance(value, list):
        return f"{len(value)} items, {'at least' if kind == 'minItems' else 'at most'} {limit} allowed"
    return _short(error.message)


def _field_key(path: list) -> str | None:
    """``["bullets", 2]`` -> ``"bullets[2]"``; ``[]`` -> None."""
    if not path:
        return None
    key = str(path[0])
    return f"{key}[{path[1]}]" if len(path) > 1 and isinstance(path[1], int) else key


def _short(message: str, limit: int = 160) -> str:
    # jsonschema quotes the whole failing value; a 900-character description is noise.
    return message if len(message) <= limit else message[:limit - 3] + "..."
