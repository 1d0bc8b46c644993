"""The ``sim`` command line.

    sim run SCENARIO [--seed N] [--out DIR] [--set dotted.key=value ...] [--quiet] [--no-plots]
            [--force]
    sim validate FILE...
    sim schema [--out FILE]
    sim list [DIR]
    sim report RUN_DIR
    sim compare A.yaml B.yaml [--seeds N] [--set dotted.key=value ...] [--duration D] [--out DIR]

A bad scenario (or override) prints one line per problem, ``file:line:col: field: expected ...``,
and exits with status 2 without a traceback and without writing anything under the results folder.
Before a run the results folder is checked and the run's memory and time are estimated (a run that
would not fit in memory is refused unless ``--force``). Ctrl-C (or SIGTERM) ends with one line and
status 130; a folder being written is left as ``<run-id>.failed``, never as a complete-looking one.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import sys
import traceback
from pathlib import Path

from sim.scenario import Scenario, ScenarioError, load_scenario
from sim.scenario.schema import MAX_SEED

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


def parse_seed(text: str) -> int | None:
    """A ``--seed``: the same rule as ``run.seed`` (a whole number the random streams take,
    0 to 2**64 - 1, kept exactly); None if it is not one."""
    text = text.strip()
    if not re.fullmatch(r"[0-9]{1,25}", text):
        return None
    v = int(text)
    return v if v <= MAX_SEED else None


def _seed_or_exit(text: str | None) -> int | None:
    if text is None:
        return None
    seed = parse_seed(text)
    if seed is None:
        print(
            f"--seed {text}: expected a whole number from 0 to {MAX_SEED} (2**64 - 1, what the "
            "random streams take), as for run.seed",
            file=sys.stderr,
        )
        sys.exit(EXIT_BAD_INPUT)
    return seed


def _warn(sc: Scenario) -> None:
    from sim.scenario.schema import scenario_warnings

    for w in scenario_warnings(sc):
        print(f"warning: {w}", file=sys.stderr)


def _preflight(sc: Scenario, force: bool, label: str = "") -> bool:
    """Print the estimate; False (with a message) if the run would not fit in memory."""
    from sim.scenario.estimate import estimate

    est = estimate(sc)
    print(f"{label}{est.line()}", file=sys.stderr)
    if est.fits or force:
        return True
    print(
        f"{label}refused: the run would need more memory than is available; shorten "
        "run.duration or lighten the workload (or pass --force to run it anyway)",
        file=sys.stderr,
    )
    return False


def _out_or_exit(out: str) -> None:
    from sim.report.results import check_out

    problem = check_out(out)
    if problem is not None:
        print(problem, file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)


def _fmt(v, unit: str = "") -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.1f}{unit}"
    if isinstance(v, int):
        return f"{v:,}{unit}"
    return f"{v}{unit}"


def summary_table(s: dict, run_dir: Path | None = None) -> str:
    """A compact, readable table of a run's summary."""
    lines = []
    lines.append(
        f"scenario {s['scenario']}   seed {s['seed']}   simulated {s['sim_duration_s']:,.0f} s   wall {s['wall_time_s']:.1f} s"
    )
    lines.append("")
    lines.append(
        f"{'latency (ms)':<28}{'count':>10}{'p50':>10}{'p90':>10}{'p99':>10}{'p99.9':>10}{'max':>11}"
    )
    p = s["produce_latency_ms"]
    lines.append(
        f"{'produce':<28}{_fmt(p['count']):>10}{_fmt(p['p50']):>10}{_fmt(p['p90']):>10}{_fmt(p['p99']):>10}{_fmt(p['p999']):>10}{_fmt(p['max']):>11}"
    )
    e = s["e2e_latency_ms"]
    lines.append(
        f"{'end-to-end':<28}{_fmt(e['count']):>10}{_fmt(e['p50']):>10}{'':>10}{_fmt(e['p99']):>10}{'':>10}{_fmt(e['max']):>11}"
    )
    for reg, v in s["produce_latency_ms_by_leader"].items():
        lines.append(
            f"{'  produce, leader ' + reg:<28}{_fmt(v['count']):>10}{_fmt(v['p50']):>10}{'':>10}{_fmt(v['p99']):>10}"
        )
    for reg, v in s["produce_latency_ms_by_producer_region"].items():
        lines.append(
            f"{'  produce, from ' + reg:<28}{_fmt(v['count']):>10}{_fmt(v['p50']):>10}{'':>10}{_fmt(v['p99']):>10}"
        )
    lines.append("")
    r = s["records"]
    lines.append(
        f"records   sent {_fmt(r['sent'])}   acked {_fmt(r['acked'])}   failed {_fmt(r['failed'])}   "
        f"lost (acked) {_fmt(r['lost_acked'])}   duplicated {_fmt(r['duplicated'])}   in flight at end {_fmt(r['in_flight_at_end'])}"
    )
    rpo = s["rpo"]
    lines.append(
        f"RPO       lost acknowledged records {rpo['lost_acked_records']:,}   window {rpo['lost_window_s']:.3f} s"
    )
    u = s["unavailability"]
    wins = ", ".join(f"{a:,.1f}-{b:,.1f} s" for a, b in u["windows"][:5])
    more = f" (+{len(u['windows']) - 5} more)" if len(u["windows"]) > 5 else ""
    lines.append(
        f"unavailable {u['total_s']:.2f} s in {len(u['windows'])} window(s){': ' + wins + more if wins else ''}"
    )
    ld = s["leader"]
    tl = " -> ".join(f"{reg}@{t:,.1f}s" for t, reg in ld["timeline"][:6])
    lines.append(f"leader    {ld['changes']} change(s): {tl}")
    for f in s["faults"]:
        end = "permanent" if f["end_s"] is None else f"{f['end_s']:,.1f} s"
        lines.append(f"fault     {f['kind']} on {f['target']}: {f['start_s']:,.1f} s -> {end}")
    if run_dir is not None:
        lines.append("")
        lines.append(f"results   {run_dir}")
    return "\n".join(lines)


