"""The determinism self-check on every shipped scenario, whole (full length, every fault at its
time): each run twice, in two processes with PYTHONHASHSEED 1 and 2, every table's digest and
the summary compared. Prints one line per scenario and the time it took.

    python benchmarks/determinism_all.py [--seed 1] [--compressed]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from sim.ensemble.determinism import check_many, compressed
from sim.scenario import load_scenario
from sim.scenario.load import to_yaml

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--compressed", action="store_true", help="faults squeezed into 90 s runs")
    args = ap.parse_args()
    shipped = sorted((ROOT / "scenarios").glob("*.yaml"))
    if args.compressed:
        texts = {p.stem: compressed(p) for p in shipped}
    else:  # resolved (extends followed, every default filled in), nothing moved
        texts = {p.stem: to_yaml(load_scenario(p)) for p in shipped}
    t0 = time.perf_counter()
    results = check_many(texts, args.seed)
    wall = time.perf_counter() - t0
    for name, (ok, detail) in results.items():
        print(f"{'ok  ' if ok else 'DIFF'} {name}: {detail}")
    n_ok = sum(ok for ok, _ in results.values())
    print(f"{n_ok} of {len(results)} scenarios identical in two processes; {wall:.0f} s")
    return 0 if n_ok == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
