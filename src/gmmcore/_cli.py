"""The ``gmmcore`` command line: Gaussian mixtures from data files, without Python.

    gmmcore fit data.csv -k 3 -o model.npz          # fit and save a model
    gmmcore predict model.npz data.csv -o labels.csv
    gmmcore predict-proba model.npz data.npy -o proba.npy
    gmmcore score model.npz data.csv [--per-sample]
    gmmcore select data.csv -k 1-8 --covariance-types full,diag -o best.npz
    gmmcore demo

Data files are .npy (memory-mapped), .csv (a header row is detected; numeric columns
are used; ``-`` reads CSV from standard input) and .parquet (needs pandas and
pyarrow: ``pip install gmmcore[parquet]``).  Results go to standard output as CSV,
or with ``-o OUT`` to a .npy, .csv or .parquet file chosen by its extension.
Progress, warnings and errors go to standard error, so standard output stays
parseable.  A model fitted on named columns remembers their names, and ``predict``
then picks those columns by name.

Exit codes
----------
0
    Success.
1
    The fit or the prediction failed numerically (e.g. degenerate data that the
    estimator rejects).
2
    Usage error: a bad option, a missing or unreadable file, bad columns, or a
    model and data that do not match.
130
    Interrupted (Ctrl-C).
141
    The reader of standard output went away (as in ``| head``), as a shell reports
    for a writer ended by SIGPIPE.
"""

import argparse
import contextlib
import csv
import itertools
import math
import os
import re
import sys
import time
import warnings

import numpy as np

from . import BayesianGaussianMixture, GaussianMixture, __version__
from . import _validation
from ._covariance import COVARIANCE_TYPES
from .exceptions import ModelFileError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # what a shell reports for a writer killed by SIGPIPE

EXAMPLES_HELP = """\
examples:
  gmmcore fit data.csv -k 3 --random-state 0 -o model.npz
  gmmcore predict model.npz data.csv -o labels.csv
  gmmcore predict-proba model.npz data.csv > proba.csv
  gmmcore score model.npz data.csv
  gmmcore select data.csv -k 1-8 --covariance-types full,diag -o best.npz
  gmmcore fit gaps.csv -k 3 --nan-policy marginalize -o model.npz
  gmmcore impute model.npz gaps.csv -o filled.csv"""

EXIT_CODES_HELP = """\
exit codes:
  0    success
  1    the fit or prediction failed numerically (e.g. degenerate data)
  2    usage error: bad option, missing or unreadable file, bad columns,
       model and data that do not match
  130  interrupted (Ctrl-C)
  141  the reader of stdout went away (e.g. | head)"""

DATA_FORMATS = (".npy", ".csv", ".parquet")
PARQUET_HINT = "pip install gmmcore[parquet]"


class CliError(Exception):
    """A user-facing failure: one line on stderr, then exit with ``exit_code``."""

    def __init__(self, message, exit_code=EXIT_USAGE):
        super().__init__(message)
        self.exit_code = exit_code


# ----------------------------------------------------------------------
# Reading data
# ----------------------------------------------------------------------

def _format_of(path, formats, what):
    if path == "-":
        return ".csv"
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in formats:
        raise CliError(f"{what} {path} has an unsupported extension "
                       f"{suffix or '(none)'}: use one of {', '.join(formats)}")
    return suffix


def _require_parquet(action):
    try:
        import pandas  # noqa: F401
        import pyarrow  # noqa: F401
    except ImportError:
        raise CliError(f"{action} .parquet files needs pandas and pyarrow: "
                       f"{PARQUET_HINT}") from None


def _is_number(text):
    """A CSV cell holds a number, or is empty: a missing one (not text)."""
    if not text.strip():
        return True
    try:
        float(text)
    except ValueError:
        return False
    return True


def _column_label(names, i):
    return f"'{names[i]}'" if names is not None and names[i] else str(i)


def _choose_columns(path, names, numeric, columns, model_names, quiet):
    """Indices of the columns to use.

    ``columns`` (the user's names or 0-based indices) wins; else the model's feature
    names when the file has names too; else every numeric column, with a warning
    naming the others (unless ``quiet``).  A name is looked up before an index, so a
    column named '3' is found by its name.
    """
    if columns is None and model_names is not None and names is not None:
        missing = [name for name in model_names if name not in names]
        if missing:
            raise CliError(f"{path} has no column {missing[0]!r}; the model was fitted on "
                           f"columns {', '.join(model_names)} (choose others with --columns)")
        columns = list(model_names)
    if columns is None:
        indices = [i for i, is_numeric in enumerate(numeric) if is_numeric]
        if not indices:
            raise CliError(f"{path} has no numeric columns")
        dropped = [_column_label(names, i) for i, is_numeric in enumerate(numeric)
                   if not is_numeric]
        if dropped and not quiet:
            print(f"gmmcore: warning: {path}: text column(s) {', '.join(dropped)} are not "
                  "used (choose the columns with --columns)", file=sys.stderr)
        return indices
    indices = []
    for token in columns:
        if names is not None and token in names:
            i = names.index(token)
        elif re.fullmatch(r"\d+", token):
            i = int(token)
            if i >= len(numeric):
                raise CliError(f"column index {i} is out of range: {path} has "
                               f"{len(numeric)} columns (indices 0 to {len(numeric) - 1})")
        elif names is None:
            raise CliError(f"{path} has no header row, so --columns takes 0-based "
                           f"indices, not names like {token!r}")
        else:
            raise CliError(f"{path} has no column {token!r}; its columns are "
                           f"{', '.join(names)}")
        if not numeric[i]:
            raise CliError(f"column {_column_label(names, i)} of {path} is not numeric")
        if i in indices:
            raise CliError(f"column {_column_label(names, i)} is selected twice")
        indices.append(i)
    return indices


