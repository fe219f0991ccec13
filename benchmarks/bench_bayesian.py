"""gmmcore's BayesianGaussianMixture against scikit-learn's, measured in the same run.

    python benchmarks/bench_bayesian.py                    # W1-W4, four covariance types
    python benchmarks/bench_bayesian.py --workloads W2 --covariance-types full,diag

Both libraries fit the same data from the same start (init_params='random_from_data'
and one random_state: gmmcore draws what scikit-learn draws).  Per iteration is
(t(m_hi) - t(m_lo)) / (m_hi - m_lo) with tol=0, as in bench_em.py; per fit is one fit
of --fit-iter iterations (tol=0), initialisation and default priors included.  The
last columns: gmmcore's variational iteration against its EM iteration on the same
data (GaussianMixture, same threads), and the peak extra RSS of a fit as a multiple
of X's size (fresh subprocess per library).  Medians over --repeat runs.
"""

import argparse
import json
import statistics
import subprocess
import sys

import numpy as np

from bench_em import (WORKLOADS, describe_machine, fit_seconds, make_data, peak_growth,
                      seconds_per_iteration)

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


def estimator(library, k, covariance_type, max_iter, n_threads=None, bayesian=True):
    params = dict(n_components=k, covariance_type=covariance_type, tol=0.0,
                  max_iter=max_iter, init_params="random_from_data", random_state=0)
    if library == "sklearn":
        from sklearn.mixture import BayesianGaussianMixture
        return BayesianGaussianMixture(**params)
    from gmmcore import GaussianMixture
    from gmmcore._bayesian import BayesianGaussianMixture
    return (BayesianGaussianMixture if bayesian else GaussianMixture)(n_threads=n_threads,
                                                                     **params)


def time_fit(library, X, k, covariance_type, max_iter, n_threads=None, bayesian=True):
    return fit_seconds(estimator(library, k, covariance_type, max_iter, n_threads, bayesian), X)


def per_iteration(library, X, k, covariance_type, m_lo, m_hi, repeat, n_threads=None,
                  bayesian=True):
    return seconds_per_iteration(
        lambda m: estimator(library, k, covariance_type, m, n_threads, bayesian), X, m_lo,
        m_hi, repeat)


def memory_child(spec):
    """One fit in a fresh process: the peak RSS growth as a multiple of X's size."""
    X = make_data(spec["n"], spec["d"], spec["k"], np.float64)
    growth = peak_growth(spec["library"], lambda m: estimator(
        spec["library"], spec["k"], spec["covariance_type"], m), X, spec["k"])
    print(json.dumps({"growth": growth, "x_bytes": X.nbytes}))


def peak_memory(library, n, d, k, covariance_type):
    spec = dict(library=library, n=n, d=d, k=k, covariance_type=covariance_type)
    out = subprocess.run([sys.executable, __file__, "--memory-child", json.dumps(spec)],
                         capture_output=True, text=True, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    return result["growth"] / result["x_bytes"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default="W1,W2,W3,W4")
    parser.add_argument("--covariance-types", default=",".join(COVARIANCE_TYPES))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--fit-iter", type=int, default=10)
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(json.loads(args.memory_child))
        return

    from gmmcore._parallel import effective_n_threads

    n_all = effective_n_threads(None)
    print(describe_machine())
    print(f"gmmcore threads: 1 and {n_all}; float64\n")
    rows = []
    for name in args.workloads.split(","):
        w = WORKLOADS[name]
        n, d, k = w["n"], w["d"], w["k"]
        X = make_data(n, d, k, np.float64)
        for cov in args.covariance_types.split(","):
            sk_iter = per_iteration("sklearn", X, k, cov, 1, 3, args.repeat)
            g1 = per_iteration("gmmcore", X, k, cov, 2, 10, args.repeat, n_threads=1)
            g_all = per_iteration("gmmcore", X, k, cov, 2, 10, args.repeat, n_threads=n_all)
            em_all = per_iteration("gmmcore", X, k, cov, 2, 10, args.repeat, n_threads=n_all,
                                   bayesian=False)
            sk_fit = statistics.median(time_fit("sklearn", X, k, cov, args.fit_iter)
                                       for _ in range(args.repeat))
            g_fit = statistics.median(time_fit("gmmcore", X, k, cov, args.fit_iter, n_all)
                                      for _ in range(args.repeat))
            mem_sk = mem_g = np.nan
            if not args.no_memory:
                mem_sk = peak_memory("sklearn", n, d, k, cov)
                mem_g = peak_memory("gmmcore", n, d, k, cov)
            rows.append((name, cov, sk_iter, g1, g_all, em_all, sk_fit, g_fit, mem_sk, mem_g))
            print(f"  {name} {cov}: sklearn {sk_iter:.4f} s, gmmcore {g1:.4f} s (1 thread), "
                  f"{g_all:.4f} s ({n_all})", file=sys.stderr, flush=True)
        del X

    header = (f"{'work':4} {'cov':9} {'sklearn':>9} {'gmm 1t':>9} {'gmm ' + str(n_all) + 't':>9}"
              f" {'speedup':>8} {'fit sk':>8} {'fit gmm':>8} {'speedup':>8} {'vs EM':>6}"
              f" {'mem sk':>7} {'mem gmm':>7}")
    print("time per iteration (seconds, medians); speedup = scikit-learn / gmmcore at "
          f"{n_all} threads; fit = {args.fit_iter} iterations with initialisation; vs EM = "
          "gmmcore's variational iteration / its EM iteration; mem = peak extra RSS during "
          "fit / X's size")
    print(header)
    print("-" * len(header))
    for name, cov, sk_iter, g1, g_all, em_all, sk_fit, g_fit, mem_sk, mem_g in rows:
        print(f"{name:4} {cov:9} {sk_iter:9.4f} {g1:9.4f} {g_all:9.4f} {sk_iter / g_all:7.1f}x"
              f" {sk_fit:8.3f} {g_fit:8.3f} {sk_fit / g_fit:7.1f}x {g_all / em_all:6.2f}"
              f" {mem_sk:6.2f}x {mem_g:6.3f}x", flush=True)


if __name__ == "__main__":
    main()
