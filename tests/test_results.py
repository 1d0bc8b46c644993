"""Run folders: complete when they look complete, failures recorded, reproducible from files."""

import json
from pathlib import Path

import pytest

from sim import cli
from sim.report.results import TABLES, load_run

SCEN = """
name: tiny
run: {duration: 40s, seed: 3, warmup: 2s}
faults:
  - {kind: region-outage, target: leader, at: 15s, duration: 10s}
"""


@pytest.fixture()
def scenario(tmp_path: Path) -> Path:
    p = tmp_path / "tiny.yaml"
    p.write_text(SCEN)
    return p


def _runs(out: Path) -> list[Path]:
    return sorted(p for p in (out / "tiny").iterdir()) if (out / "tiny").exists() else []


def test_run_folder_holds_every_file(scenario, tmp_path):
    """A run folder has the summary, resolved scenario, versions, tables, timelines and plots."""
    out = tmp_path / "res"
    assert cli.main(["run", str(scenario), "--out", str(out), "--quiet"]) == 0
    (run_dir,) = _runs(out)
    names = {p.name for p in run_dir.iterdir()}
    expected = {"summary.json", "scenario.yaml", "run.json", "leader.csv", "faults.json", "events.csv",
                "topology.json", "plots"} | {f"{t}.parquet" for t in TABLES}  # fmt: skip
    assert expected <= names
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "complete" and info["seed"] == 3 and info["versions"]["simpy"]
    assert "seed: 3" in (run_dir / "scenario.yaml").read_text()
    assert len(list((run_dir / "plots").glob("*.png"))) >= 5
    data = load_run(run_dir)
    assert data["summary"]["faults"][0]["kind"] == "region-outage"
    assert len(data["requests"]) == data["summary"]["requests"]["sent"]


def test_exception_mid_run_leaves_no_complete_looking_folder(
    scenario, tmp_path, monkeypatch, capsys
):
    """An exception injected mid-run: exit 1, only a '.failed' folder with the error, no summary."""
    import sim.model.agent

    calls = {"n": 0}
    original = sim.model.agent.Agent._collect

    def exploding(self, now):
        calls["n"] += 1
        if calls["n"] > 200:
            raise RuntimeError("injected failure")
        return original(self, now)

    monkeypatch.setattr(sim.model.agent.Agent, "_collect", exploding)
    out = tmp_path / "res"
    assert cli.main(["run", str(scenario), "--out", str(out), "--quiet"]) == 1
    (only,) = _runs(out)
    assert only.name.endswith(".failed")
    assert "injected failure" in (only / "error.txt").read_text()
    assert not (only / "summary.json").exists()
    assert "injected failure" in capsys.readouterr().err


def test_exception_while_writing_leaves_a_failed_folder(scenario, tmp_path, monkeypatch, capsys):
    """A failure while writing (plots) renames the partial folder to '.failed' with the error,
    and ends with one line naming it (exit 1, no traceback)."""
    import sim.report.plots

    def broken(folder, fmt="png", jobs=1):
        raise OSError("disk full (injected)")

    monkeypatch.setattr(sim.report.plots, "render_all", broken)
    out = tmp_path / "res"
    assert cli.main(["run", str(scenario), "--out", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "disk full (injected)" in err and ".failed" in err and "Traceback" not in err
    (only,) = _runs(out)
    assert only.name.endswith(".failed") and not only.name.startswith(".")
    assert "disk full" in (only / "error.txt").read_text()
    assert not (only / "run.json").exists()


def test_report_rerenders_plots_from_files(scenario, tmp_path):
    """sim report rebuilds the plots of a run folder from its files alone."""
    out = tmp_path / "res"
    cli.main(["run", str(scenario), "--out", str(out), "--quiet"])
    (run_dir,) = _runs(out)
    before = sorted(p.name for p in (run_dir / "plots").iterdir())
    for p in (run_dir / "plots").iterdir():
        p.unlink()
    assert cli.main(["report", str(run_dir)]) == 0
    assert sorted(p.name for p in (run_dir / "plots").iterdir()) == before


def test_plots_read_two_tables_but_refuse_a_folder_missing_one(scenario, tmp_path):
    """The plots load only the request and receipt tables (memory), yet a run folder missing
    another table is still refused by name; load_run(tables=...) reads only those asked for."""
    from sim.report.plots import render_all
    from sim.report.results import RunFolderError

    out = tmp_path / "res"
    cli.main(["run", str(scenario), "--out", str(out), "--quiet", "--no-plots"])
    (run_dir,) = _runs(out)
    part = load_run(run_dir, tables=("requests", "receipts"))
    assert "requests" in part and "receipts" in part
    assert not {"attempts", "files", "batches"} & set(part)
    (run_dir / "attempts.parquet").unlink()
    with pytest.raises(RunFolderError, match="attempts.parquet: missing"):
        render_all(run_dir)
