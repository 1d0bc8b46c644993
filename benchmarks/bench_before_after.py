"""Alternate two source trees on the 1-hour reference: bench_reference.py and a whole `sim run`.

    python benchmarks/bench_before_after.py OLD_TREE NEW_TREE [--rounds 3]

(e.g. OLD_TREE from ``git archive main | tar -x -C /tmp/old``). Each round runs, for each tree in
turn, ``bench_reference.py --repeat 1`` and then a whole ``sim run scenarios/multi-region.yaml
--quiet`` into a temporary folder, each in a fresh process with the tree on PYTHONPATH. The whole
run prints: exit code, wall s, bare SimPy loop events/s measured in the same process just
before, peak RSS MiB and the run folder's size in MB. Alternating and keeping the fastest of
the rounds lets the ratio survive a noisy, shared machine.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

WHOLE = r"""
import resource, subprocess, sys, tempfile, time
sys.path.insert(0, sys.argv[1]); sys.path.insert(0, sys.argv[1] + "/benchmarks")
from bench_reference import bare_simpy_events_per_s
from sim.cli import main
bare = bare_simpy_events_per_s()
d = tempfile.mkdtemp()
t = time.perf_counter()
rc = main(["run", sys.argv[1] + "/scenarios/multi-region.yaml", "--out", d, "--quiet", "--seed", "1"])
wall = time.perf_counter() - t
size = subprocess.run(["du", "-sm", d], capture_output=True, text=True).stdout.split()[0]
subprocess.run(["rm", "-rf", d], check=False)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
print(f"WHOLE rc {rc} wall {wall:.2f} s  bare {bare:,.0f} ev/s  peak {peak} MiB  folder {size} MB")
"""
KEEP = ("wall", "speed", "model", "bare", "peak")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args(argv)
    for rnd in range(a.rounds):
        for name, tree in (("old", a.old), ("new", a.new)):
            env = dict(os.environ, PYTHONPATH=tree)
            bench = [sys.executable, tree + "/benchmarks/bench_reference.py", "--repeat", "1"]
            p = subprocess.run(bench, env=env, capture_output=True, text=True, check=False)
            lines = [
                ln.strip()
                for ln in p.stdout.splitlines()
                if ln.split()[:1] and ln.split()[0] in KEEP
            ]
            print(rnd, name, "BENCH", " | ".join(lines) or p.stderr[-500:], flush=True)
            p = subprocess.run(
                [sys.executable, "-c", WHOLE, tree], env=env, capture_output=True, text=True,
                check=False,
            )  # fmt: skip
            out = p.stdout.strip().splitlines()
            print(rnd, name, out[-1] if out else p.stderr[-500:], flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
