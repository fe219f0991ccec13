"""Model selection over 4 covariance types × 10 component counts, measured in one run.

    python benchmarks/bench_select.py            # n=30 000, d=8: about 2-4 minutes on 2 cores
    python benchmarks/bench_select.py --quick    # n=5 000, k up to 6: a smoke run

Four ways to fit the same 40 candidates (all with random_state=0, so every way
fits the same models and must pick the same one), timed in --repeat rounds: a
round runs the scikit-learn loop once and the three gmmcore ways
--gmmcore-repeat times each, interleaved, so that load from other processes falls
on all of them alike:

  sklearn loop        the loop a scikit-learn user writes:
                      for t in types: for k in ks: GaussianMixture(k, covariance_type=t,
                      random_state=0).fit(X).bic(X)   (scikit-learn's default threads)
  gmmcore loop        the same loop with gmmcore.GaussianMixture, each fit on all threads
                      (= select(schedule='serial'))
  gmmcore loop 1 thr  the same loop, each fit on one thread
  gmmcore.select      select(X, ks, types, random_state=0): concurrent candidates,
                      one thread each, longest first (schedule='auto')

Medians of the wall times are printed with their ratios, and the median CPU
time of the process (all its threads): on a shared machine the wall times
depend on the other load, while the CPU time shows what each way spends.  Each
round also measures the parallelism the machine offers at that moment: a fixed
one-thread fit alone and two copies of it on two threads (2 = two idle cores).
scikit-learn is needed for the first line only (skipped when it is missing).
"""

import argparse
import os
import threading
import platform
import statistics
import sys
import time
import warnings

import numpy as np

import gmmcore
from gmmcore import GaussianMixture
from gmmcore._parallel import effective_n_threads, usable_cpu_count

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average():
    try:
        return "load average %.2f %.2f %.2f" % os.getloadavg()
    except (AttributeError, OSError):
        return "load average unknown"


def make_data(n, d, k, seed=0):
    """k well separated Gaussian clusters with random general covariances."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=5.0, size=(k, d))
    shapes = rng.normal(scale=0.4, size=(k, d, d)) + np.eye(d)
    labels = rng.integers(0, k, n)
    z = rng.standard_normal((n, d))
    return centers[labels] + np.einsum("ni,nij->nj", z, shapes[labels])


def loop(estimator_class, X, ks, **params):
    """The user's double loop; returns (covariance_type, k) of the lowest BIC."""
    best = None
    for t in COVARIANCE_TYPES:
        for k in ks:
            gm = estimator_class(n_components=k, covariance_type=t, random_state=0, **params)
            bic = gm.fit(X).bic(X)
            if best is None or bic < best[0]:
                best = (bic, t, k)
    return best[1], best[2]


_CALIBRATION_DATA = []


