"""BayesianGaussianMixture against scikit-learn's (same parameters, same start from
the same random_state) and against a plain-numpy variational reference written here
(sample weights, and an injected start)."""

import math

import numpy as np
import pytest
from scipy.special import betaln, digamma, gammaln

from gmmcore import _bayesian
from gmmcore._bayesian import BayesianGaussianMixture
from conftest import COVARIANCE_TYPES, make_blobs

sklearn_mixture = pytest.importorskip("sklearn.mixture")
PRIOR_TYPES = ("dirichlet_process", "dirichlet_distribution")
pytestmark = pytest.mark.filterwarnings("ignore:Best performing initialization",
                                        "ignore:Initialization")
ATTRIBUTES = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_",
              "mean_precision_", "degrees_of_freedom_")


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def four_clusters(seed=0, n=300):
    rng = np.random.RandomState(seed)
    centres = [[0, 0, 0], [5, 5, 0], [0, 6, 3], [8, 0, 2]]
    return np.vstack([rng.randn(n, 3) + c for c in centres])


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
def test_fit_equals_scikit_learn_from_the_same_start(covariance_type, prior_type,
                                                     init_params):
    X = four_clusters()
    params = dict(n_components=6, covariance_type=covariance_type,
                  weight_concentration_prior_type=prior_type, init_params=init_params,
                  random_state=1, max_iter=300)
    ours = BayesianGaussianMixture(**params).fit(X)
    theirs = sklearn_mixture.BayesianGaussianMixture(**params).fit(X)
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.converged_ == theirs.converged_
    for name in ATTRIBUTES:
        assert rel(getattr(ours, name), getattr(theirs, name)) < 1e-6, name
    for ours_c, theirs_c in zip(np.atleast_2d(ours.weight_concentration_),
                                np.atleast_2d(theirs.weight_concentration_)):
        assert rel(ours_c, theirs_c) < 1e-6
    assert isinstance(ours.lower_bound_, float)
    assert ours.lower_bound_ == pytest.approx(float(np.ravel(theirs.lower_bound_)[0]),
                                              rel=1e-6)
    np.testing.assert_allclose(ours.lower_bounds_, np.ravel(theirs.lower_bounds_), rtol=1e-6)
    for name in ("weight_concentration_prior_", "mean_precision_prior_", "mean_prior_",
                 "degrees_of_freedom_prior_", "covariance_prior_"):
        assert rel(getattr(ours, name), getattr(theirs, name)) < 1e-12, name
    Y = four_clusters(seed=5, n=50)
    assert rel(ours.predict_proba(Y), theirs.predict_proba(Y)) < 1e-6
    assert rel(ours.score_samples(Y), theirs.score_samples(Y)) < 1e-6
    np.testing.assert_array_equal(ours.predict(Y), theirs.predict(Y))
    assert ours.score(Y) == pytest.approx(theirs.score(Y), rel=1e-9)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_given_priors_give_scikit_learns_fit(covariance_type):
    X = make_blobs(n_samples=500, n_features=4, n_components=3, seed=2)
    d = X.shape[1]
    covariance_prior = {"full": np.eye(d) * 2.0, "tied": np.eye(d) * 2.0,
                        "diag": np.full(d, 2.0), "spherical": 2.0}[covariance_type]
    params = dict(n_components=5, covariance_type=covariance_type, random_state=0,
                  weight_concentration_prior=0.05, mean_precision_prior=0.5,
                  mean_prior=np.full(d, 1.0), degrees_of_freedom_prior=d + 2.5,
                  covariance_prior=covariance_prior, max_iter=200)
    ours = BayesianGaussianMixture(**params).fit(X)
    theirs = sklearn_mixture.BayesianGaussianMixture(**params).fit(X)
    for name in ATTRIBUTES:
        assert rel(getattr(ours, name), getattr(theirs, name)) < 1e-6, name


def test_superfluous_components_are_switched_off():
    import gmmcore

    X = four_clusters(seed=3)
    model = gmmcore.BayesianGaussianMixture(n_components=10, weight_concentration_prior=1e-3,
                                            random_state=0, max_iter=500).fit(X)
    weights = np.sort(model.weights_)[::-1]
    assert np.all(weights[:4] > 0.2)
    assert np.all(weights[4:] < 1e-2)
    used = model.effective_components()
    np.testing.assert_array_equal(used, np.argsort(-model.weights_)[:4])
    assert len(model.effective_components(threshold=0.0)) == 10
    with pytest.raises(ValueError, match="threshold"):
        model.effective_components(threshold=1.5)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_float32_fits_close_to_float64(covariance_type):
    X = four_clusters(seed=4)
    params = dict(n_components=5, covariance_type=covariance_type, random_state=0,
                  max_iter=100, tol=1e-6)
    single = BayesianGaussianMixture(**params).fit(X.astype(np.float32))
    double = BayesianGaussianMixture(**params).fit(X)
    assert single.means_.dtype == np.float32
    assert rel(single.means_, double.means_) < 1e-3
    assert rel(single.weights_, double.weights_) < 1e-3


