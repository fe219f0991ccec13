"""Bad input gets a clear ValueError or TypeError naming the problem, before any kernel runs."""

import numpy as np
import pytest

from gmmcore import GaussianMixture
from conftest import make_blobs

X_OK = make_blobs(n_samples=60, n_features=2, n_components=2, seed=0)


@pytest.fixture(scope="module")
def fitted():
    return GaussianMixture(2, random_state=0).fit(X_OK)


PREDICT_PATHS = ["predict", "predict_proba", "score_samples", "score", "bic", "aic"]


@pytest.mark.parametrize("value,match", [(np.nan, "contains NaN"),
                                         (np.inf, "infinity"), (-np.inf, "infinity")])
def test_non_finite_values_rejected_in_fit_and_every_predict_path(fitted, value, match):
    X = X_OK.copy()
    X[7, 1] = value
    with pytest.raises(ValueError, match=match):
        GaussianMixture(2).fit(X)
    with pytest.raises(ValueError, match=match):
        GaussianMixture(2).fit_predict(X)
    for method in PREDICT_PATHS:
        with pytest.raises(ValueError, match=match):
            getattr(fitted, method)(X)
    with pytest.raises(ValueError, match=match):
        GaussianMixture(2).fit(X.astype(np.float32))


@pytest.mark.parametrize("X,error,match", [
    (np.arange(10.0), ValueError, "Expected a 2D array.*1D.*reshape"),
    (np.zeros((4, 3, 2)), ValueError, "Expected a 2D array.*3D"),
    (np.zeros((0, 3)), ValueError, "0 sample"),
    (np.zeros((5, 0)), ValueError, "0 feature"),
    (np.array([["a", "b"], ["c", "d"]]), ValueError, "string"),
    (np.array([["1.0", "2"], ["3", "4"]]), ValueError, "string"),
    (np.ones((5, 2), dtype=complex), ValueError, "Complex data not supported"),
    (np.array([[1.0, None], [2.0, 3.0]], dtype=object), ValueError, "NaN"),
    (np.array([[1.0, "x"], [2.0, 3.0]], dtype=object), ValueError, "numbers"),
    ("not an array", TypeError, "array-like"),
    (42, TypeError, "array-like"),
    ([[1.0, 2.0], [3.0]], ValueError, "numeric array"),
])
def test_malformed_X(X, error, match, fitted):
    with pytest.raises(error, match=match):
        GaussianMixture(1).fit(X)
    with pytest.raises(error, match=match):
        fitted.predict_proba(X)


def test_object_array_of_numbers_is_converted():
    X = X_OK.astype(object)
    gm = GaussianMixture(2, random_state=0).fit(X)
    assert gm.means_.dtype == np.float64
    np.testing.assert_array_equal(gm.predict(X), GaussianMixture(2, random_state=0).fit(
        X_OK).predict(X_OK))


def test_fewer_samples_than_components():
    with pytest.raises(ValueError, match="n_samples >= n_components"):
        GaussianMixture(5).fit(X_OK[:4])
    with pytest.raises(ValueError, match="minimum of 2"):
        GaussianMixture(1).fit(X_OK[:1])


@pytest.mark.parametrize("params,name", [
    (dict(n_components=0), "n_components"), (dict(n_components=-1), "n_components"),
    (dict(n_components=1.5), "n_components"), (dict(n_components="3"), "n_components"),
    (dict(n_components=True), "n_components"),
    (dict(covariance_type="banana"), "covariance_type"),
    (dict(covariance_type=None), "covariance_type"),
    (dict(tol=-1.0), "tol"), (dict(tol=np.nan), "tol"), (dict(tol="0.1"), "tol"),
    (dict(reg_covar=-1e-6), "reg_covar"), (dict(reg_covar=np.inf), "reg_covar"),
    (dict(max_iter=-1), "max_iter"), (dict(max_iter=2.5), "max_iter"),
    (dict(n_init=0), "n_init"),
    (dict(init_params="kmeans++"), "init_params"),
    (dict(warm_start="yes"), "warm_start"),
    (dict(verbose=-1), "verbose"), (dict(verbose_interval=0), "verbose_interval"),
    (dict(n_threads=0), "n_threads"), (dict(n_threads=1.5), "n_threads"),
    (dict(on_degenerate="ignore"), "on_degenerate"),
    (dict(random_state="seed"), "random_state"), (dict(random_state=1.5), "random_state"),
])
def test_invalid_parameters_name_the_parameter(params, name):
    gm = GaussianMixture(**{"n_components": 2, **params})
    with pytest.raises(ValueError, match=name):
        gm.fit(X_OK)


