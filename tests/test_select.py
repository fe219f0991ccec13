"""gmmcore.select: the candidates' table against standalone fits, scheduling and errors."""

import sys
import textwrap
import threading
import warnings

import numpy as np
import pytest

import gmmcore
from gmmcore import GaussianMixture, SelectionResult, select
from gmmcore import _select
from conftest import (COVARIANCE_TYPES, interrupt_after_start, make_blobs,
                      optional_modules_after)

pytestmark = pytest.mark.filterwarnings("ignore:Best performing initialization did not converge")

ATTRIBUTES = ("weights_", "means_", "covariances_", "precisions_cholesky_")
COLUMNS = ("n_components", "covariance_type", "criterion", "log_likelihood", "n_iter",
           "converged", "fit_time", "bic", "aic", "n_parameters", "error")


@pytest.fixture(scope="module")
def blobs():
    # three clusters with distinct general covariances: the truth is 'full', k=3
    return make_blobs(n_samples=900, n_features=3, n_components=3, seed=0)


def spherical_blobs(n_samples=900, n_components=4, seed=0):
    rng = np.random.RandomState(seed)
    centers = rng.randn(n_components, 2) * 8.0
    scales = rng.uniform(0.5, 1.5, n_components)
    labels = rng.randint(0, n_components, n_samples)
    return centers[labels] + rng.randn(n_samples, 2) * scales[labels, None]


def test_picks_the_true_number_of_components_and_covariance_type(blobs):
    result = select(blobs, n_components=range(1, 7), random_state=0)
    assert isinstance(result, SelectionResult)
    assert result.best_params_ == {"covariance_type": "full", "n_components": 3}
    best = result.best_estimator_
    assert isinstance(best, GaussianMixture)
    assert (best.covariance_type, best.n_components) == ("full", 3)
    assert result.table["criterion"][result.best_index_] == np.min(result.table["criterion"])


def test_picks_spherical_clusters():
    X = spherical_blobs()
    result = select(X, n_components=range(1, 7), random_state=0)
    assert result.best_params_ == {"covariance_type": "spherical", "n_components": 4}


