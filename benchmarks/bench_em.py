"""gmmcore against scikit-learn, per EM iteration, measured in the same run.

    python benchmarks/bench_em.py                 # everything (about 10 minutes on 2 cores)
    python benchmarks/bench_em.py --quick         # 10x fewer rows, a smoke run
    python benchmarks/bench_em.py --workloads W2 --covariance-types full

For each workload and covariance type both libraries start from the same
parameters (weights_init, means_init, precisions_init), run with tol=0, and the
time per iteration is (t(m_hi) - t(m_lo)) / (m_hi - m_lo): the difference of two
fits, so set-up and scikit-learn's extra final E-step cancel out.  Medians over
--repeat runs.  Peak extra memory is the growth of the peak RSS during one fit, in
a fresh subprocess per library, as a multiple of X's size (Linux: the
process's VmHWM after resetting it through /proc/self/clear_refs).

The lower bound per iteration comes from rates measured here, on one core:
  full:      2·n·k·d² flops (the E-step's triangular products and the M-step's rank
             updates, half a d × d product each)
  tied:      n·d² + 4·n·k·d (per row a triangular product; per row and component the
             cross term x·m_c and the sum r·x; Σ x xᵀ does not depend on the
             parameters, so a fit needs it once, not once per iteration)
  diag:      8·n·k·d (per row and component x²·p_c and x·(p_c μ_c) in the E-step,
             r·x and r·x² in the M-step: four multiply-adds per feature)
  spherical: 4·n·k·d (x·μ_c, and r·x)
             (a multiply-add counts two flops; leading terms only: those in d for
             full, and those with no factor d for the others, are left out)
  all:       at the peak GEMM rate (a GEMM of inner size 256; gmmcore's own register
             tiles are not held to BLAS's lower rate at small inner sizes, so that rate
             would not bound them), + n·k exponentials at numpy's vectorised exp rate,
  and never less than reading X once at the measured memory bandwidth.
With T threads the bound is divided by T.  The rates are measured before the timings
and again after them, and the higher of each pair is used: a lower bound must not
rise because the machine was busy while one of them was measured (so the table is
printed at the end; a line per row on stderr shows progress).  The comparison needs
scikit-learn installed.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings

import numpy as np

from _rss import reset_peak, status_bytes

WORKLOADS = {
    "W1": dict(n=1_000_000, d=4, k=8),
    "W2": dict(n=200_000, d=32, k=16),
    "W3": dict(n=50_000, d=128, k=8),
    "W4": dict(n=100_000, d=8, k=64),
}
COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


# ---------------------------------------------------------------------------
# Data and a shared start
# ---------------------------------------------------------------------------

def make_data(n, d, k, dtype, seed=0):
    """k Gaussian clusters, generated in place chunk by chunk (no large temporary)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=4.0, size=(k, d))
    X = np.empty((n, d), dtype=dtype)
    chunk = 65536
    for s in range(0, n, chunk):
        e = min(n, s + chunk)
        labels = rng.integers(0, k, e - s)
        X[s:e] = rng.standard_normal((e - s, d)) + centers[labels]
    return X


def make_start(X, k, covariance_type, seed=1):
    rng = np.random.default_rng(seed)
    n, d = X.shape
    weights = np.full(k, 1.0 / k)
    means = X[rng.choice(n, k, replace=False)].astype(np.float64)
    var = float(X[:20000].var(axis=0).mean())
    precisions = {
        "full": np.tile(np.eye(d) / var, (k, 1, 1)),
        "tied": np.eye(d) / var,
        "diag": np.full((k, d), 1.0 / var),
        "spherical": np.full(k, 1.0 / var),
    }[covariance_type]
    return dict(weights_init=weights, means_init=means, precisions_init=precisions)


def estimator(library, k, covariance_type, start, max_iter, n_threads=None):
    params = dict(n_components=k, covariance_type=covariance_type, tol=0.0, max_iter=max_iter,
                  **start)
    if library == "sklearn":
        from sklearn.mixture import GaussianMixture
        return GaussianMixture(**params)
    from gmmcore import GaussianMixture
    return GaussianMixture(n_threads=n_threads, **params)


