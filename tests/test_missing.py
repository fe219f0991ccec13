"""GaussianMixture(nan_policy='marginalize'): EM with missing entries against a
per-row numpy EM written here (each row's observed block of Σ inverted as it is,
Ghahramani & Jordan's conditional means and covariances), predictions against
scipy's multivariate_normal on the observed features, imputation against the
closed form."""

import warnings

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from gmmcore import GaussianMixture
from gmmcore.exceptions import ConvergenceWarning
from conftest import COVARIANCE_TYPES

EPS64 = np.finfo(np.float64).eps


def oblong_clusters(seed=0, n=200):
    rng = np.random.RandomState(seed)
    a = rng.multivariate_normal([0, 0, 0, 1], [[3, 1.5, 0, 0], [1.5, 2, 0.4, 0],
                                               [0, 0.4, 1, 0.2], [0, 0, 0.2, 0.5]], n)
    b = rng.multivariate_normal([6, 4, -2, 0], np.diag([1, 0.5, 2, 1]), n)
    c = rng.multivariate_normal([-5, 5, 2, 3], [[1, -0.6, 0, 0], [-0.6, 1, 0, 0],
                                                [0, 0, 0.3, 0], [0, 0, 0, 2]], n)
    return np.vstack([a, b, c])


def remove(X, fraction, seed=1, empty_rows=0):
    """X with a fraction of its entries NaN at random (and some rows all NaN)."""
    rng = np.random.RandomState(seed)
    out = X.copy()
    out[rng.rand(*X.shape) < fraction] = np.nan
    out[rng.choice(len(X), empty_rows, replace=False)] = np.nan
    return out


def full_covariances(covariances, covariance_type, k, d):
    if covariance_type == "full":
        return np.array(covariances)
    if covariance_type == "tied":
        return np.repeat(covariances[None], k, axis=0)
    if covariance_type == "diag":
        return np.array([np.diag(c) for c in covariances])
    return np.array([np.eye(d) * c for c in covariances])


def conditionals(x, mean, cov):
    """log N(x_o | μ_o, Σ_oo), x̂ and the conditional covariance (embedded)."""
    o = ~np.isnan(x)
    m = ~o
    d = len(x)
    filled, C = x.copy(), np.zeros((d, d))
    if not o.any():
        filled[:] = mean
        C[:] = cov
        return 0.0, filled, C
    S_oo = cov[np.ix_(o, o)]
    gain = cov[np.ix_(m, o)] @ np.linalg.inv(S_oo)
    filled[m] = mean[m] + gain @ (x[o] - mean[o])
    C[np.ix_(m, m)] = cov[np.ix_(m, m)] - gain @ cov[np.ix_(o, m)]
    return multivariate_normal(mean[o], S_oo).logpdf(x[o]), filled, C


def reference_em(X, weights, means, covariances, covariance_type, n_iter, reg_covar,
                 sample_weight=None):
    """EM with missing entries, row by row; returns the parameters after n_iter
    iterations and the mean log-likelihood of the last E-step."""
    n, d = X.shape
    k = len(weights)
    w = np.ones(n) if sample_weight is None else sample_weight
    covs = full_covariances(covariances, covariance_type, k, d)
    for _ in range(n_iter):
        log_prob = np.empty((n, k))
        filled = np.empty((n, k, d))
        cond = np.empty((n, k, d, d))
        for i in range(n):
            for c in range(k):
                lp, filled[i, c], cond[i, c] = conditionals(X[i], means[c], covs[c])
                log_prob[i, c] = np.log(weights[c]) + lp
        top = log_prob.max(axis=1, keepdims=True)
        lse = top[:, 0] + np.log(np.exp(log_prob - top).sum(axis=1))
        resp = np.exp(log_prob - lse[:, None])
        mean_loglik = (w @ lse) / w.sum()
        wr = resp * w[:, None]
        nk = wr.sum(axis=0) + 10 * EPS64 * w.sum() / n
        means = np.einsum("nk,nkd->kd", wr, filled) / nk[:, None]
        scatter = np.empty((k, d, d))
        for c in range(k):
            z = filled[:, c] - means[c]
            scatter[c] = (z * wr[:, c, None]).T @ z + np.einsum("n,nij->ij", wr[:, c],
                                                                cond[:, c])
        if covariance_type == "tied":
            covs = np.repeat((scatter.sum(axis=0) / nk.sum() + reg_covar * np.eye(d))[None],
                             k, axis=0)
        else:
            covs = scatter / nk[:, None, None] + reg_covar * np.eye(d)
            if covariance_type == "diag":
                covs = np.array([np.diag(np.diag(cv)) for cv in covs])
            elif covariance_type == "spherical":
                covs = np.array([np.eye(d) * np.trace(cv) / d for cv in covs])
        weights = nk / nk.sum()
    shaped = {"full": covs, "tied": covs[0],
              "diag": np.array([np.diag(cv) for cv in covs]),
              "spherical": np.array([cv[0, 0] for cv in covs])}[covariance_type]
    return weights, means, shaped, mean_loglik