# ---------------------------------------------------------------------------
# A plain-numpy variational reference, for sample weights from an injected start
# ---------------------------------------------------------------------------

def reference_priors(X, w, covariance_type):
    """scikit-learn's default priors, weighted: (γ, β₀, ν₀, m₀, covariance prior)."""
    n, d = X.shape
    wsum = w.sum()
    m0 = w @ X / wsum
    Z = X - m0
    C = (Z * w[:, None]).T @ Z / (wsum - 1.0)
    cov0 = {"full": C, "tied": C, "diag": np.diag(C).copy(),
            "spherical": float(np.mean(np.diag(C)))}[covariance_type]
    return m0, cov0


def reference_update(X, w, R, priors, k, covariance_type, prior_type, reg_covar=1e-6):
    """Bishop's §10.2 updates with scikit-learn's conventions, dense and weighted:
    (concentration, β, means, ν, covariances W⁻¹ / ν as dense matrices)."""
    n, d = X.shape
    m0, cov0 = priors
    gamma0, beta0, nu0 = 1.0 / k, 1.0, float(d)
    eps = np.finfo(np.float64).eps
    wsum = w.sum()
    Rw = R * w[:, None]
    nk = Rw.sum(axis=0) + 10 * eps * (wsum / n)
    xk = Rw.T @ X / nk[:, None]
    S = np.stack([(Rw[:, c, None] * (X - xk[c])).T @ (X - xk[c]) / nk[c] for c in range(k)])
    if covariance_type == "tied":
        S = np.einsum("k,kij->ij", nk, S) / nk.sum()
    S = S + reg_covar * np.eye(d)
    if prior_type == "dirichlet_process":
        tail = np.concatenate([np.cumsum(nk[::-1])[::-1][1:], [0.0]])
        wc = (1.0 + nk, gamma0 + tail)
    else:
        wc = gamma0 + nk
    beta = beta0 + nk
    means = (beta0 * m0 + nk[:, None] * xk) / beta[:, None]
    diff = xk - m0
    full_prior = cov0 if np.ndim(cov0) == 2 else (np.diag(cov0) if np.ndim(cov0) == 1
                                                  else cov0 * np.eye(d))
    if covariance_type == "tied":
        nu = np.full(k, nu0 + nk.sum() / k)
        Wi = full_prior + nk.sum() / k * S + beta0 / k * sum(
            nk[c] / beta[c] * np.outer(diff[c], diff[c]) for c in range(k))
        Wi = np.stack([Wi] * k)
    else:
        nu = nu0 + nk
        Wi = np.stack([full_prior + nk[c] * S[c]
                       + nk[c] * beta0 / beta[c] * np.outer(diff[c], diff[c])
                       for c in range(k)])
        if covariance_type == "diag":
            Wi = np.stack([np.diag(np.diag(m)) for m in Wi])
        elif covariance_type == "spherical":
            Wi = np.stack([np.eye(d) * np.trace(m) / d for m in Wi])
    return wc, beta, means, nu, Wi / nu[:, None, None]


def reference_log_resp(X, post, prior_type):
    """log responsibilities of the variational E-step, dense."""
    wc, beta, means, nu, covs = post
    n, d = X.shape
    k = len(beta)
    if prior_type == "dirichlet_process":
        a, b = wc
        e_log_w = digamma(a) - digamma(a + b) + np.concatenate(
            [[0.0], np.cumsum(digamma(b) - digamma(a + b))[:-1]])
    else:
        e_log_w = digamma(wc) - digamma(wc.sum())
    log_rho = np.empty((n, k))
    for c in range(k):
        P = np.linalg.inv(covs[c])  # ν W
        z = X - means[c]
        maha = np.einsum("ni,ij,nj->n", z, P, z)
        e_log_det = (np.sum(digamma(0.5 * (nu[c] - np.arange(d)))) + d * math.log(2)
                     + np.linalg.slogdet(P)[1] - d * math.log(nu[c]))
        log_rho[:, c] = (e_log_w[c] + 0.5 * e_log_det - 0.5 * d / beta[c] - 0.5 * maha
                         - 0.5 * d * math.log(2 * math.pi))
    top = log_rho.max(axis=1, keepdims=True)
    log_norm = top[:, 0] + np.log(np.exp(log_rho - top).sum(axis=1))
    return log_rho - log_norm[:, None]