def _read_npy(path, choose):
    try:
        # memory-mapped: a large file is paged in by the passes, never copied
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise CliError(f"cannot read {path} as a .npy array: {exc}") from None
    if not isinstance(arr, np.ndarray):
        raise CliError(f"{path} is not a single .npy array")
    if arr.dtype.kind not in "biuf":
        raise CliError(f"{path} holds {arr.dtype} values, not real numbers")
    if arr.ndim == 1:  # one feature
        arr = arr[:, None]
    if arr.ndim != 2:
        raise CliError(f"{path} holds a {arr.ndim}-D array; expected (n_samples, n_features)")
    indices = choose(None, [True] * arr.shape[1])
    return (arr if indices == list(range(arr.shape[1])) else arr[:, indices]), None


def _csv_rows(lines):
    rows = list(csv.reader(lines))
    return [[field.strip() for field in row] for row in rows]


def _has_header(rows):
    """A first row with a non-number where the second row has a number is a header.

    Columns that hold text on every row (labels, ids) say nothing either way; a lone
    row is a header when it is not all numbers.
    """
    if len(rows) == 1:
        return not all(_is_number(v) for v in rows[0])
    return any(not _is_number(a) and _is_number(b) for a, b in zip(rows[0], rows[1]))


_SEPARATORS = {";": "semicolons", "\t": "tabs"}
_DECIMAL_COMMA = re.compile(r"[-+]?\d*,\d+(?:[eE][-+]?\d+)?")
ONLY_COMMAS = ("gmmcore reads comma-separated values with decimal points only "
               "(like 1.5,2.25): convert the file")


def _check_separators(path, rows):
    """Refuse a CSV that separates its values with semicolons or tabs, or writes decimal
    commas: read with commas, its numbers would be text columns or wrong numbers."""
    for row in rows:
        for field in row:
            if _is_number(field):
                continue
            parts = [part.strip() for part in re.split("[;\t]", field)]
            if len(parts) > 1 and any(p and _is_number(p) or _DECIMAL_COMMA.fullmatch(p)
                                      for p in parts):
                separator = next(_SEPARATORS[c] for c in field if c in _SEPARATORS)
                raise CliError(f"{path} seems to separate its values with {separator}: "
                               f"{ONLY_COMMAS}")
            if _DECIMAL_COMMA.fullmatch(field):
                raise CliError(f"{path} seems to write numbers with a decimal comma "
                               f"({field!r}): {ONLY_COMMAS}")


def _field_count(line):
    """The number of values on a CSV line; 0 for a blank or comment line."""
    text = line.split("#", 1)[0] if "#" in line else line  # loadtxt's comments
    if not text.strip():
        return 0
    return len(next(csv.reader([text]))) if '"' in text else text.count(",") + 1


def _checked_lines(lines, first_line, n_values, path):
    """The lines, checked to hold n_values each (a ragged row would shift or drop
    values silently when loadtxt reads only some columns)."""
    for number, line in enumerate(lines, first_line):
        if line.count(",") + 1 != n_values:  # fast path: the common, right count
            count = _field_count(line)
            if count not in (0, n_values):
                raise _ragged_row(path, number, count, n_values)
        yield line


def _ragged_row(path, number, count, n_values):
    return CliError(f"line {number} of {path} has {count} values, but {n_values} were "
                    "expected (as on its first row)")


_LOADTXT_ERROR = re.compile(r"could not convert string (.*) to \w+ at row (\d+), column (\d+)")


def _missing_or_number(text):
    """A CSV cell: empty (or blank) is a missing value."""
    text = text.strip()
    return float(text) if text else np.nan


