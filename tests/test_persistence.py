"""Pickle and the safe, versioned .npz model file."""

import io
import json
import pickle
import threading

import numpy as np
import pytest

from gmmcore import GaussianMixture
from gmmcore._parallel import effective_n_threads, usable_cpu_count
from gmmcore._persistence import FORMAT_VERSION
from gmmcore.exceptions import ModelFileError
from conftest import COVARIANCE_TYPES, make_blobs

FITTED = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_",
          "converged_", "n_iter_", "lower_bound_", "lower_bounds_", "n_features_in_")


def fitted_model(covariance_type="full", dtype=np.float64, **params):
    X = make_blobs(n_samples=300, n_features=3, n_components=2, seed=2).astype(dtype)
    return GaussianMixture(2, covariance_type=covariance_type, random_state=0,
                           **params).fit(X), X


def assert_same(a, b, X):
    for name in FITTED:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
        assert np.asarray(getattr(a, name)).dtype == np.asarray(getattr(b, name)).dtype
    assert a.get_params().keys() == b.get_params().keys()
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    np.testing.assert_array_equal(a.score_samples(X), b.score_samples(X))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_pickle_and_npz_round_trips(covariance_type, dtype, tmp_path):
    gm, X = fitted_model(covariance_type, dtype, n_threads=2, on_degenerate="reseed")
    assert_same(pickle.loads(pickle.dumps(gm)), gm, X)
    path = tmp_path / "model.npz"
    gm.save(path)
    loaded = GaussianMixture.load(path)
    assert_same(loaded, gm, X)
    assert loaded.get_params()["n_threads"] == 2
    assert loaded.get_params()["on_degenerate"] == "reseed"


def test_round_trip_keeps_feature_names_and_array_parameters(tmp_path):
    pd = pytest.importorskip("pandas")
    X = make_blobs(n_samples=200, n_features=2, n_components=2, seed=1)
    gm = GaussianMixture(2, means_init=X[:2], random_state=3).fit(
        pd.DataFrame(X, columns=["u", "v"]))
    buffer = io.BytesIO()
    gm.save(buffer)
    buffer.seek(0)
    loaded = GaussianMixture.load(buffer)
    np.testing.assert_array_equal(loaded.feature_names_in_, ["u", "v"])
    np.testing.assert_array_equal(loaded.means_init, X[:2])
    assert loaded.random_state == 3


@pytest.mark.parametrize("init_params", ["random_from_data", "k-means++"])
def test_what_save_writes_load_reads_unnormalised_start_weights(init_params, tmp_path):
    # scikit-learn's max_iter=0 fit from these starts keeps weights summing to k/n
    gm, X = fitted_model(init_params=init_params, max_iter=0)
    assert not np.isclose(gm.weights_.sum(), 1.0)
    gm.save(tmp_path / "start.npz")
    assert_same(GaussianMixture.load(tmp_path / "start.npz"), gm, X)


def test_degenerate_events_are_kept(tmp_path):
    X = np.repeat(np.random.RandomState(0).randn(3, 2) * 3, 30, axis=0)
    gm = GaussianMixture(4, reg_covar=0.0, init_params="random", random_state=0,
                         on_degenerate="regularize").fit(X)
    assert gm.degenerate_events_
    gm.save(tmp_path / "model.npz")
    assert GaussianMixture.load(tmp_path / "model.npz").degenerate_events_ == \
        gm.degenerate_events_
    # a file from before the events were kept loads with none
    assert GaussianMixture.load(
        rewrite(tmp_path / "model.npz", degenerate_events_json=None)).degenerate_events_ == []


