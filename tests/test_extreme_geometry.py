"""Tight clusters far from the rest: log-densities and statistics against exact references.

The E-step works on x − s for one shift s per pass, and the statistics of some paths
are summed around s.  Near a component whose mean lies far from s against its spread,
both would lose digits to cancellation; these tests hold them to the direct form
(scipy) and to a centred two-pass EM (plain numpy) whatever the geometry.
"""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from gmmcore import GaussianMixture
from test_reference_numpy_em import numpy_em, to_dense

PER_COMPONENT = ("full", "diag", "spherical")


def direct_log_density(model, X):
    """log p(x) by scipy from the model's own parameters (the direct form)."""
    k, d = model.means_.shape
    covs = to_dense(model.covariance_type, np.asarray(model.covariances_, np.float64), k, d)
    log_prob = np.column_stack([
        np.log(model.weights_[c]) + multivariate_normal(model.means_[c], covs[c]).logpdf(X)
        for c in range(k)])
    return logsumexp(log_prob, axis=1)


def far_clusters(d, ratio, seed, n_near=200, n_far=60, spread=1e-2):
    """Standard-normal rows and a cluster of spread `spread` at distance ratio · spread."""
    rng = np.random.RandomState(seed)
    far = ratio * spread / np.sqrt(d)
    return np.vstack([rng.normal(size=(n_near, d)),
                      far + spread * rng.normal(size=(n_far, d))]), far


def start_for(covariance_type, d, far, spread=1e-2):
    """A start near the truth, the same for gmmcore and the reference."""
    means = np.vstack([np.full(d, 0.1), np.full(d, far + spread / 10)])
    variances = np.array([1.0, 4 * spread**2])
    if covariance_type == "full":
        precisions = np.stack([np.eye(d) / v for v in variances])
    elif covariance_type == "diag":
        precisions = np.outer(1 / variances, np.ones(d))
    else:
        precisions = 1 / variances
    return dict(weights_init=np.array([0.7, 0.3]), means_init=means,
                precisions_init=precisions)


def fit_fixed_iterations(X, covariance_type, start, n_iter, reg_covar=1e-6):
    model = GaussianMixture(2, covariance_type=covariance_type, max_iter=n_iter, tol=0.0,
                            reg_covar=reg_covar, **start)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(X)


def reference_fit(X, covariance_type, start, n_iter, reg_covar=1e-6):
    k, d = start["means_init"].shape
    p = start["precisions_init"]
    dense_p = to_dense(covariance_type, p, k, d)
    covs = [np.linalg.inv(q) for q in dense_p]
    return numpy_em(X, covariance_type, start["weights_init"], start["means_init"], covs,
                    n_iter, reg_covar)