def fit_seconds(est, X):
    """Seconds of one fit (warnings silenced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        est.fit(X)
        return time.perf_counter() - t0


def seconds_per_iteration(make, X, m_lo, m_hi, repeat):
    """Median over ``repeat`` of (t(m_hi) − t(m_lo)) / (m_hi − m_lo), ``make(max_iter)``
    returning the estimator: set-up and final steps cancel out."""
    samples = []
    for _ in range(repeat):
        lo = fit_seconds(make(m_lo), X)
        hi = fit_seconds(make(m_hi), X)
        samples.append(max(hi - lo, 1e-9) / (m_hi - m_lo))
    return statistics.median(samples)


def time_fit(library, X, k, covariance_type, start, max_iter, n_threads=None):
    return fit_seconds(estimator(library, k, covariance_type, start, max_iter, n_threads), X)


def per_iteration(library, X, k, covariance_type, start, m_lo, m_hi, repeat, n_threads=None):
    return seconds_per_iteration(
        lambda m: estimator(library, k, covariance_type, start, m, n_threads), X, m_lo, m_hi,
        repeat)


# ---------------------------------------------------------------------------
# Peak memory, in a subprocess
# ---------------------------------------------------------------------------

def peak_growth(library, make, X, k):
    """Peak RSS growth of ``make(2).fit(X)`` as a multiple of X's size, after a warm-up
    fit on a small slice (lazy imports, allocator pools)."""
    import gc

    if library == "sklearn":
        import sklearn.mixture  # noqa: F401  (imported before the baseline)
    else:
        import gmmcore  # noqa: F401
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        make(1).fit(X[: max(5 * k, 2000)])
        gc.collect()
        baseline = reset_peak()
        make(2).fit(X)
    return max(0, status_bytes("VmHWM") - baseline)


def memory_child(spec):
    """Run one fit and print the peak RSS growth as a multiple of X's size."""
    X = make_data(spec["n"], spec["d"], spec["k"], np.dtype(spec["dtype"]))
    start = make_start(X, spec["k"], spec["covariance_type"])
    growth = peak_growth(spec["library"], lambda m: estimator(
        spec["library"], spec["k"], spec["covariance_type"], start, m), X, spec["k"])
    print(json.dumps({"growth": growth, "x_bytes": X.nbytes}))


