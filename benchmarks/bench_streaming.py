"""Out-of-core fitting, partial_fit and bounded-memory prediction, measured.

    python benchmarks/bench_streaming.py      # about 3 minutes on 2 cores, ~5 GB in /tmp
    python benchmarks/bench_streaming.py --quick    # 10x fewer rows

Every measurement runs in a fresh subprocess, and peak memory is the growth of
the process's peak RSS (VmHWM, reset through /proc/self/clear_refs) during the
measured call, so the data's own pages count only when the call keeps them.

1. Out-of-core fit: a float64 .npy file of n x 16 rows (2.4 GiB by default) fitted
   through np.load(mmap_mode="r") and through a chunk source that reads 1M-row
   slices, next to the in-memory fit of the same rows (loaded first): rows/s per
   EM iteration and peak memory as a share of the file.
2. partial_fit: a stream of 10,000-row batches (stepwise EM), rows/s and the mean
   log-likelihood it reaches against the full-batch fit's.
3. Prediction on 10^7 rows (d=8, k=8, full): peak memory of predict,
   predict_proba and score_samples against their output's size, for gmmcore and
   scikit-learn (if installed) from the same parameters.
Linux only (reads /proc/self/status).
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

from _rss import reset_peak, status_bytes

K, D = 8, 16


def write_data(path, n, d, k, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(k, d))
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=(n, d))
    for s in range(0, n, 1 << 20):
        e = min(n, s + (1 << 20))
        mm[s:e] = rng.standard_normal((e - s, d)) + centres[rng.integers(0, k, e - s)]
    mm.flush()
    del mm


def start_for(X, k, covariance_type):
    d = X.shape[1]
    means = np.array(X[:k])
    precisions = {"full": np.stack([np.eye(d)] * k), "diag": np.ones((k, d))}[covariance_type]
    return dict(weights_init=np.full(k, 1.0 / k), means_init=means, precisions_init=precisions)


# --------------------------------------------------------------------------- children

def child_fit(spec):
    from gmmcore import GaussianMixture

    X = np.load(spec["path"], mmap_mode="r")
    file_bytes = X.nbytes
    if spec["mode"] == "memory":
        X = np.array(X)  # loaded before the peak is reset: the fit's own growth counts
    source = X
    if spec["mode"] == "chunks":
        # read 1M-row slices from the file (plain reads: no pages stay mapped)
        step, n, d = 1 << 20, X.shape[0], X.shape[1]
        header = X.offset
        del X, source

        def source():
            with open(spec["path"], "rb") as f:
                f.seek(header)
                for s in range(0, n, step):
                    chunk = np.empty((min(step, n - s), d))
                    f.readinto(chunk)
                    yield chunk
        X = np.load(spec["path"], mmap_mode="r")[:K]  # rows for the start only

    gmm = GaussianMixture(K, covariance_type=spec["covariance_type"], tol=0.0,
                          max_iter=spec["max_iter"], **start_for(X, K, spec["covariance_type"]))
    before = reset_peak()
    t0 = time.perf_counter()
    gmm.fit(source)
    seconds = time.perf_counter() - t0
    return dict(seconds=seconds, peak=status_bytes("VmHWM") - before, file_bytes=file_bytes,
                n=file_bytes // (8 * D), lower_bound=gmm.lower_bound_)


def child_partial_fit(spec):
    from gmmcore import GaussianMixture

    X = np.load(spec["path"], mmap_mode="r")
    n = min(X.shape[0], spec["n"])
    X = np.array(X[:n])
    batch = 10_000
    rng = np.random.default_rng(1)
    order = rng.permutation(n // batch)
    stream = GaussianMixture(K, covariance_type=spec["covariance_type"], random_state=0)
    t0 = time.perf_counter()
    for i in order:
        stream.partial_fit(X[i * batch:(i + 1) * batch])
    seconds = time.perf_counter() - t0
    full = GaussianMixture(K, covariance_type=spec["covariance_type"], random_state=0).fit(X)
    return dict(seconds=seconds, rows=len(order) * batch, stream_score=stream.score(X),
                full_score=full.score(X), full_iter=full.n_iter_)


def child_predict(spec):
    rng = np.random.default_rng(0)
    n, d, k = spec["n"], 8, 8
    centres = rng.normal(scale=4.0, size=(k, d))
    X = np.empty((n, d))
    for s in range(0, n, 1 << 20):
        e = min(n, s + (1 << 20))
        X[s:e] = rng.standard_normal((e - s, d)) + centres[rng.integers(0, k, e - s)]
    weights = np.full(k, 1.0 / k)
    precisions = np.stack([np.eye(d)] * k)
    if spec["library"] == "sklearn":
        from sklearn.mixture import GaussianMixture
    else:
        from gmmcore import GaussianMixture
    gmm = GaussianMixture(k, max_iter=1, weights_init=weights, means_init=centres,
                          precisions_init=precisions).fit(X[:10_000])
    method = getattr(gmm, spec["method"])
    before = reset_peak()
    t0 = time.perf_counter()
    out = method(X)
    seconds = time.perf_counter() - t0
    return dict(seconds=seconds, peak=status_bytes("VmHWM") - before, out_bytes=out.nbytes)


def run_child(kind, spec):
    env = dict(os.environ)
    out = subprocess.run([sys.executable, __file__, "--child", kind, json.dumps(spec)],
                         capture_output=True, text=True, env=env, timeout=3600)
    if out.returncode != 0:
        raise RuntimeError(f"{kind} child failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- report

def mib(x):
    return x / 2**20


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10x fewer rows")
    parser.add_argument("--dir", default=tempfile.gettempdir(), help="where the data file goes")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, spec = args.child
        result = {"fit": child_fit, "partial_fit": child_partial_fit,
                  "predict": child_predict}[kind](json.loads(spec))
        print(json.dumps(result))
        return 0

    scale = 10 if args.quick else 1
    n_fit = 20_000_000 // scale
    n_predict = 10_000_000 // scale
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"machine: {platform.machine()}, {cpus} usable CPUs, {platform.processor() or ''}"
          f" Python {platform.python_version()}, numpy {np.__version__}")
    print("OPENBLAS_CORETYPE/L2_SIZE:", os.environ.get("OPENBLAS_CORETYPE"),
          os.environ.get("OPENBLAS_L2_SIZE"))
    path = os.path.join(args.dir, f"gmmcore_bench_{n_fit}x{D}.npy")
    if not os.path.exists(path):
        write_data(path, n_fit, D, K)
    try:
        print(f"\n1. fit on {n_fit:,} x {D} float64 ({mib(n_fit * D * 8) / 1024:.2f} GiB file), "
              f"k={K}, 5 EM iterations from a given start")
        print(f"{'covariance':>10} {'source':>22} {'s/iter':>8} {'Mrows/s':>8} "
              f"{'peak MiB':>9} {'peak/file':>9}")
        for covariance_type in ("diag", "full"):
            for mode, label in (("memory", "array in memory"),
                                ("memmap", "np.memmap (out-of-core)"),
                                ("chunks", "chunk source (1M rows)")):
                r = run_child("fit", dict(path=path, mode=mode, covariance_type=covariance_type,
                                          max_iter=5))
                per_iter = r["seconds"] / 5
                print(f"{covariance_type:>10} {label:>22} {per_iter:8.3f} "
                      f"{r['n'] / per_iter / 1e6:8.1f} {mib(r['peak']):9.1f} "
                      f"{r['peak'] / r['file_bytes']:9.3f}", flush=True)

        n_stream = 2_000_000 // scale
        print(f"\n2. partial_fit: {n_stream:,} rows in 10,000-row batches, k={K}, d={D}")
        for covariance_type in ("diag", "full"):
            r = run_child("partial_fit", dict(path=path, n=n_stream,
                                              covariance_type=covariance_type))
            print(f"{covariance_type:>10}: {r['rows'] / r['seconds'] / 1e6:.2f} Mrows/s, "
                  f"mean log-likelihood {r['stream_score']:.4f} after one pass vs "
                  f"{r['full_score']:.4f} for fit() ({r['full_iter']} passes)", flush=True)
    finally:
        os.remove(path)

    print(f"\n3. prediction on {n_predict:,} x 8 rows, k=8 full: peak memory of the call")
    print(f"{'method':>14} {'library':>8} {'seconds':>8} {'output MiB':>10} {'peak MiB':>9} "
          f"{'peak/output':>11}")
    libraries = ["gmmcore"]
    try:
        import sklearn  # noqa: F401
        libraries.append("sklearn")
    except ImportError:
        pass
    for method in ("predict", "predict_proba", "score_samples"):
        for library in libraries:
            r = run_child("predict", dict(n=n_predict, library=library, method=method))
            print(f"{method:>14} {library:>8} {r['seconds']:8.2f} {mib(r['out_bytes']):10.1f} "
                  f"{mib(r['peak']):9.1f} {r['peak'] / r['out_bytes']:11.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