@pytest.mark.parametrize("random_state", [3, None, "RandomState"])
def test_table_equals_standalone_fits(blobs, random_state):
    if random_state == "RandomState":
        random_state = np.random.RandomState(11)
        # the seed is one int drawn from the given RandomState, as scikit-learn derives one
        expected_seed = np.random.RandomState(11).randint(np.iinfo(np.int32).max)
    params = dict(max_iter=40, reg_covar=1e-5)
    result = select(blobs, n_components=[1, 2, 4], n_init=2, random_state=random_state,
                    **params)
    seed = result.random_state_
    assert isinstance(seed, int)
    if isinstance(random_state, int):
        assert seed == random_state
    elif isinstance(random_state, np.random.RandomState):
        assert seed == expected_seed
    table = result.table
    assert set(COLUMNS) <= set(table)
    assert all(len(column) == 12 for column in table.values())
    for i, (t, k) in enumerate(zip(table["covariance_type"], table["n_components"])):
        alone = GaussianMixture(n_components=int(k), covariance_type=str(t), n_init=2,
                                random_state=seed, **params).fit(blobs)
        # the same bits, not just close values
        assert table["bic"][i] == alone.bic(blobs)
        assert table["aic"][i] == alone.aic(blobs)
        assert table["criterion"][i] == table["bic"][i]
        assert table["log_likelihood"][i] == alone.score(blobs)
        assert table["n_iter"][i] == alone.n_iter_
        assert table["converged"][i] == alone.converged_
        assert table["n_parameters"][i] == alone._n_parameters()
        assert table["error"][i] == ""
        assert table["fit_time"][i] > 0
        fitted = result.estimators_[i]
        assert fitted.n_threads is None  # the caller's, not the schedule's
        for name in ATTRIBUTES:
            np.testing.assert_array_equal(getattr(fitted, name), getattr(alone, name))
    # covariance types in the order given, then n_components in the order given
    assert list(table["covariance_type"]) == [t for t in COVARIANCE_TYPES for _ in range(3)]
    assert list(table["n_components"]) == [1, 2, 4] * 4


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_criterion_matches_sklearn_from_the_same_start(blobs, covariance_type):
    from sklearn.mixture import GaussianMixture as SkGaussianMixture

    # init_params='random': the same integer seed gives scikit-learn's start exactly
    result = select(blobs, n_components=3, covariance_types=covariance_type,
                    init_params="random", random_state=5, max_iter=50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = SkGaussianMixture(3, covariance_type=covariance_type, init_params="random",
                                random_state=5, max_iter=50).fit(blobs)
    assert result.table["n_iter"][0] == ref.n_iter_
    assert result.table["bic"][0] == pytest.approx(ref.bic(blobs), rel=1e-10)
    assert result.table["aic"][0] == pytest.approx(ref.aic(blobs), rel=1e-10)
    assert result.table["log_likelihood"][0] == pytest.approx(ref.score(blobs), rel=1e-10)


def table_without_times(result):
    return {name: column for name, column in result.table.items() if name != "fit_time"}


def test_results_do_not_depend_on_threads_or_schedule():
    # 20 000 rows: two chunks per pass, so the serial schedule really splits fits
    X = make_blobs(n_samples=20_000, n_features=3, n_components=3, seed=2)
    runs = {
        "1 thread": select(X, n_components=range(1, 5), random_state=0, n_threads=1,
                           max_iter=20),
        "2 concurrent": select(X, n_components=range(1, 5), random_state=0, n_threads=2,
                               schedule="concurrent", max_iter=20),
        "2 serial": select(X, n_components=range(1, 5), random_state=0, n_threads=2,
                           schedule="serial", max_iter=20),
    }
    assert runs["1 thread"].schedule_ == (1, 1)
    assert runs["2 concurrent"].schedule_ == (2, 1)
    assert runs["2 serial"].schedule_ == (1, 2)
    reference = runs["1 thread"]
    for name, result in runs.items():
        assert result.best_index_ == reference.best_index_, name
        for column, values in table_without_times(reference).items():
            np.testing.assert_array_equal(result.table[column], values, err_msg=name)
        for got, want in zip(result.estimators_, reference.estimators_):
            for attribute in ATTRIBUTES:
                np.testing.assert_array_equal(getattr(got, attribute), getattr(want, attribute))


def test_concurrent_fits_run_longest_first_on_one_thread_each(monkeypatch, blobs):
    seen = []
    orders = []
    lock = threading.Lock()
    fit_one, run = _select._fit_one, _select._run

    def spy_fit(model, X):
        with lock:
            seen.append((model.n_threads, threading.current_thread().name))
        return fit_one(model, X)

    def spy_run(models, order, X, n_workers, on_done):
        orders.append([(models[i].covariance_type, models[i].n_components) for i in order])
        return run(models, order, X, n_workers, on_done)

    monkeypatch.setattr(_select, "_fit_one", spy_fit)
    monkeypatch.setattr(_select, "_run", spy_run)
    n, d = blobs.shape
    result = select(blobs, n_components=range(1, 6), random_state=0, n_threads=2,
                    schedule="concurrent")
    assert len(seen) == 20
    assert all(n_threads == 1 for n_threads, _ in seen)
    assert all(name.startswith("gmmcore-select") for _, name in seen)
    # submitted (so started: the pool's queue is first in, first out) by decreasing cost
    costs = [_select.candidate_cost(t, k, n, d) for t, k in orders[0]]
    assert costs == sorted(costs, reverse=True)
    assert orders[0][0] == ("full", 5)
    assert result.best_params_["n_components"] == 3


def test_plan_schedule():
    many = [1.0] * 40
    assert _select.plan_schedule(many, 30_000, 2) == (2, 1)
    assert _select.plan_schedule(many, 30_000, 1) == (1, 1)
    assert _select.plan_schedule(many, 30_000, 2, "serial") == (1, 2)
    # one large candidate: its chunks keep every thread busy, so it gets them all
    assert _select.plan_schedule([5.0], 1_000_000, 4) == (1, 4)
    # one small candidate, one chunk: nothing to share, one thread
    assert _select.plan_schedule([5.0], 1_000, 4) == (1, 1)
    # one candidate dwarfing the rest: all threads on each in turn
    assert _select.plan_schedule([100.0, 1.0, 1.0], 1_000_000, 2) == (1, 2)
    assert _select.plan_schedule([100.0, 1.0, 1.0], 1_000_000, 2, "concurrent") == (2, 1)


def test_aic_criterion(blobs):
    result = select(blobs, n_components=range(1, 5), covariance_types=["full", "diag"],
                    criterion="aic", random_state=1)
    table = result.table
    np.testing.assert_array_equal(table["criterion"], table["aic"])
    assert result.best_index_ == int(np.argmin(table["aic"]))
    assert result.criterion == "aic"
    best = result.best_estimator_
    assert table["aic"][result.best_index_] == best.aic(blobs)
    assert "AIC" in repr(result)
    assert select(blobs, n_components=[2], covariance_types="full", criterion="AIC",
                  random_state=1).criterion == "aic"


def test_keep_best_drops_the_other_candidates(blobs):
    every = select(blobs, n_components=range(1, 5), random_state=0)
    best = select(blobs, n_components=range(1, 5), random_state=0, keep="best")
    assert best.best_index_ == every.best_index_
    assert [i for i, e in enumerate(best.estimators_) if e is not None] == [best.best_index_]
    for name in ATTRIBUTES:
        np.testing.assert_array_equal(getattr(best.best_estimator_, name),
                                      getattr(every.best_estimator_, name))
    for column, values in table_without_times(every).items():
        np.testing.assert_array_equal(best.table[column], values)


def test_failed_candidates_are_recorded_not_raised():
    # four distinct points: five components leave collapsed covariances behind
    X = np.repeat(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.5]]), 25, axis=0)
    result = select(X, n_components=[1, 5], covariance_types=["full"], reg_covar=0.0,
                    random_state=0)
    table = result.table
    assert table["error"][0] == ""
    assert table["error"][1].startswith("ValueError:")
    assert "ill-defined empirical covariance" in table["error"][1]
    assert np.isinf(table["criterion"][1]) and np.isinf(table["bic"][1])
    assert np.isnan(table["log_likelihood"][1])
    assert not table["converged"][1] and table["n_iter"][1] == 0
    assert result.estimators_[1] is None
    assert result.best_index_ == 0
    assert "failed" in repr(result)
    with pytest.raises(ValueError, match="all 2 candidates failed; covariance_type='full', "
                       "n_components=4: ValueError: .*ill-defined"):
        select(X, n_components=[4, 5], covariance_types=["full"], reg_covar=0.0,
               random_state=0)