def peak_memory(library, n, d, k, dtype, covariance_type):
    spec = dict(library=library, n=n, d=d, k=k, dtype=np.dtype(dtype).name,
                covariance_type=covariance_type)
    out = subprocess.run([sys.executable, __file__, "--memory-child", json.dumps(spec)],
                         capture_output=True, text=True, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    return result["growth"] / result["x_bytes"]


# ---------------------------------------------------------------------------
# The machine's rates
# ---------------------------------------------------------------------------

def _best_time(fn, repeat=5):
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


class MachineRates:
    """Single-core rates: DGEMM GFLOP/s by inner size, exp/s, memory bytes/s."""

    def __init__(self, dtype):
        from threadpoolctl import threadpool_limits

        self.dtype = np.dtype(dtype)
        self._gemm = {}
        with threadpool_limits(1):
            a = np.random.default_rng(0).random(20_000_000)
            self.bandwidth = a.nbytes / _best_time(lambda: a.sum())
            # in cache (64K values, 20 passes a timing, the best of 7): the rate of
            # the arithmetic, not of memory, and steady on a busy machine
            e = np.random.default_rng(1).random(65536).astype(self.dtype) - 5
            out = np.empty_like(e)

            def exps():
                for _ in range(20):
                    np.exp(e, out=out)

            self.exp_rate = 20 * e.size / _best_time(exps, repeat=7)
            self.peak = self.gemm_rate(256)

    def take_best(self, other):
        """Keep the higher of each rate of self and other (both measured here)."""
        self.bandwidth = max(self.bandwidth, other.bandwidth)
        self.exp_rate = max(self.exp_rate, other.exp_rate)
        self.peak = max(self.peak, other.peak)
        for d, rate in other._gemm.items():
            self._gemm[d] = max(self._gemm.get(d, 0.0), rate)

    def describe(self):
        return (f"memory {self.bandwidth / 1e9:.1f} GB/s, exp {self.exp_rate / 1e6:.0f} M/s, "
                f"GEMM peak {self.peak / 1e9:.1f} GFLOP/s")

    def gemm_rate(self, d):
        """flop/s of (256 × d)·(d × d) products, the shape of the E-step blocks."""
        from threadpoolctl import threadpool_limits

        if d not in self._gemm:
            rng = np.random.default_rng(2)
            n_blocks = max(1, int(2e8 // (2 * 256 * d * d)))
            A = rng.random((256 * min(n_blocks, 64), d)).astype(self.dtype)
            B = rng.random((d, d)).astype(self.dtype)
            with threadpool_limits(1):
                t = _best_time(lambda: A @ B)
            self._gemm[d] = 2 * A.shape[0] * d * d / t
        return self._gemm[d]

    @staticmethod
    def thread_scaling(n_threads, seconds=1.0):
        """How much more work n_threads threads get done than one, each running
        single-threaded DGEMMs on its own in-cache 128 × 128 matrices (no memory
        traffic, no shared data): what the machine itself gives a perfectly parallel
        loop of vector arithmetic, the ceiling of any library's scaling here."""
        import threading

        from threadpoolctl import threadpool_limits

        def rate(n):
            counts = [0] * n

            def work(i):
                rng = np.random.default_rng(i)
                a, b = rng.random((128, 128)), rng.random((128, 128))
                out = np.empty((128, 128))
                end = time.perf_counter() + seconds
                while time.perf_counter() < end:
                    for _ in range(20):
                        np.matmul(a, b, out=out)
                    counts[i] += 20

            threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            return sum(counts) / seconds

        with threadpool_limits(1):
            return statistics.median(rate(n_threads) / rate(1) for _ in range(3))

    def bound(self, n, d, k, covariance_type, itemsize):
        flops = {
            "full": 2 * n * k * d * d,
            "tied": n * d * d + 4 * n * k * d,
            "diag": 8 * n * k * d,
            "spherical": 4 * n * k * d,
        }[covariance_type]
        compute = flops / self.peak + n * k / self.exp_rate
        memory = n * d * itemsize / self.bandwidth
        return max(compute, memory)


# ---------------------------------------------------------------------------

def describe_machine():
    from threadpoolctl import threadpool_info

    import gmmcore

    lines = [f"machine: {platform.machine()} {platform.processor() or ''}".rstrip()
             + f", {os.cpu_count()} CPUs usable: {len(os.sched_getaffinity(0))}",
             f"python {platform.python_version()}, numpy {np.__version__}, gmmcore "
             f"{gmmcore.__version__} (kernels: {gmmcore._kernels.SIMD_LEVEL}"
             f"{', plain C' if gmmcore._kernels.SIMD_PORTABLE else ''}; GMMCORE_SIMD caps it)"]
    try:
        import sklearn
        lines.append(f"scikit-learn {sklearn.__version__}")
    except ImportError:
        pass
    for lib in threadpool_info():
        lines.append(f"  {lib.get('internal_api')} {lib.get('version')} "
                     f"({lib.get('architecture')}, {lib.get('num_threads')} threads) "
                     f"{os.path.basename(lib.get('filepath', ''))}")
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS"):
        lines.append(f"  {var}={os.environ.get(var, '(unset)')}")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workloads", default="W1,W2,W3,W4")
    parser.add_argument("--covariance-types", default=",".join(COVARIANCE_TYPES))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="10x fewer rows")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--no-sklearn", action="store_true")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(json.loads(args.memory_child))
        return

    from gmmcore._parallel import effective_n_threads

    n_all = effective_n_threads(None)
    print(describe_machine())
    print(f"gmmcore threads: 1 and {n_all}\n")
    rates = {np.float64: MachineRates(np.float64), np.float32: MachineRates(np.float32)}
    for dtype, r in rates.items():
        print(f"measured on one core before the timings, {np.dtype(dtype).name}: {r.describe()}")
    if n_all > 1:
        print(f"{n_all} threads of independent single-threaded DGEMMs (128 x 128, in cache) "
              f"run {MachineRates.thread_scaling(n_all):.2f}x the rate of one: the machine's "
              f"own ceiling for 1t/{n_all}t")
    print()

    cases = []
    for name in args.workloads.split(","):
        w = dict(WORKLOADS[name])
        if args.quick:
            w["n"] //= 10
        cases.append((name, w, np.float64))
        if name == "W2":
            cases.append((name, w, np.float32))

    rows = []
    for name, w, dtype in cases:
        n, d, k = w["n"], w["d"], w["k"]
        X = make_data(n, d, k, dtype)
        for cov in args.covariance_types.split(","):
            start = make_start(X, k, cov)
            t_sk = (np.nan if args.no_sklearn else
                    per_iteration("sklearn", X, k, cov, start, 1, 3, args.repeat))
            t_1 = per_iteration("gmmcore", X, k, cov, start, 2, 10, args.repeat, n_threads=1)
            t_all = per_iteration("gmmcore", X, k, cov, start, 2, 10, args.repeat,
                                  n_threads=n_all)
            if args.no_memory:
                mem_sk = mem_gmm = np.nan
            else:
                mem_sk = np.nan if args.no_sklearn else peak_memory("sklearn", n, d, k, dtype, cov)
                mem_gmm = peak_memory("gmmcore", n, d, k, dtype, cov)
            rows.append((name, w, dtype, cov, t_sk, t_1, t_all, mem_sk, mem_gmm))
            print(f"  {name} {np.dtype(dtype).name} {cov}: sklearn {t_sk:.4f} s, gmmcore "
                  f"{t_1:.4f} s (1 thread), {t_all:.4f} s ({n_all})", file=sys.stderr, flush=True)
        del X

    for dtype, r in rates.items():
        r.take_best(MachineRates(dtype))
        print(f"best of before and after the timings, {np.dtype(dtype).name}: {r.describe()}")
    print()
    all_threads = f"gmm {n_all}t"
    header = (f"{'work':4} {'dtype':7} {'cov':9} {'sklearn':>9} {'gmm 1t':>9} {all_threads:>9}"
              f" {'speedup':>8} {'1t/' + str(n_all) + 't':>6} {'bound':>9} {'x bound':>7}"
              f" {'mem sk':>7} {'mem gmm':>7}")
    print("time per EM iteration (seconds, medians); speedup = sklearn / gmmcore at "
          f"{n_all} threads; x bound = gmmcore at {n_all} threads / lower bound; "
          "mem = peak extra RSS during fit / X's size")
    print(header)
    print("-" * len(header))
    for name, w, dtype, cov, t_sk, t_1, t_all, mem_sk, mem_gmm in rows:
        n, d, k = w["n"], w["d"], w["k"]
        bound = rates[dtype].bound(n, d, k, cov, np.dtype(dtype).itemsize) / n_all
        print(f"{name:4} {np.dtype(dtype).name:7} {cov:9} {t_sk:9.4f} {t_1:9.4f} {t_all:9.4f}"
              f" {t_sk / t_all:7.1f}x {t_1 / t_all:6.2f} {bound:9.4f} {t_all / bound:7.2f}"
              f" {mem_sk:6.2f}x {mem_gmm:6.3f}x", flush=True)

    latency_and_init(args)


def latency_and_init(args):
    """One-row predict_proba latency and the k-means initialisation, both libraries."""
    import timeit

    X = make_data(20_000 if args.quick else 200_000, 32, 16, np.float64)
    row = X[:1].copy()
    models = {}
    for library in ("gmmcore",) if args.no_sklearn else ("sklearn", "gmmcore"):
        est = estimator(library, 16, "full", make_start(X, 16, "full"), 2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(X[:20000])
        models[library] = est
    lat = {}
    for library, est in models.items():
        est.predict_proba(row)
        times = timeit.repeat(lambda est=est: est.predict_proba(row), number=200, repeat=7)
        lat[library] = statistics.median(times) / 200
    line = "one-row predict_proba (d=32, k=16, full): " + ", ".join(
        f"{lib} {t * 1e6:.1f} us" for lib, t in lat.items())
    if "sklearn" in lat:
        line += f"  -> {lat['sklearn'] / lat['gmmcore']:.1f}x lower latency"
    print("\n" + line)

    init = {}
    for library in models:
        samples = []
        for _ in range(args.repeat):
            if library == "sklearn":
                from sklearn.mixture import GaussianMixture
            else:
                from gmmcore import GaussianMixture
            est = GaussianMixture(16, init_params="kmeans", max_iter=0, random_state=0)
            t0 = time.perf_counter()
            est.fit(X)
            samples.append(time.perf_counter() - t0)
        init[library] = statistics.median(samples)
    line = f"k-means initialisation (n={X.shape[0]}, d=32, k=16): " + ", ".join(
        f"{lib} {t:.3f} s" for lib, t in init.items())
    if "sklearn" in init:
        line += f"  -> {init['sklearn'] / init['gmmcore']:.1f}x"
    print(line)


if __name__ == "__main__":
    main()
