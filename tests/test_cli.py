"""The command line: results equal the Python API's, every user error is one line
with its documented exit code, progress goes to stderr."""

import argparse
import io
import os
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest

import gmmcore
from gmmcore import GaussianMixture
from gmmcore._cli import component_counts, main
from conftest import default_sigint, make_blobs


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def run_subprocess(*argv, **kwargs):
    return subprocess.run([sys.executable, "-m", "gmmcore", *map(str, argv)],
                          capture_output=True, text=True, timeout=120, **kwargs)


def assert_one_line_error(code, err, expected_code, *fragments):
    assert code == expected_code, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gmmcore: error: "), err
    for fragment in fragments:
        assert fragment in lines[0]


def write_csv(path, header, columns):
    """Columns as CSV text, floats by repr (exact); header None for none."""
    rows = zip(*[c.tolist() if isinstance(c, np.ndarray) else c for c in columns])
    lines = ([",".join(header)] if header else []) + [",".join(map(str, r)) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def summary(out):
    return dict(line.split(":", 1) for line in out.strip().splitlines())


def separated_blobs(n_per_cluster=100, seed=0):
    rng = np.random.RandomState(seed)
    centers = np.array([[0.0, 0.0], [12.0, 0.0], [0.0, 12.0]])
    return np.vstack([rng.randn(n_per_cluster, 2) + c for c in centers])


@pytest.fixture(scope="module")
def X():
    return make_blobs(n_samples=300, n_features=2, n_components=3, seed=0)


@pytest.fixture
def data_npy(tmp_path, X):
    path = tmp_path / "data.npy"
    np.save(path, X)
    return path


@pytest.fixture(scope="module")
def model_file(tmp_path_factory, X):
    """A model fitted through the API and saved: the reference for predictions."""
    path = tmp_path_factory.mktemp("model") / "model.npz"
    GaussianMixture(3, random_state=0).fit(X).save(path)
    return path


# ----------------------------------------------------------------------
# fit
# ----------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_fit_equals_the_api_fit(tmp_path, capsys, X, data_npy, covariance_type, dtype):
    model_path = tmp_path / "model.npz"
    code, out, err = run(capsys, "fit", data_npy, "-k", 3, "--covariance-type",
                         covariance_type, "--random-state", 0, "--dtype", dtype,
                         "-o", model_path)
    assert code == 0, err
    cli = GaussianMixture.load(model_path)
    X_typed = X.astype(dtype)
    api = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X_typed)
    assert cli.means_.dtype == np.dtype(dtype)
    for name in ("means_", "weights_", "covariances_"):
        np.testing.assert_allclose(getattr(cli, name), getattr(api, name), rtol=1e-12,
                                   atol=1e-12)
    facts = summary(out)
    assert facts["n_iter"].strip() == str(api.n_iter_)
    assert facts["converged"].strip() == ("yes" if api.converged_ else "no")
    assert float(facts["bic"]) == pytest.approx(api.bic(X_typed), abs=1e-4)
    assert float(facts["mean_log_likelihood"]) == pytest.approx(api.score(X_typed), abs=1e-6)
    assert facts["model"].strip() == str(model_path)


def test_fit_passes_every_estimator_option(tmp_path, capsys, X, data_npy):
    options = dict(n_components=2, covariance_type="diag", tol=1e-4, reg_covar=1e-5,
                   max_iter=50, n_init=2, init_params="k-means++", random_state=3,
                   n_threads=1, on_degenerate="reseed")
    argv = [f"--{name.replace('_', '-')}={value}" for name, value in options.items()]
    code, _, err = run(capsys, "fit", data_npy, *argv, "-o", tmp_path / "m.npz")
    assert code == 0, err
    cli = GaussianMixture.load(tmp_path / "m.npz")
    params = cli.get_params()
    assert {name: params[name] for name in options} == options
    api = GaussianMixture(**options).fit(X)
    np.testing.assert_allclose(cli.means_, api.means_, rtol=1e-12, atol=1e-12)


def test_model_path_gets_npz_and_the_summary_says_where(tmp_path, capsys, data_npy):
    code, out, _ = run(capsys, "fit", data_npy, "-k", 2, "-o", tmp_path / "model")
    assert code == 0
    assert summary(out)["model"].strip() == str(tmp_path / "model.npz")
    assert GaussianMixture.load(tmp_path / "model.npz").n_components == 2


