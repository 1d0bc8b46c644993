"""The ``sim`` command line.

    sim run SCENARIO [--seed N] [--out DIR] [--set dotted.key=value ...] [--quiet] [--no-plots]
            [--force]
    sim validate FILE...
    sim schema [--out FILE]
    sim list [DIR]
    sim report RUN_DIR
    sim compare A.yaml B.yaml [--seeds N] [--set dotted.key=value ...] [--duration D] [--out DIR]
                [--workers N] [--scheduler tcp://HOST:PORT]
    sim sweep SWEEP.yaml [--out DIR] [--workers N] [--scheduler ADDR] [--keep-runs DIR] ...
    sim sweep SCENARIO --seeds N [--grid key=v1,v2,...]... [--out DIR] ...
    sim fuzz [--runs N] [--budget survivable|any] [--seed S] [--out DIR] [--mutant NAME]
             [--targeted] [--workers N | --scheduler ADDR]

A bad scenario (or override) prints one line per problem, ``file:line:col: field: expected ...``,
and exits with status 2 without a traceback and without writing anything under the results folder.
Before a run the results folder is checked and the run's memory and time are estimated (a run that
would not fit in memory is refused unless ``--force``). Ctrl-C (or SIGTERM) ends with one line and
status 130; a folder being written is left as ``<run-id>.failed``, never as a complete-looking one.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
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
    ch = s.get("checks", {})
    if ch:
        bad = [n for n, v in ch.items() if not v["ok"]]
        allowed = [n for n, v in ch.items() if v.get("violated") and v.get("allowed")]
        lines.append(
            f"checks    {len(ch) - len(bad)} of {len(ch)} ok"
            + (f" (allowed by the design: {', '.join(allowed)})" if allowed else "")
        )
        for n in bad:
            lines.append(f"VIOLATED  {n}: {ch[n]['detail']}")
    if s.get("mutant"):
        lines.append(f"mutant    {s['mutant']} (a deliberately broken design)")
    c = s.get("cost")
    if c:
        per_gb = "n/a" if c["usd_per_gb"] is None else f"${c['usd_per_gb']:,.4f}"
        lines.append(
            f"cost      ${c['total_usd']:,.4f} for the run   {per_gb} per GB produced   "
            f"${c['usd_per_month']:,.0f} per month at this workload"
        )
        top = sorted(c["items"].items(), key=lambda kv: -kv[1])[:4]
        lines.append("          " + "   ".join(f"{k} ${v:,.4f}" for k, v in top if v > 0))
        if c["unknown"]:
            lines.append(f"          no known price (left out): {', '.join(c['unknown'][:6])}")
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


def _prices_or_exit(path: str | None):
    """The price table with ``path``'s rows over the shipped ones (None: the shipped table);
    a bad file exits 2 with its problem on one line."""
    if path is None:
        return None
    from sim.cost import PriceFileError, load_prices

    try:
        return load_prices(path)
    except PriceFileError as e:
        print(e, file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT) from None
    except OSError as e:
        print(f"{path}: cannot read the price file ({e.strerror or e})", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT) from None


def _check_determinism(sc: Scenario, seed: int | None) -> int:
    """`sim run --check-determinism`: the resolved scenario run twice in two processes."""
    import tempfile

    from sim.ensemble.determinism import check
    from sim.scenario import to_yaml

    seed = seed if seed is not None else (sc.run.seed if sc.run.seed is not None else 1)
    with tempfile.TemporaryDirectory(prefix="sim-check-") as tmp:
        path = Path(tmp) / "scenario.yaml"
        path.write_text(to_yaml(sc.model_copy(update={"extends": None})))  # resolved already
        same, detail = check(str(path), int(seed))
    print(f"determinism ({sc.name}, seed {seed}): {'ok' if same else 'MISMATCH'}: {detail}")
    return 0 if same else 1


def _plot_jobs() -> int:
    """Processes that draw a run's plots (``sim.report.plots.render_all``): two when this
    machine has more than one core."""
    return 2 if (os.cpu_count() or 1) > 1 else 1


def cmd_run(a: argparse.Namespace) -> int:
    seed = _seed_or_exit(a.seed)
    prices = _prices_or_exit(a.prices)
    sc = _load_or_exit(a.scenario, a.set)
    if a.check_determinism:
        return _check_determinism(sc, seed)
    _warn(sc)
    if not _preflight(sc, a.force):
        return EXIT_BAD_INPUT
    _out_or_exit(a.out)
    worker = None
    if not a.no_plots:
        from sim.report.plot_worker import PlotWorker

        # imports the plotting code on the other core while the model runs (before the bar's
        # thread starts: it forks)
        worker = PlotWorker.start(_plot_jobs())
    try:
        return _run_and_write(a, sc, seed, prices, worker)
    finally:
        if worker is not None:
            worker.close()


def _run_and_write(a: argparse.Namespace, sc, seed, prices, worker) -> int:
    from sim.report.results import record_failure, write_run
    from sim.run.runner import run

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
    on_requests = None
    if worker is not None:

        def on_requests(requests) -> None:
            # the worker reads the finished requests table while this process checks the run
            if requests.path is not None:
                worker.read_ahead(requests.path, sc.run.duration)

    try:
        # a long run writes its tables as it goes, next to the run folder they move into
        res = run(
            sc, seed, progress=progress, prices=prices, spill_dir=Path(a.out) / sc.name,
            on_requests=on_requests,
        )  # fmt: skip
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
        run_dir = write_run(
            res, a.out, plots=not a.no_plots, fmt=a.format, argv=sys.argv[1:],
            plot_jobs=_plot_jobs(), plot_worker=worker,
        )  # fmt: skip
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


def cmd_fuzz(a: argparse.Namespace) -> int:
    """Fuzzed fault schedules checked against the invariants: exit 0 if no forbidden anomaly
    was found, 1 if one was (its reproducing and shrunk scenarios are in --out), 2 on bad input."""
    from sim.ensemble.fuzz import campaign, format_report
    from sim.scenario.schema import MUTANTS

    problems = []
    if a.runs is not None and a.runs < 1:
        problems.append(f"--runs: expected a whole number of at least 1, got {a.runs}")
    if a.mutant is not None and a.mutant not in MUTANTS:
        problems.append(f"--mutant {a.mutant}: expected one of {', '.join(MUTANTS)}")
    if a.workers is not None and a.workers < 0:
        problems.append(f"--workers: expected 0 (this process) or more, got {a.workers}")
    out = Path(a.out)
    if out.exists() and not out.is_dir():
        problems.append(f"--out {out}: exists and is not a folder")
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return EXIT_BAD_INPUT
    seed = _seed_or_exit(a.seed)
    seed = 1 if seed is None else seed
    mode = "targeted " if a.targeted else ""
    print(f"fuzz      {a.runs} {mode}run(s) from seed {seed}, budget {a.budget}"
          + (f", mutant {a.mutant}" if a.mutant else "") + f" -> {out}", file=sys.stderr)  # fmt: skip
    try:
        with _open_engine(a.workers, a.scheduler) as eng:
            rep = campaign(a.runs, seed, a.budget, a.mutant, out, eng, target=a.targeted)
    except _EngineError as e:
        print(e, file=sys.stderr)
        return EXIT_BAD_INPUT
    print(format_report(rep))
    for v in rep["violations"]:
        print(f"violation: seed {v['seed']} (run {v['run']}: {', '.join(v['checks'])}): "
              f"{v['file']}; shrunk in {v['steps']} steps from {v['size']} to "
              f"{v['shrunk_size']} (faults, fault-seconds): {v['shrunk']}")  # fmt: skip
    return 1 if rep["violations"] or rep["determinism"]["mismatches"] else 0


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

    prices = _prices_or_exit(a.prices)
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
        made = plots.render_all(folder, fmt=a.format, jobs=_plot_jobs())
        cost = _folder_cost(folder, data, prices)
    except RunFolderError as e:
        print(e, file=sys.stderr)
        return EXIT_BAD_INPUT
    print(table)
    print(f"plots     {', '.join(made)}")
    if cost is not None:
        from sim.cost import format_cost

        print()
        print(f"cost of the run{' at ' + a.prices + ' prices' if a.prices else ''}:")
        print(format_cost(cost))
    return 0


def _folder_cost(folder: Path, data: dict, prices) -> dict | None:
    """Price a run folder's counts again (``ops.parquet``), with ``prices`` or the shipped table."""
    from sim.cost.price import price_counts
    from sim.report.results import RunFolderError

    instances = data["topology"].get("instances")
    if instances is None or data["ops"].empty:
        return None
    try:
        produced = int(data["requests"]["bytes"].sum())
        return price_counts(
            data["ops"], instances, float(data["summary"]["sim_duration_s"]), produced, prices
        )
    except (KeyError, ValueError, TypeError) as e:
        raise RunFolderError(f"{folder / 'ops.parquet'}: cannot be priced ({e})") from None


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

    if a.workers is not None and a.workers < 0:
        print(f"--workers: expected 0 (this process) or more, got {a.workers}", file=sys.stderr)
        return EXIT_BAD_INPUT

    progress = _progress(a.quiet)

    try:
        with _open_engine(a.workers, a.scheduler, quiet=a.quiet) as engine:
            res = compare(
                scenarios[0], scenarios[1], a.seeds, (a.a, a.b), overrides, progress, engine
            )
    except KeyboardInterrupt:
        raise Interrupted("interrupted: the comparison was stopped, nothing written") from None
    except _EngineError as e:
        print(str(e), file=sys.stderr)
        return EXIT_BAD_INPUT
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


