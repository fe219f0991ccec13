"""The compiled kernels called directly, against plain numpy."""

import os
import platform
import subprocess
import sys

import numpy as np
import pytest

from gmmcore import _kernels
from gmmcore._covariance import TYPES
from gmmcore._mstep import KernelParams, Statistics
from conftest import COVARIANCE_TYPES, random_precisions

E = {np.dtype(t): (np.empty(0, t), np.empty((0, 0), t)) for t in (np.float32, np.float64)}
E.update({np.float64: E[np.dtype(np.float64)], np.float32: E[np.dtype(np.float32)]})
NO_LABELS = np.empty(0, dtype=np.intp)


def setup(covariance_type, k, d, n, dtype, seed=0):
    rng = np.random.RandomState(seed)
    X = (rng.randn(n, d) * 2).astype(dtype)
    weights = rng.dirichlet(np.ones(k))
    means = rng.randn(k, d)
    prec_chol = TYPES[covariance_type].cholesky_from_precisions(
        random_precisions(covariance_type, k, d, rng))
    return X, KernelParams(weights, means, prec_chol, covariance_type, dtype), rng


def dense_precision(covariance_type, pc, c, d):
    if covariance_type == "full":
        return pc[c] @ pc[c].T
    if covariance_type == "tied":
        return pc @ pc.T
    if covariance_type == "diag":
        return np.diag(pc[c] ** 2)
    return np.eye(d) * pc[c] ** 2


def e_step(X, kp, w=None, stats=None, start=0, end=None, resp=None, lpn=None, labels=None,
           block_size=256, tied_s2=True, entropy=None):
    """Call the kernel with empty arrays for what is not wanted."""
    dtype = X.dtype
    e1, e2 = E[dtype]
    ed1, ed2 = E[np.float64]
    return _kernels.e_step(
        X, start, X.shape[0] if end is None else end, e1 if w is None else w, kp.cov_code,
        kp.shift, kp.means, kp.delta, kp.prec, kp.Q, kp.cst, kp.direct,
        ed1 if stats is None else stats.row, e2 if resp is None else resp,
        e1 if lpn is None else lpn, NO_LABELS if labels is None else labels, block_size,
        tied_s2, entropy)


def random_problem(covariance_type, k, d, n, dtype, seed):
    """Data around 5, random weights, means and precisions, and their KernelParams."""
    rng = np.random.RandomState(seed)
    X = (rng.randn(n, d) * 2 + 5).astype(dtype)
    weights = rng.dirichlet(np.ones(k))
    means = rng.randn(k, d) + 5
    pc = TYPES[covariance_type].cholesky_from_precisions(
        random_precisions(covariance_type, k, d, rng))
    return X, weights, pc, KernelParams(weights, means, pc, covariance_type, dtype), rng


def reference_e_step(X, weights, means, pc, covariance_type, w):
    """log p(x), weighted responsibilities and dense log-densities, in float64."""
    n, d = X.shape
    k = len(weights)
    log_prob = np.empty((n, k))
    for c in range(k):
        diff = X - means[c]
        P = dense_precision(covariance_type, pc, c, d)
        _, logdet = np.linalg.slogdet(P)
        log_prob[:, c] = (np.log(weights[c]) + 0.5 * logdet - 0.5 * d * np.log(2 * np.pi)
                          - 0.5 * np.einsum("ij,jk,ik->i", diff, P, diff))
    top = log_prob.max(axis=1)
    lpn = top + np.log(np.exp(log_prob - top[:, None]).sum(axis=1))
    return lpn, np.exp(log_prob - lpn[:, None]) * w[:, None]


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
# every kernel path: d ≤ 8 (row-vectorised), larger d with few components (rank
# updates per component) and with many (one GEMM of outer products, float64); the
# feature-major tiles with whole and partial 16 × 16 transposes and component tiles;
# the rank updates' register tiles with and without whole tiles of columns and rows
@pytest.mark.parametrize("k,d", [(3, 1), (3, 3), (3, 8), (3, 9), (3, 20), (9, 12), (9, 41),
                                 (17, 33), (3, 47), (2, 70)])