def reference_lower_bound(w, log_r, post, covariance_type, prior_type):
    wc, beta, means, nu, covs = post
    k, d = means.shape
    entropy = np.sum(w[:, None] * np.exp(log_r) * log_r)
    log_det = np.array([-0.5 * np.linalg.slogdet(c)[1] for c in covs]) - 0.5 * d * np.log(nu)
    log_wishart = -(nu * log_det + nu * d * 0.5 * math.log(2.0)
                    + np.sum(gammaln(0.5 * (nu - np.arange(d)[:, None])), axis=0))
    log_wishart = k * log_wishart[0] if covariance_type == "tied" else log_wishart.sum()
    if prior_type == "dirichlet_process":
        log_norm_weight = -np.sum(betaln(wc[0], wc[1]))
    else:
        log_norm_weight = gammaln(wc.sum()) - np.sum(gammaln(wc))
    return -entropy - log_wishart - log_norm_weight - 0.5 * d * np.sum(np.log(beta))


def reference_weights(wc, prior_type):
    if prior_type == "dirichlet_process":
        a, b = wc
        weights = a / (a + b) * np.concatenate([[1.0], np.cumprod(b / (a + b))[:-1]])
    else:
        weights = wc.copy()
    return weights / weights.sum()


def reference_fit(X, w, R0, covariance_type, prior_type, n_iter):
    """n_iter iterations from the responsibilities R0: the means, dense covariances,
    expected weights and lower bounds."""
    k = R0.shape[1]
    priors = reference_priors(X, w, covariance_type)
    post = reference_update(X, w, R0, priors, k, covariance_type, prior_type)
    bounds = []
    for _ in range(n_iter):
        log_r = reference_log_resp(X, post, prior_type)
        post = reference_update(X, w, np.exp(log_r), priors, k, covariance_type, prior_type)
        bounds.append(reference_lower_bound(w, log_r, post, covariance_type, prior_type))
    wc, beta, means, nu, covs = post
    return means, covs, reference_weights(wc, prior_type), np.array(bounds)


def injected_start(monkeypatch, R0_of):
    """Make the fit start from the responsibilities R0_of(X) (by the kernels'
    statistics of that assignment) instead of drawing one."""
    from gmmcore import _kernels
    from gmmcore._em import kernel_weights
    from gmmcore._mstep import Statistics
    from gmmcore._covariance import TYPES

    def initial_statistics(X, sample_weight, init_params, k, covariance_type, *args, **kw):
        R0 = R0_of(X).astype(X.dtype)
        shift = X.mean(axis=0).astype(X.dtype)
        shifts = np.ascontiguousarray(np.broadcast_to(shift, (k, X.shape[1])))
        w_arg, scale = kernel_weights(sample_weight, X.dtype)
        # every component's shift is the one shift: the statistics are around it
        stats = Statistics(covariance_type, shifts, shift, n_rows=len(X))
        code = TYPES[covariance_type].code
        _kernels.assignment_statistics(X, 0, len(X), w_arg, code, shift, shifts, R0,
                                       np.empty(0, np.intp), stats.row)
        stats.row *= scale
        return stats

    monkeypatch.setattr(_bayesian, "initial_statistics", initial_statistics)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