@pytest.mark.parametrize("covariance_type,precisions,match", [
    ("full", np.ones((2, 2, 2)), "symmetric, positive-definite"),
    ("full", np.array([[[1.0, 2.0], [0.0, 1.0]]] * 2), "symmetric, positive-definite"),
    ("full", np.eye(2), "shape"),
    ("tied", -np.eye(2), "symmetric, positive-definite"),
    ("tied", np.ones((2, 2, 2)), "shape"),
    ("diag", np.array([[1.0, -1.0], [1.0, 1.0]]), "positive"),
    ("diag", np.ones(2), "shape"),
    ("spherical", np.array([1.0, 0.0]), "positive"),
    ("spherical", np.ones(3), "shape"),
    ("spherical", np.array([1.0, np.nan]), "NaN"),
])
def test_bad_precisions_init(covariance_type, precisions, match):
    gm = GaussianMixture(2, covariance_type=covariance_type, precisions_init=precisions)
    with pytest.raises(ValueError, match=match):
        gm.fit(X_OK)


@pytest.mark.parametrize("weights,match", [
    (np.array([0.5, 0.6]), "normalized"), (np.array([-0.5, 1.5]), "range"),
    (np.array([1.0]), "shape"), (np.array([[0.5, 0.5]]), "shape"),
])
def test_bad_weights_init(weights, match):
    with pytest.raises(ValueError, match=match):
        GaussianMixture(2, weights_init=weights).fit(X_OK)


def test_bad_means_init():
    with pytest.raises(ValueError, match="shape"):
        GaussianMixture(2, means_init=np.zeros((2, 3))).fit(X_OK)
    with pytest.raises(ValueError, match="NaN"):
        GaussianMixture(2, means_init=np.array([[0.0, np.nan], [1.0, 1.0]])).fit(X_OK)


@pytest.mark.parametrize("weights,match", [
    (-np.ones(60), "non-negative"), (np.full(60, np.nan), "NaN"), (np.ones(59), "shape"),
    (np.zeros(60), "positive entry"), (np.array(["a"] * 60), "numeric"),
])
def test_bad_sample_weight(weights, match, fitted):
    with pytest.raises((ValueError, TypeError), match=match):
        GaussianMixture(2).fit(X_OK, sample_weight=weights)
    with pytest.raises((ValueError, TypeError), match=match):
        fitted.score(X_OK, sample_weight=weights)


def test_too_many_features_for_a_full_covariance_is_refused_before_allocating():
    X = np.lib.stride_tricks.as_strided(np.zeros(1), shape=(3, 50_000), strides=(0, 0))
    with pytest.raises(ValueError, match="n_features"):
        GaussianMixture(1).fit(X)


def test_sample_requires_a_positive_count(fitted):
    for bad in (0, -3, 2.5):
        with pytest.raises(ValueError, match="n_samples"):
            fitted.sample(bad)