INCIDENT_NUMBERS = ("gamma_shape", "gamma_rate", "duration_median_min", "duration_sigma")


def _check_incidents(path: str) -> list[str]:
    """Problems of an incident table (file, line, field, expectation); empty when it loads."""
    import csv

    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        return [f"{path}: cannot read ({e.strerror or e})"]
    need = ("class", "scope", *INCIDENT_NUMBERS, "joint")
    if not rows:
        return [f"{path}: line 1: expected a header and at least one incident class"]
    missing = [c for c in need if c not in rows[0]]
    if missing:
        return [f"{path}: line 1: missing column(s) {', '.join(missing)}"]
    problems = []
    for n, row in enumerate(rows, start=2):
        for k in INCIDENT_NUMBERS:
            try:
                v = float(row[k])
                ok = v >= 0 or k == "duration_median_min" and v == float("inf")
            except (TypeError, ValueError):
                ok = False
            if not ok:
                problems.append(f"{path}: line {n}: {k}: expected a number >= 0, got {row[k]!r}")
        if row["scope"] not in ("region", "cluster"):
            problems.append(
                f"{path}: line {n}: scope: expected region or cluster, got {row['scope']!r}"
            )
    return problems


def cmd_availability(a: argparse.Namespace) -> int:
    """Designs on common incident histories: nines, monthly downtime, lost records, plots."""
    from pathlib import Path

    from sim.ensemble.availability import load_incidents
    from sim.ensemble.availability.study import RUNS_PER_CLASS, format_table, run_study

    bad = False
    scenarios = {}
    for path in a.scenarios:
        try:
            sc = load_scenario(path)
        except ScenarioError as e:
            bad = True
            for p in e.problems:
                print(p, file=sys.stderr)
            continue
        if sc.name in scenarios:
            print(
                f"{path}: name: expected a scenario name not used twice, got {sc.name!r}",
                file=sys.stderr,
            )
            bad = True
        scenarios[sc.name] = sc.model_dump(mode="json")
    if not (a.years > 0) or a.years > 1e7:
        print(
            f"--years: expected a number of years above 0 (at most 1e7), got {a.years}",
            file=sys.stderr,
        )
        bad = True
    if a.runs is not None and a.runs < 1:
        print(f"--runs: expected a whole number of at least 1, got {a.runs}", file=sys.stderr)
        bad = True
    if a.workers is not None and a.workers < 0:
        print(f"--workers: expected 0 (this process) or more, got {a.workers}", file=sys.stderr)
        bad = True
    if a.incidents:
        problems = _check_incidents(a.incidents)
        for p in problems:
            print(p, file=sys.stderr)
        bad = bad or bool(problems)
    if a.validate is not None and a.validate < 1:
        print(f"--validate: expected a whole number of at least 1, got {a.validate}",
              file=sys.stderr)  # fmt: skip
        bad = True
    if a.repeats < 1:
        print(f"--repeats: expected a whole number of at least 1, got {a.repeats}", file=sys.stderr)
        bad = True
    if a.failover_sweep and (len(a.scenarios) != 1 or a.validate is not None):
        print("--failover-sweep: expected one scenario and no --validate", file=sys.stderr)
        bad = True
    if bad:
        return EXIT_BAD_INPUT
    try:
        model = load_incidents(a.incidents)
    except (ValueError, KeyError) as e:
        print(f"{a.incidents}: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    seed = a.seed if a.seed is not None else 1

    progress = _progress(a.quiet)

    if a.validate is not None:
        return _validate(a, scenarios, model, seed, progress)
    if a.failover_sweep:
        return _failover_sweep(a, scenarios, model, seed, progress)
    runs = RUNS_PER_CLASS if a.runs is None else a.runs
    doc = _on_engine(a, "availability.json", lambda engine: run_study(
        scenarios, model, Path(a.out), years=a.years, seed=seed, engine=engine,
        runs_per_class=runs, progress=progress,
    ))  # fmt: skip
    if doc is None:
        return EXIT_BAD_INPUT
    from sim.ensemble.availability.plots import render

    render(Path(a.out))
    print(format_table(doc))
    print("")
    print(f"results   {Path(a.out) / 'availability.json'}")
    return 0


def _validate(a, scenarios, model, seed, progress) -> int:
    """`sim availability --validate N`: whole months simulated directly against the composer."""
    from pathlib import Path

    from sim.ensemble.availability import validate as v
    from sim.ensemble.availability.study import RUNS_PER_CLASS

    kw = {"repeats": a.repeats, "regions": a.regions, "checks": a.checks}
    kw["margin_s"] = v.MARGIN_S if a.margin is None else a.margin
    kw["max_span_s"] = v.MAX_SPAN_S if a.max_span is None else a.max_span
    runs = RUNS_PER_CLASS if a.runs is None else a.runs
    rep = _on_engine(a, "validate.json", lambda engine: v.validate_study(
        scenarios, model, Path(a.out), n=a.validate, years=a.years, seed=seed, engine=engine,
        runs_per_class=runs, progress=progress, **kw,
    ))  # fmt: skip
    if rep is None:
        return EXIT_BAD_INPUT
    print(v.format_report(rep))
    print("")
    print(f"results   {Path(a.out) / 'validate.json'}")
    return 0


def _failover_sweep(a, scenarios, model, seed, progress) -> int:
    """`sim availability SCENARIO --failover-sweep`: P(month > 26 s) against the timings."""
    from pathlib import Path

    from sim.ensemble.availability import failover as fo

    ((name, base),) = scenarios.items()
    doc = _on_engine(a, "failover.json", lambda engine: fo.failover_sweep(
        name, base, model, Path(a.out), engine=engine, years=a.years, seed=seed,
        runs_per_class=fo.RUNS if a.runs is None else a.runs, progress=progress,
    ))  # fmt: skip
    if doc is None:
        return EXIT_BAD_INPUT
    print(fo.format_sweep(doc))
    print("")
    print(f"results   {Path(a.out) / 'failover.json'}, {Path(a.out) / doc['plot']}")
    return 0


class _EngineError(Exception):
    """The engine could not start (no scheduler at the address, ...): one clean line."""


def _on_engine(a, written: str, work):
    """`work(engine)` on the engine of --workers/--scheduler. Ctrl-C ends with one line saying
    `written` was not written; an engine that cannot start prints its line and gives None."""
    try:
        with _open_engine(a.workers, a.scheduler, quiet=a.quiet) as engine:
            return work(engine)
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted: {written} not written") from None
    except _EngineError as e:
        print(str(e), file=sys.stderr)
        return None


def _progress(quiet: bool):
    """A progress printer for long commands: lines on stderr, none with --quiet."""

    def progress(line: str) -> None:
        if not quiet:
            print(line, file=sys.stderr, flush=True)

    return progress


def _open_engine(workers: int | None, scheduler: str | None, quiet: bool = False):
    """The sweep engine of ``--workers`` / ``--scheduler`` (``--workers 0``: this process)."""
    from sim.ensemble.engine import default_workers, open_engine

    n = default_workers() if workers is None else workers
    try:
        eng = open_engine(n, scheduler)
    except Exception as e:
        where = f"--scheduler {scheduler}" if scheduler else f"--workers {n}"
        raise _EngineError(f"{where}: cannot start the engine ({type(e).__name__}: {e})") from e
    if not quiet:
        print(f"engine    {eng.description}", file=sys.stderr, flush=True)
    return eng


def _is_sweep_file(path: str) -> bool:
    """A sweep file names its ``base``; anything else is taken as a scenario (quick form)."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError, ValueError, RecursionError):
        return False
    return isinstance(data, dict) and "base" in data


def cmd_sweep(a: argparse.Namespace) -> int:
    """Run a sweep (a sweep file, or a scenario with --seeds/--grid) into its folder, resuming."""
    from sim.ensemble import sensitivity
    from sim.ensemble.sweep import format_aggregate, format_overall, run_sweep
    from sim.ensemble.sweepfile import load_sweep, quick_sweep

    extra = list(a.set) + ([f"run.duration={a.duration}"] if a.duration else [])
    problems: list[str] = []
    if a.workers is not None and a.workers < 0:
        problems.append(f"--workers: expected 0 (this process) or more, got {a.workers}")
    if a.seeds is not None and a.seeds < 1:
        problems.append(f"--seeds: expected a whole number of at least 1, got {a.seeds}")
    if a.seed is not None and not 0 <= a.seed < 2**64:
        problems.append(f"--seed: expected a whole number from 0 to 2^64 - 1, got {a.seed}")
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return EXIT_BAD_INPUT
    sweep_file = not a.grid and _is_sweep_file(a.file)
    try:
        if sweep_file:
            plan = load_sweep(a.file, extra, a.seeds, a.seed)
        else:
            plan = quick_sweep(a.file, a.seeds or 3, a.grid, extra, a.seed)
    except ScenarioError as e:
        for p in e.problems:
            print(p, file=sys.stderr)
        return EXIT_BAD_INPUT
    out = Path(a.out) if a.out else Path("results") / f"sweep-{plan.name}"
    if out.exists() and not out.is_dir():
        print(f"--out {out}: exists and is not a folder", file=sys.stderr)
        return EXIT_BAD_INPUT
    if not a.quiet:
        n = len(plan.runs)
        print(
            f"sweep     {plan.name}: {len(plan.points)} point(s) x {plan.replicates} "
            f"replicate(s) = {n} run(s), design {plan.design}, seed {plan.seed} -> {out}",
            file=sys.stderr,
            flush=True,
        )

    def engine():
        return _open_engine(a.workers, a.scheduler, a.quiet)

    try:
        res = run_sweep(plan, out, open_engine=engine, keep_runs=a.keep_runs, quiet=a.quiet,
                        fmt=a.format)  # fmt: skip
    except _EngineError as e:
        print(str(e), file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(
            f"\ninterrupted: the runs that finished are in {out / 'runs.parquet'}; run the same "
            "command again to run the rest",
            file=sys.stderr,
        )
        return 130
    ok = int((res.table["status"] == "ok").sum())
    print(f"{plan.name}: {len(res.table)} of {len(plan.runs)} run(s) in the table, {ok} ok, "
          f"{len(res.table) - ok} failed; {res.ran} run now, {res.skipped} already done")  # fmt: skip
    print("")
    if plan.design == "grid" or len(plan.params) <= 6:
        print(format_aggregate(plan, res.aggregate))
    else:  # one different point per run: the per-point table is for reading in a file
        print(f"mean and 95% CI per point: {out / 'aggregate.txt'} ({len(plan.points)} points)")
    if len(plan.points) > 1 and plan.design != "grid":
        print("")
        print(format_overall(plan, res.table))
    if res.sensitivity is not None:
        print("")
        print(f"sensitivity ({sensitivity.METHOD[plan.design]}), top 5 inputs per figure")
        print(sensitivity.format_top(plan, res.sensitivity))
    print("")
    print(f"results   {out}")
    if ok < len(res.table):
        print(f"{len(res.table) - ok} run(s) failed: see the 'error' column of "
              f"{out / 'runs.parquet'}; run the same command again to retry them", file=sys.stderr)  # fmt: skip
        return 1
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
        "--check-determinism",
        action="store_true",
        help="run the scenario twice in two processes with different hash seeds and compare "
        "every table (exit 1 naming the first differing record); writes no run folder",
    )
    r.add_argument(
        "--prices",
        default=None,
        metavar="FILE",
        help="price file overriding rows of the shipped table (sim/data/prices_usd.csv: same "
        "columns; a row replaces the shipped row of the same provider, item and region)",
    )
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
    fz = sub.add_parser(
        "fuzz",
        help="fuzzed fault schedules checked against the invariants (exit 1 on a violation)",
    )
    fz.add_argument("--runs", type=int, default=100, help="schedules to run (default 100)")
    fz.add_argument(
        "--budget",
        choices=["survivable", "any"],
        default="survivable",
        help="survivable: at most n - k regions' data destroyed (any violation is a bug); any: "
        "more, and safety must hold wherever data survives in a quorum",
    )
    fz.add_argument("--seed", default=None, help="first schedule's seed (default 1)")
    fz.add_argument("--out", default="results/fuzz", help="where violations are written")
    fz.add_argument("--mutant", default=None, help="a deliberately broken design (tests only)")
    fz.add_argument(
        "--targeted",
        action="store_true",
        help="aim the faults at the buckets and table replicas holding one acknowledged record",
    )
    _engine_args(fz)
    fz.set_defaults(fn=cmd_fuzz)
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
    rp.add_argument(
        "--prices",
        default=None,
        metavar="FILE",
        help="price file overriding rows of the shipped table (sim/data/prices_usd.csv: same "
        "columns; a row replaces the shipped row of the same provider, item and region)",
    )
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
    _engine_args(c)
    c.add_argument(
        "--force",
        action="store_true",
        help="run even when the pre-flight estimate says a run will not fit in memory",
    )
    c.set_defaults(fn=cmd_compare)
    w = sub.add_parser(
        "sweep",
        help="many seeded runs over parameters, with confidence intervals and sensitivity",
        description="Run a sweep file (base scenarios, parameters, replicates, figures to keep; "
        "see sweeps/), or a scenario over --seeds N seeds and --grid values. Writes runs.parquet "
        "(a row per run), the aggregate table (mean and 95%% CI per point), plots, and for "
        "ranges the sensitivity and tornado plots. Re-running into the same --out folder runs "
        "only what is missing or failed.",
    )
    w.add_argument("file", metavar="SWEEP.yaml|SCENARIO")
    w.add_argument(
        "--seeds",
        type=int,
        default=None,
        help="replicates per point (a sweep file's 'replicates'; quick form default 3)",
    )
    w.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="KEY=V1,V2,...",
        help="quick form: sweep a key (any key --set takes) over these values",
    )
    w.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a key of every base scenario, e.g. --set run.duration=10m",
    )
    w.add_argument("--duration", default=None, help="simulated time of every run, e.g. 10m")
    w.add_argument("--seed", type=int, default=None, help="root seed (default: the sweep's, or 1)")
    w.add_argument("--out", default=None, help="the sweep's folder (default: results/sweep-NAME)")
    w.add_argument(
        "--keep-runs",
        default=None,
        metavar="DIR",
        help="also write each run's folder there (on the workers' file system)",
    )
    w.add_argument("--format", choices=["png", "svg"], default="png")
    w.add_argument("--quiet", action="store_true", help="no progress")
    _engine_args(w)
    w.set_defaults(fn=cmd_sweep)
    av = sub.add_parser(
        "availability",
        help="availability in nines: designs on simulated years of incidents",
        description="Run every incident class's windows through each design (cached in --out), "
        "compose months of incidents on common histories (overlaps simulated together, "
        "importance-sampled), print the table, write availability.json, months.parquet, plots.",
    )
    av.add_argument("scenarios", nargs="+", metavar="SCENARIO")
    av.add_argument(
        "--years", type=float, default=1000.0, help="simulated years per design (default 1000)"
    )
    av.add_argument("--incidents", default=None, metavar="FILE",
                    help="incident table (default: the package's sim/data/incidents.csv)")  # fmt: skip
    av.add_argument(
        "--out", default="results/availability", help="folder (default results/availability)"
    )
    av.add_argument("--seed", type=int, default=None, help="root seed (default 1)")
    av.add_argument(
        "--runs",
        type=int,
        default=None,
        help="incident windows per class and design (default 12; --failover-sweep: 4 per setting)",
    )
    av.add_argument(
        "--failover-sweep",
        action="store_true",
        help="instead of the study: P(month > 26 s) of one design against its failover timings "
        "(lease, table failover, detector window); writes failover.json and p26_vs_failover.png",
    )
    av.add_argument(
        "--validate",
        type=int,
        default=None,
        metavar="N",
        help="instead of the study: simulate N of its months per design whole, each in one run "
        "with all its incidents, and compare with the composed figure (writes validate.json)",
    )
    av.add_argument("--repeats", type=int, default=1,
                    help="--validate: seeds per month (default 1)")  # fmt: skip
    av.add_argument(
        "--regions",
        choices=["history", "composed"],
        default="history",
        help="--validate: incidents on the history's regions (default), or where the composer's "
        "windows put them",
    )
    av.add_argument("--margin", type=float, default=None, metavar="S",
                    help="--validate: quiet time kept between incidents (default 120 s)")  # fmt: skip
    av.add_argument("--max-span", type=float, default=None, metavar="S",
                    help="--validate: longest compressed month run (default 7200 s)")  # fmt: skip
    av.add_argument("--checks", type=int, default=2,
                    help="--validate: months rerun with a wider margin or uncut (default 2)")  # fmt: skip
    av.add_argument("--quiet", action="store_true", help="no progress")
    _engine_args(av)
    av.set_defaults(fn=cmd_availability)
    return ap


def _engine_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes of the local Dask cluster (default: the machine's cores; "
        "0: run in this process)",
    )
    p.add_argument(
        "--scheduler",
        default=None,
        metavar="tcp://HOST:PORT",
        help="use this running Dask cluster instead (see the README: dask scheduler / dask worker)",
    )


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


def entry() -> None:
    """The ``sim`` program (``python -m sim``): ``main``, then exit with its status.

    Before the interpreter exits, the objects still alive (the imported libraries', ~80,000) are
    frozen (``gc.freeze``): the collections the interpreter runs while it shuts down would walk
    them all again only to free memory the process gives back anyway (0.1 s of a 1-hour ``sim
    run``). Exit handlers still run; ``main`` called in-process (tests) is unchanged."""
    status = main()
    gc.freeze()
    sys.exit(status)


if __name__ == "__main__":
    entry()