def test_weighted_fit_equals_the_numpy_reference(monkeypatch, covariance_type, prior_type):
    X = make_blobs(n_samples=400, n_features=3, n_components=3, seed=7)
    w = np.random.RandomState(2).uniform(0.2, 3.0, len(X))
    R0 = np.random.RandomState(3).dirichlet(np.ones(4), len(X))
    injected_start(monkeypatch, lambda rows: R0)
    model = BayesianGaussianMixture(n_components=4, covariance_type=covariance_type,
                                    weight_concentration_prior_type=prior_type, max_iter=8,
                                    tol=0.0).fit(X, sample_weight=w)
    means, covs, weights, bounds = reference_fit(X, w, R0, covariance_type, prior_type, 8)
    dense = {"full": lambda c: c, "tied": lambda c: np.stack([c] * 4),
             "diag": lambda c: np.stack([np.diag(v) for v in c]),
             "spherical": lambda c: np.stack([np.eye(3) * v for v in c])}[covariance_type]
    assert rel(model.means_, means) < 1e-9
    assert rel(dense(model.covariances_), covs) < 1e-9
    assert rel(model.weights_, weights) < 1e-9
    np.testing.assert_allclose(model.lower_bounds_, bounds, rtol=1e-9)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_integer_weights_equal_repeated_rows(monkeypatch, covariance_type):
    X = make_blobs(n_samples=300, n_features=3, n_components=3, seed=8)
    counts = np.random.RandomState(4).randint(1, 4, size=len(X))
    R0 = np.random.RandomState(5).dirichlet(np.ones(3), len(X))
    injected_start(monkeypatch, lambda rows: R0 if len(rows) == len(X)
                   else np.repeat(R0, counts, axis=0))
    params = dict(n_components=3, covariance_type=covariance_type, max_iter=10, tol=0.0)
    weighted = BayesianGaussianMixture(**params).fit(X, sample_weight=counts)
    repeated = BayesianGaussianMixture(**params).fit(np.repeat(X, counts, axis=0))
    for name in ATTRIBUTES + ("covariance_prior_", "mean_prior_"):
        assert rel(getattr(weighted, name), getattr(repeated, name)) < 1e-9, name
    assert weighted.lower_bound_ == pytest.approx(repeated.lower_bound_, rel=1e-9)


def test_bad_priors_raise_clear_errors():
    X = four_clusters(n=20)
    with pytest.raises(ValueError, match="'degrees_of_freedom_prior' should be greater than 2"):
        BayesianGaussianMixture(2, degrees_of_freedom_prior=1.5).fit(X)
    with pytest.raises(ValueError, match="weight_concentration_prior"):
        BayesianGaussianMixture(2, weight_concentration_prior=0.0).fit(X)
    with pytest.raises(ValueError, match="mean_precision_prior"):
        BayesianGaussianMixture(2, mean_precision_prior=-1.0).fit(X)
    with pytest.raises(ValueError, match="weight_concentration_prior_type"):
        BayesianGaussianMixture(2, weight_concentration_prior_type="dirichlet").fit(X)
    with pytest.raises(ValueError, match="shape"):
        BayesianGaussianMixture(2, mean_prior=np.zeros(4)).fit(X)
    with pytest.raises(ValueError, match="shape"):
        BayesianGaussianMixture(2, covariance_prior=np.eye(2)).fit(X)
    with pytest.raises(ValueError, match="symmetric, positive-definite"):
        BayesianGaussianMixture(2, covariance_prior=-np.eye(3)).fit(X)
    with pytest.raises(ValueError, match="positive"):
        BayesianGaussianMixture(2, covariance_type="diag",
                                covariance_prior=np.array([1.0, -1.0, 1.0])).fit(X)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_chunked_and_mapped_fits_equal_the_in_memory_fit(monkeypatch, tmp_path,
                                                         covariance_type):
    """Priors from every chunk, and every pass over the chunks, give the in-memory
    fit (from the same start: the statistics of one assignment of all the rows)."""
    X = make_blobs(n_samples=500, n_features=3, n_components=3, seed=9)
    w = np.random.RandomState(6).uniform(0.5, 2.0, len(X))
    R0 = np.random.RandomState(7).dirichlet(np.ones(3), len(X))
    injected_start(monkeypatch, lambda _: R0)
    stats = _bayesian.initial_statistics(X, w, "kmeans", 3, covariance_type, None, 1)
    # every fit starts from these, whatever rows its initialisation sees
    monkeypatch.setattr(_bayesian, "initial_statistics", lambda *args, **kw: stats.copy())
    params = dict(n_components=3, covariance_type=covariance_type, max_iter=6, tol=0.0)
    memory = BayesianGaussianMixture(**params).fit(X, sample_weight=w)

    def chunks():
        for s in range(0, len(X), 130):
            yield X[s:s + 130], w[s:s + 130]

    chunked = BayesianGaussianMixture(**params).fit(chunks)
    path = tmp_path / "X.npy"
    np.save(path, X)
    mapped = BayesianGaussianMixture(**params).fit(np.load(path, mmap_mode="r"),
                                                   sample_weight=w)
    for other in (chunked, mapped):
        for name in ATTRIBUTES + ("covariance_prior_", "mean_prior_"):
            assert rel(getattr(other, name), getattr(memory, name)) < 1e-10, name
        np.testing.assert_allclose(other.lower_bounds_, memory.lower_bounds_, rtol=1e-10)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
