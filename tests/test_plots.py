"""Plots of a run folder: every figure written and re-rendered from the files alone."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from sim.cli import main
from sim.report import plots
from sim.report.results import write_run
from sim.run.runner import run
from sim.scenario import load_scenario

EXPECTED = {
    "produce_latency",
    "latency_cdf",
    "throughput",
    "leader_timeline",
    "topology",
    "rtt_matrix",
}

SCENARIO = """
name: plots-leader-loss
run: {duration: 90s, seed: 3, warmup: 5s}
topology: {regions: [us-east-1, us-east-2, us-west-2]}
table: {kind: mrsc, leader_region: us-east-1}
faults:
  - {kind: region-outage, target: leader, at: 40s, data: destroyed}
"""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A small three-region run that loses its leader region, written with its plots."""
    base = tmp_path_factory.mktemp("plots")
    path = base / "leader-loss.yaml"
    path.write_text(SCENARIO)
    res = run(load_scenario(path))
    return write_run(res, base / "results", plots=True)


def test_render_all_writes_every_plot(run_dir):
    """render_all writes the six figures into plots/, each a non-empty PNG."""
    names = plots.render_all(run_dir)
    assert {n.rsplit(".", 1)[0] for n in names} == EXPECTED
    for n in names:
        data = (run_dir / "plots" / n).read_bytes()
        assert len(data) > 1000
        assert data[:8] == b"\x89PNG\r\n\x1a\n"


def test_two_processes_draw_the_same_figures(run_dir):
    """jobs=2 (half the plots drawn in a forked child, as `sim run` does) writes the same
    bytes as drawing them one after the other, in the same order of names."""
    one = plots.render_all(run_dir, jobs=1)
    first = {n: (run_dir / "plots" / n).read_bytes() for n in one}
    shutil.rmtree(run_dir / "plots")
    two = plots.render_all(run_dir, jobs=2)
    assert two == one
    assert {n: (run_dir / "plots" / n).read_bytes() for n in two} == first


def test_an_error_in_the_plot_child_is_raised(run_dir, monkeypatch):
    """A plot that fails in the forked child (only the child draws the throughput figure) fails
    render_all: no figure goes silently missing."""

    def plot_throughput(run, out, fmt):  # the child's group, by name
        raise RuntimeError("throughput failed (injected)")

    swapped = tuple(plot_throughput if p.__name__ == "plot_throughput" else p for p in plots.PLOTS)
    monkeypatch.setattr(plots, "PLOTS", swapped)
    with pytest.raises(RuntimeError, match="injected"):
        plots.render_all(run_dir, jobs=2)


def test_report_reproduces_plots_from_files(run_dir):
    """`sim report` on a folder without plots/ renders the same file names as the run did."""
    made_by_run = json.loads((run_dir / "run.json").read_text())["plots"]
    shutil.rmtree(run_dir / "plots")
    assert main(["report", str(run_dir)]) == 0
    assert sorted(p.name for p in (run_dir / "plots").iterdir()) == sorted(made_by_run)
    assert all((run_dir / "plots" / n).stat().st_size > 0 for n in made_by_run)


def test_svg_on_request(run_dir):
    """fmt='svg' writes every figure as a non-empty SVG."""
    names = plots.render_all(run_dir, fmt="svg")
    assert len(names) == len(EXPECTED) and all(n.endswith(".svg") for n in names)
    assert all(b"<svg" in (run_dir / "plots" / n).read_bytes()[:2000] for n in names)


def test_report_rejects_a_folder_without_summary(tmp_path, capsys):
    """`sim report` on a folder that is not a run folder exits 2 with one line of explanation."""
    assert main(["report", str(tmp_path)]) == 2
    assert "not a run folder" in capsys.readouterr().err


def test_per_second_quantiles_match_numpy():
    """The one-sort per-bin quantiles equal numpy.quantile bin by bin, NaN where a bin is empty."""
    rng = np.random.default_rng(7)
    t = rng.uniform(0, 50, 5000)
    t = t[(t < 20) | (t >= 21)]  # an empty bin
    v = rng.lognormal(5, 1, len(t))
    x, q = plots.per_second_quantiles(t, v, [0.5, 0.99], 50.0)
    assert len(x) == 50 and x[0] == 0.5
    for b in range(50):
        sel = v[np.floor(t) == b]
        if len(sel) == 0:
            assert np.isnan(q[:, b]).all()
        else:
            np.testing.assert_allclose(q[:, b], np.quantile(sel, [0.5, 0.99]), rtol=1e-12)


def test_leader_segments_merge_a_lease_recorded_twice():
    """Consecutive rows of the same region and epoch make one segment, ending at the next lease."""
    leader = pd.DataFrame(
        {
            "t_s": [0.3, 1.27, 1.52, 50.0],
            "region": ["us-east-1", "us-east-2", "us-east-2", "us-west-2"],
            "epoch": [1, 2, 2, 3],
            "cause": ["initial election", "handover", "accepted handover", "expired"],
        }
    )
    segs = plots.leader_segments(leader, 90.0)
    assert [(s[0], s[1], s[2], s[3]) for s in segs] == [
        (0.3, 1.27, "us-east-1", 1),
        (1.27, 50.0, "us-east-2", 2),
        (50.0, 90.0, "us-west-2", 3),
    ]