@pytest.mark.parametrize("kwargs,message", [
    (dict(n_components=[]), "n_components is empty"),
    (dict(n_components=range(0, 3)), "integers >= 1, got 0"),
    (dict(n_components=[2.5]), "integers >= 1, got 2.5"),
    (dict(n_components=None), "n_components must be an int or a list"),
    (dict(n_components=[2, 200]), "n_components=200 is more than the 100 samples"),
    (dict(covariance_types=[]), "covariance_types is empty"),
    (dict(covariance_types=["full", "ful"]), "unknown covariance type 'ful'"),
    (dict(criterion="likelihood"), "criterion must be 'bic' or 'aic'"),
    (dict(n_init=0), "'n_init' parameter of select"),
    (dict(n_threads=0), "n_threads=0"),
    (dict(keep="some"), "'keep' parameter"),
    (dict(schedule="dask"), "'schedule' parameter"),
    (dict(random_state=-1), "random_state=-1"),
    (dict(covariance_type="full"), "pass the types to try as covariance_types"),
    (dict(n_component=3), "unknown parameter.*'n_component'"),
    (dict(tol=-1.0), "candidate covariance_type='full', n_components=1: .*'tol'"),
    (dict(means_init=np.zeros((2, 2))), "candidate .*n_components=1: .*means"),
])
def test_bad_arguments_raise_before_any_fitting(monkeypatch, kwargs, message):
    def no_fit(model, X):
        raise AssertionError("a candidate was fitted")

    monkeypatch.setattr(_select, "_fit_one", no_fit)
    X = make_blobs(n_samples=100, n_features=2, n_components=2)
    with pytest.raises(ValueError, match=message):
        select(X, **kwargs)