def test_conversions_and_pickles_predict_what_the_original_does(covariance_type, prior_type):
    import pickle

    X = four_clusters(seed=6, n=100)
    params = dict(n_components=5, covariance_type=covariance_type,
                  weight_concentration_prior_type=prior_type, random_state=0)
    theirs = sklearn_mixture.BayesianGaussianMixture(**params).fit(X)
    ours = BayesianGaussianMixture.from_sklearn(theirs)
    assert isinstance(ours.lower_bound_, float)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-9,
                               atol=1e-12)
    np.testing.assert_allclose(ours.score_samples(X), theirs.score_samples(X), rtol=1e-9)
    fitted = BayesianGaussianMixture(**params).fit(X)
    back = fitted.to_sklearn()
    assert type(back).__name__ == "BayesianGaussianMixture"
    np.testing.assert_allclose(back.predict_proba(X), fitted.predict_proba(X), rtol=1e-9,
                               atol=1e-12)
    np.testing.assert_allclose(back.score_samples(X), fitted.score_samples(X), rtol=1e-9)
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(again.score_samples(X), fitted.score_samples(X))
    with pytest.raises(TypeError, match="expected a scikit-learn BayesianGaussianMixture"):
        BayesianGaussianMixture.from_sklearn(object())


def test_check_estimator_passes_every_check():
    import warnings

    from sklearn.utils.estimator_checks import check_estimator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(BayesianGaussianMixture(), on_fail=None)
    assert len(results) > 30
    failed = [(r["check_name"], str(r["exception"])[:200]) for r in results
              if r["status"] == "failed"]
    assert failed == []


def low_rank_clusters(kind):
    """Two clusters in three features whose covariance is singular."""
    rng = np.random.RandomState(3)
    X = np.vstack([rng.randn(60, 3) + [4, 0, 0], rng.randn(60, 3) - [4, 0, 0]])
    X[:, 2] = 5.0 if kind == "constant" else X[:, 0] - 2 * X[:, 1]
    return X


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_degenerate_data_raise_as_scikit_learn_does(covariance_type):
    X = low_rank_clusters("constant")
    params = dict(n_components=4, covariance_type=covariance_type, reg_covar=0.0,
                  random_state=0)
    with pytest.raises(ValueError, match="ill-defined empirical covariance"):
        sklearn_mixture.BayesianGaussianMixture(**params).fit(X)
    with pytest.raises(ValueError, match="increase reg_covar"):
        BayesianGaussianMixture(**params).fit(X)
    with pytest.raises(ValueError, match="on_degenerate.*'raise', 'regularize'"):
        BayesianGaussianMixture(on_degenerate="reseed").fit(X)


@pytest.mark.parametrize("kind, covariance_type", [  # (a diagonal prior of collinear
    ("constant", "full"), ("constant", "tied"), ("constant", "diag"),  # features is
    ("collinear", "full"), ("collinear", "tied")])  # definite)