def test_e_step_statistics_match_numpy(covariance_type, dtype, k, d):
    n = 701  # several blocks of 256 and a partial one, of an odd number of rows
    X, weights, pc, kp, rng = random_problem(covariance_type, k, d, n, dtype, seed=d)
    w = rng.uniform(0, 2, n).astype(dtype)
    w[::7] = 0.0
    shifts = kp.statistics_shifts()
    stats = Statistics(covariance_type, shifts, kp.shift)
    loglik, weight, n_bad, _ = e_step(X, kp, w, stats)

    X64, w64 = X.astype(np.float64), w.astype(np.float64)
    lpn, resp = reference_e_step(X64, weights, kp.means.astype(np.float64), pc,
                                 covariance_type, w64)
    rtol = 1e-11 if dtype == np.float64 else 1e-4
    assert n_bad == 0
    assert weight == pytest.approx(w64.sum(), rel=1e-12)
    assert loglik == pytest.approx(w64 @ lpn, rel=rtol)
    # a component whose responsibilities are all subnormal has no relative precision
    tiny = n * np.finfo(dtype).tiny / np.finfo(dtype).eps
    np.testing.assert_allclose(stats.nk, resp.sum(axis=0), rtol=rtol, atol=tiny)
    s64 = shifts.astype(np.float64)
    expected_s1 = np.stack([resp[:, c] @ (X64 - s64[c]) for c in range(k)])
    np.testing.assert_allclose(stats.s1, expected_s1, rtol=rtol, atol=rtol * n * 10)
    if covariance_type == "full":
        expected = np.stack([np.tril((resp[:, c, None] * (X64 - s64[c])).T @ (X64 - s64[c]))
                             for c in range(k)])
        got = np.tril(stats.s2.reshape(k, d, d))
    elif covariance_type == "tied":
        diff = X64 - kp.shift.astype(np.float64)
        expected = np.tril((w64[:, None] * diff).T @ diff)
        got = np.tril(stats.s2.reshape(d, d))
    elif covariance_type == "diag":
        expected = np.stack([resp[:, c] @ (X64 - s64[c]) ** 2 for c in range(k)])
        got = stats.s2.reshape(k, d)
    else:
        expected = np.array([resp[:, c] @ ((X64 - s64[c]) ** 2).sum(axis=1) for c in range(k)])
        got = stats.s2
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol * np.abs(expected).max())


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("d", [3, 9, 33])  # the tile kernel's design, and the wide paths
@pytest.mark.parametrize("weighted", [False, True])
def test_tied_moments_and_e_step_without_s2(dtype, d, weighted):
    """tied_moments: Σ w, Σ w z and Σ w z zᵀ (z = x − s) to float64 precision even from
    float32 rows far from the origin; e_step with tied_s2=False: S2 left zero and
    everything else as with it."""
    k, n = 5, 701
    X, weights, pc, kp, rng = random_problem("tied", k, d, n, dtype, seed=d)
    X += np.asarray(300, dtype)  # a float32 sum around 0 would cancel to nothing
    w = rng.uniform(0, 2, n).astype(dtype) if weighted else None
    w_arg = E[dtype][0] if w is None else w
    shift = (X[:50].mean(axis=0) + 0.25).astype(dtype)
    out = np.zeros((d + 1) ** 2)
    _kernels.tied_moments(X, 0, 300, w_arg, shift, out, 64)  # two shards, odd blocks
    _kernels.tied_moments(X, 300, n, w_arg, shift, out, 64)
    w64 = np.ones(n) if w is None else w.astype(np.float64)
    z1 = np.column_stack([np.ones(n), X.astype(np.float64) - shift.astype(np.float64)])
    expected = np.tril((w64[:, None] * z1).T @ z1)
    np.testing.assert_allclose(np.tril(out.reshape(d + 1, d + 1)), expected, rtol=1e-12,
                               atol=1e-12 * np.abs(expected).max())

    kp = KernelParams(weights, kp.means + 300, pc, "tied", dtype)
    shifts = kp.statistics_shifts()
    with_s2 = Statistics("tied", shifts, kp.shift)
    without = Statistics("tied", shifts, kp.shift)
    e_step(X, kp, w, with_s2)
    e_step(X, kp, w, without, tied_s2=False)
    assert with_s2.s2.any() and not without.s2.any()
    if dtype == np.float64 or d <= 8:
        np.testing.assert_array_equal(without.row[:2 + k + k * d], with_s2.row[:2 + k + k * d])
    else:
        # float32 with d > 8 takes N and S1 around each component's own mean without
        # S2 (float32 sums per lane within a block), and around each row's most
        # responsible mean with it: both against numpy from the kernel's own
        # responsibilities, S1 to float32 rounding of the within-cluster terms
        # Σ r |x − μ_c| (measured: 2.5e-8 of it without S2, 1.7e-7 with, 2.7e-7 in
        # the plain-C build, whose one lane sums a block's 256 rows; N 1.7e-7 there)
        np.testing.assert_array_equal(without.row[:2], with_s2.row[:2])
        resp = np.zeros((n, k), dtype)
        e_step(X, kp, resp=resp)
        r64 = resp.astype(np.float64) * w64[:, None]
        X64, s64, m64 = (a.astype(np.float64) for a in (X, shifts, kp.means))
        expected = np.stack([r64[:, c] @ (X64 - s64[c]) for c in range(k)])
        scale = np.stack([r64[:, c] @ np.abs(X64 - m64[c]) for c in range(k)])
        for stats in (without, with_s2):
            np.testing.assert_allclose(stats.nk, r64.sum(axis=0), rtol=1e-6)
            assert np.all(np.abs(stats.s1 - expected) <= 1e-6 * scale)
    with pytest.raises(ValueError, match="out has shape"):
        _kernels.tied_moments(X, 0, n, w_arg, shift, np.zeros(d * d), 256)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("d", [3, 33])
