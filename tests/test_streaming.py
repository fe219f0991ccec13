"""The sufficient-statistics API (accumulate / update), its merge, and partial_fit."""

import numpy as np
import pytest

from gmmcore import GaussianMixture, SufficientStatistics
from conftest import COVARIANCE_TYPES, make_blobs

pytestmark = pytest.mark.filterwarnings("ignore:Best performing initialization")
ATTRIBUTES = ("weights_", "means_", "covariances_", "precisions_cholesky_")
RTOL = {np.float64: 1e-10, np.float32: 1e-4}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_accumulate_over_chunks_then_update_is_one_fit_iteration(covariance_type, dtype):
    X = make_blobs(n_samples=3000, n_features=4, n_components=3, seed=1, dtype=dtype)
    w = np.random.RandomState(0).uniform(0.5, 2.0, len(X)).astype(dtype)
    params = dict(covariance_type=covariance_type, random_state=0, tol=0.0)
    one = GaussianMixture(3, max_iter=1, **params).fit(X, sample_weight=w)
    two = GaussianMixture(3, max_iter=2, **params).fit(X, sample_weight=w)
    bounds = np.linspace(0, len(X), 8).astype(int)
    stats = sum(one.accumulate(X[a:b], sample_weight=w[a:b])
                for a, b in zip(bounds[:-1], bounds[1:]))
    assert isinstance(stats, SufficientStatistics) and stats.n_rows == len(X)
    np.testing.assert_allclose(stats.total_weight, w.sum(dtype=np.float64), rtol=1e-12)
    one.update(stats)
    for name in ATTRIBUTES:
        np.testing.assert_allclose(getattr(one, name), getattr(two, name), rtol=RTOL[dtype],
                                   atol=RTOL[dtype] * 1e-3, err_msg=name)
    np.testing.assert_allclose(one.lower_bound_, two.lower_bound_, rtol=RTOL[dtype])


def numpy_moments(X, resp):
    """Reference: N_k, means and scatter matrices around the means, two-pass."""
    nk = resp.sum(axis=0)
    means = resp.T @ X / nk[:, None]
    scatter = np.stack([((X - m).T * r) @ (X - m) for m, r in zip(means, resp.T)])
    return nk, means, scatter


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_statistics_taken_under_different_models_merge_exactly(covariance_type):
    # Two chunks far apart, each accumulated under its own model: the merge moves
    # both to the pooled means (Chan's pairwise form) before adding.
    rng = np.random.RandomState(4)
    A = rng.randn(2000, 3) + [0.0, 0.0, 0.0]
    B = rng.randn(2000, 3) * 0.5 + [1e6, -2e6, 5e5]
    ma = GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(A)
    mb = GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(B)
    merged = ma.accumulate(A) + mb.accumulate(B)
    resp = np.zeros((4000, 2))
    resp[:2000] = ma.predict_proba(A)
    resp[2000:] = mb.predict_proba(B)
    nk, means, scatter = numpy_moments(np.vstack([A, B]), resp)
    np.testing.assert_allclose(merged.nk, nk, rtol=1e-12)
    np.testing.assert_allclose(merged.means, means, rtol=1e-12)
    np.testing.assert_allclose(merged.log_likelihood,
                               ma.score(A) * 2000 + mb.score(B) * 2000, rtol=1e-12)
    target = GaussianMixture(2, covariance_type=covariance_type, reg_covar=0.0)
    target.fit(np.vstack([A[:10], B[:10]]))  # any fitted model of the right shape
    target.update(merged)
    expected = {"full": scatter / nk[:, None, None],
                "tied": scatter.sum(axis=0) / nk.sum(),
                "diag": np.diagonal(scatter, axis1=1, axis2=2) / nk[:, None],
                "spherical": np.trace(scatter, axis1=1, axis2=2) / (3 * nk)}[covariance_type]
    np.testing.assert_allclose(target.covariances_, expected, rtol=1e-7)
    np.testing.assert_allclose(target.means_, means, rtol=1e-12)