def _load_or_exit(path: str, overrides: list[str] | None = None) -> Scenario:
    try:
        return load_scenario(path, overrides)
    except ScenarioError as e:
        for p in e.problems:
            print(p, file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)


def cmd_run(a: argparse.Namespace) -> int:
    from sim.report.results import record_failure, write_run
    from sim.run.runner import run

    seed = _seed_or_exit(a.seed)
    sc = _load_or_exit(a.scenario, a.set)
    _warn(sc)
    if not _preflight(sc, a.force):
        return EXIT_BAD_INPUT
    _out_or_exit(a.out)
    quiet = a.quiet or not sys.stderr.isatty()
    progress = None
    bar = None
    if not quiet:
        from tqdm import tqdm

        bar = tqdm(total=round(sc.run.duration), unit="sim-s", desc=sc.name, leave=False)

        def progress(t: float) -> None:
            bar.update(round(t) - bar.n)

    seed = seed if seed is not None else sc.run.seed
    if seed is None:
        from sim.core.rng import draw_root_seed

        seed = draw_root_seed()  # drawn here so that even a failed run records it
    try:
        res = run(sc, seed, progress=progress)
    except Exception:
        if bar is not None:
            bar.close()
        tb = traceback.format_exc()
        fail = record_failure(a.out, sc.name, seed, tb)
        print(tb, file=sys.stderr)
        print(f"run failed; error recorded in {fail}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        if bar is not None:
            bar.close()
        raise Interrupted("interrupted: the run was stopped, nothing written") from None
    if bar is not None:
        bar.close()
    try:
        run_dir = write_run(res, a.out, plots=not a.no_plots, fmt=a.format, argv=sys.argv[1:])
    except KeyboardInterrupt as e:
        where = getattr(e, "failed_dir", None)
        raise Interrupted(
            "interrupted while writing the results"
            + (f": incomplete folder left as {where}" if where else "")
        ) from None
    except Exception as e:
        where = getattr(e, "failed_dir", None)
        print(
            f"cannot write the results ({type(e).__name__}: {e})"
            + (f"; incomplete folder left as {where} (error.txt)" if where else ""),
            file=sys.stderr,
        )
        return 1
    print(summary_table(res.summary, run_dir))
    return 0


def cmd_validate(a: argparse.Namespace) -> int:
    """Check scenario files: ``FILE: ok ...`` on stdout for each good one, one line per problem
    on stderr for each bad one; exit 0 if every file is valid, 2 otherwise."""
    from sim.core.units import format_duration

    status = 0
    for f in a.files:
        try:
            sc = load_scenario(f, a.set)
        except ScenarioError as e:
            status = EXIT_BAD_INPUT
            for p in e.problems:
                print(p, file=sys.stderr)
            print(f"{f}: {len(e.problems)} problem(s)", file=sys.stderr)
            continue
        _warn(sc)
        print(
            f"{f}: ok ({sc.name}: {len(sc.topology.regions)} region(s), {sc.table.kind} table, "
            f"{len(sc.faults)} fault(s), {format_duration(sc.run.duration)} simulated)"
        )
    return status


def cmd_schema(a: argparse.Namespace) -> int:
    """Print (or write to ``--out``) the JSON Schema of scenario files, for editors."""
    from sim.scenario import json_schema

    text = json.dumps(json_schema(), indent=2) + "\n"
    if not a.out:
        sys.stdout.write(text)
        return 0
    try:
        Path(a.out).write_text(text)
    except OSError as e:
        print(f"{a.out}: cannot write ({e.strerror or e})", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"wrote {a.out}")
    return 0


def _shipped_scenarios() -> Path:
    """``scenarios/`` of the working folder, else the one shipped next to the package."""
    here = Path("scenarios")
    return here if here.is_dir() else Path(__file__).resolve().parent.parent / "scenarios"


def cmd_list(a: argparse.Namespace) -> int:
    """The scenarios of a folder (default: the shipped ones) with their one-line description."""
    folder = Path(a.dir) if a.dir else _shipped_scenarios()
    files = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]) if folder.is_dir() else []
    if not files:
        print(f"{folder}: no scenario files (*.yaml)", file=sys.stderr)
        return EXIT_BAD_INPUT
    width = max(len(f.stem) for f in files)
    for f in files:
        try:
            sc = load_scenario(f)
        except ScenarioError as e:
            print(f"{f.stem:<{width}}  INVALID ({len(e.problems)} problem(s): sim validate {f})")
            continue
        lines = sc.description.strip().splitlines()
        print(f"{f.stem:<{width}}  {lines[0] if lines else '-'}")
    return 0


