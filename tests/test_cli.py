"""The command line's scenario commands: validate, schema, list, and run on bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sim.cli import main

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "scenarios").glob("*.yaml"))
THREE = "run:\n  duration: 1 hour\ntopology:\n  regions: [us-east-1, us-eats-2]\nworkload:\n  lingr: 1\n"


def call(argv: list[str]) -> int:
    """``sim ARGV`` in this process: its exit status (returned or raised)."""
    try:
        return main(argv)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 1


@pytest.fixture
def bad(tmp_path) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(THREE)
    return path


def test_validate_exits_0_when_every_file_is_valid(capsys):
    """`sim validate` on the shipped files prints one 'FILE: ok' line each and exits 0."""
    assert call(["validate", *map(str, SHIPPED)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == len(SHIPPED)
    assert all(line.startswith(f"{p}: ok (") for line, p in zip(out, SHIPPED, strict=True))


def test_validate_exits_2_and_reports_every_problem(bad, capsys):
    """One bad file among good ones: exit 2, its three problems and a count on stderr."""
    assert call(["validate", str(SHIPPED[0]), str(bad)]) == 2
    cap = capsys.readouterr()
    assert cap.out.startswith(f"{SHIPPED[0]}: ok")
    err = cap.err.splitlines()
    assert [line.split(": ")[1] for line in err[:3]] == [
        "run.duration",
        "topology.regions.1",
        "workload.lingr",
    ]
    assert err[3] == f"{bad}: 3 problem(s)"
    assert "Traceback" not in cap.err


def test_validate_checks_overrides(capsys):
    """`sim validate --set` applies the override and names it when it is wrong."""
    assert call(["validate", str(SHIPPED[0]), "--set", "workload.linger=abc"]) == 2
    assert (
        "--set workload.linger=abc: workload.linger: expected a duration" in capsys.readouterr().err
    )


def test_run_on_a_bad_file_exits_2_and_writes_nothing(bad, tmp_path, capsys):
    """`sim run` on a bad file (or with a bad --set) exits 2 with no traceback and no output folder."""
    out = tmp_path / "results"
    assert call(["run", str(bad), "--out", str(out), "--quiet"]) == 2
    good = str(SHIPPED[0])
    assert call(["run", good, "--out", str(out), "--quiet", "--set", "run.duration=x"]) == 2
    assert call(["run", str(tmp_path / "missing.yaml"), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "workload.lingr" in err and "--set run.duration=x" in err
    assert not out.exists()


def test_console_script_prints_no_traceback(bad, tmp_path):
    """`python -m sim run` on a bad file: exit 2, problem lines only, no traceback, nothing written."""
    out = tmp_path / "results"
    cmd = [sys.executable, "-m", "sim", "run", str(bad), "--out", str(out), "--quiet"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 3
    assert not out.exists()


def test_schema_writes_json_schema(tmp_path, capsys):
    """`sim schema` prints the JSON Schema; --out writes the same to a file."""
    assert call(["schema"]) == 0
    printed = json.loads(capsys.readouterr().out)
    target = tmp_path / "scenario.schema.json"
    assert call(["schema", "--out", str(target)]) == 0
    assert json.loads(target.read_text()) == printed
    assert printed["additionalProperties"] is False
    assert {"Duration", "Size", "Region", "RunConfig"} <= set(printed["$defs"])
    assert call(["schema", "--out", str(tmp_path / "no" / "such" / "dir.json")]) == 2


def test_list_shows_each_scenario_with_its_description(capsys, tmp_path):
    """`sim list` prints every shipped scenario with its one-line description; an empty folder is 2."""
    assert call(["list", str(ROOT / "scenarios")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == [p.stem for p in SHIPPED]
    assert all(len(line.split(None, 1)) == 2 for line in lines)
    assert call(["list", str(tmp_path)]) == 2


@pytest.mark.parametrize("text", ["", "# only a comment\n\n# and another\n"])
def test_empty_scenario_file_is_refused_in_one_line(tmp_path, text):
    """An empty or comments-only file is not a full hour of defaults: exit 2, one line."""
    path = tmp_path / "empty.yaml"
    path.write_text(text)
    out = tmp_path / "results"
    cmd = [sys.executable, "-m", "sim", "run", str(path), "--out", str(out), "--quiet"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "empty.yaml:1:1" in lines[0] and "empty" in lines[0]
    assert not out.exists()


def test_the_program_freezes_what_is_left_before_the_interpreter_exits(monkeypatch):
    """`sim` (and `python -m sim`) run ``main``, freeze the objects left (the interpreter's
    collections at shutdown would walk them again: 0.1 s of a 1-hour run), and exit with main's
    status; ``main`` itself, called in-process, freezes nothing."""
    import gc

    import sim.cli

    calls = []
    monkeypatch.setattr(sim.cli, "main", lambda: calls.append("main") or 3)
    monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))
    with pytest.raises(SystemExit) as e:
        sim.cli.entry()
    assert e.value.code == 3 and calls == ["main", "freeze"]


def test_python_m_sim_is_the_program():
    """``python -m sim`` goes through ``entry``: its objects are frozen when the exit handlers
    run, and its status is main's."""
    code = (
        "import atexit, gc, runpy, sys; "
        "atexit.register(lambda: print('frozen', gc.get_freeze_count() > 0)); "
        f"sys.argv = ['sim', 'list', {str(ROOT / 'scenarios')!r}]; "
        "runpy.run_module('sim', run_name='__main__')"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().splitlines()[-1] == "frozen True"