def test_statistics_arithmetic_and_errors():
    X = make_blobs(n_samples=500, n_features=2, n_components=2, seed=2)
    gmm = GaussianMixture(2, random_state=0).fit(X)
    a, b = gmm.accumulate(X[:200]), gmm.accumulate(X[200:])
    total = a + b
    np.testing.assert_allclose(total.row, gmm.accumulate(X).row, rtol=1e-12)
    assert sum([a, b]).n_rows == 500 and a.n_rows == 200  # operands unchanged
    np.testing.assert_allclose(a.scaled(3.0).total_weight, 600.0)
    assert "n_rows=200" in repr(a)
    other = GaussianMixture(3, random_state=0).fit(X)
    with pytest.raises(ValueError, match="different models"):
        a + other.accumulate(X)
    with pytest.raises(ValueError, match="do not fit this"):
        gmm.update(other.accumulate(X))
    with pytest.raises(TypeError, match="expected SufficientStatistics"):
        gmm.update({"nk": 1})
    with pytest.raises(ValueError, match="none are pending"):
        gmm.update()
    with pytest.raises(ValueError, match="not fitted"):
        GaussianMixture(2).accumulate(X)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_exact_partial_fit_epoch_then_update_is_one_fit_iteration(covariance_type):
    X = make_blobs(n_samples=4000, n_features=3, n_components=3, seed=6)
    params = dict(covariance_type=covariance_type, random_state=0, tol=0.0)
    start = GaussianMixture(3, max_iter=3, **params).fit(X)
    reference = GaussianMixture(3, max_iter=4, **params).fit(X)
    start.set_params(partial_fit_mode="exact")
    for batch in np.array_split(X, 9):
        start.partial_fit(batch)
    assert start.statistics_.n_rows == len(X)
    start.update()
    assert start.statistics_ is None
    for name in ATTRIBUTES:
        np.testing.assert_allclose(getattr(start, name), getattr(reference, name),
                                   rtol=1e-10, atol=1e-13, err_msg=name)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_stepwise_partial_fit_converges_to_the_batch_solution(covariance_type):
    X = make_blobs(n_samples=30_000, n_features=3, n_components=3, seed=11, spread=6.0)
    batch_fit = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    stream = GaussianMixture(3, covariance_type=covariance_type, random_state=0)
    rng = np.random.RandomState(0)
    for _ in range(80):
        stream.partial_fit(X[rng.randint(0, len(X), 1000)])
    assert stream.n_batches_seen_ == 80
    # within 0.01 nats per sample of the full-batch maximum likelihood
    assert stream.score(X) > batch_fit.score(X) - 0.01


def test_stepwise_partial_fit_tracks_a_drifting_stream():
    rng = np.random.RandomState(0)
    fast = GaussianMixture(2, covariance_type="spherical", random_state=0, learning_decay=0.51)
    # η = 1/(t+1): the plain running mean
    average = GaussianMixture(2, covariance_type="spherical", random_state=0,
                              learning_decay=1.0)
    centres = None
    for t in range(150):
        centres = np.array([[0.0, 0.0], [10.0, 0.0]]) + [0.1 * t, 0.05 * t]
        batch = np.vstack([rng.randn(200, 2) + c for c in centres])
        fast.partial_fit(batch)
        average.partial_fit(batch)
    # The centres moved 15 units.  A learning rate decaying like t^-0.51 keeps about the
    # last 1/η ≈ 13 batches in view, so it lags by ~1.3 units; the running mean of the
    # whole stream (learning_decay=1) stays far behind.
    error = np.abs(np.sort(fast.means_[:, 0]) - centres[:, 0]).max()
    lag = np.abs(np.sort(average.means_[:, 0]) - centres[:, 0]).max()
    assert error < 1.6
    assert lag > 4 * error
    assert np.abs(np.sort(fast.means_[:, 1]) - centres[:, 1]).max() < 1.0


def test_partial_fit_validation():
    X = make_blobs(n_samples=300, n_features=2, n_components=2, seed=0)
    with pytest.raises(ValueError, match="learning_decay"):
        GaussianMixture(2, learning_decay=0.4).partial_fit(X)
    with pytest.raises(ValueError, match="partial_fit_mode"):
        GaussianMixture(2, partial_fit_mode="online").partial_fit(X)
    gmm = GaussianMixture(2, random_state=0)
    gmm.partial_fit(X)
    with pytest.raises(ValueError, match="features"):
        gmm.partial_fit(X[:, :1])
    with pytest.raises(ValueError, match="non-negative"):
        gmm.partial_fit(X, sample_weight=-np.ones(len(X)))