def test_verbose_progress_goes_to_stderr(tmp_path, capsys, data_npy):
    code, out, err = run(capsys, "fit", data_npy, "-k", 3, "--random-state", 0, "-v",
                         "-o", tmp_path / "m.npz")
    assert code == 0
    model = GaussianMixture.load(tmp_path / "m.npz")
    iterations = [line for line in err.splitlines() if line.startswith("  Iteration")]
    assert len(iterations) == model.n_iter_ >= 2
    assert all("time lapse" in line and "log-likelihood" in line for line in iterations)
    last_ll = float(iterations[-1].rsplit("log-likelihood", 1)[1])
    assert last_ll == pytest.approx(model.lower_bound_, abs=1e-5)
    assert "Iteration" not in out and "model" in summary(out)


def test_quiet_prints_nothing_and_warnings_are_one_line(tmp_path, capsys, data_npy):
    argv = ["fit", data_npy, "-k", 3, "--max-iter", 1, "--tol", 0, "-o", tmp_path / "m.npz"]
    code, out, err = run(capsys, *argv)
    assert code == 0
    assert summary(out)["converged"].strip() == "no"
    assert err.startswith("gmmcore: warning: Best performing initialization did not converge")
    assert len(err.strip().splitlines()) == 1
    code, out, err = run(capsys, *argv, "-q")
    assert (code, out, err) == (0, "", "")
    assert (tmp_path / "m.npz").exists()


# ----------------------------------------------------------------------
# predict, predict-proba, score
# ----------------------------------------------------------------------

def read_output(fmt, path, out):
    """(header, values) of a result written as fmt ('stdout' is CSV text on stdout)."""
    if fmt == ".npy":
        return None, np.load(path)
    if fmt == ".parquet":
        import pandas as pd

        frame = pd.read_parquet(path)
        return list(frame.columns), frame.to_numpy()
    text = out if fmt == "stdout" else path.read_text()
    lines = text.splitlines()
    return lines[0].split(","), np.loadtxt(lines[1:], delimiter=",", ndmin=2)


@pytest.mark.parametrize("fmt", [".npy", ".csv", ".parquet", "stdout"])
@pytest.mark.parametrize("command", ["predict", "predict-proba"])
def test_predictions_equal_the_api_in_every_format(tmp_path, capsys, X, data_npy, model_file,
                                                   command, fmt):
    if fmt == ".parquet":
        pytest.importorskip("pyarrow")
    model = GaussianMixture.load(model_file)
    expected = model.predict(X) if command == "predict" else model.predict_proba(X)
    out_path = tmp_path / f"out{fmt}"
    argv = [command, model_file, data_npy] + ([] if fmt == "stdout" else ["-o", out_path])
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    header, values = read_output(fmt, out_path, out)
    if fmt == "stdout":
        assert err == ""
    else:
        assert out == ""
    if header is not None:
        assert header == (["label"] if command == "predict" else ["p0", "p1", "p2"])
    if command == "predict-proba" and fmt in (".csv", "stdout"):  # 6 digits by default
        np.testing.assert_allclose(values, expected, rtol=5e-6, atol=0)
    else:
        np.testing.assert_array_equal(values.reshape(expected.shape), expected)
    if fmt == ".npy":
        assert values.dtype == expected.dtype


@pytest.mark.parametrize("digits", [None, 2, 17])
def test_predict_proba_digits_of_csv_output(tmp_path, capsys, X, data_npy, model_file,
                                            digits):
    expected = GaussianMixture.load(model_file).predict_proba(X)
    argv = ["predict-proba", model_file, data_npy] + (
        [] if digits is None else ["--digits", digits])
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    rows = [line.split(",") for line in out.splitlines()[1:]]
    spec = f".{digits or 6}g"
    assert rows == [[format(v, spec) for v in row] for row in expected.tolist()]
    if digits == 17:  # every digit: reads back to the same numbers
        np.testing.assert_array_equal(np.array(rows, dtype=float), expected)


def test_digits_option_is_documented_and_checked(capsys, model_file, data_npy):
    code, out, _ = run(capsys, "predict-proba", "--help")
    assert code == 0
    assert "--digits N" in out and "significant digits" in out and "default: 6" in out
    code, _, err = run(capsys, "predict-proba", model_file, data_npy, "--digits", 0)
    assert_one_line_error(code, err, 2, "--digits", "an integer from 1 to 17")


