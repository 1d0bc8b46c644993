"""The scenario's JSON Schema (``sim schema``), and how values are shown in the generated reference."""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import GenerateJsonSchema

from sim.scenario.schema import Scenario, _known_regions

# -- JSON Schema ----------------------------------------------------------------------------------
# Validator functions whose values are written differently from their Python type (a duration
# is a float in seconds, written "250ms"): their schema is a shared definition instead.
_DURATION_PATTERN = r"^\s*[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?\s*(us|ms|s|min|m|h|d)?\s*$"
_SIZE_PATTERN = r"^\s*[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?\s*(B|KB|MB|GB|KiB|MiB|GiB)?\s*$"
TYPE_NAMES = {  # definition name -> how the reference names the type
    "Duration": "duration",
    "SignedDuration": "duration, may be negative",
    "DurationOrRange": "duration or [low, high]",
    "Size": "size",
    "Region": "region",
    "Preference": "auto, none or a region",
}


def special_type(func: Any) -> str | None:
    """The definition name of a validator function's values (``Duration`` ...), or None."""
    from sim.core import units
    from sim.faults import kinds
    from sim.scenario import schema

    name = getattr(func, "__name__", "")
    table = {
        schema._duration: "Duration",
        units.parse_duration: "Duration",
        schema._size: "Size",
        units.parse_size: "Size",
        schema._region: "Region",
        schema._preference: "Preference",
        kinds._parse_range: "DurationOrRange",
        kinds._parse_signed: "SignedDuration",
    }
    for f, type_name in table.items():
        if func is f:
            return type_name
    if "duration" in name:
        return "Duration"
    return None


def _definitions() -> dict[str, dict]:
    duration = {
        "anyOf": [
            {"type": "number", "minimum": 0},
            {"type": "string", "pattern": _DURATION_PATTERN},
        ],
        "description": "A duration: 500us, 250ms, 30s, 2m, 1h, 1.5d; a bare number is seconds.",
    }
    return {
        "Duration": duration,
        "SignedDuration": {
            "anyOf": [
                {"type": "number"},
                {"type": "string", "pattern": _DURATION_PATTERN.replace(r"^\s*", r"^\s*-?")},
            ],
            "description": "A duration that may be negative (-3s).",
        },
        "DurationOrRange": {
            "anyOf": [
                {"$ref": "#/$defs/Duration"},
                {
                    "type": "array",
                    "items": {"$ref": "#/$defs/Duration"},
                    "minItems": 2,
                    "maxItems": 2,
                },
            ],
            "description": "A duration, or [low, high] drawn uniformly from the run's seed.",
        },
        "Size": {
            "anyOf": [
                {"type": "integer", "minimum": 0},
                {"type": "string", "pattern": _SIZE_PATTERN},
            ],
            "description": "A size: 512B, 4KB, 1KiB, 8MiB, 1GiB; a bare number is bytes.",
        },
        "Region": {
            "type": "string",
            "enum": list(_known_regions()),
            "description": "A region of the shipped RTT data (sim/data/SOURCES.md).",
        },
        "Preference": {
            "anyOf": [{"enum": ["auto", "none"]}, {"$ref": "#/$defs/Region"}],
            "description": "auto, none, or a region to pin.",
        },
    }


_BOUNDS = {"gt": "exclusiveMinimum", "ge": "minimum", "lt": "exclusiveMaximum", "le": "maximum"}


class _SchemaGenerator(GenerateJsonSchema):
    """Refers durations, sizes and regions to their definitions (they are written as text)."""

    def _special(self, schema, fallback):
        name = special_type(schema.get("function", {}).get("function"))
        if not name:
            return fallback(schema)
        out = {_MARK: name}
        # the field's own bounds (batch_timeout > 0 ...), in seconds or bytes, beside the reference
        inner = schema.get("schema") or {}
        for key, word in _BOUNDS.items():
            if isinstance(inner.get(key), int | float):
                out[word] = inner[key]
        return out

    def function_before_schema(self, schema):
        return self._special(schema, super().function_before_schema)

    def function_after_schema(self, schema):
        return self._special(schema, super().function_after_schema)

    def function_plain_schema(self, schema):
        return self._special(schema, super().function_plain_schema)


def show_duration(seconds: float) -> str:
    """A duration as it would be written in a scenario: ``25ms``, ``90s``, ``1h``."""
    if seconds == 0:
        return "0s"
    units = (("d", 86400.0), ("h", 3600.0), ("m", 60.0), ("s", 1.0), ("ms", 1e-3), ("us", 1e-6))
    fits = [(u, seconds / f) for u, f in units if abs(seconds) / f >= 1 - 1e-9]
    if not fits:
        return f"{seconds / 1e-6:g}us"
    for u, n in fits:
        if abs(n - round(n)) < 1e-6 and (u != "us" or len(fits) == 1):
            return f"{round(n)}{u}"
    return f"{fits[0][1]:g}{fits[0][0]}"


def show_size(n: int) -> str:
    """A size as it would be written in a scenario: ``8MiB``, ``1KiB``, ``1000B``."""
    for u, f in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n and n % f == 0:
            return f"{n // f}{u}"
    return f"{n}B"


def show_value(value: Any, type_name: str | None) -> str:
    """A default value as written in a scenario file."""
    if type_name in ("Duration", "SignedDuration", "DurationOrRange") and isinstance(
        value, int | float
    ):
        return show_duration(float(value))
    if type_name == "Size" and isinstance(value, int):
        return show_size(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value if value else "''"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(show_value(v, type_name) for v in value) + "]"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _with_defaults(node: Any) -> Any:
    """Append each property's default, written as in a file, to its description (editors show
    the description on hover)."""
    if isinstance(node, dict):
        for prop in (node.get("properties") or {}).values():
            if isinstance(prop, dict) and prop.get("default") is not None and "description" in prop:
                refs = [prop.get("$ref", "")] + [a.get("$ref", "") for a in prop.get("anyOf", [])]
                name = next((r.rsplit("/", 1)[-1] for r in refs if r), None)
                prop["description"] += f" Default: {show_value(prop['default'], name)}."
        for v in node.values():
            _with_defaults(v)
    elif isinstance(node, list):
        for v in node:
            _with_defaults(v)
    return node


_MARK = "x-sim-type"  # placeholder while pydantic generates (it resolves every "$ref" it sees)


def _refer(node: Any) -> Any:
    """Replace the placeholders by references to the shared definitions."""
    if isinstance(node, dict):
        out = {k: _refer(v) for k, v in node.items() if k != _MARK}
        if _MARK in node:
            out = {"$ref": f"#/$defs/{node[_MARK]}", **out}
        return out
    if isinstance(node, list):
        return [_refer(v) for v in node]
    return node


def json_schema() -> dict:
    """The JSON Schema of scenario files (for editors: see docs/scenarios.md)."""
    schema = _with_defaults(_refer(Scenario.model_json_schema(schema_generator=_SchemaGenerator)))
    schema["$defs"] = {**schema.get("$defs", {}), **_definitions()}
    schema["title"] = "sim scenario"
    schema["description"] = (
        "A scenario file of the sim streaming simulator (generated by `sim schema`; "
        "reference: docs/scenarios.md)."
    )
    return schema