def _read_csv(path, choose, allow_nan=False):
    with contextlib.ExitStack() as stack:
        if path == "-":
            f = sys.stdin
        else:
            f = stack.enter_context(open(path, newline="", encoding="utf-8-sig"))
        head = []  # the first two rows, read ahead to detect the header
        head_numbers = []  # their line numbers, counting blank and comment lines
        for number, line in enumerate(f, 1):
            if line.strip() and not line.lstrip().startswith("#"):
                head.append(line.lstrip("\ufeff"))
                head_numbers.append(number)
                if len(head) == 2:
                    break
        rows = _csv_rows(head)
        _check_separators(path, rows)
        header = bool(rows) and _has_header(rows)
        if len(rows) <= header:
            raise CliError(f"{path} has no data rows")
        names = rows[0] if header else None
        first = rows[1] if header else rows[0]
        if len(rows) == 2 and len(rows[1]) != len(rows[0]):
            raise _ragged_row(path, head_numbers[1], len(rows[1]), len(rows[0]))
        indices = choose(names, [_is_number(v) for v in first])
        data_lines = itertools.chain(
            head[1:] if header else head,
            _checked_lines(f, head_numbers[-1] + 1, len(first), path))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "input contained no data": checked later
                X = np.loadtxt(data_lines, delimiter=",", usecols=indices, ndmin=2,
                               quotechar='"', dtype=np.float64,
                               converters=_missing_or_number if allow_nan else None)
        except ValueError as exc:
            match = _LOADTXT_ERROR.match(str(exc))
            if match is None:
                raise CliError(f"cannot read {path}: {exc}") from None
            value, row, column = match[1], int(match[2]), int(match[3]) - 1
            empty = value == repr("")
            hint = (" (--nan-policy marginalize reads empty cells as missing values)"
                    if empty else "")
            raise CliError(f"column {_column_label(names, column)} of {path} has "
                           f"{'an empty value' if empty else 'the value ' + value}"
                           f" on data row {row + 1}, not a number{hint}") from None
    return X, None if names is None else [names[i] for i in indices]


def _read_parquet(path, choose):
    _require_parquet("reading")
    import pandas as pd

    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot read {path} as a .parquet file: {exc}") from None
    names = [str(c) for c in frame.columns]
    numeric = [pd.api.types.is_numeric_dtype(t) for t in frame.dtypes]
    indices = choose(names, numeric)
    chosen = frame.iloc[:, indices]
    dtype = np.float32 if all(t == np.float32 for t in chosen.dtypes) else np.float64
    return chosen.to_numpy(dtype=dtype, na_value=np.nan), [names[i] for i in indices]


def read_data(path, columns=None, *, model_names=None, dtype=None, min_samples=1,
              quiet=False, allow_nan=False):
    """A data file as a validated 2-D float array, and the names of its columns.

    Parameters
    ----------
    path : str
        A .npy, .csv or .parquet file, or '-' for CSV on standard input.
    columns : list of str, default=None
        Column names or 0-based indices to use; None: all numeric columns.
    model_names : list of str, default=None
        A model's feature names, used when ``columns`` is None and the file has names.
    dtype : {None, 'float32', 'float64'}, default=None
        None keeps float32 and float64 data and converts other numbers to float64.
    min_samples : int, default=1
        Fewer rows is an error.
    quiet : bool, default=False
        Do not warn about text columns left out.
    allow_nan : bool, default=False
        Missing values (NaN, empty CSV cells, missing parquet values) are kept as
        NaN instead of refused.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        C-contiguous and finite.
    names : list of str or None
        The chosen columns' names, None for a file without names.
    """
    fmt = _format_of(path, DATA_FORMATS, "data file")
    if path != "-" and not os.path.isfile(path):
        raise CliError(f"no such data file: {path}")

    def choose(names, numeric):
        return _choose_columns(path, names, numeric, columns, model_names, quiet)

    reader = {".npy": _read_npy, ".csv": _read_csv, ".parquet": _read_parquet}[fmt]
    try:
        X, names = (reader(path, choose, allow_nan) if reader is _read_csv
                    else reader(path, choose))
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read {path}: {exc}") from None
    try:
        X = _validation.check_array(X, dtype=dtype, ensure_min_samples=min_samples,
                                    allow_nan=allow_nan)
    except ValueError as exc:
        bad = np.argwhere(~np.isfinite(X)) if X.dtype.kind == "f" else ()
        if len(bad):
            row, column = bad[0]
            where = _column_label(names, column) if names is not None else str(column)
            hint = "" if allow_nan else " (--nan-policy marginalize takes missing values)"
            raise CliError(f"column {where} of {path} has a missing or non-finite value "
                           f"on data row {row + 1}{hint}") from None
        raise CliError(f"{path}: {exc}") from None
    return X, names


# ----------------------------------------------------------------------
# Writing results and models
# ----------------------------------------------------------------------

def _check_output(path, formats, what):
    """Fail early, before any work, on an output that cannot be written."""
    fmt = _format_of(path, formats, what)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise CliError(f"cannot write {what} {path}: no directory {os.path.dirname(path)}")
    if fmt == ".parquet":
        _require_parquet("writing")
    return fmt


def _write_table(values, header, path, digits=None):
    """One column per name in ``header``; to stdout as CSV when ``path`` is None.

    ``digits``: significant digits of the numbers in CSV (None: every digit).
    """
    values = np.asarray(values)
    table = values.reshape(len(values), -1)
    fmt = ".csv" if path in (None, "-") else os.path.splitext(path)[1].lower()
    try:
        if fmt == ".npy":
            np.save(path, values)
        elif fmt == ".parquet":
            import pandas as pd

            pd.DataFrame(table, columns=header).to_parquet(path, index=False)
        elif path in (None, "-"):
            _write_csv(sys.stdout, header, table, digits)
        else:
            with open(path, "w", newline="") as f:
                _write_csv(f, header, table, digits)
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc}") from None