def test_score_mean_and_per_sample(tmp_path, capsys, X, data_npy, model_file):
    model = GaussianMixture.load(model_file)
    code, out, _ = run(capsys, "score", model_file, data_npy)
    assert code == 0 and float(out) == model.score(X)
    code, out, _ = run(capsys, "score", model_file, data_npy, "--per-sample")
    header, values = read_output("stdout", None, out)
    assert code == 0 and header == ["log_likelihood"]
    np.testing.assert_array_equal(values[:, 0], model.score_samples(X))
    code, _, _ = run(capsys, "score", model_file, data_npy, "--per-sample",
                     "-o", tmp_path / "ll.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "ll.npy"), model.score_samples(X))


# ----------------------------------------------------------------------
# Data files
# ----------------------------------------------------------------------

def test_csv_with_header_and_columns(tmp_path, capsys, X):
    n = len(X)
    ids = np.arange(n, dtype=float)
    tags = [f"t{i % 3}" for i in range(n)]
    data = write_csv(tmp_path / "data.csv", ["id", "x", "tag", "y"], [ids, X[:, 0], tags, X[:, 1]])
    api = GaussianMixture(3, random_state=0).fit(X)

    for columns in ("x,y", "1,3"):
        code, out, err = run(capsys, "fit", data, "-k", 3, "--random-state", 0,
                             "--columns", columns, "-o", tmp_path / "m.npz")
        assert code == 0, err
        cli = GaussianMixture.load(tmp_path / "m.npz")
        np.testing.assert_allclose(cli.means_, api.means_, rtol=1e-12, atol=1e-12)
        assert list(cli.feature_names_in_) == ["x", "y"]
        assert summary(out)["columns"].strip() == "x,y"

    # the model's columns are found by name in a file that orders them otherwise
    other = write_csv(tmp_path / "other.csv", ["y", "note", "x"],
                      [X[:, 1], ["a"] * n, X[:, 0]])
    code, out, err = run(capsys, "predict", tmp_path / "m.npz", other)
    assert code == 0 and err == ""
    np.testing.assert_array_equal(read_output("stdout", None, out)[1][:, 0], api.predict(X))

    lacking = write_csv(tmp_path / "lacking.csv", ["x", "z"], [X[:, 0], X[:, 1]])
    code, out, err = run(capsys, "predict", tmp_path / "m.npz", lacking)
    assert_one_line_error(code, err, 2, "no column 'y'", "fitted on columns x, y")

    # without --columns: every numeric column, the text column skipped
    code, out, _ = run(capsys, "fit", data, "-k", 2, "-o", tmp_path / "all.npz")
    assert code == 0
    assert summary(out)["columns"].strip() == "id,x,y"
    assert GaussianMixture.load(tmp_path / "all.npz").n_features_in_ == 3


def test_headerless_csv_and_stdin_equal_the_npy_fit(tmp_path, capsys, monkeypatch, X,
                                                    data_npy):
    data = write_csv(tmp_path / "data.csv", None, [X[:, 0], X[:, 1]])
    fits = {}
    for source in (data_npy, data, "-"):
        if source == "-":
            monkeypatch.setattr(sys, "stdin", io.StringIO("x,y\n" + data.read_text()))
        code, out, err = run(capsys, "fit", source, "-k", 3, "--random-state", 0,
                             "-o", tmp_path / "m.npz")
        assert code == 0, err
        fits[str(source)] = GaussianMixture.load(tmp_path / "m.npz")
    assert not hasattr(fits[str(data)], "feature_names_in_")
    assert list(fits["-"].feature_names_in_) == ["x", "y"]
    for model in fits.values():
        np.testing.assert_array_equal(model.means_, fits[str(data_npy)].means_)


def test_parquet_data(tmp_path, capsys, X):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    frame = pd.DataFrame({"a": X[:, 0], "label": ["u"] * len(X), "b": X[:, 1]})
    frame.to_parquet(tmp_path / "data.parquet")
    code, out, err = run(capsys, "fit", tmp_path / "data.parquet", "-k", 3, "--random-state",
                         0, "-o", tmp_path / "m.npz")
    assert code == 0, err
    assert summary(out)["columns"].strip() == "a,b"
    api = GaussianMixture(3, random_state=0).fit(X)
    np.testing.assert_allclose(GaussianMixture.load(tmp_path / "m.npz").means_, api.means_,
                               rtol=1e-12, atol=1e-12)


def test_one_dimensional_npy_is_one_feature(tmp_path, capsys, X):
    np.save(tmp_path / "x.npy", X[:, 0])
    code, out, _ = run(capsys, "fit", tmp_path / "x.npy", "-k", 2, "-o", tmp_path / "m.npz")
    assert code == 0 and summary(out)["n_features"].strip() == "1"


def test_float32_data_stays_float32(tmp_path, capsys, X):
    np.save(tmp_path / "x32.npy", X.astype(np.float32))
    code, out, _ = run(capsys, "fit", tmp_path / "x32.npy", "-k", 2, "-o", tmp_path / "m.npz")
    assert code == 0 and summary(out)["dtype"].strip() == "float32"
    assert GaussianMixture.load(tmp_path / "m.npz").means_.dtype == np.float32


# ----------------------------------------------------------------------
# Errors: one line, documented exit code, nothing written
# ----------------------------------------------------------------------

@pytest.fixture
def bad_files(tmp_path, X):
    (tmp_path / "garbage.npy").write_bytes(b"not an array" * 8)
    np.save(tmp_path / "strings.npy", np.array([["a", "b"], ["c", "d"]]))
    write_csv(tmp_path / "named.csv", ["x", "tag", "y"], [X[:, 0], ["t"] * len(X), X[:, 1]])
    (tmp_path / "empty_value.csv").write_text("x,y\n1,2\n3,\n5,6\n")
    (tmp_path / "text_value.csv").write_text("x,y\n1,2\n3,abc\n5,6\n")
    (tmp_path / "header_only.csv").write_text("x,y\n")
    (tmp_path / "data.txt").write_text("1,2\n3,4\n")
    np.save(tmp_path / "three.npy", np.hstack([X, X[:, :1]]))
    np.savez(tmp_path / "not_a_model.npz", means_=np.zeros((2, 2)))
    np.save(tmp_path / "degenerate.npy",
            np.repeat(np.random.RandomState(0).randn(3, 2) * 3, 30, axis=0))
    return tmp_path


USAGE_ERRORS = {
    "missing data file": (["fit", "{d}/nope.csv"], "no such data file"),
    "unsupported data format": (["fit", "{d}/data.txt"], "unsupported extension .txt"),
    "garbage npy": (["fit", "{d}/garbage.npy"], "cannot read"),
    "string npy": (["fit", "{d}/strings.npy"], "not real numbers"),
    "non-numeric column": (["fit", "{d}/named.csv", "--columns", "x,tag"],
                           "column 'tag'", "not numeric"),
    "unknown column": (["fit", "{d}/named.csv", "--columns", "x,zz"], "no column 'zz'"),
    "column index out of range": (["fit", "{d}/named.csv", "--columns", "0,7"],
                                  "column index 7 is out of range"),
    "column selected twice": (["fit", "{d}/named.csv", "--columns", "x,0"], "selected twice"),
    "name on a headerless file": (["fit", "{d}/three.npy", "--columns", "x"], "no header"),
    "empty value": (["fit", "{d}/empty_value.csv"], "column 'y'", "empty value",
                    "data row 2"),
    "text value": (["fit", "{d}/text_value.csv"], "column 'y'", "'abc'", "data row 2"),
    "no data rows": (["fit", "{d}/header_only.csv"], "no data rows"),
    "more components than samples": (["fit", "{d}/three.npy", "-k", "1000"],
                                     "fewer than the 1000 components"),
    "k of zero": (["fit", "{d}/named.csv", "-k", "0"], "--n-components", "'0'"),
    "negative tol": (["fit", "{d}/named.csv", "--tol", "-1"], "--tol"),
    "unknown covariance type": (["fit", "{d}/named.csv", "--covariance-type", "round"],
                                "invalid choice: 'round'"),
    "zero threads": (["fit", "{d}/named.csv", "--n-threads", "0"], "--n-threads"),
    "negative seed": (["fit", "{d}/named.csv", "--random-state", "-1"], "--random-state"),
    "unknown option": (["fit", "{d}/named.csv", "--frobnicate"], "unrecognized arguments"),
    "missing output directory": (["fit", "{d}/named.csv", "-o", "{d}/no/m.npz"],
                                 "no directory"),
    "missing model file": (["predict", "{d}/nope.npz", "{d}/named.csv"],
                           "no such model file"),
    "not a model file": (["predict", "{d}/not_a_model.npz", "{d}/named.csv"], "model file"),
    "model and data mismatch": (["predict", "{model}", "{d}/three.npy"], "3 feature columns",
                                "fitted on 2"),
    "unsupported output format": (["predict", "{model}", "{d}/named.csv", "-o",
                                   "{d}/out.xlsx"], "unsupported extension .xlsx"),
    "score file without per-sample": (["score", "{model}", "{d}/named.csv", "-o",
                                       "{d}/out.csv"], "--per-sample"),
    "bad select counts": (["select", "{d}/named.csv", "-k", "3-1"], "'3-1'"),
    "bad select types": (["select", "{d}/named.csv", "--covariance-types", "full,round"],
                         "'round'"),
}


@pytest.mark.parametrize("case", USAGE_ERRORS)
def test_usage_errors_exit_2_with_one_line(capsys, bad_files, model_file, case):
    argv, *fragments = USAGE_ERRORS[case]
    argv = [a.format(d=bad_files, model=model_file) for a in argv]
    if argv[0] == "fit" and "-o" not in argv:
        argv += ["-o", str(bad_files / "m.npz")]
    before = set(os.listdir(bad_files))
    code, out, err = run(capsys, *argv)
    assert_one_line_error(code, err, 2, *fragments)
    assert out == "" and set(os.listdir(bad_files)) == before


def damaged_models(model_file, directory):
    """Copies of a model file, truncated or with a flipped bit, and one empty."""
    raw = model_file.read_bytes()
    central = raw.index(b"PK\x01\x02")  # the zip's central directory
    damaged = {"empty": b"", "truncated": raw[:len(raw) // 2],
               "last byte cut": raw[:-1], "no directory": raw[:central]}
    for name, offset in (("encryption flag", 8), ("compression method", 10),
                         ("zip version", 6), ("crc", 16)):
        flipped = bytearray(raw)
        flipped[central + offset] ^= 0x01 if name != "zip version" else 0x40
        damaged[name] = bytes(flipped)
    for name, content in damaged.items():
        (directory / f"{name}.npz").write_bytes(content)
    return damaged


@pytest.mark.parametrize("command", ["predict", "predict-proba", "score"])
def test_damaged_model_files_exit_2_with_one_line(capsys, tmp_path, model_file, data_npy,
                                                  command):
    for name in damaged_models(model_file, tmp_path):
        code, out, err = run(capsys, command, tmp_path / f"{name}.npz", data_npy)
        assert_one_line_error(code, err, 2, f"cannot load a model from {tmp_path}/{name}.npz:")
        assert out == ""


@pytest.mark.parametrize("model,what", [
    ("{d}/named.csv", "it is a text file"),
    ("{d}/three.npy", "it is a single .npy array"),
    ("{d}/not_a_model.npz", "it is an .npz archive ('means_') without gmmcore's 'format'"),
])
def test_a_file_that_is_not_a_model_is_named_for_what_it_is(capsys, bad_files, model, what):
    model = model.format(d=bad_files)
    code, out, err = run(capsys, "predict", model, bad_files / "three.npy")
    assert_one_line_error(code, err, 2, f"cannot load a model from {model}: {what}",
                          "GaussianMixture.save or 'gmmcore fit -o'")
    assert "allow_pickle" not in err and out == ""


def test_swapped_model_and_data_say_which_comes_first(capsys, bad_files, model_file):
    code, out, err = run(capsys, "predict-proba", bad_files / "three.npy", model_file)
    assert_one_line_error(code, err, 2, "it is a single .npy array",
                          "the model comes first: gmmcore predict-proba MODEL DATA")
    done = run_subprocess("score", bad_files / "named.csv", model_file)
    assert_one_line_error(done.returncode, done.stderr, 2, "it is a text file",
                          "the model comes first")
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("content,fragment", [
    ("x;y\n1.5;2.5\n3;4\n", "separate its values with semicolons"),
    ("x;y\n1,5;2,5\n3,25;4\n", "separate its values with semicolons"),
    ("x\ty\n1.5\t2.5\n3\t4\n", "separate its values with tabs"),
    ("1,5\t2,5\n3\t4\n", "separate its values with tabs"),
    ('x,y\n"1,5","2,5"\n"3,0","4,0"\n', "decimal comma ('1,5')"),
])
def test_semicolons_tabs_and_decimal_commas_are_named(capsys, tmp_path, content, fragment):
    (tmp_path / "data.csv").write_text(content)
    code, out, err = run(capsys, "fit", tmp_path / "data.csv", "-o", tmp_path / "m.npz")
    assert_one_line_error(code, err, 2, fragment, "comma-separated values with decimal "
                          "points only (like 1.5,2.25)")
    assert not (tmp_path / "m.npz").exists()


@pytest.mark.parametrize("content,columns,fragment", [
    ("x,y,z\n1,2,3\n4,5\n6,7,8\n", None, "line 3 of {path} has 2 values, but 3 were"),
    ("# made by hand\nx,y,z\n\n1,2,3\n4,5,6\n7,8,9,10\n", None, "line 6 of {path} has 4"),
    ("x,y,z\n1,2,3\n4,5\n6,7,8\n", "x,y", "line 3 of {path} has 2 values"),
    ("x,y,z\n1,2,3\n4,5,6,7\n", "x,y", "line 3 of {path} has 4 values"),
    ("x,y\n1,2,3\n4,5,6\n", None, "line 2 of {path} has 3 values, but 2 were"),
    ("1,2,3\n4,5\n", None, "line 2 of {path} has 2 values, but 3 were"),
])
def test_a_ragged_row_is_named_by_its_line(capsys, tmp_path, content, columns, fragment):
    path = tmp_path / "data.csv"
    path.write_text(content)
    argv = ["fit", path, "-o", tmp_path / "m.npz"] + (["--columns", columns] if columns else [])
    code, out, err = run(capsys, *argv)
    assert_one_line_error(code, err, 2, fragment.format(path=path))


def test_text_columns_left_out_are_named_on_stderr(capsys, tmp_path, bad_files):
    code, out, err = run(capsys, "fit", bad_files / "named.csv", "-o", tmp_path / "m.npz")
    assert code == 0
    assert err == (f"gmmcore: warning: {bad_files / 'named.csv'}: text column(s) 'tag' are "
                   "not used (choose the columns with --columns)\n")
    assert summary(out)["columns"].strip() == "x,y"
    code, out, err = run(capsys, "fit", bad_files / "named.csv", "-q", "-o", tmp_path / "m.npz")
    assert code == 0 and err == ""
    (tmp_path / "plain.csv").write_text("1,a,2\n3,b,4\n5,c,7\n")
    code, out, err = run(capsys, "fit", tmp_path / "plain.csv", "-o", tmp_path / "m.npz")
    assert code == 0 and "text column(s) 1 are not used" in err


def test_parquet_without_pyarrow_says_what_to_install(tmp_path, capsys, monkeypatch,
                                                     model_file, data_npy):
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow now fails
    (tmp_path / "data.parquet").write_bytes(b"PAR1")
    code, _, err = run(capsys, "fit", tmp_path / "data.parquet", "-o", tmp_path / "m.npz")
    assert_one_line_error(code, err, 2, "pip install gmmcore[parquet]")
    code, _, err = run(capsys, "predict", model_file, data_npy, "-o", tmp_path / "out.parquet")
    assert_one_line_error(code, err, 2, "pip install gmmcore[parquet]")


def test_degenerate_data_exits_1(capsys, bad_files):
    code, out, err = run(capsys, "fit", bad_files / "degenerate.npy", "-k", 4, "--reg-covar",
                         0, "--init-params", "random", "--random-state", 0,
                         "-o", bad_files / "m.npz")
    assert_one_line_error(code, err, 1, "ill-defined empirical covariance",
                          "increase --reg-covar, pass --on-degenerate reseed,")
    assert " reg_covar" not in err  # the Python name means nothing on the command line
    assert out == "" and not (bad_files / "m.npz").exists()
    # the remedy the message names fits the same data
    code, _, err = run(capsys, "fit", bad_files / "degenerate.npy", "-k", 4, "--reg-covar", 0,
                       "--init-params", "random", "--random-state", 0, "--on-degenerate",
                       "reseed", "-q", "-o", bad_files / "m.npz")
    assert code == 0, err
    # the estimator's remedy, through its option, fits the same data
    code, _, err = run(capsys, "fit", bad_files / "degenerate.npy", "-k", 4, "--reg-covar", 0,
                       "--init-params", "random", "--random-state", 0, "--on-degenerate",
                       "regularize", "-q", "-o", bad_files / "m.npz")
    assert code == 0, err


def test_help_documents_the_exit_codes(capsys):
    for argv in (["--help"], ["fit", "--help"]):
        code, out, _ = run(capsys, *argv)
        assert code == 0
        assert "exit codes:" in out and "130" in out and "usage error" in out
    assert "exit codes" in gmmcore._cli.__doc__.lower()
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.strip() == f"gmmcore {gmmcore.__version__}"


# ----------------------------------------------------------------------
# select
# ----------------------------------------------------------------------

def test_select_picks_the_true_k_and_lists_every_candidate(tmp_path, capsys):
    X = separated_blobs()
    np.save(tmp_path / "blobs.npy", X)
    code, out, err = run(capsys, "select", tmp_path / "blobs.npy", "-k", "1-5",
                         "--covariance-types", "full,diag", "--random-state", 0,
                         "-o", tmp_path / "best.npz")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["n_components", "covariance_type", "BIC", "log_likelihood",
                                "n_iter", "converged", "fit_time"]
    rows = [line.lstrip("* ").split() for line in lines[1:11]]
    assert sorted((int(r[0]), r[1]) for r in rows) == sorted(
        (k, t) for k in range(1, 6) for t in ("full", "diag"))
    best = [line for line in lines[1:11] if line.startswith("*")]
    assert len(best) == 1 and best[0].split()[1] == "3"
    reference = gmmcore.select(X, n_components=range(1, 6), covariance_types=("full", "diag"),
                               random_state=0)
    assert [float(r[2]) for r in rows] == pytest.approx(list(reference.table["criterion"]),
                                                        abs=1e-4)
    assert lines[11].startswith("best: n_components=3")
    assert GaussianMixture.load(tmp_path / "best.npz").n_components == 3


def test_select_aic_list_syntax_and_progress(tmp_path, capsys):
    np.save(tmp_path / "blobs.npy", separated_blobs())
    code, out, err = run(capsys, "select", tmp_path / "blobs.npy", "-k", "1,2,5",
                         "--covariance-types", "spherical", "--criterion", "aic", "-v")
    assert code == 0
    assert out.splitlines()[0].split()[2] == "AIC"
    assert sorted(int(line.lstrip("* ").split()[0]) for line in out.splitlines()[1:4]) == [
        1, 2, 5]
    progress = [line for line in err.splitlines() if "covariance_type=spherical" in line]
    assert len(progress) == 3 and all("iterations" in line for line in progress)


def test_component_counts():
    assert component_counts("1-10") == list(range(1, 11))
    assert component_counts("1,2,5") == [1, 2, 5]
    assert component_counts("5, 1-3 ,2") == [1, 2, 3, 5]
    for bad in ("0-3", "3-1", "a", "1,,2", ""):
        with pytest.raises(argparse.ArgumentTypeError):
            component_counts(bad)


# ----------------------------------------------------------------------
# The real process: python -m, the console script, exit codes, Ctrl-C, pipes
# ----------------------------------------------------------------------

def test_python_m_and_the_console_script(tmp_path, X, data_npy):
    done = run_subprocess("fit", data_npy, "-k", 3, "--random-state", 0,
                          "-o", tmp_path / "m.npz")
    assert done.returncode == 0, done.stderr
    assert summary(done.stdout)["n_components"].strip() == "3"
    script = shutil.which("gmmcore", path=os.path.dirname(sys.executable))
    if script is None:
        pytest.skip("the gmmcore console script is not installed next to this python")
    done = subprocess.run([script, "predict", str(tmp_path / "m.npz"), str(data_npy)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    labels = np.array(done.stdout.splitlines()[1:], dtype=int)
    np.testing.assert_array_equal(labels, GaussianMixture(3, random_state=0).fit(X).predict(X))


@pytest.mark.parametrize("argv, expected_code", [
    (["fit", "{d}/nope.npy", "-o", "{d}/m.npz"], 2),
    (["fit", "{d}/degenerate.npy", "-k", "4", "--reg-covar", "0", "--init-params", "random",
      "--random-state", "0", "-o", "{d}/m.npz"], 1),
    (["fit", "{d}/degenerate.npy", "-k", "many", "-o", "{d}/m.npz"], 2),
])
def test_exit_codes_of_the_process(bad_files, argv, expected_code):
    done = run_subprocess(*[a.format(d=bad_files) for a in argv])
    assert_one_line_error(done.returncode, done.stderr, expected_code)
    assert "Traceback" not in done.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery is POSIX")
def test_ctrl_c_exits_130_without_traceback(tmp_path):
    np.save(tmp_path / "x.npy", make_blobs(n_samples=3000, n_features=2, n_components=3))
    proc = subprocess.Popen(
        [sys.executable, "-m", "gmmcore", "fit", str(tmp_path / "x.npy"), "-k", "3", "--tol",
         "0", "--max-iter", "1000000000", "-v", "-o", str(tmp_path / "m.npz")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    try:
        for line in proc.stderr:  # wait until EM is running
            if "Iteration" in line:
                break
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    assert "gmmcore: interrupted" in err and "Traceback" not in err
    assert not (tmp_path / "m.npz").exists()


@pytest.mark.skipif(sys.platform == "win32", reason="SIGPIPE is POSIX")
def test_a_closed_pipe_ends_quietly(tmp_path, model_file):
    np.save(tmp_path / "big.npy", make_blobs(n_samples=20000, n_features=2, n_components=3))
    proc = subprocess.Popen(
        [sys.executable, "-m", "gmmcore", "predict-proba", str(model_file),
         str(tmp_path / "big.npy")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "p0,p1,p2"
    proc.stdout.close()  # as `| head -1` does
    err = proc.stderr.read()
    proc.wait(timeout=60)
    assert proc.returncode == 141 and err == ""


def test_demo_in_process(capsys):
    code, out, _ = run(capsys, "demo", "--n-samples", 300)
    assert code == 0 and "agreement with the true clusters" in out


def test_a_bayesian_fit_equals_the_api_fit_and_predicts(tmp_path, capsys, X, data_npy):
    from gmmcore import BayesianGaussianMixture

    model_path = tmp_path / "model.npz"
    code, out, err = run(capsys, "fit", data_npy, "-k", 6, "--bayesian",
                         "--weight-concentration-prior-type", "dirichlet_distribution",
                         "--weight-concentration-prior", 0.05, "--mean-precision-prior", 0.5,
                         "--degrees-of-freedom-prior", 4.0, "--random-state", 0,
                         "-o", model_path)
    assert code == 0, err
    cli = BayesianGaussianMixture.load(model_path)
    api = BayesianGaussianMixture(6, weight_concentration_prior_type="dirichlet_distribution",
                                  weight_concentration_prior=0.05, mean_precision_prior=0.5,
                                  degrees_of_freedom_prior=4.0, random_state=0).fit(X)
    np.testing.assert_allclose(cli.means_, api.means_, rtol=1e-12, atol=1e-12)
    facts = summary(out)
    assert float(facts["lower_bound"]) == pytest.approx(api.lower_bound_, abs=1e-3)
    assert int(facts["components_in_use"].split()[0]) == len(api.effective_components())
    assert "bic" not in facts
    code, out, err = run(capsys, "predict", model_path, data_npy)
    assert code == 0, err
    np.testing.assert_array_equal(np.array(out.split()[1:], dtype=int), api.predict(X))
    code, out, err = run(capsys, "fit", data_npy, "-k", 2, "--bayesian", "--on-degenerate",
                         "reseed", "-o", tmp_path / "other.npz")
    assert code == 2 and "'raise', 'regularize'" in err
    flat = np.c_[X, np.full(len(X), 3.0)]
    np.save(tmp_path / "flat.npy", flat)
    code, out, err = run(capsys, "fit", tmp_path / "flat.npy", "-k", 3, "--bayesian",
                         "--reg-covar", 0, "--on-degenerate", "regularize",
                         "--random-state", 0, "-o", tmp_path / "flat.npz")
    assert code == 0, err
    api = BayesianGaussianMixture(3, reg_covar=0.0, on_degenerate="regularize",
                                  random_state=0).fit(flat)
    np.testing.assert_allclose(BayesianGaussianMixture.load(tmp_path / "flat.npz").means_,
                               api.means_, rtol=1e-12, atol=1e-12)
    assert len(api.degenerate_events_) == 1


def test_missing_values_fit_predict_and_impute_as_the_api(tmp_path, capsys, X):
    """Empty CSV cells are missing values under --nan-policy marginalize; impute
    writes the API's imputed table."""
    gaps = X.copy()
    gaps[np.random.RandomState(4).rand(*X.shape) < 0.2] = np.nan
    gaps[0, 0] = np.nan  # an empty first cell: the header is still told apart
    path = tmp_path / "gaps.csv"
    with open(path, "w") as f:
        f.write("u,v\n")
        for row in gaps:
            f.write(",".join("" if np.isnan(x) else repr(float(x)) for x in row) + "\n")
    code, out, err = run(capsys, "fit", path, "-k", 3, "--random-state", 0, "-o",
                         tmp_path / "m.npz")
    assert_one_line_error(code, err, 2, "empty value", "--nan-policy marginalize")
    code, out, err = run(capsys, "fit", path, "-k", 3, "--random-state", 0, "--nan-policy",
                         "marginalize", "-o", tmp_path / "m.npz")
    assert code == 0, err
    api = GaussianMixture(3, random_state=0, nan_policy="marginalize").fit(gaps)
    cli = GaussianMixture.load(tmp_path / "m.npz")
    np.testing.assert_allclose(cli.means_, api.means_, rtol=1e-12)
    assert cli.nan_policy == "marginalize"
    code, out, err = run(capsys, "predict", tmp_path / "m.npz", path)
    assert code == 0, err
    np.testing.assert_array_equal(np.array(out.split()[1:], dtype=int), api.predict(gaps))
    code, out, err = run(capsys, "score", tmp_path / "m.npz", path)
    assert code == 0 and float(out) == pytest.approx(api.score(gaps), rel=1e-12)
    code, out, err = run(capsys, "predict", tmp_path / "m.npz", path, "--nan-policy", "raise")
    assert code == 2 and "empty value" in err
    code, out, err = run(capsys, "impute", tmp_path / "m.npz", path, "-o",
                         tmp_path / "filled.csv")
    assert code == 0, err
    filled = np.loadtxt(tmp_path / "filled.csv", delimiter=",", skiprows=1)
    np.testing.assert_allclose(filled, api.impute(gaps), rtol=1e-15)
    assert open(tmp_path / "filled.csv").readline().strip() == "u,v"
    code, out, err = run(capsys, "fit", path, "-k", 3, "--bayesian", "--nan-policy",
                         "marginalize", "-o", tmp_path / "b.npz")
    assert code == 2 and "not --bayesian" in err