def test_far_row_log_density_matches_the_direct_form_diag_d9():
    """The reported case: d = 9, 50 standard-normal rows and one row at 1e6."""
    rng = np.random.RandomState(0)
    d = 9
    far = 1e6 + rng.normal(size=(1, d))
    X = np.vstack([rng.normal(size=(50, d)), far])
    for covariance_type in ("diag", "spherical"):
        model = GaussianMixture(2, covariance_type=covariance_type,
                                means_init=np.vstack([np.zeros(d), far[0]])).fit(X)
        np.testing.assert_allclose(model.score_samples(X), direct_log_density(model, X),
                                   rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("covariance_type", ["diag", "spherical"])
@pytest.mark.parametrize("d", [3, 9, 34, 95])
@pytest.mark.parametrize("offset", [0.0, 1e3, 1e6, 1e9])
def test_log_densities_match_the_direct_form_whatever_the_offset(covariance_type, d, offset):
    """Fixed parameters (a loose and a tight component, the tight one anywhere from
    near to 1e9 away), float64 and float32 data: score_samples against scipy."""
    rng = np.random.RandomState(d)
    means = np.vstack([np.zeros(d), np.full(d, offset) + rng.normal(size=d)])
    X = np.vstack([rng.normal(size=(40, d)), means[1] + 1e-3 * rng.normal(size=(40, d))])
    variances = (np.array([1.0, 1e-6]) if covariance_type == "spherical"
                 else np.vstack([np.ones(d), rng.uniform(0.5e-6, 2e-6, size=d)]))
    model = GaussianMixture(2, covariance_type=covariance_type)
    model.weights_ = np.array([0.5, 0.5])
    model.means_ = means
    model.covariances_ = variances
    model.precisions_cholesky_ = 1 / np.sqrt(variances)
    model.precisions_ = 1 / variances
    model.n_features_in_ = d
    expected = direct_log_density(model, X)
    np.testing.assert_allclose(model.score_samples(X), expected, rtol=1e-9, atol=1e-9)
    if offset <= 1e3:  # float32 rows this far out carry no digits of the spread 1e-3
        for name in ("weights_", "means_", "covariances_", "precisions_cholesky_",
                     "precisions_"):
            setattr(model, name, getattr(model, name).astype(np.float32))
        got = model.score_samples(X.astype(np.float32))
        expected32 = direct_log_density(model, X.astype(np.float32).astype(np.float64))
        np.testing.assert_allclose(got, expected32, rtol=1e-4, atol=1e-3)


def test_far_sentinel_cluster_fits_like_scikit_learn():
    """A tight cluster of 50 identical rows at 99999: scikit-learn fits it (covariance
    reg_covar · I); the one-pass sums around one shift used to cancel below zero."""
    sklearn = pytest.importorskip("sklearn.mixture")
    rng = np.random.RandomState(0)
    X = np.vstack([rng.normal(size=(1000, 3)), np.full((50, 3), 99999.0)])
    for covariance_type in COVARIANCE_TYPES_ALL:
        ours = GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(X)
        theirs = sklearn.GaussianMixture(2, covariance_type=covariance_type,
                                         random_state=0).fit(X)
        assert ours.lower_bound_ == pytest.approx(theirs.lower_bound_, rel=1e-9)
        far = int(np.argmax(ours.means_[:, 0])) if ours.means_.ndim == 2 else 0
        if covariance_type != "tied":
            their_far = int(np.argmax(theirs.means_[:, 0]))
            np.testing.assert_allclose(ours.covariances_[far], theirs.covariances_[their_far],
                                       rtol=1e-6, atol=1e-12)


COVARIANCE_TYPES_ALL = ("full", "tied", "diag", "spherical")


@pytest.mark.parametrize("covariance_type", PER_COMPONENT)
@pytest.mark.parametrize("d", [2, 3, 9, 20])
@pytest.mark.parametrize("ratio", [1e2, 1e4, 1e6, 1e8])
def test_far_clusters_match_a_centred_two_pass_em(covariance_type, d, ratio):
    """Clusters `ratio` spreads apart: covariances, means and bounds of five EM
    iterations against the textbook two-pass EM from the same start, to 1e-9."""
    X, far = far_clusters(d, ratio, seed=int(np.log10(ratio)) + d)
    start = start_for(covariance_type, d, far)
    model = fit_fixed_iterations(X, covariance_type, start, 5)
    weights, means, covs, bounds = reference_fit(X, covariance_type, start, 5)
    dense = to_dense(covariance_type, model.covariances_, 2, d)
    for c in range(2):
        scale = np.abs(covs[c]).max()
        assert np.abs(dense[c] - covs[c]).max() <= 1e-9 * scale
    np.testing.assert_allclose(model.weights_, weights, rtol=1e-9)
    # a mean carries the rounding of the rows' coordinates (eps |x|) as well
    for c, spread in enumerate((1.0, 1e-2)):
        error = np.abs(model.means_[c] - means[c]).max()
        assert error <= 1e-9 * spread + 8 * np.finfo(float).eps * np.abs(X).max()
    np.testing.assert_allclose(model.lower_bounds_, bounds, rtol=1e-9)


@settings(derandomize=True, max_examples=40, deadline=None)
@given(d=st.integers(1, 40), log_ratio=st.floats(1.0, 8.0),
       covariance_type=st.sampled_from(PER_COMPONENT), seed=st.integers(0, 2**16),
       dtype_is_32=st.booleans())
def test_far_cluster_property(d, log_ratio, covariance_type, seed, dtype_is_32):
    """The differential fuzz over far-apart clusters: any d, any ratio up to 1e8,
    either dtype of data (the statistics are float64 whatever the data)."""
    X, far = far_clusters(d, 10.0**log_ratio, seed, n_near=120, n_far=40)
    if dtype_is_32:
        # float32 rows, compared with the float64 EM on the same (rounded) rows
        X = X.astype(np.float32)
        if far > 1e3:  # the far cluster's spread below float32 resolution there
            return
    start = start_for(covariance_type, d, far)
    model = fit_fixed_iterations(X, covariance_type, start, 3)
    _, means, covs, _ = reference_fit(X.astype(np.float64), covariance_type, start, 3)
    dense = to_dense(covariance_type, np.asarray(model.covariances_, np.float64), 2, d)
    tol = 2e-4 if dtype_is_32 else 1e-9
    for c in range(2):
        scale = np.abs(covs[c]).max()
        assert np.abs(dense[c] - covs[c]).max() <= tol * scale


def test_reg_covar_zero_and_a_component_at_rounding_level_variance():
    """scikit-learn's test_gaussian_mixture_setting_best_params: spherical,
    reg_covar=0, a component holding about one point.  Its variance is a few
    1e-16, positive when summed around the component's own mean."""
    sklearn = pytest.importorskip("sklearn.mixture")
    rnd = np.random.RandomState(0)
    X = rnd.uniform(size=(30, 3))
    params = dict(n_components=2, covariance_type="spherical", reg_covar=0,
                  weights_init=[0.6, 0.4], means_init=[[0, 0, 0], [1, 1, 1]],
                  precisions_init=[2, 5], n_init=5, max_iter=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = GaussianMixture(random_state=np.random.RandomState(0), **params).fit(X)
        theirs = sklearn.GaussianMixture(random_state=np.random.RandomState(0),
                                         **params).fit(X)
    assert np.all(ours.covariances_ > 0)
    np.testing.assert_allclose(ours.covariances_, theirs.covariances_, rtol=1e-6)
    np.testing.assert_allclose(ours.means_, theirs.means_, rtol=1e-9, atol=1e-12)


def test_wide_full_model_matches_scikit_learn_and_stays_lean():
    """d = 400, k = 8: the stack of covariances (1.3 M entries) is factorised matrix by
    matrix in place; parameters as scikit-learn's from the same start, and the fit
    holds few k d² arrays at once (traced by tracemalloc: θ_t, θ_{t+1}'s
    covariances and factors, the statistics, the chunks in flight)."""
    import tracemalloc

    sklearn = pytest.importorskip("sklearn.mixture")
    rng = np.random.RandomState(0)
    k, d = 8, 400
    X = rng.randn(300, d) + np.repeat(rng.randn(k, d) * 3, 300 // k + 1, axis=0)[:300]
    params = dict(n_components=k, covariance_type="full", random_state=0, max_iter=3,
                  reg_covar=1e-2)
    tracemalloc.start()
    try:
        ours = fit_fixed_iterations_params(X, params)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    theirs = fit_fixed_iterations_params(X, params, sklearn.GaussianMixture)
    np.testing.assert_allclose(ours.covariances_, theirs.covariances_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(ours.precisions_cholesky_, theirs.precisions_cholesky_,
                               rtol=1e-7, atol=1e-9)
    kd2 = k * d * d * 8
    assert peak < 5 * kd2, f"peak {peak / kd2:.1f} k d² arrays"


def fit_fixed_iterations_params(X, params, cls=GaussianMixture):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cls(**params).fit(X)


def test_centring_pass_releases_the_pages_of_the_rows_it_read():
    """The second pass over a tight far cluster runs in slices of X; on a memory map
    each slice's pages are released by their rows in X, not in the slice."""
    from gmmcore import _em
    from gmmcore._mstep import KernelParams
    from gmmcore._parallel import page_release

    rng = np.random.RandomState(0)
    n, d = 300_000, 3
    X = np.vstack([rng.normal(size=(n - 1000, d)), 1e6 + 1e-3 * rng.normal(size=(1000, d))])
    kparams = KernelParams(np.array([0.5, 0.5]), np.vstack([np.zeros(d), X[-1]]),
                           np.stack([np.eye(d), np.eye(d) * 1e3]), "full", np.float64)
    released = []
    token = page_release.set(lambda start, end: released.append((start, end)))
    try:
        stats = _em.e_step_statistics(X, None, kparams, 1)
    finally:
        page_release.reset(token)
    assert 1 in [int(c) for c in np.flatnonzero(np.asarray(stats.shifts[:, 0]) > 1e5)]
    # the pass's own chunks, then the slices': together they reach the last rows
    assert max(end for _, end in released) == n
    assert all(0 <= start < end <= n for start, end in released)
    covered = np.zeros(n, dtype=int)
    for start, end in released:
        covered[start:end] += 1
    assert covered.min() == 2  # once by the pass, once by the centring pass