def _write_csv(f, header, table, digits=None):
    # csv writes a float by repr: the shortest text that reads back to the same number
    writer = csv.writer(f, lineterminator="\n")
    writer.writerow(header)
    if digits is None:
        writer.writerows(table.tolist())
    else:
        spec = f".{digits}g"
        writer.writerows([format(v, spec) for v in row] for row in table.tolist())


def _model_path(path):
    if not path.lower().endswith(".npz"):
        path += ".npz"  # as numpy would, so that the path reported is the real one
    _check_output(path, (".npz",), "model file")
    return path


def _save_model(model, names, path):
    if names is not None:
        # as fit does for a named dataframe: predict then matches columns by name
        model.feature_names_in_ = np.asarray(names, dtype=object)
    try:
        model.save(path)
    except OSError as exc:
        raise CliError(f"cannot write model file {path}: {exc}") from None


def _load_model(args):
    if not os.path.isfile(args.model):
        raise CliError(f"no such model file: {args.model}")
    try:
        try:
            return GaussianMixture.load(args.model)
        except ModelFileError as exc:
            if "holds a BayesianGaussianMixture" not in str(exc):
                raise
            return BayesianGaussianMixture.load(args.model)
    except ModelFileError as exc:
        swapped = args.data.lower().endswith(".npz")
        hint = (f"; the model comes first: gmmcore {args.command} MODEL DATA"
                if swapped else "")
        raise CliError(f"{exc}{hint}") from None


# ----------------------------------------------------------------------
# Running the estimator
# ----------------------------------------------------------------------

@contextlib.contextmanager
def _estimator_errors(quiet=False):
    """The estimator's failures as CliErrors, its warnings as one-line notes.

    Its verbose lines are progress, not results: they go to stderr.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # the command line has matched the columns to the model's names itself
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        try:
            with contextlib.redirect_stdout(sys.stderr):
                yield
        except _validation.InvalidParameterError as exc:
            raise CliError(str(exc)) from None
        except (ValueError, ArithmeticError) as exc:
            raise CliError(_cli_advice(str(exc)), EXIT_FAILED) from None
        except MemoryError:
            raise CliError("not enough memory", EXIT_FAILED) from None
    if not quiet:
        for warning in caught:
            print(f"gmmcore: warning: {warning.message}", file=sys.stderr)


# The estimator's advice names its parameters; here they are options.
_CLI_ADVICE = {"increase reg_covar,": "increase --reg-covar, pass --on-degenerate reseed,"}


def _cli_advice(message):
    for python, cli in _CLI_ADVICE.items():
        message = message.replace(python, cli)
    return message


def _estimator_params(args):
    """The estimator's parameters common to fit and select."""
    return dict(tol=args.tol, reg_covar=args.reg_covar, max_iter=args.max_iter,
                n_init=args.n_init, init_params=args.init_params,
                random_state=args.random_state, n_threads=args.n_threads,
                on_degenerate=args.on_degenerate, nan_policy=args.nan_policy)


def _check_enough_samples(X, n_components, path):
    if X.shape[0] < n_components:
        raise CliError(f"{path} has {X.shape[0]} samples, fewer than the "
                       f"{n_components} components asked for")


def fit(args):
    model_path = _model_path(args.output)
    if args.bayesian and args.nan_policy != "raise":
        raise CliError("--nan-policy marginalize is for EM fits, not --bayesian ones")
    X, names = read_data(args.data, args.columns, dtype=args.dtype, min_samples=2,
                         quiet=args.quiet, allow_nan=args.nan_policy == "marginalize")
    _check_enough_samples(X, args.n_components, args.data)
    params = dict(n_components=args.n_components, covariance_type=args.covariance_type,
                  verbose=2 if args.verbose else 0, verbose_interval=1,
                  **_estimator_params(args))
    if args.bayesian:
        del params["nan_policy"]
        gmm = BayesianGaussianMixture(
            weight_concentration_prior_type=args.weight_concentration_prior_type,
            weight_concentration_prior=args.weight_concentration_prior,
            mean_precision_prior=args.mean_precision_prior,
            degrees_of_freedom_prior=args.degrees_of_freedom_prior, **params)
    else:
        gmm = GaussianMixture(**params)
    start = time.perf_counter()
    with _estimator_errors(args.quiet):
        gmm.fit(X)
        elapsed = time.perf_counter() - start
        log_likelihood = gmm.score(X)
        bic = None if args.bayesian else gmm.bic(X)
    _save_model(gmm, names, model_path)
    if not args.quiet:
        summary = [("model", model_path), ("n_components", gmm.n_components),
                   ("covariance_type", gmm.covariance_type), ("n_samples", X.shape[0]),
                   ("n_features", X.shape[1])]
        if names is not None:
            summary.append(("columns", ",".join(names)))
        summary += [("dtype", X.dtype.name), ("converged", "yes" if gmm.converged_ else "no"),
                    ("n_iter", gmm.n_iter_), ("mean_log_likelihood", f"{log_likelihood:.6f}")]
        if args.bayesian:
            used = gmm.effective_components()
            summary += [("lower_bound", f"{gmm.lower_bound_:.4f}"),
                        ("components_in_use", f"{len(used)} (weight > 1%)")]
        else:
            summary.append(("bic", f"{bic:.4f}"))
        summary.append(("fit_time", f"{elapsed:.3f}s"))
        for key, value in summary:
            print(f"{key + ':':<21}{value}")
    return EXIT_OK