def test_tied_second_moment_is_taken_once_and_moved(dtype, d):
    """TiedSecondMoment: every pass, under other parameters and another shift, gets
    the first pass's moments moved to its shift, equal to Σ w (x − s)(x − s)ᵀ there."""
    from gmmcore._em import TiedSecondMoment

    k, n = 4, 900
    X, weights, pc, kp, rng = random_problem("tied", k, d, n, dtype, seed=7)
    w = rng.uniform(0, 2, n).astype(dtype)
    tied = TiedSecondMoment()
    first = tied.statistics(X, w, kp, n_threads=2)
    later_kp = KernelParams(weights[::-1], kp.means + rng.randn(k, d), pc, "tied", dtype)
    assert not np.array_equal(later_kp.shift, kp.shift)
    later = tied.statistics(X, w, later_kp, n_threads=2)
    w64 = w.astype(np.float64)
    for stats, params in ((first, kp), (later, later_kp)):
        diff = X.astype(np.float64) - params.shift.astype(np.float64)
        expected = (w64[:, None] * diff).T @ diff
        got = np.tril(stats.s2.reshape(d, d))
        np.testing.assert_allclose(got, np.tril(expected), rtol=1e-11,
                                   atol=1e-11 * np.abs(expected).max())
    # and N, S1 and the log-likelihood are the later parameters' own
    direct = Statistics("tied", later_kp.statistics_shifts(), later_kp.shift)
    e_step(X, later_kp, w, direct)
    np.testing.assert_allclose(later.row[:2 + k + k * d], direct.row[:2 + k + k * d],
                               rtol=1e-12 if dtype == np.float64 else 1e-5,
                               atol=1e-9 * np.abs(direct.s1).max())


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("d", [4, 12])
def test_shards_add_up_to_the_whole(dtype, d):
    X, kp, rng = setup("full", 4, d, 1000, dtype)
    shifts = kp.statistics_shifts()

    def run(start, end):
        s = Statistics("full", shifts, kp.shift)
        e_step(X, kp, stats=s, start=start, end=end)
        return s

    whole = run(0, 1000)
    # split on a block boundary: the same blocks, only the float64 sums regroup
    aligned = run(0, 512)
    aligned += run(512, 1000)
    # split inside a block: float32 block sums change by rounding
    unaligned = run(0, 333)
    unaligned += run(333, 1000)
    loose = 1e-12 if dtype == np.float64 else 1e-4
    for parts, rtol in ((aligned, 1e-12), (unaligned, loose)):
        for name in ("nk", "s1", "s2"):
            np.testing.assert_allclose(getattr(parts, name), getattr(whole, name), rtol=rtol,
                                       atol=rtol * np.abs(getattr(whole, name)).max())
        assert parts.loglik == pytest.approx(whole.loglik, rel=rtol)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_per_row_outputs_and_row_ranges(covariance_type):
    X, kp, _ = setup(covariance_type, 3, 4, 600, np.float64)
    resp = np.full((600, 3), -1.0)
    lpn = np.full(600, -1.0)
    labels = np.full(600, -7, dtype=np.intp)
    e_step(X, kp, start=100, end=400, resp=resp, lpn=lpn, labels=labels)
    # rows outside [100, 400) are untouched
    assert (resp[:100] == -1).all() and (resp[400:] == -1).all()
    assert (labels[:100] == -7).all() and (labels[400:] == -7).all()
    np.testing.assert_allclose(resp[100:400].sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(labels[100:400], resp[100:400].argmax(axis=1))
    assert np.isfinite(lpn[100:400]).all()


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("k,d,n", [(3, 9, 5), (17, 20, 300), (9, 33, 517)])
def test_per_row_outputs_match_numpy(covariance_type, dtype, k, d, n):
    X, weights, pc, kp, _ = random_problem(covariance_type, k, d, n, dtype, seed=k + d)
    resp = np.empty((n, k), dtype=dtype)
    lpn = np.empty(n, dtype=dtype)
    labels = np.empty(n, dtype=np.intp)
    e_step(X, kp, resp=resp, lpn=lpn, labels=labels, block_size=128)
    X64 = X.astype(np.float64)
    expected_lpn, expected_resp = reference_e_step(X64, weights, kp.means.astype(np.float64),
                                                   pc, covariance_type, np.ones(n))
    rtol = 1e-10 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(lpn, expected_lpn, rtol=rtol)
    np.testing.assert_allclose(resp, expected_resp, atol=rtol * 10)
    best = expected_resp.max(axis=1)
    clear = best > expected_resp.max(axis=1, initial=0, where=expected_resp < best[:, None]) + 1e-3
    np.testing.assert_array_equal(labels[clear], expected_resp.argmax(axis=1)[clear])


def test_kernel_checks_shapes_and_ranges_before_running():
    X, kp, _ = setup("full", 2, 3, 50, np.float64)
    with pytest.raises(ValueError, match="outside"):
        e_step(X, kp, end=51)
    with pytest.raises(ValueError, match="outside"):
        e_step(X, kp, start=30, end=20)
    short = KernelParams.__new__(KernelParams)
    for name in KernelParams.__slots__:
        setattr(short, name, getattr(kp, name))
    short.prec = kp.prec[:-1]
    with pytest.raises(ValueError, match="prec has shape"):
        e_step(X, short)
    with pytest.raises(ValueError, match="out_resp has shape"):
        e_step(X, kp, resp=np.empty((49, 2)))
    with pytest.raises(ValueError, match="stats has shape"):
        bad = Statistics("full", kp.means, kp.shift)
        bad.row = np.zeros(9)
        e_step(X, kp, stats=bad)
    with pytest.raises(ValueError, match="block_size"):
        e_step(X, kp, block_size=0)
    e1, e2 = E[np.float64]
    with pytest.raises(ValueError, match="label 5"):
        _kernels.assignment_statistics(X, 0, 50, e1, kp.cov_code, kp.shift, kp.means, e2,
                                       np.full(50, 5, np.intp), np.zeros(28))
    with pytest.raises(ValueError):  # dtype mismatch between arguments
        e_step(X.astype(np.float32), kp)


def test_every_simd_level_gives_the_same_results():
    """The vectorised loops, forced to each instruction set, agree with each other."""
    code = (
        "import numpy as np, gmmcore._kernels as k\n"
        "from gmmcore import GaussianMixture\n"
        "rng = np.random.RandomState(0)\n"
        "out = [k.SIMD_LEVEL]\n"
        "for d, types in ((3, ('full', 'diag')), (20, ('full', 'tied', 'diag', 'spherical'))):\n"
        "    X = np.vstack([rng.randn(500, d) + 4 * c for c in range(3)])\n"
        "    for ct in types:\n"
        "        for dt in (np.float64, np.float32):\n"
        "            g = GaussianMixture(3, covariance_type=ct, random_state=0).fit(X.astype(dt))\n"
        "            out += [float(g.lower_bound_)]\n"
        "            out += g.predict_proba(X[:50].astype(dt)).ravel().tolist()\n"
        "print(repr(out))\n")
    results = {}
    for level in ("generic", "avx2", "avx512"):
        env = dict(os.environ, GMMCORE_SIMD=level)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env=env, check=True).stdout
        values = eval(out)
        results[values[0]] = np.array(values[1:])
    assert "generic" in results
    reference = results["generic"]
    for level, values in results.items():
        np.testing.assert_allclose(values, reference, rtol=1e-5, atol=1e-6, err_msg=level)


