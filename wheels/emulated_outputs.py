"""Fixed-parameter outputs of the kernels, written on one machine and checked on another.

    python wheels/emulated_outputs.py write REF.npz   # natively: data, start, outputs
    python wheels/emulated_outputs.py check REF.npz   # elsewhere (aarch64, another CPU)

For each covariance type, dtype and number of features (3: the few-feature register
tiles; 20: the feature-major blocks), one EM step from fixed weights, means and
precisions (``max_iter=1``, so no random initialisation), then ``score_samples`` and
``predict_proba`` at the parameters it produced.  The data and the starting
parameters are stored in the file, so the other side computes from the same bits.
``check`` prints one line per compared output and a closing line "N passed, M failed";
it exits non-zero if any failed.  Only gmmcore and numpy are needed.

The tolerance is relative to the largest magnitude of the reference output: 1e-9 in
float64 and 1e-3 in float32 (the package's own float32 tolerance is 2e-3).  Different
instruction sets sum in different orders and fuse multiply-adds differently: against
AVX-512 references, the generic, AVX2 and NEON loops moved float64 outputs by at most
7e-13 and float32 ones by at most 1e-6, except with 20-feature full covariances under
the generic x86-64 loops (score_samples 2e-5, the precisions' Cholesky factor 9e-5:
their conditioning amplifies float32 rounding).  A wrong loop moves them by far more.
"""

import sys
import warnings

import numpy as np

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
N_FEATURES = (3, 20)
N_COMPONENTS = 4
N_SAMPLES = 3000
TOLERANCE = {"float64": 1e-9, "float32": 1e-3}
OUTPUTS = ("weights_", "means_", "covariances_", "precisions_cholesky_", "lower_bound_",
           "score_samples", "predict_proba")


def _data(d, rng):
    """Clusters with distinct covariances, and a start near them (float64)."""
    k = N_COMPONENTS
    centres = rng.normal(scale=4.0, size=(k, d))
    parts = [rng.normal(size=(N_SAMPLES // k, d)) @ (rng.normal(scale=0.5, size=(d, d))
                                                    + np.eye(d)) + c for c in centres]
    X = np.vstack(parts)
    means = centres + rng.normal(scale=0.5, size=(k, d))
    weights = rng.uniform(0.5, 1.5, k)
    return X[rng.permutation(len(X))], means, weights / weights.sum()


def _precisions(covariance_type, d, rng):
    k = N_COMPONENTS
    if covariance_type == "full":
        out = []
        for _ in range(k):
            A = rng.normal(size=(d, d))
            out.append((A @ A.T + d * np.eye(d)) / (4 * d))
        return np.array(out)
    if covariance_type == "tied":
        A = rng.normal(size=(d, d))
        return (A @ A.T + d * np.eye(d)) / (4 * d)
    if covariance_type == "diag":
        return rng.uniform(0.1, 1.0, size=(k, d))
    return rng.uniform(0.1, 1.0, size=k)


def _cases():
    rng = np.random.RandomState(0)
    for d in N_FEATURES:
        X, means, weights = _data(d, rng)
        for covariance_type in COVARIANCE_TYPES:
            precisions = _precisions(covariance_type, d, rng)
            yield f"d{d}-{covariance_type}", X, weights, means, precisions


def _outputs(covariance_type, X, weights, means, precisions):
    from gmmcore import GaussianMixture

    gmm = GaussianMixture(N_COMPONENTS, covariance_type=covariance_type, max_iter=1, tol=0.0,
                          weights_init=weights, means_init=means, precisions_init=precisions)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one iteration does not converge, by design
        gmm.fit(X)
    out = {name: np.asarray(getattr(gmm, name)) for name in OUTPUTS[:5]}
    out["score_samples"] = gmm.score_samples(X)
    out["predict_proba"] = gmm.predict_proba(X)
    return out


def write(path):
    arrays = {}
    for name, X, weights, means, precisions in _cases():
        covariance_type = name.split("-")[1]
        arrays[f"{name}/X"] = X
        arrays[f"{name}/weights"] = weights
        arrays[f"{name}/means"] = means
        arrays[f"{name}/precisions"] = precisions
        for dtype in TOLERANCE:
            got = _outputs(covariance_type, X.astype(dtype), weights, means, precisions)
            for output, value in got.items():
                arrays[f"{name}/{dtype}/{output}"] = value
    np.savez_compressed(path, **arrays)
    import gmmcore._kernels as k

    print(f"wrote {path}: {len(arrays)} arrays (simd {k.SIMD_LEVEL})")


def check(path):
    import gmmcore._kernels as k

    ref = np.load(path)
    names = sorted({key.split("/")[0] for key in ref.files})
    passed = failed = 0
    print(f"fixed-parameter outputs against {path} (simd {k.SIMD_LEVEL},"
          f" {'plain C' if k.SIMD_PORTABLE else 'vector extensions'})")
    for name in names:
        covariance_type = name.split("-")[1]
        X = ref[f"{name}/X"]
        start = [ref[f"{name}/{p}"] for p in ("weights", "means", "precisions")]
        for dtype, tolerance in TOLERANCE.items():
            got = _outputs(covariance_type, X.astype(dtype), *start)
            for output in OUTPUTS:
                expected = ref[f"{name}/{dtype}/{output}"].astype(np.float64)
                actual = np.asarray(got[output], dtype=np.float64)
                if actual.shape != expected.shape:
                    error = np.inf
                else:
                    scale = max(np.max(np.abs(expected)), np.finfo(float).tiny)
                    error = np.max(np.abs(actual - expected)) / scale
                ok = bool(error <= tolerance)  # NaN fails
                passed += ok
                failed += not ok
                print(f"  {'ok  ' if ok else 'FAIL'} {name:14} {dtype:7} {output:21}"
                      f" {error:.1e} (tolerance {tolerance:.0e})")
    print(f"{passed} passed, {failed} failed")
    return failed == 0


def main(argv):
    if len(argv) != 2 or argv[0] not in ("write", "check"):
        sys.exit(__doc__.split("\n\n")[1])
    if argv[0] == "write":
        write(argv[1])
    else:
        sys.exit(0 if check(argv[1]) else 1)


if __name__ == "__main__":
    main(sys.argv[1:])
