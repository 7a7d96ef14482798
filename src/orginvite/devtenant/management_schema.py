"""A small JSON-schema subset for Management API bodies, query strings and path parameters.

Auth0 validates every request against a schema (z-schema) and names the offending property in the message, e.g.
``Payload validation error: 'Missing required property: email' on property invitee.``. These classes reproduce
that contract for the handful of shapes the dev tenant accepts: each ``check`` returns the (normalized) value or
raises a :class:`ManagementApiError` naming the property. Pure: no I/O, no ASGI.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from orginvite.devtenant.management_errors import ManagementApiError, bad_body, bad_path, bad_query

__all__ = [
    "JSON",
    "Array",
    "Boolean",
    "Integer",
    "Metadata",
    "Object",
    "QueryParam",
    "Schema",
    "String",
    "check_body",
    "check_path",
    "check_query",
    "json_type",
    "parse_query_string",
]

Fail = Callable[[str, "str | None"], ManagementApiError]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_MAX_ECHO = 64  # never echo more than this much of a caller's text back


def json_type(value: Any) -> str:
    """The JSON type name z-schema reports ("found type ...")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "unknown"


def _echo(text: str) -> str:
    return text if len(text) <= _MAX_ECHO else text[:_MAX_ECHO] + "..."


def _join(path: str | None, key: str) -> str:
    return f"{path}.{key}" if path else key


class Schema:
    """Base: ``check(value, path, fail)`` returns the value or raises ``fail(problem, path)``."""

    type_name = "any"

    def check(self, value: Any, path: str | None, fail: Fail) -> Any:
        raise NotImplementedError


class _Any(Schema):
    def check(self, value: Any, path: str | None, fail: Fail) -> Any:
        return value


JSON = _Any()


@dataclass(frozen=True)
class String(Schema):
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    format: str | None = None  # "email" | "uri"
    type_name = "string"

    def check(self, value: Any, path: str | None, fail: Fail) -> str:
        if not isinstance(value, str):
            raise fail(f"Expected type string but found type {json_type(value)}", path)
        if self.min_length is not None and len(value) < self.min_length:
            raise fail(f"String is too short ({len(value)} chars), minimum {self.min_length}", path)
        if self.max_length is not None and len(value) > self.max_length:
            raise fail(f"String is too long ({len(value)} chars), maximum {self.max_length}", path)
        if any(ord(char) < 32 or ord(char) == 127 for char in value):
            raise fail("String contains control characters", path)
        if self.pattern is not None and not re.fullmatch(self.pattern, value):
            raise fail(f"String does not match pattern {self.pattern}", path)
        if self.format == "email" and not _EMAIL.match(value):
            raise fail("Object didn't pass validation for format email", path)
        if self.format == "uri" and not re.match(r"^https?://[^\s/]+", value):
            raise fail("Object didn't pass validation for format uri", path)
        return value


@dataclass(frozen=True)
class Integer(Schema):
    minimum: int | None = None
    maximum: int | None = None
    type_name = "integer"

    def check(self, value: Any, path: str | None, fail: Fail) -> int:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise fail(f"Expected type integer but found type {json_type(value)}", path)
        if isinstance(value, float):
            if not math.isfinite(value) or not value.is_integer():
                raise fail("Expected type integer but found type number", path)
            value = int(value)
        shown = str(value) if len(str(value)) <= 20 else "out of range"
        if self.minimum is not None and value < self.minimum:
            raise fail(f"Value {shown} is less than minimum {self.minimum}", path)
        if self.maximum is not None and value > self.maximum:
            raise fail(f"Value {shown} is greater than maximum {self.maximum}", path)
        return value


@dataclass(frozen=True)
class Boolean(Schema):
    type_name = "boolean"

    def check(self, value: Any, path: str | None, fail: Fail) -> bool:
        if not isinstance(value, bool):
            raise fail(f"Expected type boolean but found type {json_type(value)}", path)
        return value


@dataclass(frozen=True)
class Array(Schema):
    items: Schema = JSON
    min_items: int | None = None
    max_items: int | None = None
    unique: bool = False
    type_name = "array"

    def check(self, value: Any, path: str | None, fail: Fail) -> list[Any]:
        if not isinstance(value, list):
            raise fail(f"Expected type array but found type {json_type(value)}", path)
        if self.min_items is not None and len(value) < self.min_items:
            raise fail(f"Array is too short ({len(value)}), minimum {self.min_items}", path)
        if self.max_items is not None and len(value) > self.max_items:
            raise fail(f"Array is too long ({len(value)}), maximum {self.max_items}", path)
        checked = [self.items.check(item, f"{path or ''}[{index}]", fail) for index, item in enumerate(value)]
        if self.unique:
            seen: list[Any] = []
            for item in checked:
                if item in seen:
                    raise fail("Array items are not unique", path)
                seen.append(item)
        return checked


