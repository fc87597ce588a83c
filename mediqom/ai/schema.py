"""Sanitising and validating model output against a function schema.

The model's arguments are untrusted input. `sanitise` walks the JSON schema and returns a
clean copy: undeclared keys dropped, enums enforced (case-insensitive matches are mapped to
the declared spelling), trivially mistyped scalars coerced ("5" -> 5, "true" -> True), HTML
and control characters stripped from strings, strings/arrays/depth capped. An optional value
that cannot be repaired is dropped, an array item is dropped; a missing required key or a
wrong root raises SchemaError. The clean copy is then validated with jsonschema.
"""

from __future__ import annotations

import re
from typing import Any

import jsonschema

MAX_STRING = 20_000
MAX_ITEMS = 500
MAX_DEPTH = 12

_TAG = re.compile(r"<\s*(script|style)[^>]*>.*?<\s*/\s*\1\s*>|<[^<>]{0,2000}>", re.S | re.I)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class SchemaError(ValueError):
    """The output does not fit the schema (the message names a JSON path, never a value)."""


def clean_text(value: str, *, limit: int = MAX_STRING) -> str:
    """Markup and control characters removed, capped in length."""
    text = _CONTROL.sub("", _TAG.sub("", value))
    return text[:limit]


def _types(schema: dict[str, Any]) -> list[str]:
    declared = schema.get("type")
    if declared is None:
        if "properties" in schema:
            return ["object"]
        if "items" in schema:
            return ["array"]
        if "enum" in schema:
            return []
        return []
    return list(declared) if isinstance(declared, list) else [str(declared)]


def _enum(schema: dict[str, Any], value: Any, path: str) -> Any:
    allowed = schema.get("enum")
    if not isinstance(allowed, list) or not allowed:
        return value
    if value in allowed:
        return value
    if isinstance(value, str):
        folded = value.strip().casefold()
        for option in allowed:
            if isinstance(option, str) and option.casefold() == folded:
                return option
    raise SchemaError(f"{path}: value is not one of the allowed values")


def _scalar(kind: str, schema: dict[str, Any], value: Any, path: str) -> Any:
    if kind == "string":
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise SchemaError(f"{path}: expected a string")
        text = clean_text(str(value), limit=int(schema.get("maxLength", MAX_STRING)))
        return _enum(schema, text, path)
    if kind in ("number", "integer"):
        number: Any = value
        if isinstance(value, str):
            try:
                number = float(value.strip().replace(",", "."))
            except ValueError as exc:
                raise SchemaError(f"{path}: expected a number") from exc
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise SchemaError(f"{path}: expected a number")
        if kind == "integer":
            if float(number) != int(number):
                raise SchemaError(f"{path}: expected an integer")
            number = int(number)
        if "minimum" in schema and number < schema["minimum"]:
            raise SchemaError(f"{path}: below the minimum")
        if "maximum" in schema and number > schema["maximum"]:
            raise SchemaError(f"{path}: above the maximum")
        return _enum(schema, number, path)
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise SchemaError(f"{path}: expected a boolean")
    if kind == "null":
        if value is None:
            return None
        raise SchemaError(f"{path}: expected null")
    raise SchemaError(f"{path}: unsupported type {kind}")


def _free(value: Any, depth: int, path: str) -> Any:
    """A value with no declared type: JSON only, strings cleaned, sizes capped."""
    if depth > MAX_DEPTH:
        raise SchemaError(f"{path}: nested too deeply")
    if isinstance(value, str):
        return clean_text(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, list):
        return [_free(item, depth + 1, path) for item in value[:MAX_ITEMS]]
    if isinstance(value, dict):
        return {
            clean_text(str(k), limit=200): _free(v, depth + 1, path)
            for k, v in list(value.items())[:MAX_ITEMS]
        }
    raise SchemaError(f"{path}: not JSON")


def _object(schema: dict[str, Any], value: Any, depth: int, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SchemaError(f"{path}: expected an object")
    properties: dict[str, Any] = schema.get("properties") or {}
    required = [r for r in schema.get("required") or [] if r in properties]
    extra = schema.get("additionalProperties")
    clean: dict[str, Any] = {}
    for key, item in value.items():
        if key in properties:
            try:
                clean[key] = sanitise(properties[key], item, depth=depth + 1, path=f"{path}.{key}")
            except SchemaError:
                if key in required:
                    raise
        elif isinstance(extra, dict):
            try:
                clean[str(key)[:200]] = sanitise(extra, item, depth=depth + 1, path=f"{path}.*")
            except SchemaError:
                continue
        elif not properties and extra is not False:
            clean[clean_text(str(key), limit=200)] = _free(item, depth + 1, path)
    missing = [key for key in required if key not in clean]
    if missing:
        raise SchemaError(f"{path}: missing required {', '.join(missing)}")
    return clean


def sanitise(schema: dict[str, Any], value: Any, *, depth: int = 0, path: str = "$") -> Any:
    """A clean copy of `value` that fits `schema` (see the module docstring)."""
    if depth > MAX_DEPTH:
        raise SchemaError(f"{path}: nested too deeply")
    for key in ("anyOf", "oneOf"):
        if isinstance(schema.get(key), list):
            for option in schema[key]:
                try:
                    return sanitise(option, value, depth=depth, path=path)
                except SchemaError:
                    continue
            raise SchemaError(f"{path}: matches none of the alternatives")
    kinds = _types(schema)
    if not kinds:
        return _enum(schema, _free(value, depth, path), path)
    if value is None and "null" in kinds:
        return None
    last: SchemaError | None = None
    for kind in kinds:
        try:
            if kind == "object":
                return _object(schema, value, depth, path)
            if kind == "array":
                if not isinstance(value, list):
                    raise SchemaError(f"{path}: expected an array")
                items = schema.get("items") or {}
                out = []
                for index, item in enumerate(value[:MAX_ITEMS]):
                    try:
                        out.append(sanitise(items, item, depth=depth + 1, path=f"{path}[{index}]"))
                    except SchemaError:
                        continue
                return out
            return _scalar(kind, schema, value, path)
        except SchemaError as exc:
            last = exc
    assert last is not None
    raise last


def validate_output(function: dict[str, Any], arguments: Any) -> dict[str, Any]:
    """Sanitise the model's arguments for a function schema and validate the result."""
    parameters = function.get("parameters") or {"type": "object"}
    clean = sanitise(parameters, arguments)
    if not isinstance(clean, dict):
        raise SchemaError("$: expected an object")
    validator = jsonschema.Draft7Validator(parameters)
    error = next(iter(validator.iter_errors(clean)), None)
    if error is not None:
        where = "$" + "".join(
            f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path
        )
        raise SchemaError(f"{where}: {error.validator} check failed")
    return clean
