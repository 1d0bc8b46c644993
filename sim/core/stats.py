"""Small statistics shared by comparisons, sweeps and notebooks: Student's t quantile and
paired differences with 95% confidence intervals (no scipy needed)."""

from __future__ import annotations

import math

import numpy as np

T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip
Z975 = 1.959963984540054


def t975(df: int) -> float:
    """The 0.975 quantile of Student's t with ``df`` degrees of freedom.

    A table up to 30, then the Cornish-Fisher expansion in 1/df (error below 1e-4 there), so
    scipy is not needed.
    """
    if df < 1:
        raise ValueError("df must be at least 1")
    if df <= len(T975):
        return T975[df - 1]
    z, v = Z975, float(df)
    return (
        z
        + (z**3 + z) / (4 * v)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * v**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * v**3)
    )


def paired(a: list[float | None], b: list[float | None]) -> dict:
    """Means of A and B, mean of the per-seed difference B - A, and its 95% CI (None if < 2 pairs).

    A seed where either value is missing (say, no end-to-end sample) is left out of the difference.
    """
    fa = np.array([np.nan if x is None else x for x in a], dtype=float)
    fb = np.array([np.nan if x is None else x for x in b], dtype=float)
    ok = np.isfinite(fa) & np.isfinite(fb)
    d = fb[ok] - fa[ok]
    n = int(len(d))
    out = {
        "a_mean": _mean(fa),
        "b_mean": _mean(fb),
        "diff_mean": float(d.mean()) if n else None,
        "diff_ci95": None,
        "pairs": n,
    }
    if n >= 2:
        half = t975(n - 1) * float(d.std(ddof=1)) / math.sqrt(n)
        out["diff_ci95"] = [out["diff_mean"] - half, out["diff_mean"] + half]
    return out


def _mean(x: np.ndarray) -> float | None:
    x = x[np.isfinite(x)]
    return float(x.mean()) if len(x) else None


def mean_ci(values) -> tuple[int, float | None, float | None]:
    """``(n, mean, half-width of the 95% t interval)`` of the finite values; the half-width is
    None with fewer than two values, the mean None with none."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    n = int(len(x))
    if n == 0:
        return 0, None, None
    mean = float(x.mean())
    if n < 2:
        return n, mean, None
    return n, mean, t975(n - 1) * float(x.std(ddof=1)) / math.sqrt(n)