def test_dataframe_columns_that_are_not_numbers_are_named(fitted):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({
        "x": X_OK[:, 0], "city": ["Oslo", "Lima"] * 30,
        "kind": pd.Categorical([1.0, 2.0] * 30), "code": pd.array(["7"] * 60, dtype="string"),
        "y": X_OK[:, 1]})
    match = r"non-numeric column\(s\) 'city' \(.*\), 'kind' \(category\), 'code' \(.*\);"
    with pytest.raises(ValueError, match=match + " a Gaussian mixture needs numbers"):
        GaussianMixture(2).fit(frame)
    with pytest.warns(UserWarning, match="feature names"), \
            pytest.raises(ValueError, match=r"non-numeric column\(s\) 'city' \(.*\);"):
        fitted.predict(frame[["x", "city"]])
    # object columns holding only numbers (and None) are numbers
    numbers = pd.DataFrame({"x": X_OK[:, 0].astype(object), "y": X_OK[:, 1]})
    np.testing.assert_array_equal(GaussianMixture(2, random_state=0).fit(numbers).means_,
                                  GaussianMixture(2, random_state=0).fit(X_OK).means_)


@pytest.mark.parametrize("dtype", ["Float64", "Int64", "Float32"])
def test_pd_na_in_a_nullable_column_is_nan_as_in_scikit_learn(fitted, dtype):
    pd = pytest.importorskip("pandas")
    values = np.round(X_OK * 100) if dtype == "Int64" else X_OK
    frame = pd.DataFrame(values, columns=["x", "y"]).astype(
        {"x": dtype, "y": "float64" if dtype != "Float32" else "float32"})
    gm = GaussianMixture(2, random_state=0).fit(frame)  # no NA: fits as the numbers
    assert gm.means_.dtype == (np.float32 if dtype == "Float32" else np.float64)
    frame.iloc[7, 0] = pd.NA
    with pytest.raises(ValueError, match=r"^Input X contains NaN\.$"):
        GaussianMixture(2).fit(frame)
    for method in PREDICT_PATHS:
        with pytest.raises(ValueError, match=r"^Input X contains NaN\.$"):
            getattr(gm, method)(frame)


@pytest.mark.parametrize("dtype,scale,match", [
    (np.float32, 1e19, "overflows float32 in the second moments. Scale the input data or "
                       "pass float64 data instead of float32"),
    (np.float64, 1e160, "overflows float64 in the second moments. Scale the input data.$"),
])
def test_an_overflow_names_the_dtype_it_overflows(dtype, scale, match):
    X = (make_blobs(n_samples=200, n_features=2, n_components=2, seed=0) * scale).astype(dtype)
    with np.errstate(over="ignore"), pytest.raises(ValueError, match=match):
        GaussianMixture(2, init_params="random", random_state=0).fit(X)


def test_a_generator_instead_of_the_chunk_callable_says_to_pass_the_callable():
    def chunks():
        yield X_OK[:30]
        yield X_OK[30:]

    with pytest.raises(TypeError, match=r"X is an iterator \(generator\).*pass the callable "
                                        r"that returns a new iterator.*fit\(chunks\), not "
                                        r"fit\(chunks\(\)\)"):
        GaussianMixture(2).fit(chunks())
    with pytest.raises(TypeError, match=r"fit\(chunks\), not fit\(chunks\(\)\)"):
        GaussianMixture(2).fit(iter([X_OK[:30], X_OK[30:]]))
    GaussianMixture(2, random_state=0).fit(chunks)  # the callable fits


def test_a_chunk_source_returning_a_used_up_iterator_says_to_return_a_new_one():
    used_up = iter([X_OK[:30], X_OK[30:]])
    with pytest.raises(ValueError, match=r"yielded no chunks on this call, but 60 rows on the "
                                         r"first: the callable must return a NEW iterator"):
        GaussianMixture(2).fit(lambda: used_up)
    shared = (chunk for chunk in [X_OK[:20], X_OK[20:40], X_OK[40:]] * 2)
    with pytest.raises(ValueError, match="must return a NEW iterator"):
        GaussianMixture(2).fit(lambda: shared)


@pytest.mark.parametrize("empty", [X_OK[:0], np.empty((0, 2), dtype=np.float32)])
def test_an_empty_chunk_is_named_by_its_index(empty):
    with pytest.raises(ValueError, match=r"^chunk 2 of the chunk source is empty \(0 rows\)"):
        GaussianMixture(2).fit(lambda: iter([X_OK[:30], X_OK[30:], empty]))