def test_topology_boxes_do_not_overlap_or_hide_edges():
    """The spread layout leaves no two region boxes overlapping and no edge under a third box."""
    regions = ["us-east-1", "us-east-2", "us-west-2", "eu-west-1", "gcp:us-east4"]
    pos, geo = plots.initial_positions(regions, {})
    assert geo
    sizes = {r: (2.9, 1.4) for r in regions}
    edges = [(a, b) for i, a in enumerate(regions) for b in regions[i + 1 :]]
    pos = plots.spread_boxes(regions, pos, sizes, edges)
    for i, a in enumerate(regions):
        for b in regions[i + 1 :]:
            d = np.abs(pos[a] - pos[b])
            assert d[0] >= 2.9 or d[1] >= 1.4
    for k in regions:
        for a, b in edges:
            if k not in (a, b):
                assert plots._clip(pos[a], pos[b], pos[k], np.array(sizes[k]) / 2) is None


def test_the_warm_worker_draws_the_same_figures(run_dir):
    """A PlotWorker (started before a run, as `sim run` does) writes the same names and bytes
    as render_all drawing every figure in this process, and raises a plot's error."""
    from sim.report.plot_worker import PlotWorker

    one = plots.render_all(run_dir, jobs=1)
    first = {n: (run_dir / "plots" / n).read_bytes() for n in one}
    shutil.rmtree(run_dir / "plots")
    (run_dir / "plots").mkdir()
    with PlotWorker(2) as worker:
        assert worker.render(run_dir) == one
    assert {n: (run_dir / "plots" / n).read_bytes() for n in one} == first


def test_sim_run_draws_its_plots_without_matplotlib_in_its_process(tmp_path):
    """`sim run` leaves the plots to its warm worker: the run's own process never imports
    matplotlib (about a second of CPU, done on the other core while the model runs)."""
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO)
    code = (
        "import sys; from sim.cli import main; "
        f"rc = main(['run', {str(path)!r}, '--out', {str(tmp_path / 'out')!r}, '--quiet']); "
        "print(rc, 'matplotlib' in sys.modules)"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.stdout.split()[-2:] == ["0", "False"], res.stderr
    (folder,) = (tmp_path / "out" / "plots-leader-loss").iterdir()
    made = json.loads((folder / "run.json").read_text())["plots"]
    assert {n.rsplit(".", 1)[0] for n in made} == EXPECTED
    assert all((folder / "plots" / n).stat().st_size > 1000 for n in made)


def _bytes_of(run_dir, names):
    return {n: (run_dir / "plots" / n).read_bytes() for n in names}


def test_requests_read_ahead_draw_the_same_figures_without_rereading(run_dir, monkeypatch):
    """The requests table read ahead (what `sim run`'s worker does while the run is checked)
    is taken instead of the folder's file when it is that file: the same bytes, and the folder's
    requests table is not read again (red if `_Run` ignores what was read ahead)."""
    from sim.report.plots import figures

    one = plots.render_all(run_dir, jobs=1)
    first = _bytes_of(run_dir, one)
    shutil.rmtree(run_dir / "plots")
    read = []
    load_run = figures.load_run

    def recording(folder, tables=(), columns=None):
        read.append(tuple(tables))
        return load_run(folder, tables=tables, columns=columns)

    monkeypatch.setattr(figures, "load_run", recording)
    summary = json.loads((run_dir / "summary.json").read_text())
    figures.read_ahead(run_dir / "requests.parquet", summary["sim_duration_s"])
    assert plots.render_all(run_dir, jobs=2) == one
    assert _bytes_of(run_dir, one) == first
    assert read == [("receipts",)]
    assert figures._AHEAD == {}  # taken once


def test_requests_read_ahead_of_another_file_are_not_taken(run_dir, tmp_path, monkeypatch):
    """A table read ahead that is not the folder's file (another copy, or rewritten since) is
    ignored: the plots read the folder's table."""
    from sim.report.plots import figures

    other = tmp_path / "requests.parquet"
    shutil.copyfile(run_dir / "requests.parquet", other)
    figures.read_ahead(other, 90.0)
    assert figures._AHEAD
    read = []
    load_run = figures.load_run
    monkeypatch.setattr(
        figures, "load_run",
        lambda folder, tables=(), columns=None: read.append(tuple(tables))
        or load_run(folder, tables=tables, columns=columns),
    )  # fmt: skip
    figures._Run(run_dir)
    assert read == [("requests", "receipts")]


def test_sim_run_has_its_worker_read_the_finished_requests_ahead(tmp_path, monkeypatch):
    """`sim run` hands the requests table to its plot worker as soon as the simulation is over
    and the table complete (a file, for a run that wrote its rows as it went), before the checks;
    the folder's requests.parquet is that very file, and the figures are the same."""
    import sim.run.runner as runner
    from sim.report.plot_worker import PlotWorker

    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO)
    real_run = runner.run

    def small_row_groups(*args, **kwargs):  # write the rows out as the run goes, as a long run
        return real_run(*args, spool_rows=2_000, spool_margin=0.0, **kwargs)

    monkeypatch.setattr(runner, "run", small_row_groups)
    asked = []
    real = PlotWorker.read_ahead

    def recording(self, requests, duration):
        asked.append((requests, duration, figures_identity(requests)))
        return real(self, requests, duration)

    from sim.report.plots.figures import _identity as figures_identity

    monkeypatch.setattr(PlotWorker, "read_ahead", recording)
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    (folder,) = (tmp_path / "out" / "plots-leader-loss").iterdir()
    ((requests, duration, ident),) = asked
    assert duration == 90.0 and ident == figures_identity(folder / "requests.parquet")
    made = json.loads((folder / "run.json").read_text())["plots"]
    drawn = _bytes_of(folder, made)
    shutil.rmtree(folder / "plots")
    assert plots.render_all(folder, jobs=1) == made
    assert _bytes_of(folder, made) == drawn