def _expected_simd_level():
    """The level the kernels should pick here, or None where it cannot be known: the
    plain-C build and CPUs other than x86-64 have one; under QEMU,
    wheels/test_emulated.sh says the emulated CPU's (/proc/cpuinfo is the host's);
    else Linux's CPU flags, which list a feature only if the OS saves the registers
    it needs."""
    if _kernels.SIMD_PORTABLE or platform.machine().lower() not in ("x86_64", "amd64"):
        return "generic"
    if os.environ.get("GMMCORE_EXPECTED_SIMD"):
        return os.environ["GMMCORE_EXPECTED_SIMD"]
    if not os.path.exists("/proc/cpuinfo"):
        return None
    flags = set()
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    if not {"avx2", "fma"} <= flags:
        return "generic"
    return "avx512" if {"avx512f", "avx512dq", "avx512vl", "avx512bw"} <= flags else "avx2"


@pytest.mark.skipif(_expected_simd_level() is None,
                    reason="x86-64 without Linux's /proc/cpuinfo to say what the CPU has")
def test_dispatch_picks_the_cpus_best_level():
    """The level the kernels pick by CPUID and XGETBV (uncapped) is the best one this
    CPU and OS run; the plain-C build (what MSVC's cl compiles) has only generic."""
    env = {k: v for k, v in os.environ.items() if k != "GMMCORE_SIMD"}
    code = "import gmmcore._kernels as k; print(k.SIMD_LEVEL)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True).stdout.strip()
    assert out == _expected_simd_level()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_vectorised_exp_is_accurate(dtype):
    x = np.concatenate([np.linspace(-800, 0, 100001), [-np.inf, 0.0, -1e-300]]).astype(dtype)
    got = x.copy()
    _kernels.exp_inplace(got)
    expected = np.exp(x.astype(np.float64))
    tiny = np.finfo(dtype).tiny
    normal = expected > tiny * 4
    rel = np.abs(got[normal] - expected[normal]) / expected[normal]
    assert rel.max() < (4e-16 if dtype == np.float64 else 3e-7)
    assert np.all(got[~normal] <= tiny * 4) and np.all(got >= 0)
    nan = np.array([np.nan], dtype=dtype)
    _kernels.exp_inplace(nan)
    assert np.isnan(nan[0])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_vectorised_exp_does_not_depend_on_position(dtype):
    """A value's exp has the same bits wherever it falls: in a whole vector or among
    the last few values of an array (predictions on a slice equal those on the whole)."""
    x = np.random.default_rng(3).uniform(-40, 5, 53).astype(dtype)
    whole = x.copy()
    _kernels.exp_inplace(whole)
    for start in range(1, 17):
        part = x[start:].copy()
        _kernels.exp_inplace(part)
        np.testing.assert_array_equal(part, whole[start:])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_vectorised_exp_out_of_range(dtype):
    """No clamp before the range reduction: far outside the range the result is
    still 0 or inf, NaN stays NaN, and a whole SIMD vector of such values (with one
    ordinary value among them) is right in every lane."""
    big = np.finfo(dtype).max
    x = np.array([-np.inf, -big, -1e30, -800.0, -750.0, 0.5, 750.0, 1e30, big, np.inf,
                  np.nan, -np.nan, -3.0, 2.0, -np.inf, np.inf, -0.0], dtype=dtype)
    x = np.concatenate([x, x[::-1], x[3:]])
    got = x.copy()
    _kernels.exp_inplace(got)
    with np.errstate(over="ignore", under="ignore"):
        expected = np.exp(x.astype(np.float64))
    low = np.finfo(dtype).tiny * 2**20
    tiny = expected < low  # 0 from gmmcore (below its cut-off), a denormal or 0 from numpy
    assert np.all(got[tiny] < low) and np.all(got[tiny] >= 0)
    huge = expected > big
    assert np.all(np.isposinf(got[huge]))
    nan = np.isnan(x)
    assert np.all(np.isnan(got[nan]))
    ok = ~(tiny | huge | nan)
    np.testing.assert_allclose(got[ok], expected[ok], rtol=4 * np.finfo(dtype).eps)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_lloyd_step_matches_numpy(dtype):
    rng = np.random.RandomState(0)
    X = rng.randn(900, 6).astype(dtype)
    shift = X.mean(axis=0).astype(dtype)
    centers = rng.randn(5, 6).astype(dtype)
    labels = np.full(900, -1, dtype=np.intp)
    sums, weight = np.zeros((5, 6)), np.zeros(5)
    norms = np.einsum("ij,ij->i", centers, centers)
    n_changed = _kernels.lloyd_step(X, 0, 900, E[dtype][0], shift, centers, norms, labels,
                                    sums, weight)
    Xs = X.astype(np.float64) - shift
    dist = ((Xs[:, None, :] - centers.astype(np.float64)[None]) ** 2).sum(axis=2)
    expected = dist.argmin(axis=1)
    clear = np.sort(dist, axis=1)[:, 1] - dist.min(axis=1) > 1e-3
    np.testing.assert_array_equal(labels[clear], expected[clear])
    assert n_changed == 900
    np.testing.assert_allclose(weight, np.bincount(labels, minlength=5))
    np.testing.assert_allclose(sums, np.stack([Xs[labels == c].sum(axis=0) for c in range(5)]),
                               rtol=1e-5, atol=1e-4)


