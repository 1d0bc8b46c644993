"""Units in scenario files: durations and sizes with their unit, normalised to seconds and bytes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.core.units import format_duration, parse_duration, parse_size
from sim.scenario import show_duration, show_size


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("250ms", 0.25),
        ("30s", 30.0),
        ("2m", 120.0),
        ("2min", 120.0),
        ("1h", 3600.0),
        ("1.5d", 129600.0),
        ("500us", 0.0005),
        (" 10 s ", 10.0),
        ("45", 45.0),
        (7, 7.0),
        (0.5, 0.5),
    ],
)
def test_durations_parse_to_seconds(text, seconds):
    """Each duration form (with or without a unit) gives the right number of seconds."""
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text, size",
    [
        ("8MiB", 8 * 1024 * 1024),
        ("1KiB", 1024),
        ("4KB", 4000),
        ("1GiB", 1024**3),
        ("512B", 512),
        ("100", 100),
        (2048, 2048),
    ],
)
def test_sizes_parse_to_bytes(text, size):
    """Each size form (binary and decimal units, bare bytes) gives the right number of bytes."""
    assert parse_size(text) == size


@pytest.mark.parametrize(
    "bad",
    ["abc", "1 hour", "10 parsecs", "-5s", "", "5ss", "ms", "1h30m", True, None, [1], {"s": 1}, -3],
)
def test_bad_durations_are_rejected(bad):
    """Anything that is not a non-negative number with a known unit raises ValueError."""
    with pytest.raises(ValueError):
        parse_duration(bad)


@pytest.mark.parametrize("bad", ["8MB/s", "1 Mb", "KiB", "-1KiB", "1e", "", True, None, -1])
def test_bad_sizes_are_rejected(bad):
    """Anything that is not a non-negative number with a known size unit raises ValueError."""
    with pytest.raises(ValueError):
        parse_size(bad)


@given(st.floats(min_value=1e-6, max_value=1e7, allow_nan=False))
def test_written_durations_read_back(seconds):
    """A duration written for a scenario file (docs, schema) reads back as the same value."""
    assert parse_duration(show_duration(seconds)) == pytest.approx(seconds, rel=1e-5)
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds, rel=1e-5)


@given(st.integers(min_value=0, max_value=2**40))
def test_written_sizes_read_back(n):
    """A size written for a scenario file reads back as the same number of bytes."""
    assert parse_size(show_size(n)) == n