def _model_and_data(args, allow_nan=None):
    model = _load_model(args)
    policy = getattr(args, "nan_policy", None)
    if policy is not None:
        if "nan_policy" not in model.get_params():
            raise CliError(f"--nan-policy is for GaussianMixture models; {args.model} holds "
                           f"a {type(model).__name__}")
        model.set_params(nan_policy=policy)
    if allow_nan is None:
        allow_nan = model.get_params().get("nan_policy") == "marginalize"
    names = getattr(model, "feature_names_in_", None)
    X, _ = read_data(args.data, args.columns,
                     model_names=None if names is None else [str(n) for n in names],
                     allow_nan=allow_nan)
    if X.shape[1] != model.n_features_in_:
        raise CliError(f"{args.data} gives {X.shape[1]} feature columns but the model in "
                       f"{args.model} was fitted on {model.n_features_in_} "
                       "(choose the columns with --columns)")
    return model, X


def predict(args):
    if args.output is not None:
        _check_output(args.output, DATA_FORMATS, "output")
    model, X = _model_and_data(args)
    with _estimator_errors():
        labels = model.predict(X)
    _write_table(labels, ["label"], args.output)
    return EXIT_OK


def predict_proba(args):
    if args.output is not None:
        _check_output(args.output, DATA_FORMATS, "output")
    model, X = _model_and_data(args)
    with _estimator_errors():
        proba = model.predict_proba(X)
    _write_table(proba, [f"p{c}" for c in range(proba.shape[1])], args.output, args.digits)
    return EXIT_OK


def score(args):
    if args.output is not None:
        if not args.per_sample:
            raise CliError("score writes a file only with --per-sample; the mean "
                           "log-likelihood is printed")
        _check_output(args.output, DATA_FORMATS, "output")
    model, X = _model_and_data(args)
    with _estimator_errors():
        result = model.score_samples(X) if args.per_sample else model.score(X)
    if args.per_sample:
        _write_table(result, ["log_likelihood"], args.output)
    else:
        print(repr(result))
    return EXIT_OK


def impute(args):
    if args.output is not None:
        _check_output(args.output, DATA_FORMATS, "output")
    model, X = _model_and_data(args, allow_nan=True)
    if not hasattr(model, "impute"):
        raise CliError(f"impute needs a GaussianMixture model; {args.model} holds a "
                       f"{type(model).__name__}")
    with _estimator_errors():
        filled = model.impute(X)
    names = getattr(model, "feature_names_in_", None)
    header = ([str(n) for n in names] if names is not None
              else [f"x{j}" for j in range(X.shape[1])])
    _write_table(filled, header, args.output, args.digits)
    return EXIT_OK


def select(args):
    from . import select as select_models

    model_path = None if args.output is None else _model_path(args.output)
    X, names = read_data(args.data, args.columns, dtype=args.dtype, min_samples=2,
                         quiet=args.quiet, allow_nan=args.nan_policy == "marginalize")
    _check_enough_samples(X, max(args.n_components), args.data)
    with _estimator_errors(args.quiet):
        result = select_models(X, n_components=args.n_components,
                               covariance_types=args.covariance_types, criterion=args.criterion,
                               estimator=_ReportingMixture if args.verbose else GaussianMixture,
                               **_estimator_params(args))
    _print_selection(result, args.criterion.upper())
    if not args.quiet:
        for t, k, error in zip(result.table["covariance_type"], result.table["n_components"],
                               result.table["error"]):
            if error:
                print(f"gmmcore: warning: covariance_type={t} n_components={k} failed: "
                      f"{_cli_advice(error)}", file=sys.stderr)
    if model_path is not None:
        _save_model(result.best_estimator_, names, model_path)
        if not args.quiet:
            print(f"best model saved to {model_path}")
    return EXIT_OK


class _ReportingMixture(GaussianMixture):
    """A candidate of ``select -v``: one line on stderr when its fit ends.

    The candidates run concurrently, so per-iteration lines would interleave.
    """

    def fit(self, X, y=None, sample_weight=None):
        start = time.perf_counter()
        what = f"covariance_type={self.covariance_type} n_components={self.n_components}"
        try:
            super().fit(X, y, sample_weight)
        except Exception as exc:
            print(f"  {what}: failed: {exc}", file=sys.stderr, flush=True)
            raise
        print(f"  {what}: {'converged' if self.converged_ else 'did not converge'} after "
              f"{self.n_iter_} iterations, log-likelihood {self.lower_bound_:.5f}, "
              f"{time.perf_counter() - start:.3f}s", file=sys.stderr, flush=True)
        return self