def test_regularize_fits_scikit_learn_with_the_regularized_prior(tmp_path, kind,
                                                                 covariance_type):
    X = low_rank_clusters(kind)
    # reg_covar=0: the smallest amount that makes the prior definite is added
    barely = BayesianGaussianMixture(4, covariance_type=covariance_type, reg_covar=0.0,
                                     on_degenerate="regularize", max_iter=5).fit(X)
    (event,) = barely.degenerate_events_
    assert event["component"] is None and event["action"] == "regularized"
    assert 0.0 < event["added"] < 1e-6 * np.mean(np.var(X, axis=0))
    assert np.all(np.isfinite(barely.score_samples(X)))
    # one well enough conditioned for two implementations to follow the same path
    params = dict(n_components=4, covariance_type=covariance_type, reg_covar=1e-3,
                  random_state=0, max_iter=300)
    ours = BayesianGaussianMixture(on_degenerate="regularize", **params).fit(X)
    (event,) = ours.degenerate_events_
    added = event["added"]
    assert added == 1e-3
    covariance = np.cov(X.T)
    prior = (covariance + added * np.eye(3) if covariance_type != "diag"
             else np.diagonal(covariance) + added)
    theirs = sklearn_mixture.BayesianGaussianMixture(covariance_prior=prior, **params).fit(X)
    assert rel(ours.covariance_prior_, prior) < 1e-12
    assert ours.n_iter_ == theirs.n_iter_ and ours.converged_
    for name in ATTRIBUTES:
        assert rel(getattr(ours, name), getattr(theirs, name)) < 1e-6, name
    assert ours.lower_bound_ == pytest.approx(float(np.ravel(theirs.lower_bound_)[0]),
                                              rel=1e-6)
    # both clusters found, and the event survives a model file
    assert set(ours.predict(X[:60])).isdisjoint(ours.predict(X[60:]))
    ours.save(tmp_path / "model.npz")
    assert BayesianGaussianMixture.load(tmp_path / "model.npz").degenerate_events_ == [event]
    # a definite prior is left alone
    healthy = BayesianGaussianMixture(on_degenerate="regularize", **params).fit(
        four_clusters(n=40))
    assert healthy.degenerate_events_ == []


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
def test_model_files_round_trip(tmp_path, covariance_type, prior_type):
    from gmmcore import GaussianMixture
    from gmmcore.exceptions import ModelFileError

    X = four_clusters(seed=2, n=80)
    d = X.shape[1]
    prior = {"full": np.eye(d), "tied": np.eye(d), "diag": np.ones(d),
             "spherical": 1.5}[covariance_type]
    model = BayesianGaussianMixture(5, covariance_type=covariance_type,
                                    weight_concentration_prior_type=prior_type,
                                    mean_prior=np.zeros(d), covariance_prior=prior,
                                    random_state=0).fit(X)
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = BayesianGaussianMixture.load(path)
    assert loaded.get_params().keys() == model.get_params().keys()
    np.testing.assert_array_equal(loaded.mean_prior, model.mean_prior)
    assert np.array_equal(np.asarray(loaded.covariance_prior), np.asarray(prior))
    for name in BayesianGaussianMixture._FITTED_ATTRIBUTES:
        if name == "weight_concentration_":
            for a, b in zip(np.atleast_2d(loaded.weight_concentration_),
                            np.atleast_2d(model.weight_concentration_)):
                np.testing.assert_array_equal(a, b)
        elif hasattr(model, name):
            np.testing.assert_array_equal(getattr(loaded, name), getattr(model, name),
                                          err_msg=name)
    np.testing.assert_array_equal(loaded.score_samples(X), model.score_samples(X))
    assert loaded.n_samples_seen_ == len(X)
    # a loaded model continues a stream as the saved one does
    batch = four_clusters(seed=4, n=30)
    np.testing.assert_array_equal(loaded.partial_fit(batch).means_,
                                  model.partial_fit(batch).means_)
    # and mid-stream, from the saved running statistics
    model.save(tmp_path / "stream.npz")
    resumed = BayesianGaussianMixture.load(tmp_path / "stream.npz")
    np.testing.assert_array_equal(resumed.statistics_.row, model.statistics_.row)
    np.testing.assert_array_equal(resumed.partial_fit(X).means_, model.partial_fit(X).means_)
    with pytest.raises(ModelFileError, match="holds a BayesianGaussianMixture.*"
                                             "BayesianGaussianMixture.load"):
        GaussianMixture.load(path)
    # a posterior out of range is refused, not used
    data = dict(np.load(path))
    key = ("weight_concentration_a" if prior_type == "dirichlet_process"
           else "weight_concentration_")
    data[key] = -data[key]
    np.savez(tmp_path / "bad.npz", **data)
    with pytest.raises(ModelFileError, match="out of range"):
        BayesianGaussianMixture.load(tmp_path / "bad.npz")


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_accumulate_and_update_are_one_iteration_of_fit(covariance_type):
    X = four_clusters(seed=8, n=150)
    w = np.random.RandomState(9).uniform(0.5, 2.0, len(X))
    params = dict(n_components=5, covariance_type=covariance_type, random_state=2, tol=0.0)
    one = BayesianGaussianMixture(max_iter=1, **params).fit(X, sample_weight=w)
    two = BayesianGaussianMixture(max_iter=2, **params).fit(X, sample_weight=w)
    stats = sum(one.accumulate(X[s:s + 100], sample_weight=w[s:s + 100])
                for s in range(0, len(X), 100))
    one.update(stats)
    for name in ATTRIBUTES:
        assert rel(getattr(one, name), getattr(two, name)) < 1e-10, name
    assert one.lower_bound_ == pytest.approx(two.lower_bound_, rel=1e-10)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_the_first_batch_of_a_stream_is_one_iteration_of_fit(covariance_type):
    """Stochastic variational inference's first step is scikit-learn's first
    iteration on the batch, from the same start."""
    X = four_clusters(seed=10, n=120)
    params = dict(n_components=5, covariance_type=covariance_type, random_state=3)
    stream = BayesianGaussianMixture(**params).partial_fit(X)
    theirs = sklearn_mixture.BayesianGaussianMixture(max_iter=1, **params).fit(X)
    for name in ATTRIBUTES:
        assert rel(getattr(stream, name), getattr(theirs, name)) < 1e-9, name
    assert stream.n_samples_seen_ == len(X)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_a_stream_of_batches_finds_the_clusters(covariance_type):
    rng = np.random.RandomState(11)
    centres = np.array([[0, 0, 0], [6, 6, 0], [0, 7, 4], [9, 0, 3]], dtype=float)

    def batch(m=400):
        return centres[rng.randint(0, 4, m)] + rng.randn(m, 3)

    model = BayesianGaussianMixture(n_components=8, covariance_type=covariance_type,
                                    weight_concentration_prior=1e-2, random_state=0)
    model.fit(batch(2000))  # a start, then the stream continues from it
    for _ in range(30):
        model.partial_fit(batch())
    assert model.n_batches_seen_ == 30
    assert model.n_samples_seen_ == pytest.approx(2000 + 30 * 400)
    used = model.weights_ > 0.05
    assert 4 <= used.sum() <= 5  # (a tied covariance may split one cluster in two)
    assert model.weights_[used].sum() > 0.95
    found = model.means_[used]
    # every cluster has a component at its centre
    nearest = np.min(np.linalg.norm(centres[:, None] - found[None], axis=2), axis=1)
    assert np.all(nearest < 0.5)