def start(covariance_type, k=3, d=4, seed=2):
    rng = np.random.RandomState(seed)
    weights = rng.dirichlet(np.ones(k) * 5)
    means = oblong_clusters(seed)[rng.choice(600, k, replace=False)]
    precisions = {"full": np.array([np.eye(d) * 0.5 + 0.05] * k),
                  "tied": np.eye(d) * 0.4 + 0.05,
                  "diag": np.full((k, d), 0.5), "spherical": np.full(k, 0.4)}[covariance_type]
    return weights, means, precisions


def rel(a, b):
    return float(np.max(np.abs(np.asarray(a) - b)) / np.max(np.abs(b)))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("weighted", [False, True])
def test_em_equals_the_per_row_reference(covariance_type, weighted):
    X = remove(oblong_clusters(n=60), 0.25, empty_rows=3)
    sample_weight = np.random.RandomState(4).uniform(0.2, 3.0, len(X)) if weighted else None
    weights, means, precisions = start(covariance_type)
    gm = GaussianMixture(3, covariance_type=covariance_type, nan_policy="marginalize",
                         weights_init=weights, means_init=means, precisions_init=precisions,
                         max_iter=6, tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm.fit(X, sample_weight=sample_weight)
    # the reference starts from the same parameters (the covariances the
    # precisions give)
    init = GaussianMixture(3, covariance_type=covariance_type, weights_init=weights,
                           means_init=means, precisions_init=precisions, max_iter=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        init.fit(np.nan_to_num(X))
    r_weights, r_means, r_covs, r_loglik = reference_em(
        X, weights, means, init.covariances_, covariance_type, 6, gm.reg_covar, sample_weight)
    assert rel(gm.weights_, r_weights) < 1e-8
    assert rel(gm.means_, r_means) < 1e-8
    assert rel(gm.covariances_, r_covs) < 1e-8
    assert gm.lower_bound_ == pytest.approx(r_loglik, rel=1e-10)


@pytest.mark.parametrize("covariance_type", ["full", "tied"])
@pytest.mark.parametrize("k", [3, 9])
def test_wide_rows_missing_many_features(covariance_type, k):
    # d = 12: rows missing 1 to 8 features (the kernel's sizes in registers), more (in
    # its scratch), and all; k = 3 and 9 take full's two ways of the second moments (a
    # rank update per component, or the design's outer products); tied takes one
    # pooled rank update
    d, n = 12, 240
    rng = np.random.RandomState(11)
    centres = rng.normal(0, 4, (k, d))
    A = rng.normal(0, 0.4, (k, d, d))
    covs = A @ A.transpose(0, 2, 1) + 0.6 * np.eye(d)
    if covariance_type == "tied":
        covs = np.repeat(covs[:1], k, axis=0)
    labels = rng.randint(k, size=n)
    X = np.array([rng.multivariate_normal(centres[c], covs[c]) for c in labels])
    for i in range(n):  # row i misses i mod 13 features: every size from 0 to d
        X[i, rng.choice(d, i % (d + 1), replace=False)] = np.nan
    sample_weight = rng.uniform(0.2, 3.0, n)
    weights = rng.dirichlet(np.ones(k) * 5)
    precisions = np.linalg.inv(covs) if covariance_type == "full" else np.linalg.inv(covs[0])
    gm = GaussianMixture(k, covariance_type=covariance_type, nan_policy="marginalize",
                         weights_init=weights, means_init=centres, precisions_init=precisions,
                         max_iter=2, tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm.fit(X, sample_weight=sample_weight)
    r_weights, r_means, r_covs, r_loglik = reference_em(
        X, weights, centres, covs if covariance_type == "full" else covs[0], covariance_type,
        2, gm.reg_covar, sample_weight)
    assert rel(gm.weights_, r_weights) < 1e-8
    assert rel(gm.means_, r_means) < 1e-8
    assert rel(gm.covariances_, r_covs) < 1e-8
    assert gm.lower_bound_ == pytest.approx(r_loglik, rel=1e-10)
    # the fitted mixture's predictions and imputations, row by row
    fitted = full_covariances(gm.covariances_, covariance_type, k, d)
    expected_lp, expected_fill = np.empty((n, k)), np.empty((n, k, d))
    for i, x in enumerate(X):
        for c in range(k):
            lp, expected_fill[i, c], _ = conditionals(x, gm.means_[c], fitted[c])
            expected_lp[i, c] = np.log(gm.weights_[c]) + lp
    lse = np.logaddexp.reduce(expected_lp, axis=1)
    resp = np.exp(expected_lp - lse[:, None])
    np.testing.assert_allclose(gm.score_samples(X), lse, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(gm.predict_proba(X), resp, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(gm.impute(X), np.einsum("nk,nkd->nd", resp, expected_fill),
                               rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_predictions_are_the_observed_features_marginals(covariance_type):
    X = oblong_clusters()
    gm = GaussianMixture(3, covariance_type=covariance_type, nan_policy="marginalize",
                         random_state=0).fit(remove(X, 0.2))
    Y = remove(oblong_clusters(seed=7, n=20), 0.3, seed=3, empty_rows=2)
    covs = full_covariances(gm.covariances_, covariance_type, 3, 4)
    expected = np.empty((len(Y), 3))
    for i, y in enumerate(Y):
        o = ~np.isnan(y)
        for c in range(3):
            lp = (multivariate_normal(gm.means_[c][o], covs[c][np.ix_(o, o)]).logpdf(y[o])
                  if o.any() else 0.0)
            expected[i, c] = np.log(gm.weights_[c]) + lp
    lse = np.logaddexp.reduce(expected, axis=1)
    np.testing.assert_allclose(gm.score_samples(Y), lse, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(gm.predict_proba(Y), np.exp(expected - lse[:, None]),
                               rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(gm.predict(Y), np.argmax(expected, axis=1))
    assert gm.score(Y) == pytest.approx(lse.mean(), rel=1e-12)
    empty = np.all(np.isnan(Y), axis=1)
    assert empty.sum() >= 2
    np.testing.assert_array_equal(gm.score_samples(Y)[empty], 0.0)
    np.testing.assert_allclose(gm.predict_proba(Y)[empty],
                               np.tile(gm.weights_, (empty.sum(), 1)), rtol=1e-12)
    # bic and aic count the observed log-likelihood
    p = gm._n_parameters()
    assert gm.bic(Y) == pytest.approx(-2 * lse.sum() + p * np.log(len(Y)), rel=1e-12)
    assert gm.aic(Y) == pytest.approx(-2 * lse.sum() + 2 * p, rel=1e-12)


@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical"])
@pytest.mark.parametrize("separation", [1e4, 1e6])
def test_far_apart_components_keep_their_precision(covariance_type, separation):
    """Components 1e4 and 1e6 standard deviations apart: the rows' moments taken
    around shifts (and, full, a fill) far from a component cancel, 8 and 12 digits
    of them; the components that do take their moments again around their own
    means, as for complete rows.  One step from the true start against the per-row
    reference.  (Tied pools one S2 over all components, and is not re-centred, with
    or without missing entries.)"""
    rng = np.random.RandomState(5)
    d, k, n = 4, 2, 400
    centres = np.array([np.full(d, -separation), np.full(d, separation)])
    A = rng.normal(0, 0.4, (k, d, d))
    covs = A @ A.transpose(0, 2, 1) + 0.6 * np.eye(d)
    labels = rng.randint(k, size=n)
    X = np.array([rng.multivariate_normal(centres[c], covs[c]) for c in labels])
    X[rng.rand(n, d) < 0.2] = np.nan
    weights = np.array([0.4, 0.6])
    if covariance_type == "diag":
        covs = np.array([np.diag(np.diag(c)) for c in covs])
        precisions = 1 / np.array([np.diag(c) for c in covs])
    elif covariance_type == "spherical":
        covs = np.array([np.eye(d) * np.trace(c) / d for c in covs])
        precisions = 1 / covs[:, 0, 0]
    else:
        precisions = np.linalg.inv(covs)
    gm = GaussianMixture(k, covariance_type=covariance_type, nan_policy="marginalize",
                         weights_init=weights, means_init=centres,
                         precisions_init=precisions, max_iter=1, tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm.fit(X)
    r_weights, r_means, r_covs, _ = reference_em(
        X, weights, centres, covs if covariance_type == "full" else
        {"diag": np.array([np.diag(c) for c in covs]), "spherical": covs[:, 0, 0]}[
            covariance_type], covariance_type, 1, gm.reg_covar, None)
    assert rel(gm.means_, r_means) < 1e-12
    assert rel(gm.covariances_, r_covs) < 1e-9


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("scale", [1e-150, 1e150])
def test_extreme_scales_are_the_unit_scale_moved(covariance_type, scale):
    """EM is equivariant under x -> s x (with reg_covar 0): the same fit from the same
    start, means s μ, covariances s² Σ and log p(s x_o) = log p(x_o) − |o| log s.  At
    s = 1e±150 the precisions' blocks at the missing features have pivots near
    1e∓300, where a product of pivots (rather than a sum of their logs) would
    overflow or underflow."""
    X = remove(oblong_clusters(), 0.2)
    Y = remove(oblong_clusters(seed=7, n=20), 0.3, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = GaussianMixture(3, covariance_type=covariance_type, nan_policy="marginalize",
                                max_iter=1, random_state=0).fit(X)
        unit, scaled = (
            GaussianMixture(3, covariance_type=covariance_type, nan_policy="marginalize",
                            reg_covar=0.0, max_iter=4, tol=0.0, weights_init=start.weights_,
                            means_init=start.means_ * s,
                            precisions_init=start.precisions_ / s**2).fit(X * s)
            for s in (1.0, scale))
    np.testing.assert_allclose(scaled.means_ / scale, unit.means_, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(scaled.covariances_ / scale**2, unit.covariances_, rtol=1e-8,
                               atol=1e-10)
    observed = (~np.isnan(Y)).sum(axis=1)
    np.testing.assert_allclose(scaled.score_samples(Y * scale),
                               unit.score_samples(Y) - observed * np.log(scale), rtol=1e-10)
    np.testing.assert_allclose(scaled.predict_proba(Y * scale), unit.predict_proba(Y),
                               rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(scaled.impute(Y * scale) / scale, unit.impute(Y), rtol=1e-9,
                               atol=1e-9)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_impute_is_the_closed_form(covariance_type):
    gm = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(
        oblong_clusters())
    Y = remove(oblong_clusters(seed=9, n=15), 0.35, seed=5, empty_rows=1)
    before = Y.copy()
    filled = gm.impute(Y)
    np.testing.assert_array_equal(Y, before)  # the input is left alone
    covs = full_covariances(gm.covariances_, covariance_type, 3, 4)
    for i, y in enumerate(Y):
        parts = [conditionals(y, gm.means_[c], covs[c]) for c in range(3)]
        log_prob = np.log(gm.weights_) + np.array([p[0] for p in parts])
        resp = np.exp(log_prob - np.logaddexp.reduce(log_prob))
        expected = resp @ np.array([p[1] for p in parts])
        np.testing.assert_allclose(filled[i], expected, rtol=1e-10, atol=1e-10)
    observed = ~np.isnan(Y)
    np.testing.assert_array_equal(filled[observed], Y[observed])
    assert not np.isnan(filled).any()
    np.testing.assert_allclose(filled[np.all(~observed, axis=1)][0], gm.weights_ @ gm.means_,
                               rtol=1e-12)
    assert gm.impute(np.float32(Y)).dtype == np.float32


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_without_nan_the_fit_is_the_plain_fit(covariance_type):
    X = oblong_clusters(n=100)
    plain = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    marg = GaussianMixture(3, covariance_type=covariance_type, nan_policy="marginalize",
                           random_state=0).fit(X)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_array_equal(getattr(marg, name), getattr(plain, name))
    assert marg.lower_bound_ == plain.lower_bound_
    np.testing.assert_array_equal(marg.score_samples(X), plain.score_samples(X))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_float32_is_close_to_float64_and_threads_change_nothing(covariance_type):
    X = remove(oblong_clusters(), 0.15)
    params = dict(n_components=3, covariance_type=covariance_type, nan_policy="marginalize",
                  random_state=0, tol=1e-6, max_iter=50)
    f64 = GaussianMixture(**params).fit(X)
    f32 = GaussianMixture(**params).fit(X.astype(np.float32))
    assert f32.means_.dtype == np.float32
    assert rel(f32.means_, f64.means_) < 1e-3
    assert f32.lower_bound_ == pytest.approx(f64.lower_bound_, rel=1e-4)
    Xl = np.tile(X, (12, 1))  # enough rows for several chunks
    one = GaussianMixture(n_threads=1, **params).fit(Xl)
    two = GaussianMixture(n_threads=2, **params).fit(Xl)
    np.testing.assert_array_equal(one.means_, two.means_)
    np.testing.assert_array_equal(one.covariances_, two.covariances_)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_integer_weights_are_repeated_rows(covariance_type):
    X = remove(oblong_clusters(n=50), 0.2)
    counts = np.random.RandomState(3).randint(1, 4, len(X))
    params = dict(n_components=3, covariance_type=covariance_type, nan_policy="marginalize",
                  max_iter=8, tol=0.0)
    weights, means, precisions = start(covariance_type)
    params.update(weights_init=weights, means_init=means, precisions_init=precisions)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        weighted = GaussianMixture(**params).fit(X, sample_weight=counts.astype(float))
        repeated = GaussianMixture(**params).fit(np.repeat(X, counts, axis=0))
    for name in ("weights_", "means_", "covariances_"):
        assert rel(getattr(weighted, name), getattr(repeated, name)) < 1e-10


def test_chunk_sources_and_streams_take_missing_entries():
    X = remove(oblong_clusters(), 0.2)
    params = dict(n_components=3, nan_policy="marginalize", random_state=0)
    whole = GaussianMixture(**params).fit(X)
    chunked = GaussianMixture(**params).fit(lambda: (X[s:s + 170] for s in range(0, 600, 170)))
    # (the start is taken on the first chunk: compare from the same start instead)
    same = dict(weights_init=whole.weights_, means_init=whole.means_,
                precisions_init=whole.precisions_, max_iter=5, tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = GaussianMixture(nan_policy="marginalize", n_components=3, **same).fit(X)
        b = GaussianMixture(nan_policy="marginalize", n_components=3, **same).fit(
            lambda: (X[s:s + 170] for s in range(0, 600, 170)))
    assert rel(a.means_, b.means_) < 1e-10 and rel(a.covariances_, b.covariances_) < 1e-10
    assert chunked.converged_
    # accumulate over parts + update = one iteration of fit
    exact = GaussianMixture(partial_fit_mode="exact", **params).fit(X)
    stats = exact.accumulate(X[:250]) + exact.accumulate(X[250:])
    expected = GaussianMixture(nan_policy="marginalize", n_components=3, max_iter=1,
                               tol=0.0, weights_init=exact.weights_, means_init=exact.means_,
                               precisions_init=exact.precisions_)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected.fit(X)
    exact.update(stats)
    assert rel(exact.means_, expected.means_) < 1e-10
    assert rel(exact.covariances_, expected.covariances_) < 1e-10
    # partial_fit takes batches with NaN
    stream = GaussianMixture(**params)
    for s in range(0, 600, 100):
        stream.partial_fit(X[s:s + 100])
    assert np.all(np.isfinite(stream.means_))


def test_recovery_with_thirty_percent_missing():
    truth = np.array([[0, 0, 0, 1], [6, 4, -2, 0], [-5, 5, 2, 3]], dtype=float)
    X = oblong_clusters(n=800)
    Xm = remove(X, 0.3, seed=11)
    gm = GaussianMixture(3, nan_policy="marginalize", random_state=0, n_init=2).fit(Xm)
    order = [int(np.argmin(np.linalg.norm(gm.means_ - t, axis=1))) for t in truth]
    assert sorted(order) == [0, 1, 2]
    assert np.max(np.abs(gm.means_[order] - truth)) < 0.25
    missing = np.isnan(Xm)
    filled = gm.impute(Xm)
    column_means = np.nanmean(Xm, axis=0)
    error = np.sqrt(np.mean((filled[missing] - X[missing]) ** 2))
    baseline = np.sqrt(np.mean((column_means[np.nonzero(missing)[1]] - X[missing]) ** 2))
    assert error < 0.6 * baseline


def test_bad_input_and_policy():
    X = remove(oblong_clusters(n=30), 0.1)
    with pytest.raises(ValueError, match=r"^Input X contains NaN\.$"):
        GaussianMixture(2).fit(X)
    with pytest.raises(ValueError, match="nan_policy"):
        GaussianMixture(2, nan_policy="omit").fit(X)
    bad = X.copy()
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        GaussianMixture(2, nan_policy="marginalize").fit(bad)
    gm = GaussianMixture(2, nan_policy="marginalize", random_state=0).fit(X)
    with pytest.raises(ValueError, match="infinity"):
        gm.predict(bad)
    with pytest.raises(ValueError, match="infinity"):
        gm.impute(bad)
    # a model fitted without the policy still imputes, and predicts NaN rows once
    # the policy is set
    plain = GaussianMixture(2, random_state=0).fit(np.nan_to_num(X))
    assert not np.isnan(plain.impute(X)).any()
    with pytest.raises(ValueError, match="contains NaN"):
        plain.predict(X)
    plain.set_params(nan_policy="marginalize")
    assert plain.predict(X).shape == (len(X),)


def test_model_selection_and_model_files_keep_the_policy(tmp_path):
    from gmmcore import select

    X = remove(oblong_clusters(n=100), 0.15)
    result = select(X, n_components=[2, 3, 4], covariance_types=["full", "diag"],
                    nan_policy="marginalize", random_state=0)
    best = result.best_estimator_
    expected = GaussianMixture(nan_policy="marginalize", **{
        k: v for k, v in best.get_params().items() if k != "nan_policy"}).fit(X)
    assert best.bic(X) == pytest.approx(expected.bic(X), rel=1e-10)
    best.save(tmp_path / "model.npz")
    loaded = GaussianMixture.load(tmp_path / "model.npz")
    assert loaded.nan_policy == "marginalize"
    np.testing.assert_array_equal(loaded.score_samples(X), best.score_samples(X))


def test_the_start_without_enough_complete_rows():
    """Fewer than 10 complete rows per component: the start is taken on all rows
    mean-filled; with none complete at all too.  The fit then still finds the
    clusters of well-separated data."""
    from gmmcore._missing import START_ROWS_PER_COMPONENT, start_rows

    X = oblong_clusters(n=100)
    gaps = remove(X, 0.45, seed=2)
    complete = ~np.isnan(gaps).any(axis=1)
    assert 0 < complete.sum() < START_ROWS_PER_COMPONENT * 3
    rows, _ = start_rows(gaps, None, 3)
    assert rows.shape == gaps.shape and not np.isnan(rows).any()
    np.testing.assert_array_equal(rows[complete], gaps[complete])
    column_means = np.nanmean(gaps, axis=0)
    np.testing.assert_allclose(rows[~complete][np.isnan(gaps[~complete])],
                               column_means[np.nonzero(np.isnan(gaps[~complete]))[1]])
    plenty = remove(X, 0.05, seed=2)
    rows, _ = start_rows(plenty, None, 3)
    np.testing.assert_array_equal(rows, plenty[~np.isnan(plenty).any(axis=1)])
    gaps[np.arange(len(gaps)), np.arange(len(gaps)) % 4] = np.nan  # no row complete
    gm = GaussianMixture(3, nan_policy="marginalize", random_state=0, n_init=3).fit(gaps)
    truth = np.array([[0, 0, 0, 1], [6, 4, -2, 0], [-5, 5, 2, 3]], dtype=float)
    nearest = [int(np.argmin(np.linalg.norm(gm.means_ - t, axis=1))) for t in truth]
    assert sorted(nearest) == [0, 1, 2]
