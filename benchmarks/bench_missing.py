"""Missing values: the marginalising pass against the complete-data pass, and
imputation against scikit-learn's imputers, measured in the same run.

    python benchmarks/bench_missing.py                # both parts (about 3 minutes)
    python benchmarks/bench_missing.py --part pass    # only the EM pass
    python benchmarks/bench_missing.py --part impute  # only the imputers

Pass: W2 (2·10⁵ × 32, k = 16), every covariance type; one E-step with statistics
(the work of an EM iteration) under fixed parameters, for the complete data under
nan_policy='raise', the same data under 'marginalize' (no NaN: the default's own
path), and the data with 10% of entries removed at random under 'marginalize'.
Medians of --repeat passes, on all threads.

Imputation: scikit-learn's bundled data sets (iris, wine, breast cancer, diabetes),
each column standardised, --fraction of the entries removed at random (a row may
lose all); the error is the RMSE over the removed entries in standard deviations.
gmmcore: GaussianMixture(nan_policy='marginalize', covariance_type='full') with
n_components chosen by BIC among 1-5, then impute; scikit-learn:
IterativeImputer (BayesianRidge, max_iter=10) and KNNImputer (5 neighbours), and
column means.  Times are fit + impute; medians over --repeat removal draws (each
method sees the same draws).  Needs scikit-learn.
"""

import argparse
import statistics
import sys
import time
import warnings

import numpy as np

from bench_em import WORKLOADS, describe_machine, make_data

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


def pass_seconds(rows, kparams, n_threads, repeat):
    from gmmcore._parallel import blas_single_threaded

    times = []
    with blas_single_threaded():
        # (untimed: a fit checks its rows for NaN once, in its first pass)
        rows.statistics(kparams, n_threads)
        for _ in range(repeat):
            start = time.perf_counter()
            rows.statistics(kparams, n_threads)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def pass_part(repeat):
    from gmmcore import GaussianMixture
    from gmmcore._data import ArrayRows
    from gmmcore._mstep import KernelParams
    from gmmcore._parallel import effective_n_threads

    n_threads = effective_n_threads(None)
    w = WORKLOADS["W2"]
    n, d, k = w["n"], w["d"], w["k"]
    X = make_data(n, d, k, np.float64)
    gaps = X.copy()
    gaps[np.random.RandomState(0).rand(n, d) < 0.1] = np.nan
    print(f"pass: W2 ({n} x {d}, k={k}), {n_threads} threads, 10% of entries missing "
          f"({np.mean(~np.isnan(gaps).any(axis=1)):.1%} of rows complete); seconds per "
          f"E-step with statistics, medians of {repeat}")
    print(f"{'cov':9} {'complete':>9} {'no NaN':>9} {'ratio':>6} {'10% NaN':>9} {'ratio':>6}")
    for cov in COVARIANCE_TYPES:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gm = GaussianMixture(k, covariance_type=cov, max_iter=3, random_state=0,
                                 init_params="random_from_data").fit(X)

        plain, marginal = (KernelParams(gm.weights_, gm.means_, gm.precisions_cholesky_,
                                        cov, np.float64, marginalize=m) for m in (False, True))
        complete = pass_seconds(ArrayRows(X, None), plain, n_threads, repeat)
        no_nan = pass_seconds(ArrayRows(X, None), marginal, n_threads, repeat)
        missing = pass_seconds(ArrayRows(gaps, None), marginal, n_threads, repeat)
        print(f"{cov:9} {complete:9.4f} {no_nan:9.4f} {no_nan / complete:5.2f}x "
              f"{missing:9.4f} {missing / complete:5.2f}x", flush=True)


def impute_part(fraction, repeat):
    from sklearn import datasets
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer, KNNImputer

    from gmmcore import GaussianMixture, select

    def gmm_impute(X):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = select(X, n_components=range(1, 6), covariance_types=["full"],
                            nan_policy="marginalize", random_state=0, n_init=2)
        best = result.best_estimator_
        assert isinstance(best, GaussianMixture)
        return best.impute(X)

    methods = {
        "column means": lambda X: np.where(np.isnan(X), np.nanmean(X, axis=0), X),
        "gmmcore": gmm_impute,
        "IterativeImputer": lambda X: IterativeImputer(max_iter=10, random_state=0)
        .fit_transform(X),
        "KNNImputer": lambda X: KNNImputer(n_neighbors=5).fit_transform(X),
    }
    print(f"\nimputation: {fraction:.0%} of entries removed at random; RMSE over the "
          f"removed entries (standardised columns) and seconds, medians of {repeat} draws")
    print(f"{'data set':14} {'n x d':>9} " + " ".join(f"{m:>24}" for m in methods))
    for name in ("iris", "wine", "breast_cancer", "diabetes"):
        X = getattr(datasets, f"load_{name}")().data.astype(np.float64)
        X = (X - X.mean(axis=0)) / X.std(axis=0)
        errors = {m: [] for m in methods}
        seconds = {m: [] for m in methods}
        for draw in range(repeat):
            removed = np.random.RandomState(draw).rand(*X.shape) < fraction
            gaps = np.where(removed, np.nan, X)
            for method, impute in methods.items():
                start = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    filled = impute(gaps)
                seconds[method].append(time.perf_counter() - start)
                errors[method].append(float(np.sqrt(np.mean((filled[removed]
                                                             - X[removed]) ** 2))))
        cells = [f"{statistics.median(errors[m]):7.3f} ({statistics.median(seconds[m]):7.3f} s)"
                 for m in methods]
        print(f"{name:14} {f'{X.shape[0]}x{X.shape[1]}':>9} "
              + " ".join(f"{c:>24}" for c in cells), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("pass", "impute", "both"), default="both")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--fraction", type=float, default=0.2)
    args = parser.parse_args()
    print(describe_machine())
    if args.part in ("pass", "both"):
        pass_part(args.repeat)
    if args.part in ("impute", "both"):
        impute_part(args.fraction, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
