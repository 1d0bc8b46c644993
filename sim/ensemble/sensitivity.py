"""Which inputs move which figure: sensitivity of a sweep over ranges, and tornado plots.

The design decides the method, each from SALib (salib.readthedocs.io), computed per base scenario
and per kept figure on the mean of each point's replicates:

- ``morris`` (elementary effects, Morris 1991; mu* from Campolongo et al. 2007): an input's
  ``effect`` is mu*, the mean absolute change of the figure when that input alone moves across
  its whole range (the design's unit scale, linear or log as the sweep says), in the figure's
  units; ``conf`` its bootstrap 95% half-width; ``mu`` the signed mean (the direction); ``sigma``
  the spread of the effects (non-linearity or interactions). Trajectories with a failed run are
  left out.
- ``sobol`` (Saltelli sampling, first-order and total indices): ``effect`` is the total index
  S_T, the share of the figure's variance that involves the input; ``mu`` the first-order index.
- ``random`` / ``lhs``: Spearman rank correlation of the input with the figure; ``effect`` is
  its magnitude, ``mu`` its sign, ``conf`` the 95% half-width from Fisher's z.

With common random numbers (``common_random_numbers: true``) every point of a replicate shares
its seed, so an elementary effect compares two runs on the same arrivals and fault draws, and
run-to-run noise mostly cancels.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from sim.ensemble.sweep import figure_values
from sim.ensemble.sweepfile import Plan, figure
from sim.report import plots

METHOD = {"morris": "morris mu*", "sobol": "sobol ST", "random": "spearman", "lhs": "spearman"}
UP, DOWN, BOTH = "#d62728", "#1f77b4", "0.55"


def _point_means(plan: Plan, df: pd.DataFrame, name: str) -> dict[int, float]:
    if not len(df):
        return {}
    y = figure_values(df, name)
    return y.groupby(df["point"]).mean().to_dict()


def analyse(plan: Plan, df: pd.DataFrame) -> pd.DataFrame:
    """One row per (base, figure, input): effect, conf, mu, sigma, rank (1 = largest)."""
    rows = []
    k = len(plan.params)
    problem = {"num_vars": k, "names": [p.key for p in plan.params], "bounds": [[0.0, 1.0]] * k}
    for b in plan.bases:
        pts = [pt for pt in plan.points if pt.base == b.name]
        X = np.array([pt.unit for pt in pts], dtype=float)
        for name in plan.keep:
            means = _point_means(plan, df, name)
            Y = np.array([means.get(pt.index, np.nan) for pt in pts], dtype=float)
            res, note = _one(plan, problem, X, Y)
            order = np.argsort(-np.nan_to_num(res["effect"], nan=-1.0), kind="stable")
            rank = np.empty(k, dtype=int)
            rank[order] = np.arange(1, k + 1)
            for i, p in enumerate(plan.params):
                rows.append(
                    {
                        "base": b.name, "figure": name, "input": p.key,
                        "method": METHOD[plan.design], "effect": res["effect"][i],
                        "conf": res["conf"][i], "mu": res["mu"][i], "sigma": res["sigma"][i],
                        "rank": int(rank[i]), "points_used": note["used"],
                        "figure_min": note["min"], "figure_max": note["max"],
                    }
                )  # fmt: skip
    return pd.DataFrame(rows)


def _nan(k: int) -> np.ndarray:
    return np.full(k, np.nan)


def _one(plan: Plan, problem: dict, X: np.ndarray, Y: np.ndarray) -> tuple[dict, dict]:
    k = problem["num_vars"]
    out = {"effect": _nan(k), "conf": _nan(k), "mu": _nan(k), "sigma": _nan(k)}
    finite = np.isfinite(Y)
    note = {
        "used": 0,
        "min": float(np.min(Y[finite])) if finite.any() else None,
        "max": float(np.max(Y[finite])) if finite.any() else None,
    }
    if plan.design == "morris":
        t = k + 1
        n_traj = len(Y) // t
        good = [j for j in range(n_traj) if finite[j * t : (j + 1) * t].all()]
        note["used"] = len(good) * t
        if len(good) < 2:
            return out, note
        idx = np.concatenate([np.arange(j * t, (j + 1) * t) for j in good])
        if np.ptp(Y[idx]) == 0:  # the figure never moved: every effect is exactly 0
            z = np.zeros(k)
            out.update(effect=z, conf=z.copy(), mu=z.copy(), sigma=z.copy())
            return out, note
        from SALib.analyze import morris

        r = morris.analyze(
            problem, X[idx], Y[idx], num_levels=plan.levels, seed=plan.seed, num_resamples=1000
        )
        out.update(
            effect=np.asarray(r["mu_star"], dtype=float),
            conf=np.asarray(r["mu_star_conf"], dtype=float),
            mu=np.asarray(r["mu"], dtype=float),
            sigma=np.asarray(r["sigma"], dtype=float),
        )
        return out, note
    if plan.design == "sobol":
        note["used"] = int(finite.sum())
        if not finite.all() or np.ptp(Y) == 0:
            if finite.all():
                z = np.zeros(k)
                out.update(effect=z, conf=z.copy(), mu=z.copy(), sigma=z.copy())
            return out, note
        from SALib.analyze import sobol

        r = sobol.analyze(problem, Y, calc_second_order=False, seed=plan.seed)
        out.update(
            effect=np.asarray(r["ST"], dtype=float),
            conf=np.asarray(r["ST_conf"], dtype=float),
            mu=np.asarray(r["S1"], dtype=float),
        )
        return out, note
    # random / lhs: Spearman rank correlation
    x, y = X[finite], Y[finite]
    n = len(y)
    note["used"] = n
    if n < 4:
        return out, note
    if np.ptp(y) == 0:
        z = np.zeros(k)
        out.update(effect=z, conf=z.copy(), mu=z.copy())
        return out, note
    ry = pd.Series(y).rank().to_numpy()
    for i in range(k):
        rx = pd.Series(x[:, i]).rank().to_numpy()
        if np.ptp(rx) == 0:
            continue
        rho = float(np.corrcoef(rx, ry)[0, 1])
        half = math.tanh(min(abs(math.atanh(max(min(rho, 0.999999), -0.999999))) + 1.96 / math.sqrt(n - 3), 20)) - abs(rho)  # fmt: skip
        out["effect"][i], out["mu"][i], out["conf"][i] = abs(rho), rho, max(half, 0.0)
    return out, note


def top(sens: pd.DataFrame, base: str, name: str, n: int = 5) -> pd.DataFrame:
    """The ``n`` inputs with the largest effect on a figure in a base."""
    s = sens[(sens["base"] == base) & (sens["figure"] == name)]
    return s.sort_values("rank").head(n)


def format_top(plan: Plan, sens: pd.DataFrame, n: int = 5) -> str:
    """Per base and kept figure, the top ``n`` inputs and their effects, as text."""
    lines = []
    for b in plan.bases:
        lines.append(f"{b.name}:")
        for name in plan.keep:
            _, label, unit = figure(name)
            t = top(sens, b.name, name, n)
            if t["effect"].isna().all():
                lines.append(f"  {label:<22} not enough successful runs")
                continue
            if (t["effect"].fillna(0) == 0).all():
                lines.append(f"  {label:<22} no input moves it")
                continue
            parts = []
            for r in t.itertuples():
                u = f" {unit}" if plan.design == "morris" and unit else ""
                parts.append(f"{_label(r.input)} {_eff(r.effect)}{u}")
            lines.append(f"  {label:<22} " + ", ".join(parts))
    return "\n".join(lines)


def _eff(v: float) -> str:
    if v is None or not math.isfinite(v):
        return "-"
    a = abs(v)
    return f"{v:,.0f}" if a >= 100 else f"{v:.3g}"


def _label(key: str) -> str:
    return key.split(".")[-1]


def _colour(r) -> str:
    if not (math.isfinite(r.mu) and math.isfinite(r.effect)) or r.effect == 0:
        return BOTH
    if r.mu > 0.5 * r.effect:
        return UP
    if r.mu < -0.5 * r.effect:
        return DOWN
    return BOTH


def _what(plan: Plan) -> str:
    if plan.design == "morris":
        return "Morris mu*: mean |change| of the figure when the input alone moves across its range"
    if plan.design == "sobol":
        return "Sobol total index S_T: share of the figure's variance that involves the input"
    return "|Spearman rank correlation| of the input with the figure"


def _panel(ax, plan: Plan, sens: pd.DataFrame, base: str, name: str, n_top: int) -> None:
    _, label, unit = figure(name)
    s = sens[(sens["base"] == base) & (sens["figure"] == name)].sort_values("rank")
    if s["effect"].isna().all():
        ax.text(0.5, 0.5, "not enough successful runs", transform=ax.transAxes, ha="center")
        ax.set_axis_off()
        return
    fmin = s["figure_min"].iloc[0]
    fmax = s["figure_max"].iloc[0]
    span = f"runs: {_eff(fmin)} to {_eff(fmax)}{' ' + unit if unit else ''}"
    if (s["effect"].fillna(0) == 0).all():
        ax.text(0.5, 0.5, f"no input moves it\n({span})", transform=ax.transAxes, ha="center",
                va="center", fontsize=9.5, color="0.3")  # fmt: skip
        ax.set_xticks([])
        ax.set_yticks([])
        for side in ax.spines.values():
            side.set_color("0.8")
        ax.set_title(f"{label} — {base}", fontsize=10, loc="left")
        return
    s = s.head(n_top).iloc[::-1]
    y = np.arange(len(s))
    colours = [_colour(r) for r in s.itertuples()]
    err = np.clip(np.nan_to_num(s["conf"].to_numpy(dtype=float)), 0.0, None)
    ax.barh(y, s["effect"], color=colours, height=0.7, xerr=err, ecolor="0.25", capsize=2.5)
    ax.set_yticks(y, [_label(k) for k in s["input"]], fontsize=8.5)
    ax.set_xlim(left=0)
    xu = f" ({unit})" if plan.design == "morris" and unit else ""
    ax.set_xlabel(f"{METHOD[plan.design]}{xu}", fontsize=8.5)
    ax.tick_params(axis="x", labelsize=8)
    ax.grid(True, axis="x", alpha=0.3)
    ax.set_title(f"{label} — {base}", fontsize=10, loc="left")
    ax.text(0.99, 0.02, span, transform=ax.transAxes, ha="right", va="bottom", fontsize=7.5,
            color="0.35")  # fmt: skip


def _legend(fig, plan: Plan) -> None:
    from matplotlib.patches import Patch

    fig.legend(
        handles=[
            Patch(color=UP, label="raising the input raises the figure"),
            Patch(color=DOWN, label="raising the input lowers it"),
            Patch(color=BOTH, label="either way (non-monotone, interactions)"),
        ],
        loc="outside lower center", ncol=3, fontsize=9, frameon=False,
        title=f"{_what(plan)}; whiskers: 95% CI", title_fontsize=9,
    )  # fmt: skip


def plot_tornados(
    plan: Plan, sens: pd.DataFrame, out: Path, fmt: str = "png", n_top: int = 10
) -> list[str]:
    """``tornado.png``: a panel per (kept figure, base), the ``n_top`` largest effects each; and
    ``tornado-<base>.png`` with every input, a panel per kept figure."""
    made = []
    nb, nf = len(plan.bases), len(plan.keep)
    fig = plots.new_figure(5.2 * nb + 0.6, 2.9 * nf + 1.4)
    axes = fig.subplots(nf, nb, squeeze=False)
    fig.suptitle(f"Sensitivity — sweep {plan.name} (top {n_top} inputs)", fontsize=13,
                 fontweight="bold")  # fmt: skip
    for fi, name in enumerate(plan.keep):
        for bi, b in enumerate(plan.bases):
            _panel(axes[fi][bi], plan, sens, b.name, name, n_top)
    _legend(fig, plan)
    made.append(plots.save(fig, out, "tornado", fmt))
    k = len(plan.params)
    for b in plan.bases:
        ncols = min(3, nf)
        nrows = math.ceil(nf / ncols)
        fig = plots.new_figure(5.6 * ncols + 0.6, (0.24 * k + 1.3) * nrows + 1.4)
        axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
        fig.suptitle(f"Sensitivity — {b.name} (sweep {plan.name}, every input)", fontsize=13,
                     fontweight="bold")  # fmt: skip
        for i, name in enumerate(plan.keep):
            _panel(axes[i], plan, sens, b.name, name, k)
        for ax in axes[nf:]:
            ax.set_visible(False)
        _legend(fig, plan)
        slug = "".join(c if c.isalnum() or c in "-_" else "_" for c in b.name)
        made.append(plots.save(fig, out, f"tornado-{slug}", fmt))
    return made