def test_implied_statistics_reproduce_the_fitted_posterior():
    """A fitted model's implied statistics, updated at its own weight, give back its
    posterior (the update inverted)."""
    for covariance_type in COVARIANCE_TYPES:
        X = four_clusters(seed=12, n=100)
        model = BayesianGaussianMixture(4, covariance_type=covariance_type,
                                        random_state=0).fit(X)
        stats = model._implied_statistics()
        post = model._update(stats.scaled(model.n_samples_seen_), np.dtype(np.float64))
        assert rel(post.means, model.means_) < 1e-9, covariance_type
        assert rel(post.covariances, model.covariances_) < 1e-9, covariance_type
        assert rel(post.mean_precision, model.mean_precision_) < 1e-9, covariance_type


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
def test_stochastic_steps_equal_the_numpy_reference(monkeypatch, covariance_type, prior_type):
    """Two batches of stochastic variational inference from an injected start: the
    second step's posterior is the update from the first batch's statistics, weighted
    (1 − ρ) (W₁ + W₂) / W₁, and the second's, weighted ρ (W₁ + W₂) / W₂."""
    X = make_blobs(n_samples=600, n_features=3, n_components=3, seed=13)
    w = np.random.RandomState(14).uniform(0.5, 2.0, len(X))
    B1, w1, B2, w2 = X[:250], w[:250], X[250:], w[250:]
    R0 = np.random.RandomState(15).dirichlet(np.ones(4), len(B1))
    injected_start(monkeypatch, lambda rows: R0)
    model = BayesianGaussianMixture(4, covariance_type=covariance_type,
                                    weight_concentration_prior_type=prior_type,
                                    learning_decay=0.7)
    model.partial_fit(B1, sample_weight=w1).partial_fit(B2, sample_weight=w2)
    k = 4
    priors = reference_priors(B1, w1, covariance_type)  # the first batch's rows
    post0 = reference_update(B1, w1, R0, priors, k, covariance_type, prior_type)
    R1 = np.exp(reference_log_resp(B1, post0, prior_type))
    post1 = reference_update(B1, w1, R1, priors, k, covariance_type, prior_type)
    R2 = np.exp(reference_log_resp(B2, post1, prior_type))
    W1, W2 = w1.sum(), w2.sum()
    rho = (W1 / W2 + 1.0) ** -0.7
    union = np.concatenate([w1 * (1 - rho) * (W1 + W2) / W1, w2 * rho * (W1 + W2) / W2])
    post2 = reference_update(np.vstack([B1, B2]), union, np.vstack([R1, R2]), priors, k,
                             covariance_type, prior_type)
    dense = {"full": lambda c: c, "tied": lambda c: np.stack([c] * k),
             "diag": lambda c: np.stack([np.diag(v) for v in c]),
             "spherical": lambda c: np.stack([np.eye(3) * v for v in c])}[covariance_type]
    assert rel(model.means_, post2[2]) < 1e-9
    assert rel(dense(model.covariances_), post2[4]) < 1e-9
    assert rel(model.weights_, reference_weights(post2[0], prior_type)) < 1e-9
    assert model.n_samples_seen_ == pytest.approx(W1 + W2)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_posterior_predictive_is_scipys_student_t_mixture(covariance_type):
    from scipy.stats import multivariate_t

    X = four_clusters(seed=16, n=40)  # few rows: the posterior is wide, the tails heavy
    model = BayesianGaussianMixture(5, covariance_type=covariance_type,
                                    random_state=0).fit(X)
    k, d = model.means_.shape
    nu = np.broadcast_to(np.asarray(model.degrees_of_freedom_, float), (k,))
    precisions = {"full": lambda p: p, "tied": lambda p: np.stack([p] * k),
                  "diag": lambda p: np.stack([np.diag(v) for v in p]),
                  "spherical": lambda p: np.stack([np.eye(d) * v for v in p])}[
        covariance_type](model.precisions_)  # ν W
    Y = four_clusters(seed=17, n=10)
    density = np.zeros(len(Y))
    for c in range(k):
        dof = nu[c] + 1 - d
        beta = model.mean_precision_[c]
        L = dof * beta / ((1 + beta) * nu[c]) * precisions[c]
        density += model.weights_[c] * multivariate_t(loc=model.means_[c],
                                                      shape=np.linalg.inv(L), df=dof).pdf(Y)
    np.testing.assert_allclose(model.predictive_score_samples(Y), np.log(density), rtol=1e-10)
    # heavier tails than the plug-in density far from the data
    far = np.array([[40.0, 40.0, 40.0]])
    assert model.predictive_score_samples(far)[0] > model.score_samples(far)[0]


