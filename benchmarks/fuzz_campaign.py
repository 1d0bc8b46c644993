"""A fuzz campaign on the real design, and the mutant-by-invariant table of the README.

    PYTHONPATH=. python benchmarks/fuzz_campaign.py --runs 600 --seed 1000 --workers 2
    PYTHONPATH=. python benchmarks/fuzz_campaign.py --minutes 10 --seed 1000 --workers 2
    PYTHONPATH=. python benchmarks/fuzz_campaign.py --mutants [--max-runs 30]

Campaign: ``--runs`` generated schedules (or as many as fit in ``--minutes``, in blocks of 100)
on the sweep engine, every violation written and shrunk into ``--out``; prints the runs, the wall
time, the rate (runs per minute, and the time 10,000 runs would take at that rate), the coverage
(each fault kind fired, each check's precondition reached, each situation reached, and what never
was) and the determinism re-runs (5% of the passing runs). Exit 1 if a violation was found.

``--mutants``: for each mutant, a campaign from seed 1 stopped at its first violation (at most
``--max-runs``), in this process: the invariant that caught it, the runs it took, the schedule's
size and the shrunk one's (faults, fault-seconds), and the shrinking steps; printed as the
Markdown table the README shows.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sim.ensemble.engine import InProcess, open_engine  # noqa: E402
from sim.ensemble.fuzz import campaign, format_report  # noqa: E402
from sim.scenario.schema import MUTANTS  # noqa: E402


def mutant_table(max_runs: int, out: Path) -> int:
    print("| mutant | caught by | runs to catch | schedule | shrunk | shrink steps |")
    print("|---|---|---|---|---|---|")
    missed = 0
    for m in MUTANTS:
        rep = campaign(max_runs, 1, mutant=m, out=out / m, engine=InProcess(),
                       determinism_share=0, log=lambda s: None)  # fmt: skip
        if not rep["violations"]:
            missed += 1
            print(f"| {m} | not caught | > {max_runs} | | | |", flush=True)
            continue
        v = rep["violations"][0]
        print(f"| {m} | {', '.join(v['checks'])} | {v['run']} | {v['size']} | "
              f"{v['shrunk_size']} | {v['steps']} |", flush=True)  # fmt: skip
    return 1 if missed else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=None)
    ap.add_argument("--minutes", type=float, default=None)
    ap.add_argument("--seed", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--budget", choices=["survivable", "any"], default="survivable")
    ap.add_argument("--targeted", action="store_true")
    ap.add_argument("--out", default=None)
    ap.add_argument("--mutants", action="store_true")
    ap.add_argument("--max-runs", type=int, default=30)
    a = ap.parse_args()
    out = Path(a.out or tempfile.mkdtemp(prefix="fuzz-campaign-"))
    if a.mutants:
        return mutant_table(a.max_runs, out)
    if (a.runs is None) == (a.minutes is None):
        ap.error("give --runs N or --minutes M")
    print(f"load average before: {os.getloadavg()[0]:.2f}; workers {a.workers}; out {out}")
    t0 = time.perf_counter()
    reps = []
    seed = a.seed
    with open_engine(a.workers) as eng:
        t_ready = time.perf_counter()
        while True:
            n = a.runs if a.runs is not None else 100
            rep = campaign(n, seed, a.budget, None, out, eng, stop_at_first=False,
                           target=a.targeted, log=print)  # fmt: skip
            reps.append(rep)
            seed += n
            if a.runs is not None or time.perf_counter() - t_ready > a.minutes * 60:
                break
    wall = time.perf_counter() - t_ready
    total = merge(reps)
    total["wall_s"] = round(wall, 1)
    print(format_report(total))
    runs = total["runs"]
    print(f"campaign: {runs} schedules from seed {a.seed} in {wall:.0f} s on {a.workers} "
          f"worker(s) (+{t_ready - t0:.0f} s engine start): {60 * runs / wall:.0f} runs/min; "
          f"10,000 runs would take {10000 * wall / runs / 60:.0f} min at this rate; "
          f"load average after {os.getloadavg()[0]:.2f}")  # fmt: skip
    return 1 if total["violations"] or total["determinism"]["mismatches"] else 0


def merge(reps: list[dict]) -> dict:
    """One report from several campaigns' reports."""
    out = {"runs": 0, "errors": 0, "violations": [], "fired": {}, "reached": {},
           "preconditions": {}, "lost_beyond_budget": 0,
           "determinism": {"runs": 0, "mismatches": 0}}  # fmt: skip
    for r in reps:
        for k in ("runs", "errors", "lost_beyond_budget"):
            out[k] += r[k]
        out["violations"] += r["violations"]
        for key in ("fired", "reached", "preconditions"):
            for k, v in r[key].items():
                out[key][k] = out[key].get(k, 0) + v
        for k in ("runs", "mismatches"):
            out["determinism"][k] += r["determinism"][k]
    out["never_fired"] = [k for k, v in out["fired"].items() if not v]
    out["never_reached"] = [k for k, v in out["reached"].items() if not v]
    out["never_preconditions"] = [k for k, v in out["preconditions"].items() if not v]
    return out


if __name__ == "__main__":
    sys.exit(main())
