"""gmmcore.dask on a lazily generated dask array, next to the in-memory fit, measured.

    python benchmarks/bench_dask.py     # 10^7 x 16 float64 (1.2 GiB), a few minutes on 2 cores
    python benchmarks/bench_dask.py --quick   # 10^6 x 16

The dask array is a mixture of k Gaussians generated block by block
(``da.map_blocks`` with a seed per block): it is never materialised whole, and
each EM pass generates its blocks again on the workers.  On a LocalCluster of 2
single-threaded worker processes:

1. initialisation: k-means on a 10,000-row sample (one pass to gather it);
2. EM from that start, a fixed number of iterations (tol=0), over the generated
   array, then over the same array persisted in the workers' memory;
3. the in-memory gmmcore fit (2 threads) of the same rows, materialised in this
   process (the largest size that fits comfortably: the same array), from the
   same start.

Reported: seconds and rows/s per EM iteration, the growth of this (client)
process's peak RSS during the fit, and each worker's peak RSS (VmHWM, read on
the workers with ``client.run``).  Peaks are reset through /proc/self/clear_refs
before each measurement.  Linux only.
"""

import argparse
import logging
import os
import platform
import time
import warnings

import numpy as np

from _rss import reset_peak, status_bytes

K, D, SEED = 8, 16, 0


def make_block(block_info=None):
    """Rows of the block at block_info's location: a mixture of K Gaussians, seeded
    by the block's index, so that any process generates the same rows."""
    info = block_info[None]
    start, end = info["array-location"][0]
    rng = np.random.default_rng([SEED, info["chunk-location"][0]])
    centres = np.random.default_rng(SEED).normal(scale=4.0, size=(K, D))
    return rng.standard_normal((end - start, D)) + centres[rng.integers(0, K, end - start)]


def peak():
    return status_bytes("VmHWM")


def mib(x):
    return x / 2**20


def machine():
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f
                          if line.startswith("model name")), "")
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    import dask
    import distributed
    import gmmcore

    return (f"machine: {platform.machine()} {model}, {len(os.sched_getaffinity(0))} usable CPUs, "
            f"{mib(memory) / 1024:.1f} GiB RAM, load average {os.getloadavg()[0]:.2f}; "
            f"python {platform.python_version()}, numpy {np.__version__}, dask {dask.__version__}, "
            f"distributed {distributed.__version__}, gmmcore {gmmcore.__version__}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10^6 rows instead of 10^7")
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--chunk-rows", type=int, default=250_000)
    parser.add_argument("--covariance-type", default="full")
    args = parser.parse_args()

    import dask.array as da
    import distributed

    import gmmcore
    import gmmcore.dask

    warnings.simplefilter("ignore")  # ConvergenceWarning: the iterations are fixed on purpose
    n = 10**6 if args.quick else 10**7
    iters, cov = args.iterations, args.covariance_type
    print(machine())
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=":0", silence_logs=logging.ERROR)
    client = distributed.Client(cluster, set_as_default=False)
    rows = args.chunk_rows
    chunks = ((rows,) * (n // rows) + ((n % rows,) if n % rows else ()), (D,))
    X = da.map_blocks(make_block, chunks=chunks, dtype=np.float64, meta=np.empty((0, 0)))
    print(f"X: {n:,} x {D} float64 ({mib(n * D * 8) / 1024:.2f} GiB if materialised), generated "
          f"lazily in {X.numblocks[0]} blocks of {rows:,} rows; k={K}, covariance_type={cov!r}, "
          f"{iters} EM iterations (tol=0); LocalCluster: 2 workers x 1 thread (processes)")

    def worker_peaks():
        return sorted(mib(p) for p in client.run(peak).values())

    def measure(fit):
        client.run(reset_peak)
        base = reset_peak()
        t = time.perf_counter()
        result = fit()
        seconds = time.perf_counter() - t
        return result, seconds, mib(peak() - base), worker_peaks()

    gm0, t_init, client_init, workers_init = measure(lambda: gmmcore.dask.GaussianMixture(
        K, covariance_type=cov, max_iter=0, random_state=0, client=client).fit(X))
    print(f"init  : k-means on a {min(n, 10_000):,}-row sample: {t_init:.2f} s; client peak RSS "
          f"+{client_init:.0f} MiB, workers' peak RSS {workers_init[0]:.0f} / "
          f"{workers_init[1]:.0f} MiB")
    start = dict(weights_init=gm0.weights_, means_init=gm0.means_,
                 precisions_init=gm0.precisions_)
    params = dict(covariance_type=cov, max_iter=iters, tol=0.0, **start)

    def dask_fit(data):
        return gmmcore.dask.GaussianMixture(K, client=client, **params).fit(data)

    header = (f"{'fit':>34} {'s/iter':>7} {'Mrows/s':>8} {'client peak':>12} "
              f"{'workers peak RSS':>17}")
    print(header)
    gm_lazy, t_lazy, client_lazy, workers_lazy = measure(lambda: dask_fit(X))
    print(f"{'dask, generated on each pass':>34} {t_lazy / iters:7.2f} "
          f"{n * iters / t_lazy / 1e6:8.2f} {f'+{client_lazy:.0f} MiB':>12} "
          f"{f'{workers_lazy[0]:.0f} / {workers_lazy[1]:.0f} MiB':>17}")
    client.run(reset_peak)
    persisted = client.persist(X)
    client.compute(persisted.sum()).result(timeout=600)  # every block in memory
    gm_mem, t_mem, client_mem, workers_mem = measure(lambda p=persisted: dask_fit(p))
    print(f"{'dask, persisted on the workers':>34} {t_mem / iters:7.2f} "
          f"{n * iters / t_mem / 1e6:8.2f} {f'+{client_mem:.0f} MiB':>12} "
          f"{f'{workers_mem[0]:.0f} / {workers_mem[1]:.0f} MiB':>17}")
    del persisted
    client.close()
    cluster.close()

    # the same rows in this process, block by block into one array
    X_mem = np.empty((n, D))
    for i, (s, e) in enumerate(zip(np.cumsum((0,) + chunks[0][:-1]), np.cumsum(chunks[0]))):
        X_mem[s:e] = make_block({None: {"array-location": [(s, e)], "chunk-location": (i,)}})
    base = reset_peak()
    t = time.perf_counter()
    gm_np = gmmcore.GaussianMixture(K, n_threads=2, **params).fit(X_mem)
    t_np = time.perf_counter() - t
    growth = mib(peak() - base)
    print(f"{'in memory (gmmcore, 2 threads)':>34} {t_np / iters:7.2f} "
          f"{n * iters / t_np / 1e6:8.2f} {f'+{growth:.0f} MiB':>12} "
          f"{f'(X: {mib(X_mem.nbytes):.0f} MiB)':>17}")
    differences = [float(np.max(np.abs(a.means_ - gm_np.means_)) / np.max(np.abs(gm_np.means_)))
                   for a in (gm_lazy, gm_mem)]
    print(f"means_ of the dask fits against the in-memory fit: max relative difference "
          f"{max(differences):.1e}")


if __name__ == "__main__":
    main()