def test_bad_data_raises_before_any_fitting():
    X = make_blobs(n_samples=100, n_features=2, n_components=2)
    X[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        select(X)


def test_to_frame_and_feature_names(blobs):
    pd = pytest.importorskip("pandas")
    frame_in = pd.DataFrame(blobs, columns=["a", "b", "c"])
    result = select(frame_in, n_components=range(1, 4), covariance_types=["full", "tied"],
                    random_state=0)
    frame = result.to_frame()
    assert isinstance(frame, pd.DataFrame)
    assert len(frame) == 6 and set(COLUMNS) <= set(frame.columns)
    np.testing.assert_array_equal(frame["bic"].to_numpy(), result.table["bic"])
    assert list(frame["covariance_type"]) == ["full"] * 3 + ["tied"] * 3
    # as a standalone fit on the DataFrame would
    alone = GaussianMixture(3, random_state=0).fit(frame_in)
    np.testing.assert_array_equal(result.best_estimator_.feature_names_in_,
                                  alone.feature_names_in_)


def test_to_frame_without_pandas(monkeypatch, blobs):
    result = select(blobs, n_components=[1, 2], covariance_types="diag", random_state=0)
    monkeypatch.setitem(sys.modules, "pandas", None)  # makes `import pandas` fail
    with pytest.raises(ImportError, match="to_frame.. needs pandas.*table"):
        result.to_frame()


def test_repr_shows_the_grid_and_the_best(blobs):
    result = select(blobs, n_components=range(1, 5), random_state=0)
    text = repr(result)
    lines = text.splitlines()
    assert lines[0].startswith("SelectionResult: BIC of 16 candidates; best (*): "
                               "covariance_type='full', n_components=3")
    assert lines[1].split() == ["n_components", "full", "tied", "diag", "spherical"]
    assert len(lines) == 2 + 4
    assert text.count("*") == 2  # the legend and the best cell
    assert lines[2 + 2].split()[1].startswith("*")


def test_custom_estimator_factory(blobs):
    # a backend plugs in as a factory; n_threads is passed only when it is accepted
    built = []

    def factory(n_components, covariance_type, n_init, random_state, max_iter):
        model = GaussianMixture(n_components, covariance_type=covariance_type, n_init=n_init,
                                random_state=random_state, max_iter=max_iter)
        built.append(model)
        return model

    result = select(blobs, n_components=[2, 3], covariance_types=["full"], random_state=0,
                    estimator=factory, max_iter=50)
    assert len(built) == 2 and all(m.n_threads is None for m in built)
    assert result.best_params_ == {"covariance_type": "full", "n_components": 3}
    with pytest.raises(ValueError, match="unknown parameter.*'tol'"):
        select(blobs, estimator=factory, tol=1e-3)


def test_blas_limit_restored_after_concurrent_fits(blobs):
    from threadpoolctl import threadpool_info

    before = [(lib["filepath"], lib["num_threads"]) for lib in threadpool_info()]
    select(blobs, n_components=range(1, 4), random_state=0, n_threads=2,
           schedule="concurrent")
    assert [(lib["filepath"], lib["num_threads"]) for lib in threadpool_info()] == before


def test_import_does_not_load_pandas_or_sklearn():
    assert optional_modules_after("import gmmcore; gmmcore.select") == "[]"
    assert "select" in gmmcore.__all__ and "SelectionResult" in gmmcore.__all__


INTERRUPTED_SCRIPT = textwrap.dedent("""
    import sys, threading, time, warnings
    import numpy as np
    import gmmcore
    warnings.simplefilter("ignore")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20_000, 6))
    print("fitting", flush=True)
    try:
        gmmcore.select(X, n_components=range(1, 31), n_threads=2, schedule="concurrent",
                       max_iter=100_000, tol=0.0, init_params="random_from_data")
    except KeyboardInterrupt:
        caught = time.monotonic()
        alive = [t.name for t in threading.enumerate() if t.name.startswith("gmmcore-select")]
        print("interrupted", caught, len(alive), flush=True)
        sys.exit(0)
    print("finished", flush=True)
""")


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery is POSIX")
def test_ctrl_c_stops_concurrent_candidates_quickly():
    # fits without end (tol=0, huge max_iter) would never let select return
    _, out, sent = interrupt_after_start(INTERRUPTED_SCRIPT, timeout=60)
    words = out.split()
    assert words and words[0] == "interrupted", out
    caught, alive = float(words[1]), int(words[2])
    assert caught - sent < 2.0, f"KeyboardInterrupt took {caught - sent:.2f} s"
    assert alive == 0, "candidate threads still running after select raised"


@pytest.mark.parametrize("n_threads", [None, 2, -1])
def test_kept_models_predict_on_the_callers_threads(blobs, n_threads):
    """Candidates fitted side by side ran on one thread each; the models select
    returns carry the n_threads the caller gave, for their predictions."""
    result = select(blobs, n_components=[1, 2, 3], covariance_types=["full", "diag"],
                    random_state=0, n_threads=n_threads, schedule="concurrent", keep="all")
    assert result.best_estimator_.n_threads == n_threads
    assert all(m.n_threads == n_threads for m in result.estimators_)