def _print_selection(result, criterion):
    table = result.table
    header = ("", "n_components", "covariance_type", criterion, "log_likelihood", "n_iter",
              "converged", "fit_time")
    rows = [header]
    for i in range(len(table["n_components"])):
        failed = bool(table["error"][i]) if "error" in table else False
        rows.append(("*" if i == result.best_index_ else "",
                     str(int(table["n_components"][i])), str(table["covariance_type"][i]),
                     "failed" if failed else f"{float(table['criterion'][i]):.4f}",
                     f"{float(table['log_likelihood'][i]):.6f}", str(int(table["n_iter"][i])),
                     "yes" if table["converged"][i] else "no",
                     f"{float(table['fit_time'][i]):.3f}s"))
    widths = [max(len(row[j]) for row in rows) for j in range(len(header))]
    for row in rows:
        cells = [row[0].ljust(widths[0]), *(cell.rjust(w) for cell, w in
                                           zip(row[1:], widths[1:]))]
        print("  ".join(cells).rstrip())
    best = result.best_estimator_
    print(f"best: n_components={best.n_components} covariance_type={best.covariance_type} "
          f"({criterion} {float(table['criterion'][result.best_index_]):.4f})")


# ----------------------------------------------------------------------
# The demo
# ----------------------------------------------------------------------

def oblong_clusters(n_samples=1500, seed=170, separation=0.7):
    """Three Gaussian blobs sheared into parallel oblong clusters (the classic case
    where k-means' round clusters cut across the true groups), their centres moved
    together by ``separation`` so that the clusters touch."""
    rng = np.random.RandomState(seed)
    centers = np.array([[-2.0, -8.0], [8.0, 6.0], [0.0, 0.0]]) * separation
    labels = rng.randint(0, 3, n_samples)
    X = centers[labels] + rng.randn(n_samples, 2)
    shear = np.array([[0.60834549, -0.63667341], [-0.40887718, 0.85253229]])
    return X @ shear, labels


def _best_matching(reference, labels, k):
    """The relabelling of ``labels`` (a permutation of 0..k-1, as an array: new label
    of each old one) that agrees with ``reference`` on the most points."""
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (reference, labels), 1)
    best = max(itertools.permutations(range(k)),
               key=lambda p: sum(confusion[p[j], j] for j in range(k)))
    return np.array(best)


def matched_accuracy(true, found, k):
    """Share of points whose found cluster maps to their true cluster, under the best matching."""
    return float(np.mean(_best_matching(true, found, k)[found] == true))


_DEMO_ROWS = 6
_UNSURE = 0.9


def demo(args):
    from ._init import kmeans

    k = 3
    X, truth = oblong_clusters(args.n_samples, args.seed)
    km_labels, _ = kmeans(X, k, np.random.RandomState(args.seed))
    gmm = GaussianMixture(n_components=k, covariance_type="full", random_state=args.seed).fit(X)
    # the mixture's components numbered as k-means' clusters they agree with most
    relabel = _best_matching(km_labels, gmm.predict(X), k)
    proba = np.empty((len(X), k))
    proba[:, relabel] = gmm.predict_proba(X)
    gmm_labels = proba.argmax(axis=1)
    top = proba.max(axis=1)
    disagree = np.flatnonzero(gmm_labels != km_labels)
    unsure = np.flatnonzero(top < _UNSURE)

    print(f"gmmcore demo: {len(X)} points in {k} oblong (sheared) Gaussian clusters that "
          "touch\n")
    print("k-means gives each point one hard label; a Gaussian mixture gives the probability")
    print("that it belongs to each component (predict_proba), and its covariances follow the")
    print("oblong shape that k-means' round clusters cut across.  The mixture's components")
    print("are numbered as the k-means clusters they agree with most.\n")
    print(f"agreement with the true clusters: k-means {matched_accuracy(truth, km_labels, k):.1%}, "
          f"GMM {matched_accuracy(truth, gmm_labels, k):.1%}")
    print(f"k-means and the mixture disagree on {len(disagree)} of {len(X)} points; the "
          f"mixture is unsure (no component above {_UNSURE:.0%}) of {len(unsure)}.\n")
    print("Columns: the point's index and coordinates, its k-means label, the mixture's")
    print("label, and the mixture's probability of each component.")
    header = (f"{'point':>5}  {'x':>7} {'y':>7}  {'k-means':>7}  {'GMM':>3}  "
              + " ".join(f"{f'P({c})':>6}" for c in range(k)))

    def table(title, rows):
        print(f"\n{title}\n{header}")
        for i in rows:
            print(f"{i:>5}  {X[i, 0]:7.2f} {X[i, 1]:7.2f}  {km_labels[i]:>7}  "
                  f"{gmm_labels[i]:>3}  " + " ".join(f"{p:6.3f}" for p in proba[i]))

    # where they disagree and the mixture is surest: k-means' round clusters at fault
    table(f"Where they disagree ({min(_DEMO_ROWS, len(disagree))} of {len(disagree)}, "
          "those the mixture is surest of):", disagree[np.argsort(-top[disagree])][:_DEMO_ROWS])
    table(f"Where the mixture is unsure ({min(_DEMO_ROWS, len(unsure))} of {len(unsure)}, "
          "between two clusters):", unsure[np.argsort(top[unsure])][:_DEMO_ROWS])
    print(f"\nGMM: converged={gmm.converged_} in {gmm.n_iter_} iterations, "
          f"mean log-likelihood {gmm.lower_bound_:.4f}, BIC {gmm.bic(X):.1f}")
    return EXIT_OK