def two_clusters(seed, n=400):
    rng = np.random.RandomState(seed)
    return np.vstack([rng.randn(n // 2, 2) * 0.5, rng.randn(n // 2, 2) * 0.5 + 6.0])


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_partial_fit_after_fit_continues_from_the_fitted_model(covariance_type):
    """Clusters at 0 and 6, then one batch of 20 rows near 6: the model moves a little
    (the batch weighs 20 against the 400 rows fitted), it is not re-initialised."""
    X = two_clusters(0)
    model = GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(X)
    before = np.sort(model.means_[:, 0])
    assert model.n_samples_seen_ == len(X)
    batch = np.random.RandomState(1).randn(20, 2) * 0.5 + 6.0
    model.partial_fit(batch)
    after = np.sort(model.means_[:, 0])
    assert abs(after[0] - before[0]) < 0.05
    assert abs(after[1] - before[1]) < 0.05
    # the near-6 component gained weight, by about η = (400/20 + 1) ** -0.6 of the way
    eta = (len(X) / 20 + 1) ** -0.6
    far = int(np.argmax(model.means_[:, 0]))
    assert model.weights_[far] == pytest.approx(0.5 * (1 - eta) + eta, abs=0.01)
    assert model.n_samples_seen_ == len(X) + 20
    assert model.n_batches_seen_ == 1


def test_stepwise_stream_from_a_fit_equals_the_running_mean_with_decay_one():
    """learning_decay=1: a fitted model's implied statistics and the batches after it
    average by sample count, so the means are the pooled means of all the rows."""
    X = two_clusters(2, n=600)
    batches = [two_clusters(3 + i, n=100) for i in range(3)]
    model = GaussianMixture(2, covariance_type="full", random_state=0, learning_decay=1.0,
                            tol=1e-10, max_iter=500).fit(X)
    labels_of = lambda rows: (rows[:, 0] > 3).astype(int)  # noqa: E731
    for batch in batches:
        model.partial_fit(batch)
    every = np.vstack([X] + batches)
    far = int(np.argmax(model.means_[:, 0]))
    expected = every[labels_of(every) == 1].mean(axis=0)
    np.testing.assert_allclose(model.means_[far], expected, atol=2e-3)


def test_n_init_applies_to_the_start_of_a_stream():
    """The first batch initialises the mixture with n_init starts and keeps the one
    under which the batch is most likely; the first start is the n_init=1 start."""
    X = make_blobs(n_samples=600, n_features=2, n_components=4, seed=3)
    scores = []
    for n_init in (1, 8):
        model = GaussianMixture(4, init_params="random_from_data", n_init=n_init,
                                random_state=0, max_iter=1, partial_fit_mode="exact")
        model.partial_fit(X)
        scores.append(model.lower_bound_)  # the batch under the kept start
    assert scores[1] > scores[0]


@pytest.mark.parametrize("mode", ["stepwise", "exact"])
def test_save_and_load_carry_the_stream(tmp_path, mode):
    """A stream saved mid-way and loaded continues exactly as the one that was not."""
    X = two_clusters(4, n=600)
    batches = [two_clusters(5 + i, n=100) for i in range(4)]
    model = GaussianMixture(2, random_state=0, partial_fit_mode=mode).fit(X)
    model.partial_fit(batches[0])
    model.save(tmp_path / "m.npz")
    loaded = GaussianMixture.load(tmp_path / "m.npz")
    assert loaded.n_samples_seen_ == model.n_samples_seen_
    assert loaded.n_batches_seen_ == model.n_batches_seen_
    for batch in batches[1:]:
        model.partial_fit(batch)
        loaded.partial_fit(batch)
    if mode == "exact":
        model.update()
        loaded.update()
    for name in ATTRIBUTES:
        np.testing.assert_allclose(getattr(loaded, name), getattr(model, name), rtol=1e-12,
                                   err_msg=name)


def test_a_loaded_fit_continues_its_stream(tmp_path):
    X = two_clusters(0)
    GaussianMixture(2, random_state=0).fit(X).save(tmp_path / "m.npz")
    loaded = GaussianMixture.load(tmp_path / "m.npz")
    before = np.sort(loaded.means_[:, 0])
    loaded.partial_fit(np.random.RandomState(1).randn(20, 2) * 0.5 + 6.0)
    np.testing.assert_allclose(np.sort(loaded.means_[:, 0]), before, atol=0.05)
