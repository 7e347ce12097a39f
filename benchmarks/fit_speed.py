"""Time to fit all branches of a cell with `bridge fit`'s branch fitter.

Synthetic integration data of realistic size (`bridge.fit.synthetic`): N = 30 synapses,
2 placements (clustered, distributed), 3 conditions (control, NMDA block, Na block), so
6 curves per branch, each fitted twice (against the expected sum and against the number
of synapses) with all 5 families and model selection: 60 fits per branch.

    .venv/bin/python benchmarks/fit_speed.py [--branches 100 300] [--repeats 3] [--markdown [FILE]]

Prints seconds per 100 branches (median of the repeats; single process). Target
(issue 5): under 1 s per 100 branches.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import _markdown
from bridge.fit.branches import fit_integration
from bridge.fit.synthetic import make_characterization


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--branches", type=int, nargs="+", default=[100, 300])
    parser.add_argument("--repeats", type=int, default=3)
    _markdown.add_argument(parser, "fit_speed")
    args = parser.parse_args()
    host = _markdown.machine()
    rows = []
    fit_integration(make_characterization(n_branches=8, patterns=False, timing=False)[1]["integration"])  # warm-up
    for nb in args.branches:
        _, groups, _ = make_characterization(n_branches=nb, n_synapses=30, patterns=False, timing=False, seed=1)
        integ = groups["integration"]
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            fits = fit_integration(integ)
            times.append(time.perf_counter() - t0)
        t = float(np.median(times))
        n_curves = 2 * fits.expected.family.size
        failed = int(sum("failed" in str(f) for f in fits.expected.flags.ravel()))
        print(f"{nb} branches ({n_curves} curves x 5 families): {t:.3f} s "
              f"= {100 * t / nb:.3f} s per 100 branches (median of {args.repeats}); failed curves: {failed}")
        rows.append([nb, n_curves, f"{t:.3f}", f"{100 * t / nb:.3f}", failed])
    _markdown.write(args.markdown, "Fitting speed (`benchmarks/fit_speed.py`)",
                    _markdown.table(["branches", "curves (x 5 families)", "seconds (median)", "s per 100 branches",
                                     "failed curves"], rows),
                    ["Synthetic integration data, N = 30, 2 placements, 3 conditions; one process. "
                     "Target: under 1 s per 100 branches."], host)


if __name__ == "__main__":
    main()
