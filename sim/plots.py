"""Plots, rendered from a run folder's files only (never from the model)."""

from __future__ import annotations

from pathlib import Path


def render_all(folder: Path, fmt: str = "png") -> list[str]:
    """Render every plot of a run folder into ``folder/plots``; return their file names."""
    return []
