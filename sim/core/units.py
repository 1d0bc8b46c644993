"""Units in scenario files: durations and sizes written with their unit, normalised to SI.

Durations become seconds (float), sizes become bytes (int). A bare number is taken as seconds or
bytes. Accepted forms: ``250ms``, ``30s``, ``2m``, ``1h``, ``1.5d``, ``500us``; ``8MiB``, ``1KiB``,
``4KB``, ``1GiB``, ``512B``.
"""

from __future__ import annotations

import re

_DURATION_UNITS = {
    "us": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "min": 60.0,
    "h": 3600.0,
    "d": 86400.0,
}
_SIZE_UNITS = {
    "B": 1,
    "KB": 1000,
    "MB": 1000**2,
    "GB": 1000**3,
    "KiB": 1024,
    "MiB": 1024**2,
    "GiB": 1024**3,
}
_NUM = r"([0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?)"
_DURATION_RE = re.compile(rf"^\s*{_NUM}\s*(us|ms|s|min|m|h|d)?\s*$")
_SIZE_RE = re.compile(rf"^\s*{_NUM}\s*(B|KB|MB|GB|KiB|MiB|GiB)?\s*$")


def parse_duration(value: object) -> float:
    """Return seconds for a duration such as ``250ms`` or ``2m``; raise ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 250ms, 30s, 2m or 1h")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    if isinstance(value, str):
        m = _DURATION_RE.match(value)
        if m:
            return float(m.group(1)) * _DURATION_UNITS[m.group(2) or "s"]
    raise ValueError(f"expected a duration such as 250ms, 30s, 2m or 1h, got {value!r}")


def parse_size(value: object) -> int:
    """Return bytes for a size such as ``8MiB`` or ``1KiB``; raise ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as 1KiB or 8MiB")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a size cannot be negative")
        return int(value)
    if isinstance(value, str):
        m = _SIZE_RE.match(value)
        if m:
            return int(round(float(m.group(1)) * _SIZE_UNITS[m.group(2) or "B"]))
    raise ValueError(f"expected a size such as 1KiB, 8MiB or 512B, got {value!r}")


def format_duration(seconds: float) -> str:
    """Short human form of a duration in seconds (``250ms``, ``30s``, ``2m``, ``1.5h``)."""
    if seconds == float("inf"):
        return "permanent"
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    if seconds < 120:
        return f"{seconds:g}s"
    if seconds < 7200:
        return f"{seconds / 60:g}m"
    return f"{seconds / 3600:g}h"