def test_all_finite():
    X = np.ones((10, 3))
    assert _kernels.all_finite(X)
    X[7, 2] = np.nan
    assert not _kernels.all_finite(X)
    X[7, 2] = -np.inf
    assert not _kernels.all_finite(X.astype(np.float32))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("d", [2, 20])
def test_entropy_of_the_responsibilities_is_the_numpy_sum(covariance_type, dtype, d):
    """Σ w Σ_k r log r over the rows (the variational lower bound's term), against
    numpy on the kernel's own responsibilities; blocks of 64 and two shards.  (float32
    takes it from the float32 log-densities and sums, so from slightly other
    numbers than the rounded responsibilities: about 1e-8 relative.)"""
    X, _, _, kp, rng = random_problem(covariance_type, 5, d, 300, dtype, seed=d)
    w = rng.uniform(0.2, 3.0, X.shape[0]).astype(dtype)
    resp = np.zeros((X.shape[0], 5), dtype=dtype)
    entropy = np.zeros(1)
    for start, end in [(0, 170), (170, 300)]:
        e_step(X, kp, w, start=start, end=end, resp=resp, block_size=64, entropy=entropy)
    r = resp.astype(np.float64)
    safe = np.where(r > 0, r, 1.0)
    expected = np.sum(w.astype(np.float64)[:, None] * r * np.log(safe))
    np.testing.assert_allclose(entropy[0], expected, rtol=1e-12 if dtype == np.float64 else 1e-6)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("n, size, block", [(10, 3, 2), (100, 100, 7), (1000, 1, 1),
                                            (70_001, 16, 4096), (5, 0, 1), (2, 2, 1),
                                            (300_000, 64, 32_768)])