# ----------------------------------------------------------------------
# Options
# ----------------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # one line, like every other user error, instead of usage + message
        self.exit(EXIT_USAGE, f"gmmcore: error: {message} (see '{self.prog} --help')\n")


def _number_type(convert, low, what, high=math.inf, low_open=False):
    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not (math.isfinite(value) and low <= value <= high) or low_open and value == low:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value
    return parse


def _nonzero_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value == 0:
        raise argparse.ArgumentTypeError(
            f"expected a non-zero integer (negative counts back from all CPUs), got {text!r}")
    return value


def _comma_list(text):
    items = [item.strip() for item in text.split(",")]
    if not all(items):
        raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {text!r}")
    return items


def component_counts(text):
    """'1-10', '1,2,5' or '1-3,8' as a sorted list of distinct positive counts."""
    counts = set()
    for part in text.split(","):
        match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        low = int(match[1]) if match else 0
        high = int(match[2] or low) if match else 0
        if low < 1 or high < low:
            raise argparse.ArgumentTypeError(
                f"expected component counts like '1-10' or '1,2,5', got {text!r}")
        counts.update(range(low, high + 1))
    return sorted(counts)




def _covariance_types(text):
    types = list(dict.fromkeys(_comma_list(text)))
    unknown = [t for t in types if t not in COVARIANCE_TYPES]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown covariance type {unknown[0]!r}; choose from {', '.join(COVARIANCE_TYPES)}")
    return types


def _add_data_options(p, fitting):
    default = ("every numeric column" if fitting else "the model's columns by name when "
               "both have names, else every numeric column")
    p.add_argument("--columns", type=_comma_list, metavar="COLS",
                   help=f"comma-separated column names or 0-based indices to use "
                   f"(default: {default})")
    if fitting:
        p.add_argument("--dtype", choices=("float64", "float32"),
                       help="compute in this precision (default: float32 data stays "
                       "float32, anything else is float64)")


def _add_estimator_options(p, verbose_help):
    g = p.add_argument_group("estimator options (as GaussianMixture's)")
    g.add_argument("--tol", type=_number_type(float, 0.0, "a number >= 0"), default=1e-3,
                   help="stop when the mean log-likelihood changes less (default: 1e-3)")
    g.add_argument("--reg-covar", type=_number_type(float, 0.0, "a number >= 0"),
                   default=1e-6, help="added to the covariances' diagonal (default: 1e-6)")
    g.add_argument("--max-iter", type=_number_type(int, 0, "an integer >= 0"), default=100,
                   help="EM iterations at most (default: 100)")
    g.add_argument("--n-init", type=_number_type(int, 1, "an integer >= 1"), default=1,
                   help="initializations; the best is kept (default: 1)")
    g.add_argument("--init-params", default="kmeans",
                   choices=("kmeans", "k-means++", "random", "random_from_data"),
                   help="how the start is chosen (default: kmeans)")
    g.add_argument("--random-state", metavar="SEED",
                   type=_number_type(int, 0, "an integer from 0 to 2**32 - 1", high=2**32 - 1),
                   help="seed, for a reproducible fit (default: none)")
    g.add_argument("--n-threads", type=_nonzero_int, metavar="N",
                   help="threads (default: every usable CPU; -2: all but one)")
    g.add_argument("--on-degenerate", default="raise", choices=("raise", "reseed", "regularize"),
                   help="what to do when a component collapses (default: raise)")
    g.add_argument("--nan-policy", default="raise", choices=("raise", "marginalize"),
                   help="marginalize: NaN and empty CSV cells are missing values, fitted "
                   "on each row's observed features (default: raise, an error)")
    _add_data_options(p, fitting=True)
    talk = p.add_mutually_exclusive_group()
    talk.add_argument("-v", "--verbose", action="store_true", help=verbose_help)
    talk.add_argument("-q", "--quiet", action="store_true",
                      help="print nothing but errors (no summary, no warnings)")


