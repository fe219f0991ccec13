"""The kernel plan: which kernels a pass runs, and the statistics of a given
assignment that the initialisation takes through the same statistics kernels.

The plan's choices are design decisions (docs/kernels.md): these tests pin them so
that a change to one is deliberate, and check that every plan's statistics agree
with a plain-numpy sum.
"""

import itertools

import numpy as np
import pytest

from gmmcore import _kernels

CODES = _kernels.COVARIANCE_CODES
SMALL_D = _kernels.SMALL_D
WIDE_VECTORS = _kernels.SIMD_LEVEL != "generic" and not _kernels.SIMD_PORTABLE


def plan(covariance_type, d, k, dtype, **kw):
    return _kernels.describe_plan(CODES[covariance_type], d, k, dtype, **kw)


@pytest.mark.parametrize("covariance_type", list(CODES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_few_features_take_the_register_tiles_and_their_design(covariance_type, dtype):
    p = plan(covariance_type, SMALL_D, 5, dtype)
    assert p["log_density"] == "small_tiles"
    assert p["moments"] == "tile_lanes"
    assert p["design_in_log_density"]
    assert p["block_stride"] % 16 == 0


@pytest.mark.parametrize("covariance_type,dtype,log_density,moments,second", [
    ("full", np.float64, "full_tiles", "design", "none"),          # outer products
    ("full", np.float32, "full_tiles", "full_assigned", "none"),
    ("tied", np.float64, "tied_whitened", "design", "tied_gram"),
    ("tied", np.float32, "tied_whitened", "tied_assigned", "none"),
    ("diag", np.float32, "direct_means", "wide_lanes", "none"),
    ("spherical", np.float32, "direct_means", "wide_lanes", "none"),
])
def test_more_features_take_the_kernels_of_their_type(covariance_type, dtype, log_density,
                                                      moments, second):
    p = plan(covariance_type, 20, 16, dtype)
    assert (p["log_density"], p["moments"], p["second_moments"]) == (
        log_density, moments, second)


@pytest.mark.parametrize("covariance_type", ["diag", "spherical"])
def test_float64_diag_and_spherical_take_the_expanded_form(covariance_type):
    p = plan(covariance_type, 20, 16, np.float64)
    assert p["log_density"] == ("expanded_sweep" if WIDE_VECTORS else "expanded_gemm")
    assert p["moments"] == "design" and p["design_in_log_density"]
    assert p["design"] == covariance_type


def test_full_with_many_features_or_few_components_takes_rank_updates():
    for d, k in [(60, 16), (20, 2)]:
        for dtype in (np.float32, np.float64):
            p = plan("full", d, k, dtype)
            assert (p["design"], p["second_moments"], p["around_means"]) == (
                "tied", "full_rank", True)


def test_tied_without_second_moments_takes_no_gram():
    p64 = plan("tied", 20, 4, np.float64, tied_s2=False)
    p32 = plan("tied", 20, 4, np.float32, tied_s2=False)
    assert p64["second_moments"] == "none"
    assert p32["moments"] == "wide_lanes" and "xr" in p32["scratch"]


def test_a_pass_without_statistics_takes_no_statistics_scratch():
    for covariance_type, d, dtype in itertools.product(CODES, (3, 20), (np.float32,
                                                                         np.float64)):
        p = plan(covariance_type, d, 8, dtype, statistics=False)
        assert p["moments"] == "none" and p["second_moments"] == "none"
        assert not {"rd", "wacc", "wnk", "tacc", "hg", "sl", "tl", "assigned"} & set(
            p["scratch"])


def test_weights_add_scratch_only_where_the_design_is_scaled():
    for covariance_type, d in itertools.product(CODES, (3, 20)):
        plain = plan(covariance_type, d, 4, np.float64)
        weighted = plan(covariance_type, d, 4, np.float64, weighted=True)
        extra = set(weighted["scratch"]) - set(plain["scratch"])
        assert extra == ({"zd"} if covariance_type == "tied" else set())


def test_given_responsibilities_take_the_row_major_design():
    for covariance_type, d, dtype in itertools.product(CODES, (1, 8, 20, 64),
                                                       (np.float32, np.float64)):
        p = plan(covariance_type, d, 5, dtype, given=True)
        assert p["log_density"] == "given"
        assert p["moments"] == "design" and not p["design_in_log_density"]
        assert p["block_stride"] == p["block_rows"]


def test_a_short_pass_takes_a_short_block():
    p = plan("full", 3, 2, np.float64, n_rows=5)
    assert p["block_rows"] == 5 and p["block_stride"] == 16
    assert p["scratch"]["wlp"] == 2 * 16


# ---------------------------------------------------------------------------
# The statistics of an assignment, against a plain-numpy sum
# ---------------------------------------------------------------------------

def numpy_statistics(X, w, R, covariance_type, shifts, tied_shift):
    """N, S1 around ``shifts`` and S2 (tied: around ``tied_shift``), in float64."""
    # the kernels weigh the responsibilities in the data's dtype
    Rw = (R if w is None else R * w[:, None]).astype(X.dtype).astype(np.float64)
    X = X.astype(np.float64)
    w = None if w is None else w.astype(np.float64)
    k, d = shifts.shape
    nk = Rw.sum(axis=0)
    s1 = np.stack([Rw[:, c] @ (X - shifts[c]) for c in range(k)])
    if covariance_type == "tied":
        z = X - tied_shift
        s2 = np.tril((z * (1.0 if w is None else w[:, None])).T @ z)
    else:
        z = [X - shifts[c] for c in range(k)]
        if covariance_type == "full":
            s2 = np.stack([np.tril((zc * Rw[:, c, None]).T @ zc) for c, zc in enumerate(z)])
        elif covariance_type == "diag":
            s2 = np.stack([Rw[:, c] @ (zc * zc) for c, zc in enumerate(z)])
        else:
            s2 = np.array([Rw[:, c] @ np.einsum("nd,nd->n", zc, zc) for c, zc in enumerate(z)])
    return nk, s1, s2.reshape(-1)


@pytest.mark.parametrize("covariance_type", list(CODES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("d", [1, 3, 20, 50])
@pytest.mark.parametrize("hard", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_assignment_statistics_are_the_numpy_sums(covariance_type, dtype, d, hard, weighted):
    rng = np.random.RandomState(d)
    n, k = 300, 4
    X = (rng.randn(n, d) * 2 + 50).astype(dtype)
    w = rng.uniform(0.5, 2.0, n).astype(dtype) if weighted else None
    means = X[:k].copy()
    shift = X.mean(axis=0).astype(dtype)
    if hard:
        labels = rng.randint(-1, k, n).astype(np.intp)
        resp = np.empty((0, 0), dtype=dtype)
        R = np.zeros((n, k))
        R[np.flatnonzero(labels >= 0), labels[labels >= 0]] = 1.0
    else:
        resp = rng.dirichlet(np.ones(k), n).astype(dtype)
        labels = np.empty(0, dtype=np.intp)
        R = resp.astype(np.float64)
    code = CODES[covariance_type]
    # two shards, each of blocks of 64 rows and a partial last one, added up
    stats = 0
    for start, end in [(0, 130), (130, n)]:
        part = np.zeros(_kernels.stats_width(code, k, d))
        _kernels.assignment_statistics(X, start, end, np.empty(0, dtype) if w is None else w,
                                       code, shift, means, resp, labels, part, 64)
        stats = stats + part
    around = _kernels.assignment_around_means(code, d, k, dtype)
    shifts = (means if around else np.broadcast_to(shift, (k, d))).astype(np.float64)
    nk, s1, s2 = numpy_statistics(X, w, R.astype(dtype), covariance_type, shifts,
                                  shift.astype(np.float64))
    got_nk = stats[2:2 + k]
    got_s1 = stats[2 + k:2 + k + k * d].reshape(k, d)
    got_s2 = stats[2 + k + k * d:]
    if covariance_type in ("full", "tied"):
        got_s2 = np.tril(got_s2.reshape(-1, d, d)).reshape(-1)
    # The designs are float64 from the data's values (only the summation order
    # differs from numpy's); float32 full's rank updates around each mean sum a
    # block's products in float32.
    rtol = 2e-5 if dtype == np.float32 and covariance_type == "full" and around else 1e-10
    scale = np.abs(X.astype(np.float64) - shift).max() ** 2 * n
    np.testing.assert_allclose(got_nk, nk, rtol=1e-12)
    np.testing.assert_allclose(got_s1, s1, rtol=1e-10, atol=1e-12 * np.sqrt(scale))
    np.testing.assert_allclose(got_s2, s2, rtol=rtol, atol=rtol * 1e-2 * scale)


def test_assignment_statistics_check_their_arguments():
    X = np.zeros((10, 2))
    e1, e2 = np.empty(0), np.empty((0, 0))
    stats = np.zeros(_kernels.stats_width(CODES["diag"], 3, 2))
    means = np.zeros((3, 2))
    with pytest.raises(ValueError, match="exactly one of resp and labels"):
        _kernels.assignment_statistics(X, 0, 10, e1, CODES["diag"], np.zeros(2), means, e2,
                                       np.empty(0, np.intp), stats)
    with pytest.raises(ValueError, match="label 3 at row 0"):
        _kernels.assignment_statistics(X, 0, 10, e1, CODES["diag"], np.zeros(2), means, e2,
                                       np.full(10, 3, np.intp), stats)
    with pytest.raises(ValueError, match="stats has shape"):
        _kernels.assignment_statistics(X, 0, 10, e1, CODES["diag"], np.zeros(2), means, e2,
                                       np.zeros(10, np.intp), stats[:-1])
    with pytest.raises(ValueError, match="shift has shape"):
        _kernels.assignment_statistics(X, 0, 10, e1, CODES["diag"], np.zeros(3), means, e2,
                                       np.zeros(10, np.intp), stats)