def available_parallelism():
    """How many one-thread fits the machine runs at once right now (2 idle cores: 2)."""
    if not _CALIBRATION_DATA:
        _CALIBRATION_DATA.append(make_data(30_000, 8, 4, seed=1))
    X = _CALIBRATION_DATA[0]

    def work():  # about 0.1 s on one core
        GaussianMixture(4, random_state=0, n_threads=1, max_iter=10, tol=0.0).fit(X)

    alone = []
    for _ in range(2):
        start = time.perf_counter()
        work()
        alone.append(time.perf_counter() - start)
    alone = min(alone)
    threads = [threading.Thread(target=work) for _ in range(2)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return 2 * alone / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small data, a smoke run")
    parser.add_argument("--n-samples", type=int, default=None)
    parser.add_argument("--n-features", type=int, default=8)
    parser.add_argument("--true-components", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3, help="rounds")
    parser.add_argument("--gmmcore-repeat", type=int, default=3,
                        help="runs of each gmmcore way per round")
    parser.add_argument("--no-sklearn", action="store_true", help="skip the scikit-learn loop")
    args = parser.parse_args()
    n = args.n_samples or (5_000 if args.quick else 30_000)
    ks = range(1, 7) if args.quick else range(1, 11)
    X = make_data(n, args.n_features, args.true_components)
    n_threads = effective_n_threads(None)

    print(f"machine: {os.cpu_count()} CPUs ({usable_cpu_count()} usable by this process), "
          f"{cpu_name()}; {platform.system()} {platform.release()}")
    print(f"python {platform.python_version()}, numpy {np.__version__}, "
          f"gmmcore {gmmcore.__version__}; {load_average()}")
    print(f"data: n={n}, d={args.n_features}, {args.true_components} true clusters; "
          f"candidates: {len(COVARIANCE_TYPES)} covariance types x n_components "
          f"{ks.start}..{ks.stop - 1} = {len(COVARIANCE_TYPES) * len(ks)}; "
          f"repeats: {args.repeat}; threads: {n_threads}")

    ways = {}
    if not args.no_sklearn:
        try:
            import sklearn
            from sklearn.mixture import GaussianMixture as SkGaussianMixture
        except ImportError:
            print("scikit-learn is not installed: its loop is skipped")
        else:
            print(f"scikit-learn {sklearn.__version__}")
            ways["sklearn loop"] = lambda: loop(SkGaussianMixture, X, ks)
    ways["gmmcore loop (all threads)"] = lambda: loop(GaussianMixture, X, ks)
    ways["gmmcore loop (1 thread)"] = lambda: loop(GaussianMixture, X, ks, n_threads=1)

    def run_select():
        result = gmmcore.select(X, ks, COVARIANCE_TYPES, random_state=0)
        run_select.schedule = result.schedule_
        p = result.best_params_
        return p["covariance_type"], p["n_components"]

    ways["gmmcore.select"] = run_select

    times = {name: [] for name in ways}
    cpu_times = {name: [] for name in ways}
    chosen = {}
    warnings.simplefilter("ignore")  # convergence warnings of the large-k candidates
    parallelism = []

    def runs_per_round(name):
        return args.gmmcore_repeat if name.startswith("gmmcore") else 1

    def timed(name):
        start, cpu_start = time.perf_counter(), time.process_time()
        chosen[name] = ways[name]()
        times[name].append(time.perf_counter() - start)
        cpu_times[name].append(time.process_time() - cpu_start)

    for repeat in range(args.repeat):
        parallelism.append(available_parallelism())
        for round_run in range(args.gmmcore_repeat):
            for name in ways:
                if round_run < runs_per_round(name):
                    timed(name)
        print(f"  round {repeat + 1}: parallelism {parallelism[-1]:.2f}; " + ", ".join(
            f"{name} {statistics.median(values[-runs_per_round(name):]):.2f}s"
            for name, values in times.items()), flush=True)

    workers, fit_threads = run_select.schedule
    print("parallelism available during the rounds (2 = two idle cores): "
          + ", ".join(f"{p:.2f}" for p in parallelism))
    print(f"select's schedule: {workers} candidates at a time, {fit_threads} thread(s) each")
    median = {name: statistics.median(values) for name, values in times.items()}
    reference = median["gmmcore.select"]
    print(f"{'way':<28}{'median':>10}{'min':>10}{'max':>10}   vs select{'cpu':>10}"
          "   best (type, k)")
    for name, values in times.items():
        print(f"{name:<28}{median[name]:>9.2f}s{min(values):>9.2f}s{max(values):>9.2f}s"
              f"{median[name] / reference:>10.2f}x"
              f"{statistics.median(cpu_times[name]):>9.2f}s   {chosen[name]}")
    if "sklearn loop" in median:
        print(f"speed-up of gmmcore.select over the scikit-learn loop: "
              f"{median['sklearn loop'] / reference:.2f}x")
    print(f"concurrency gain of select over the gmmcore loop on all threads: "
          f"{median['gmmcore loop (all threads)'] / reference:.2f}x, over the loop on one "
          f"thread: {median['gmmcore loop (1 thread)'] / reference:.2f}x")
    print(load_average())
    if len(set(chosen.values())) != 1:
        print("warning: the ways chose different models", file=sys.stderr)


if __name__ == "__main__":
    main()
