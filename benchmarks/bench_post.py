"""CPU time of the plots of an existing run folder (fastest of N): ``python benchmarks/bench_post.py RUN_DIR [N]``.

The plots are written into a scratch copy's ``plots/`` (the run folder is not changed). Run it with
``PYTHONPATH`` set to the checkout to measure (it imports ``sim`` from there).

Measured 2026-11-28 on the 1-hour ``multi-region`` run folder (machine shared, 2 cores; CPU time,
fastest of 3, best of two rounds): main 3.30 s, branch ``fastpost`` 2.37 s. The four time-series
and CDF figures are drawn once (no ``bbox_inches="tight"``): their PNGs are the figure's own size
(1690 px wide at 130 dpi, was ~1705 px cropped) and the constrained layout, solved at that size,
puts the content a few pixels differently (~5 px shorter); same data, same artists."""

import shutil
import sys
import tempfile
import time
from pathlib import Path

from sim.report.plots import render_all


def main() -> None:
    src = Path(sys.argv[1])
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    best = (float("inf"), float("inf"))
    with tempfile.TemporaryDirectory() as tmp:
        dst = Path(tmp) / src.name
        shutil.copytree(src, dst, ignore=shutil.ignore_patterns("plots"))
        for _ in range(n):
            c0, w0 = time.process_time(), time.perf_counter()
            render_all(dst)
            best = min(best, (time.process_time() - c0, time.perf_counter() - w0))
    print(f"render_all: cpu {best[0]:.2f} s, wall {best[1]:.2f} s (fastest of {n})")


if __name__ == "__main__":
    main()