def build_parser():
    """The argument parser of the ``gmmcore`` command."""
    parser = _Parser(
        prog="gmmcore", epilog=EXAMPLES_HELP + "\n\n" + EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Gaussian mixture models fitted by EM on compiled, multithreaded kernels.\n"
        "Data: .npy, .csv (header row detected; - reads stdin) or .parquet.\n"
        "Results: CSV on stdout, or -o OUT with extension .npy, .csv or .parquet.")
    parser.add_argument("--version", action="version", version=f"gmmcore {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name, func, help_text):
        p = sub.add_parser(name, help=help_text, description=help_text, epilog=EXIT_CODES_HELP,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.set_defaults(func=func)
        return p

    p = command("fit", fit, "fit a Gaussian mixture to DATA and save it to a model file")
    p.add_argument("data", metavar="DATA", help="a .npy, .csv or .parquet file, or - for CSV "
                   "on stdin")
    p.add_argument("-o", "--output", required=True, metavar="MODEL.npz",
                   help="where to save the model")
    p.add_argument("-k", "--n-components", type=_number_type(int, 1, "an integer >= 1"),
                   default=1, metavar="K", help="number of components (default: 1)")
    p.add_argument("--covariance-type", default="full", choices=COVARIANCE_TYPES,
                   help="(default: full)")
    _add_estimator_options(p, "print progress on stderr: each iteration's log-likelihood "
                              "and time")
    b = p.add_argument_group("variational fit (as BayesianGaussianMixture's): -k is then an "
                             "upper bound, and the fit switches the components it does not "
                             "need off")
    b.add_argument("--bayesian", action="store_true",
                   help="fit BayesianGaussianMixture instead of GaussianMixture")
    b.add_argument("--weight-concentration-prior-type", default="dirichlet_process",
                   choices=("dirichlet_process", "dirichlet_distribution"),
                   help="(default: dirichlet_process)")
    positive = _number_type(float, 0.0, "a number > 0", low_open=True)
    b.add_argument("--weight-concentration-prior", type=positive, metavar="GAMMA",
                   help="smaller: fewer components (default: 1 / K)")
    b.add_argument("--mean-precision-prior", type=positive, metavar="BETA",
                   help="(default: 1)")
    b.add_argument("--degrees-of-freedom-prior", type=float, metavar="NU",
                   help="above n_features - 1 (default: n_features)")

    for name, func, help_text in (
            ("predict", predict, "the most probable component of each row (column 'label')"),
            ("predict-proba", predict_proba,
             "each component's probability for each row (columns p0, p1, ...)"),
            ("score", score, "mean log-likelihood of DATA under the model (with --per-sample: "
                             "each row's, column 'log_likelihood')")):
        p = command(name, func, help_text)
        p.add_argument("model", metavar="MODEL", help="a model file written by 'gmmcore fit'")
        p.add_argument("data", metavar="DATA", help="a .npy, .csv or .parquet file, or - for "
                       "CSV on stdin")
        if name == "score":
            p.add_argument("--per-sample", action="store_true",
                           help="each row's log-likelihood instead of the mean")
        if name == "predict-proba":
            p.add_argument("--digits", type=_number_type(int, 1, "an integer from 1 to 17",
                                                         high=17),
                           default=6, metavar="N",
                           help="significant digits of each probability in CSV output "
                           "(default: 6; 17 writes every digit; .npy and .parquet "
                           "keep every digit)")
        p.add_argument("-o", "--output", metavar="OUT",
                       help="a .npy, .csv or .parquet file (default: CSV on stdout)")
        p.add_argument("--nan-policy", choices=("raise", "marginalize"),
                       help="marginalize: rows with missing values are taken on their "
                       "observed features (default: the model's)")
        _add_data_options(p, fitting=False)

    p = command("impute", impute, "DATA with each missing value (NaN, empty CSV cell) "
                "replaced by its expectation under the model given the row's other values")
    p.add_argument("model", metavar="MODEL", help="a model file written by 'gmmcore fit'")
    p.add_argument("data", metavar="DATA", help="a .npy, .csv or .parquet file, or - for CSV "
                   "on stdin")
    p.add_argument("--digits", type=_number_type(int, 1, "an integer from 1 to 17", high=17),
                   metavar="N", help="significant digits in CSV output (default: every digit)")
    p.add_argument("-o", "--output", metavar="OUT",
                   help="a .npy, .csv or .parquet file (default: CSV on stdout)")
    _add_data_options(p, fitting=False)

    p = command("select", select, "fit every candidate number of components and covariance "
                "type, print a table and keep the best by BIC or AIC")
    p.add_argument("data", metavar="DATA", help="a .npy, .csv or .parquet file, or - for CSV "
                   "on stdin")
    p.add_argument("-k", "--n-components", type=component_counts, default="1-10",
                   metavar="COUNTS", help="candidate counts, e.g. 1-10 or 1,2,5 (default: 1-10)")
    p.add_argument("--covariance-types", type=_covariance_types,
                   default=",".join(COVARIANCE_TYPES), metavar="TYPES",
                   help="comma-separated candidate types (default: all four)")
    p.add_argument("--criterion", choices=("bic", "aic"), default="bic",
                   help="lower is better (default: bic)")
    p.add_argument("-o", "--output", metavar="BEST.npz", help="save the best model here")
    _add_estimator_options(p, "print progress on stderr: a line per candidate as its fit "
                              "ends")

    p = command("demo", demo, "fit the classic oblong-clusters example and compare "
                "k-means' hard labels with GMM probabilities")
    p.add_argument("--n-samples", type=int, default=1500)
    p.add_argument("--seed", type=int, default=170)
    return parser


def main(argv=None):
    """Run the ``gmmcore`` command line.

    Parameters
    ----------
    argv : list of str, default=None
        The arguments after the program name; None reads ``sys.argv``.

    Returns
    -------
    exit_code : int
        0 success, 1 fitting or numerical failure, 2 usage error, 130 interrupted.
    """
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors
        return exc.code
    try:
        return args.func(args)
    except CliError as exc:
        print(f"gmmcore: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("gmmcore: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader of the output went away (e.g. `| head`): stop quietly, and keep
        # the interpreter's final flush from failing again
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