def rewrite(path, **changes):
    """A copy of a model file with arrays replaced (None removes one)."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    for name, value in changes.items():
        if value is None:
            arrays.pop(name)
        else:
            arrays[name] = value
    out = path.with_name("changed.npz")
    np.savez(out, **arrays)
    return out


@pytest.mark.parametrize("changes,match", [
    (dict(format_version=np.array(FORMAT_VERSION + 1)), "newer"),
    (dict(format=np.array("something.else")), "not a gmmcore model file"),
    (dict(means_=None), "no 'means_'"),
    (dict(precisions_cholesky_=np.ones((2, 3))), "shape"),
    (dict(weights_=np.array([-0.5, 1.5])), "non-negative"),
    (dict(weights_=np.array([0.0, 0.0])), "positive sum"),
    (dict(covariances_=np.full((2, 3, 3), np.nan)), "NaN"),
    (dict(params_json=np.array('{"n_components": 2, "evil": 1}')), "unknown parameters"),
    (dict(params_json=np.array("{not json")), "JSON"),
    (dict(n_features_in_=np.array(4)), "shape"),
    (dict(means_=np.zeros((2, 3), dtype=np.float32)), "dtype"),
    (dict(degenerate_events_json=np.array("{}")), "not a JSON list"),
    (dict(degenerate_events_json=np.array('[{"component": 0}]')), "degenerate event 0"),
    (dict(degenerate_events_json=np.array(
        '[{"init": 0, "iteration": 1, "component": 7, "reason": "empty", '
        '"action": "reseeded"}]')), "one of the 2 components"),
])
def test_bad_model_files_are_refused_with_a_clear_error(changes, match, tmp_path):
    gm, _ = fitted_model()
    path = tmp_path / "model.npz"
    gm.save(path)
    with pytest.raises(ModelFileError, match=match):
        GaussianMixture.load(rewrite(path, **changes))
    assert issubclass(ModelFileError, ValueError)


def with_params(path, **params):
    """A copy of a model file with constructor parameters edited."""
    with np.load(path, allow_pickle=False) as data:
        stored = json.loads(str(data["params_json"]))
    return rewrite(path, params_json=np.array(json.dumps({**stored, **params})))


@pytest.mark.parametrize("params,match", [
    ({"n_threads": 0}, "n_threads"), ({"n_threads": "8"}, "n_threads"),
    ({"n_threads": 2.5}, "n_threads"), ({"covariance_type": "round"}, "covariance_type"),
    ({"tol": -1}, "'tol'"), ({"reg_covar": float("nan")}, "'reg_covar'"),
    ({"max_iter": -1}, "'max_iter'"), ({"n_init": 0}, "'n_init'"),
    ({"init_params": "magic"}, "'init_params'"), ({"warm_start": "yes"}, "'warm_start'"),
    ({"verbose": -1}, "'verbose'"), ({"verbose_interval": 0}, "'verbose_interval'"),
    ({"on_degenerate": "explode"}, "'on_degenerate'"), ({"n_components": 0}, "'n_components'"),
    ({"random_state": "seed"}, "random_state"), ({"random_state": -3}, "[Ss]eed"),
])
def test_load_checks_every_parameter_as_fit_does(params, match, tmp_path):
    gm, _ = fitted_model()
    gm.save(tmp_path / "model.npz")
    with pytest.raises(ModelFileError, match=f"invalid parameter: .*{match}"):
        GaussianMixture.load(with_params(tmp_path / "model.npz", **params))


@pytest.mark.parametrize("name,value,match", [
    ("param.weights_init", np.array([0.5, 0.7]), "normalized"),
    ("param.means_init", np.zeros((2, 4)), "'means' should have the shape"),
    ("param.precisions_init", -np.ones((2, 3, 3)), "symmetric, positive-definite"),
])
def test_load_checks_array_parameters_as_fit_does(name, value, match, tmp_path):
    gm, _ = fitted_model()
    gm.save(tmp_path / "model.npz")
    with pytest.raises(ModelFileError, match=f"invalid parameter: .*{match}"):
        GaussianMixture.load(rewrite(tmp_path / "model.npz", **{name: value}))


def test_a_model_file_asking_for_3000_threads_starts_no_more_than_the_cpus(tmp_path):
    with pytest.warns(RuntimeWarning, match="n_threads=3000 is more than"):
        assert effective_n_threads(3000) == usable_cpu_count()
    gm, _ = fitted_model()
    gm.save(tmp_path / "model.npz")
    X = make_blobs(n_samples=4 * 8192, n_features=3, n_components=2, seed=2)
    before = threading.active_count()
    try:
        loaded = GaussianMixture.load(with_params(tmp_path / "model.npz", n_threads=3000))
    except ModelFileError:
        return
    with pytest.warns(RuntimeWarning, match="is more than"):
        loaded.predict(X)
    assert threading.active_count() - before < usable_cpu_count()


def test_loading_never_unpickles(tmp_path):
    gm, _ = fitted_model()
    path = tmp_path / "model.npz"
    gm.save(path)
    with np.load(path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    arrays["means_"] = np.array([object()], dtype=object)  # would need pickle to read
    evil = tmp_path / "evil.npz"
    np.savez(evil, **arrays)
    with pytest.raises(ModelFileError):
        GaussianMixture.load(evil)


def test_not_an_npz_and_unfitted_models(tmp_path):
    path = tmp_path / "junk.npz"
    path.write_bytes(b"\x01\x02 not a zip file")
    with pytest.raises(ModelFileError, match="junk.npz: it is binary data"):
        GaussianMixture.load(path)
    single = tmp_path / "single.npy"
    np.save(single, np.zeros(3))
    with pytest.raises(ModelFileError, match="single .npy array"):
        GaussianMixture.load(single)
    with pytest.raises(ValueError, match="not fitted"):
        GaussianMixture().save(tmp_path / "x.npz")


def model_bytes():
    gm = GaussianMixture(2, random_state=0).fit(make_blobs(60, 2, 2, seed=0))
    buffer = io.BytesIO()
    gm.save(buffer)
    return buffer.getvalue()


def load_bytes(raw):
    return GaussianMixture.load(io.BytesIO(raw))


def test_every_truncation_of_a_model_file_raises_model_file_error():
    raw = model_bytes()
    for end in [*range(0, len(raw), 5), len(raw) - 1]:
        with pytest.raises(ModelFileError, match="cannot load a model from the file object"):
            load_bytes(raw[:end])


def test_bit_flips_in_a_model_file_load_or_raise_model_file_error():
    # Every byte with its lowest bit flipped (a zip flag asks for encryption, a
    # compression method becomes unknown, a CRC or a digit of a header changes)
    # and every fifth with its highest; a flip in a field no reader checks (a time
    # stamp) may load.
    raw = model_bytes()
    flips = [(i, 0x01) for i in range(len(raw))] + [(i, 0x80) for i in range(0, len(raw), 5)]
    refused = set()
    for position, bit in flips:
        damaged = bytearray(raw)
        damaged[position] ^= bit
        try:
            load_bytes(bytes(damaged))
        except ModelFileError as exc:
            refused.add(str(exc).split(":")[1].strip())
    assert len(refused) > 10  # many kinds of damage were met, and each was a ModelFileError
    assert any("damaged" in message for message in refused)


def test_unreadable_and_empty_model_files(tmp_path):
    with pytest.raises(ModelFileError, match="Is a directory"):
        GaussianMixture.load(tmp_path)
    (tmp_path / "empty.npz").write_bytes(b"")
    with pytest.raises(ModelFileError, match="empty.npz: it is empty, not a gmmcore model"):
        GaussianMixture.load(tmp_path / "empty.npz")


@pytest.fixture
def not_models(tmp_path):
    X = make_blobs(50, 2, 2, seed=0)
    np.savetxt(tmp_path / "data.csv", X, delimiter=",", header="x,y", comments="")
    (tmp_path / "notes.txt").write_text("fitted on Tuesday, looks good\n")
    np.save(tmp_path / "data.npy", X)
    np.savez(tmp_path / "arrays.npz", X=X, labels=np.zeros(50))
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(GaussianMixture()))
    return tmp_path


@pytest.mark.parametrize("name,what", [
    ("data.csv", "a text file"), ("notes.txt", "a text file"),
    ("data.npy", "a single .npy array"),
    ("arrays.npz", r"an .npz archive \('X', 'labels'\) without gmmcore's 'format' marker"),
    ("model.pkl", "a Python pickle, which gmmcore never loads"),
])
def test_a_file_that_is_not_a_model_says_what_it_is_and_what_a_model_is(not_models, name,
                                                                        what):
    with pytest.raises(ModelFileError) as info:
        GaussianMixture.load(not_models / name)
    message = str(info.value)
    assert message.startswith(f"cannot load a model from {not_models / name}: it is ")
    assert info.match(what)
    assert info.match(r"not a gmmcore model file \(the .npz archive that "
                      r"GaussianMixture.save or 'gmmcore fit -o' writes\)")
    assert "allow_pickle" not in message


def test_an_object_array_in_a_model_file_is_named_without_pickle_advice(tmp_path):
    gm, _ = fitted_model()
    gm.save(tmp_path / "model.npz")
    with np.load(tmp_path / "model.npz", allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    arrays["means_"] = np.array([object()], dtype=object)
    np.savez(tmp_path / "evil.npz", **arrays)
    with pytest.raises(ModelFileError, match="array 'means_' holds Python objects") as info:
        GaussianMixture.load(tmp_path / "evil.npz")
    assert "allow_pickle" not in str(info.value)