def cmd_report(a: argparse.Namespace) -> int:
    from sim.report import plots
    from sim.report.results import RunFolderError, check_complete, load_run

    folder = Path(a.run_dir)
    if not (folder / "summary.json").exists() and not folder.name.endswith((".failed", ".partial")):
        print(f"{folder}: not a run folder (no summary.json)", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        check_complete(folder)
        data = load_run(folder)
        try:
            table = summary_table(data["summary"], folder)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
            raise RunFolderError(
                f"{folder / 'summary.json'}: damaged ({type(e).__name__}: {e})"
            ) from None
        made = plots.render_all(folder, fmt=a.format)
    except RunFolderError as e:
        print(e, file=sys.stderr)
        return EXIT_BAD_INPUT
    print(table)
    print(f"plots     {', '.join(made)}")
    return 0


def cmd_compare(a: argparse.Namespace) -> int:
    """Run two designs on the same seeds, print the side-by-side table, write the comparison."""
    from sim.ensemble.compare import compare, format_table, write_compare

    overrides = list(a.set) + ([f"run.duration={a.duration}"] if a.duration else [])
    scenarios, bad = [], False
    for path in (a.a, a.b):  # report the problems of both files before giving up
        try:
            scenarios.append(load_scenario(path, overrides))
        except ScenarioError as e:
            bad = True
            for p in e.problems:
                print(p, file=sys.stderr)
    if bad:
        return EXIT_BAD_INPUT
    if a.seeds < 1:
        print(f"--seeds: expected a whole number of at least 1, got {a.seeds}", file=sys.stderr)
        return EXIT_BAD_INPUT
    first = scenarios[0].run.seed if scenarios[0].run.seed is not None else 1
    if first + a.seeds - 1 > MAX_SEED:
        print(
            f"--seeds {a.seeds}: seeds {first} to {first + a.seeds - 1} go past {MAX_SEED}, the "
            "largest seed the random streams take",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    for label, sc in zip(("A: ", "B: "), scenarios, strict=True):
        _warn(sc)
        if not _preflight(sc, a.force, label):
            return EXIT_BAD_INPUT
    _out_or_exit(a.out)

    def progress(line: str) -> None:
        if not a.quiet:
            print(line, file=sys.stderr, flush=True)

    try:
        res = compare(scenarios[0], scenarios[1], a.seeds, (a.a, a.b), overrides, progress=progress)
    except KeyboardInterrupt:
        raise Interrupted("interrupted: the comparison was stopped, nothing written") from None
    except Exception:
        print(traceback.format_exc(), file=sys.stderr)
        print("compare failed: a run raised (traceback above)", file=sys.stderr)
        return 1
    try:
        folder = write_compare(res, a.out, fmt=a.format)
    except KeyboardInterrupt:
        raise Interrupted("interrupted while writing the comparison, nothing written") from None
    except OSError as e:
        print(f"cannot write the comparison under {a.out} ({e.strerror or e})", file=sys.stderr)
        return 1
    print(format_table(res))
    print("")
    print(f"results   {folder}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="sim",
        description="Multi-region streaming on object storage: simulation and failure-injection lab.",
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run a scenario and write its results folder")
    r.add_argument("scenario")
    r.add_argument(
        "--seed",
        default=None,
        help="root seed, 0 to 2**64 - 1 (default: the scenario's, else drawn and recorded)",
    )
    r.add_argument(
        "--force",
        action="store_true",
        help="run even when the pre-flight estimate says it will not fit in memory",
    )
    r.add_argument("--out", default="results", help="results folder (default: results)")
    r.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a scenario key, e.g. --set workload.linger=10ms",
    )
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.add_argument("--no-plots", action="store_true", help="skip rendering plots")
    r.add_argument("--format", choices=["png", "svg"], default="png")
    r.set_defaults(fn=cmd_run)
    v = sub.add_parser("validate", help="check scenario files (exit 0 if all valid, 2 otherwise)")
    v.add_argument("files", nargs="+", metavar="FILE")
    v.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="check with this override applied, e.g. --set workload.linger=10ms",
    )
    v.set_defaults(fn=cmd_validate)
    s = sub.add_parser(
        "schema",
        help="print or write the JSON Schema of scenario files (for editors)",
        description="The JSON Schema of scenario files, from the same models the loader uses. "
        "Hook it to an editor with a first line '# yaml-language-server: $schema=PATH' "
        "(see docs/scenarios.md).",
    )
    s.add_argument("--out", default=None, metavar="FILE", help="write here instead of stdout")
    s.set_defaults(fn=cmd_schema)
    li = sub.add_parser("list", help="list scenarios with their one-line descriptions")
    li.add_argument(
        "dir", nargs="?", default=None, help="folder of scenarios (default: the shipped ones)"
    )
    li.set_defaults(fn=cmd_list)
    rp = sub.add_parser("report", help="re-render plots and the summary from a run folder")
    rp.add_argument("run_dir")
    rp.add_argument("--format", choices=["png", "svg"], default="png")
    rp.set_defaults(fn=cmd_report)
    c = sub.add_parser(
        "compare",
        help="run two scenarios on the same seeds and compare them side by side",
        description="Run designs A and B on the same seeds (common random numbers) and print "
        "each figure's mean per design, the paired difference B - A and its 95%% confidence "
        "interval; write overlaid latency CDFs and timelines and compare.json.",
    )
    c.add_argument("a", metavar="A.yaml")
    c.add_argument("b", metavar="B.yaml")
    c.add_argument(
        "--seeds",
        type=int,
        default=3,
        help="seeds per design (default 3): A's run.seed (or 1), +1, +2, ...",
    )
    c.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a key in both scenarios, e.g. --set workload.linger=10ms",
    )
    c.add_argument("--duration", default=None, help="simulated time of every run, e.g. 10m")
    c.add_argument("--out", default="results", help="results folder (default: results)")
    c.add_argument("--format", choices=["png", "svg"], default="png")
    c.add_argument("--quiet", action="store_true", help="no progress lines")
    c.add_argument(
        "--force",
        action="store_true",
        help="run even when the pre-flight estimate says a run will not fit in memory",
    )
    c.set_defaults(fn=cmd_compare)
    return ap


class Interrupted(Exception):
    """Ctrl-C or SIGTERM: the one line to print."""


def _on_sigterm(signum, frame):
    raise KeyboardInterrupt  # unwinds like Ctrl-C: a folder being written becomes .failed


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    a = ap.parse_args(argv)
    old = None
    try:
        old = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread: leave signals alone
        pass
    try:
        return a.fn(a)
    except Interrupted as e:
        print(e, file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        if old is not None:
            signal.signal(signal.SIGTERM, old)


if __name__ == "__main__":
    sys.exit(main())