def test_choice_without_replacement_draws_what_numpy_draws(seed, n, size, block):
    """numpy's RandomState.choice(n, size, replace=False): the same indices and the
    generator left where numpy leaves it, through the block-wise replay of its
    shuffle (the blocks here force several, and swaps between kept positions)."""
    ours, numpys = np.random.RandomState(seed), np.random.RandomState(seed)
    got = _kernels.choice_without_replacement(ours, n, size, block=block)
    expected = numpys.choice(n, size, replace=False)
    np.testing.assert_array_equal(got, expected)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(ours.random_sample(5), numpys.random_sample(5))


def test_choice_without_replacement_any_bit_generator_and_bad_input():
    ours = np.random.RandomState(np.random.PCG64(3))
    numpys = np.random.RandomState(np.random.PCG64(3))
    np.testing.assert_array_equal(_kernels.choice_without_replacement(ours, 5000, 9, block=64),
                                  numpys.choice(5000, 9, replace=False))
    assert ours.randint(1 << 30) == numpys.randint(1 << 30)
    with pytest.raises(TypeError, match="RandomState, got Generator"):
        _kernels.choice_without_replacement(np.random.default_rng(0), 10, 2)
    with pytest.raises(ValueError, match="cannot choose 11 of 10"):
        _kernels.choice_without_replacement(np.random.RandomState(0), 10, 11)