@pytest.mark.parametrize("dataset", ["iris", "wine", "breast_cancer"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_real_data_gives_scikit_learns_fit(dataset, covariance_type):
    """Data sets shipped with scikit-learn: correlated, unevenly scaled features."""
    from sklearn import datasets

    X = getattr(datasets, f"load_{dataset}")().data
    params = dict(n_components=6, covariance_type=covariance_type, random_state=0,
                  max_iter=300)
    ours = BayesianGaussianMixture(**params).fit(X)
    theirs = sklearn_mixture.BayesianGaussianMixture(**params).fit(X)
    assert ours.n_iter_ == theirs.n_iter_
    for name in ("weights_", "means_", "covariances_", "mean_precision_",
                 "degrees_of_freedom_"):
        assert rel(getattr(ours, name), getattr(theirs, name)) < 1e-6, name
    assert ours.lower_bound_ == pytest.approx(float(np.ravel(theirs.lower_bound_)[0]),
                                              rel=1e-6)


def test_pipelines_searches_and_routed_weights():
    import sklearn
    from sklearn.base import clone
    from sklearn.model_selection import GridSearchCV, KFold, cross_validate
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = four_clusters(seed=18, n=100)
    model = BayesianGaussianMixture(4, random_state=0)
    assert clone(model).get_params() == model.get_params()
    pipe = make_pipeline(StandardScaler(), BayesianGaussianMixture(4, random_state=0)).fit(X)
    scaled = StandardScaler().fit_transform(X)
    direct = BayesianGaussianMixture(4, random_state=0).fit(scaled)
    np.testing.assert_allclose(pipe[-1].means_, direct.means_, rtol=1e-12)
    search = GridSearchCV(BayesianGaussianMixture(4, random_state=0),
                          {"weight_concentration_prior": [0.01, 1.0]}, cv=2).fit(X)
    refit = BayesianGaussianMixture(4, random_state=0, **search.best_params_).fit(X)
    np.testing.assert_allclose(search.best_estimator_.means_, refit.means_, rtol=1e-12)
    w = np.random.RandomState(19).uniform(0.1, 3.0, len(X))
    with sklearn.config_context(enable_metadata_routing=True):
        routed = BayesianGaussianMixture(4, random_state=0).set_fit_request(sample_weight=True)
        routed.set_score_request(sample_weight=True)
        cv = KFold(3)
        scores = cross_validate(routed, X, cv=cv, params={"sample_weight": w})["test_score"]
    expected = [BayesianGaussianMixture(4, random_state=0).fit(X[a], sample_weight=w[a])
                .score(X[b], sample_weight=w[b]) for a, b in cv.split(X)]
    np.testing.assert_allclose(scores, expected, rtol=1e-12)
