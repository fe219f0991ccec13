"""Wide full-covariance models: time and peak memory of a fit, against scikit-learn.

    python benchmarks/bench_wide.py                  # d=2000, k=8, n=300, 5 iterations
    python benchmarks/bench_wide.py --d 1000 --repeat 3

A fit of few rows and many features is all M-step: k d x d covariances, their
Cholesky factors and precisions (k d² doubles each, 256 MB at d = 2000, k = 8).
Each library fits in a fresh subprocess from the same start; the script prints the
median fit time, the peak resident memory of the process (VmHWM, Linux) and
gmmcore's ratios to scikit-learn.
"""

import argparse
import json
import statistics
import subprocess
import sys

CHILD = """
import json, resource, sys, time, warnings
import numpy as np
library, n, d, k, iters = sys.argv[1], *map(int, sys.argv[2:6])
if library == "sklearn":
    from sklearn.mixture import GaussianMixture
else:
    from gmmcore import GaussianMixture
X = np.random.RandomState(0).randn(n, d)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    GaussianMixture(k, covariance_type="full", random_state=0, max_iter=iters, tol=0,
                    reg_covar=1e-3).fit(X)
elapsed = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"time": elapsed, "peak": peak * 1024, "base": base * 1024}))
"""


def run(library, args):
    out = subprocess.run([sys.executable, "-c", CHILD, library, str(args.n), str(args.d),
                          str(args.k), str(args.iters)], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--d", type=int, default=2000)
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    results = {"gmmcore": [], "sklearn": []}
    for _ in range(args.repeat):  # alternate, so both see the same machine
        for library in results:
            results[library].append(run(library, args))
    kd2 = args.k * args.d * args.d * 8
    print(f"full covariances, n={args.n}, d={args.d}, k={args.k}, {args.iters} iterations "
          f"(k d² doubles = {kd2 / 2**20:.0f} MiB); medians of {args.repeat}")
    summary = {}
    for library, runs in results.items():
        time = statistics.median(r["time"] for r in runs)
        peak = statistics.median(r["peak"] for r in runs)
        grown = statistics.median(r["peak"] - r["base"] for r in runs)
        summary[library] = (time, peak, grown)
        print(f"  {library:8s} fit {time:7.2f} s   peak RSS {peak / 2**30:5.2f} GiB   "
              f"grown during the fit {grown / 2**30:5.2f} GiB ({grown / kd2:.1f} k d²)")
    (t_g, _, g_g), (t_s, _, g_s) = summary["gmmcore"], summary["sklearn"]
    print(f"  gmmcore / scikit-learn: time {t_g / t_s:.2f}x, memory grown {g_g / g_s:.2f}x")


if __name__ == "__main__":
    main()