def _depth(value: Any) -> int:
    """Nesting depth, iteratively: a hostile document must not blow the stack of whoever serializes it later."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return deepest


@dataclass(frozen=True)
class Metadata(Schema):
    """Free-form ``user_metadata`` / ``app_metadata``: any JSON object, bounded in depth and size as Auth0 does."""

    max_depth: int = 10
    max_bytes: int = 16_384
    type_name = "object"

    def check(self, value: Any, path: str | None, fail: Fail) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise fail(f"Expected type object but found type {json_type(value)}", path)
        if _depth(value) > self.max_depth:
            raise fail(f"Object is nested too deeply, maximum {self.max_depth} levels", path)
        size = len(json.dumps(value, ensure_ascii=False).encode())
        if size > self.max_bytes:
            raise fail(f"Object is too large ({size} bytes), maximum {self.max_bytes}", path)
        return value


@dataclass(frozen=True)
class Object(Schema):
    """``additional``: None rejects unknown keys (Auth0's ``additionalProperties: false``), a schema checks them."""

    properties: Mapping[str, Schema] = field(default_factory=dict)
    required: frozenset[str] = frozenset()
    additional: Schema | None = None
    max_properties: int | None = None
    type_name = "object"

    def check(self, value: Any, path: str | None, fail: Fail) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise fail(f"Expected type object but found type {json_type(value)}", path)
        for name in sorted(self.required):
            if name not in value:
                raise fail(f"Missing required property: {name}", path)
        if self.max_properties is not None and len(value) > self.max_properties:
            raise fail(f"Too many properties defined ({len(value)}), maximum {self.max_properties}", path)
        checked: dict[str, Any] = {}
        for name, item in value.items():
            schema = self.properties.get(name, self.additional)
            if schema is None:
                raise fail(f"Additional properties not allowed: {_echo(name)}", path)
            checked[name] = schema.check(item, _join(path, name), fail)
        return checked


def check_body(schema: Schema, body: Any) -> Any:
    return schema.check(body, None, bad_body)


def check_path(name: str, value: str, schema: String) -> str:
    return schema.check(value, name, bad_path)


# -- query strings ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueryParam:
    """One query parameter: ``kind`` is "integer", "boolean" or "string" (query strings carry only text)."""

    kind: str
    minimum: int | None = None
    maximum: int | None = None
    max_length: int = 1000
    pattern: str | None = None


_INTEGER = re.compile(r"^-?[0-9]{1,12}$")


def parse_query_string(raw: bytes | str) -> list[tuple[str, str]]:
    """Strictly decoded pairs; bad percent-encoding or a flood of fields is a 400, not a crash."""
    text = raw.decode("latin-1") if isinstance(raw, bytes) else raw
    try:
        return parse_qsl(text, keep_blank_values=True, errors="strict", max_num_fields=64)
    except UnicodeDecodeError as exc:
        raise bad_query("Query string is not valid UTF-8") from exc
    except ValueError as exc:
        raise bad_query("Too many query parameters") from exc


def check_query(pairs: list[tuple[str, str]], spec: Mapping[str, QueryParam]) -> dict[str, Any]:
    """Typed values for the parameters present; unknown or repeated parameters are rejected, not guessed at."""
    values: dict[str, Any] = {}
    seen: set[str] = set()
    for name, raw in pairs:
        param = spec.get(name)
        if param is None:
            raise bad_query(f"Additional properties not allowed: {_echo(name)}")
        if name in seen:
            raise bad_query(f"Expected type {param.kind} but found type array", name)
        seen.add(name)
        values[name] = _query_value(name, raw, param)
    return values


def _query_value(name: str, raw: str, param: QueryParam) -> Any:
    if param.kind == "integer":
        if not _INTEGER.match(raw):
            raise bad_query(f"Expected type integer but found type {'null' if raw == '' else 'string'}", name)
        return Integer(param.minimum, param.maximum).check(int(raw), name, bad_query)
    if param.kind == "boolean":
        if raw not in ("true", "false"):
            raise bad_query(f"Expected type boolean but found type {'null' if raw == '' else 'string'}", name)
        return raw == "true"
    return String(max_length=param.max_length, pattern=param.pattern).check(raw, name, bad_query)
