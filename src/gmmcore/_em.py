"""One pass over the data under fixed parameters, sharded over threads.

The pass is the E-step kernel; it returns the statistics of the next M-step
and/or fills per-row outputs (responsibilities, log p(x), labels).
"""

import math

import numpy as np

from . import _kernels, _missing
from ._covariance import TYPES
from .exceptions import NonFiniteLikelihoodError
from ._mstep import Statistics, centred_statistics, imprecise_components, moved_second_moments
from ._parallel import page_release, plan_chunks, run_ordered, sum_ordered

BLOCK_SIZE = 256

# Bytes of per-block working set a thread should keep within its L2 cache.
_BLOCK_BYTES = 384 * 1024

# The float32 outer-product statistics GEMM of a block stays below this many
# multiply-adds: OpenBLAS multiplies such products without packing its operands
# (measured: W2 float32 full, 152 ms per iteration on one thread with blocks of 64
# rows against 177 ms with 128).
_SMALL_GEMM = 1_000_000


def block_size_for(kparams):
    """Rows per block: 256, fewer when a block's working set would leave L2 (or
    the float32 outer-product GEMM would outgrow _SMALL_GEMM).

    The working set per row is the row of X, its k log-densities and the widest
    per-row design the kernel builds (the outer products of full covariances
    with moderate d are the largest).  Always a power of two, at least 32.
    """
    k, d = kparams.means.shape
    itemsize = kparams.means.dtype.itemsize
    per_row = (d + k) * itemsize + _kernels.design_bytes_per_row(
        kparams.cov_code, d, k, kparams.means.dtype)
    rows = _BLOCK_BYTES // per_row
    gemm = _kernels.statistics_gemm_size(kparams.cov_code, d, k, kparams.means.dtype)
    if gemm:
        rows = min(rows, _SMALL_GEMM // gemm)
    return int(max(32, min(BLOCK_SIZE, 1 << max(rows.bit_length() - 1, 0))))

_EMPTY = {}


def _empty(dtype, ndim):
    key = (np.dtype(dtype), ndim)
    if key not in _EMPTY:
        _EMPTY[key] = np.empty((0,) * ndim, dtype=dtype)
    return _EMPTY[key]


def stats_width(kparams):
    """Doubles in one Statistics of ``kparams``' mixture."""
    k, d = kparams.means.shape
    return _kernels.stats_width(kparams.cov_code, k, d)


def work_per_row(kparams):
    """Rough flops per row of one pass, to size the chunks."""
    k, d = kparams.means.shape
    return TYPES[kparams.covariance_type].pass_work(k, d) + 30 * k + d * d


def kernel_weights(sample_weight, dtype):
    """(weights in ``dtype`` for the kernels, scale): float64 weights as they are,
    float32 ones divided by the power of two nearest below their largest (exact
    in binary; neither 1e-50 nor 1e300 leaves float32's range).  The kernels'
    sums times ``scale`` are the sums of the given weights."""
    if sample_weight is None:
        return _empty(dtype, 1), 1.0
    largest = sample_weight.max() if sample_weight.size else 0.0
    if np.dtype(dtype) == np.float64 or not largest > 0:
        return sample_weight.astype(dtype, copy=False), 1.0
    scale = 2.0 ** math.floor(math.log2(largest))
    return (sample_weight / scale).astype(dtype), scale


def e_step_statistics(X, sample_weight, kparams, n_threads, block_size=None, tied_s2=True):
    """Statistics (and log-likelihood) of X under ``kparams`` (for 'tied', S2 left
    zero with ``tied_s2=False``: see TiedSecondMoment).  ``sample_weight``: float64
    or None."""
    if block_size is None:
        block_size = block_size_for(kparams)
    dtype = X.dtype
    w_arg, w_scale = kernel_weights(sample_weight, dtype)
    shifts = kparams.statistics_shifts()
    e1, e2, el = _empty(dtype, 1), _empty(dtype, 2), _empty(np.intp, 1)

    def kernel(part, rows, start, end, weights, whole=False):
        """The compiled pass over rows[start:end], added to ``part`` (written into it
        when it is the ``whole`` chunk's)."""
        row = part.row if whole else np.zeros_like(part.row)
        entropy = np.zeros(1) if kparams.entropy else None
        _, _, n_nonfinite, worst = _kernels.e_step(
            rows, start, end, weights, kparams.cov_code, kparams.shift, kparams.means,
            kparams.delta, kparams.prec, kparams.Q, kparams.cst, kparams.direct, row, e2,
            e1, el, block_size, tied_s2, entropy)
        if row is not part.row:
            part.row += row
        part.n_nonfinite += n_nonfinite
        if entropy is not None:
            part.resp_entropy += entropy[0]
        return worst

    def task(start, end):
        part = Statistics(kparams.covariance_type, shifts, kparams.shift, n_rows=end - start)
        if kparams.marginals is None or _kernels.all_finite(X[start:end]):
            worst = kernel(part, X, start, end, w_arg, whole=True)
            if worst >= 0:
                part.worst_rows.append(worst)
            return part
        taken = []  # float64: the rows with NaN, for the marginal pass
        for s, e, complete, incomplete in split_rows(X, start, end):
            if complete is None:  # no NaN here: the kernel on X's own rows
                worst = kernel(part, X, s, e, w_arg)
                if worst >= 0:
                    part.worst_rows.append(worst)
                continue
            if complete.size:
                rows = np.ascontiguousarray(X[s + complete])
                weights = w_arg[s + complete] if w_arg.shape[0] else w_arg
                worst = kernel(part, rows, 0, len(rows), weights)
                if worst >= 0:
                    part.worst_rows.append(s + int(complete[worst]))
            n_incomplete[0] += len(incomplete)
            if X.dtype == np.float64:  # taken where they are, in one call per chunk
                taken.append(s + incomplete)
                continue
            rows = np.asarray(X[s + incomplete], dtype=np.float64)
            weights = (np.asarray(w_arg[s + incomplete], dtype=np.float64)
                       if w_arg.shape[0] else w_arg[:0].astype(np.float64))
            part.n_nonfinite += _missing.add_statistics(
                part, kparams.marginals, rows, np.arange(len(rows), dtype=np.intp), weights)
        if taken:
            part.n_nonfinite += _missing.add_statistics(
                part, kparams.marginals, X, np.concatenate(taken), w_arg)
        return part

    n_incomplete = [0]
    # each chunk's Statistics (k d² doubles for full covariances) is added to the total
    chunks = plan_chunks(X.shape[0], block_size, work_per_row(kparams), row_bytes=X.strides[0],
                         fold_size=stats_width(kparams))
    total = sum_ordered(task, chunks, n_threads) or Statistics(
        kparams.covariance_type, shifts, kparams.shift)
    if w_scale != 1.0:
        total.row *= w_scale
        total.resp_entropy *= w_scale
    imprecise = imprecise_components(total)
    if imprecise and not total.n_nonfinite:
        if n_incomplete[0]:
            total = _centred_marginal_statistics(total, imprecise, X, sample_weight, kparams,
                                                 block_size)
        else:
            total = centred_statistics(
                total, imprecise, _resp_blocks(X, sample_weight, kparams, n_threads,
                                               block_size))
    return total


def _centred_marginal_statistics(stats, components, X, sample_weight, kparams, block_size):
    """``stats`` with the listed components' N, S1 and S2 summed again around their
    means (those ``stats`` gives), when X has rows with missing entries: every row
    through the marginal pass (a row without NaN is exact there), around shifts at
    those means, and, for full covariances, with the fill at each component's own
    mean (one pass per listed component; one in all for diag and spherical, which
    take no fill).  What centred_statistics is to complete rows: exact where the
    one-pass statistics cancel, components far apart from the shifts or the fill."""
    k, d = stats.shifts.shape
    # (a component without weight keeps its shift: it is not listed)
    means = np.ascontiguousarray(np.where(stats.nk[:, None] > 0, stats.means, stats.shifts),
                                 dtype=np.float64)
    mg = kparams.marginals
    step = _slice_rows(kparams, block_size)
    fills = ([means[c] for c in components] if kparams.covariance_type == "full"
             else [None])
    out = stats.copy()
    out.shifts = np.array(out.shifts, dtype=np.float64)
    for t, fill in enumerate(fills):
        part = Statistics(kparams.covariance_type, means, np.zeros(d))
        for start in range(0, X.shape[0], step):
            rows = np.ascontiguousarray(X[start:start + step], dtype=np.float64)
            weights = (_empty(np.float64, 1) if sample_weight is None else
                       np.asarray(sample_weight[start:start + step], dtype=np.float64))
            _missing.add_statistics(part, mg, rows, np.arange(len(rows), dtype=np.intp),
                                    weights, fill=fill)
        for c in ([components[t]] if fill is not None else components):
            out.shifts[c] = means[c]
            out.nk[c] = part.nk[c]
            out.s1[c] = part.s1[c]
            out.s2.reshape(k, -1)[c] = part.s2.reshape(k, -1)[c]
    return out


# Rows per block of a chunk with missing entries: its complete rows are gathered
# for the kernel, the others taken by _missing in groups.
_MISSING_BLOCK = 16384


def split_rows(X, start, end):
    """(s, e, complete, incomplete) over blocks of X[start:end]: the indices in the
    block of its complete rows and of those with a NaN, or (s, e, None, None) for a
    block without NaN."""
    for s in range(start, end, _MISSING_BLOCK):
        e = min(s + _MISSING_BLOCK, end)
        if _kernels.all_finite(X[s:e]):
            yield s, e, None, None
            continue
        nan_rows = np.isnan(X[s:e]).any(axis=1)
        yield s, e, np.flatnonzero(~nan_rows), np.flatnonzero(nan_rows)


def _slice_rows(kparams, block_size):
    """Rows per slice of a second pass over X: a few MB of rows and responsibilities."""
    k, d = kparams.means.shape
    return max(block_size, (4 << 20) // (8 * (d + k)))


def _resp_blocks(X, sample_weight, kparams, n_threads, block_size):
    """(rows, weights, responsibilities) over X in slices of a few MB."""
    step = _slice_rows(kparams, block_size)
    release = page_release.get()
    for start in range(0, X.shape[0], step):
        rows = X[start:start + step]
        weights = None if sample_weight is None else sample_weight[start:start + step]
        # a memory map's pages are released by their rows in X, not in the slice
        token = page_release.set(None if release is None else
                                 (lambda s, e, offset=start: release(s + offset, e + offset)))
        try:
            resp = e_step_outputs(rows, kparams, n_threads, resp=True,
                                  block_size=block_size)[0]
        finally:
            page_release.reset(token)
        yield rows, weights, resp


def e_step_outputs(X, kparams, n_threads, resp=False, log_prob_norm=False, labels=False,
                   block_size=None):
    """Per-row outputs under ``kparams``: any of resp (n, k), log p(x) (n,), labels (n,).

    They are computed and returned in the dtype of ``kparams``; rows of another
    dtype (float32 rows under a float64 model) are converted a chunk at a time.
    """
    if block_size is None:
        block_size = block_size_for(kparams)
    n, dtype = X.shape[0], kparams.means.dtype
    k = kparams.means.shape[0]
    out_resp = np.empty((n, k), dtype=dtype) if resp else _empty(dtype, 2)
    out_lpn = np.empty(n, dtype=dtype) if log_prob_norm else _empty(dtype, 1)
    out_labels = np.empty(n, dtype=np.intp) if labels else _empty(np.intp, 1)
    e1 = _empty(dtype, 1)
    ed1 = _empty(np.float64, 1)

    outputs = (out_resp, out_lpn, out_labels)

    def rows_of(s, e):
        """The outputs' rows s:e (views; an output not asked for stays empty)."""
        return tuple(out[s:e] if out.shape[0] else out for out in outputs)

    def kernel(rows, start, end, outs):
        return _kernels.e_step(rows, start, end, e1, kparams.cov_code, kparams.shift,
                               kparams.means, kparams.delta, kparams.prec, kparams.Q, kparams.cst,
                               kparams.direct, ed1, *outs, block_size)[2]

    def task(start, end):
        if kparams.marginals is None or _kernels.all_finite(X[start:end]):
            if X.dtype == dtype:
                return kernel(X, start, end, outputs)
            return kernel(np.ascontiguousarray(X[start:end], dtype=dtype), 0, end - start,
                          rows_of(start, end))
        n_nonfinite = 0
        for s, e, complete, incomplete in split_rows(X, start, end):
            if complete is None:
                n_nonfinite += kernel(np.ascontiguousarray(X[s:e], dtype=dtype), 0, e - s,
                                      rows_of(s, e))
                continue
            # the kernel's outputs for the block, its rows with NaN as zeros; theirs
            # are then replaced by the observed features' ones
            rows = np.array(X[s:e], dtype=dtype)
            rows[incomplete] = 0.0
            block = rows_of(s, e)
            n_nonfinite += kernel(rows, 0, e - s, block)
            missing_rows = np.asarray(X[s + incomplete], dtype=np.float64)
            lpn, r, lab = _missing.outputs(kparams.marginals, missing_rows)
            for out, values in zip(block, (r, lpn, lab)):
                if out.shape[0]:
                    out[incomplete] = values
            n_nonfinite += int(np.count_nonzero(~np.isfinite(lpn)))
        return n_nonfinite

    n_nonfinite = [0]

    def fold(count):
        n_nonfinite[0] += count

    run_ordered(task, plan_chunks(n, block_size, work_per_row(kparams), row_bytes=X.strides[0]),
                n_threads, fold)
    if n_nonfinite[0]:
        raise NonFiniteLikelihoodError(n_nonfinite[0], dtype)
    return out_resp, out_lpn, out_labels


class TiedSecondMoment:
    """S2 = Σ w (x − s)(x − s)ᵀ of the rows of one fit, taken once for all its passes.

    With one shared covariance, S2 is the same sum whatever the responsibilities
    (they add up to 1 per row): it depends on the rows and on the shift s alone.
    The first pass of a fit takes the rows' moments around its shift s₀ in double
    (_kernels.tied_moments: Σ w, Σ w (x − s₀) and S2, from x − s₀ computed in
    double); every pass's E-step then skips S2 (its rank update is a sixth to a
    third of a tied pass) and gets those moved to its own shift, exactly in double:
    with e = s₀ − s, x − s = (x − s₀) + e and

        S2(s) = S2(s₀) + (Σ w (x − s₀)) eᵀ + e (Σ w (x − s₀))ᵀ + (Σ w) e eᵀ.
    """

    def __init__(self):
        self._shift = None      # s₀
        self._moments = None    # (d + 1) × (d + 1): [Σ w, Σ w (x − s₀)ᵀ; ·, S2(s₀)]
        self._pending = None    # the first pass's, while its parts add up

    def statistics(self, X, sample_weight, kparams, n_threads):
        """e_step_statistics of all of X under ``kparams`` (any covariance type)."""
        if kparams.covariance_type != "tied" or kparams.marginals is not None:
            # (with missing entries S2 depends on the responsibilities: every pass)
            return e_step_statistics(X, sample_weight, kparams, n_threads)
        self.begin()
        return self.complete(self.pass_statistics(X, sample_weight, kparams, n_threads))

    def begin(self):
        """Start a pass (a first pass that did not complete left nothing behind)."""
        self._pending = None

    def pass_statistics(self, X, sample_weight, kparams, n_threads):
        """Tied statistics of a part of a pass (all rows, or one chunk) without S2;
        in the first pass, the part's moments are taken too."""
        if self._moments is None:
            if self._pending is None:
                self._shift = np.array(kparams.shift, dtype=np.float64)
                d = X.shape[1]
                self._pending = np.zeros((d + 1) * (d + 1))
            self._pending += tied_moments(X, sample_weight, kparams.shift, n_threads)
        return e_step_statistics(X, sample_weight, kparams, n_threads, tied_s2=False)

    def complete(self, stats):
        """A whole pass's tied statistics (from pass_statistics), S2 filled in place."""
        if self._moments is None:
            d = stats.shifts.shape[1]
            self._moments = self._pending.reshape(d + 1, d + 1)
            self._pending = None
        m = self._moments
        S2 = moved_second_moments("tied", m[0, 0], m[1:, 0], m[1:, 1:],
                                  self._shift - stats.tied_shift)
        stats.s2[:] = np.tril(S2).reshape(-1)
        return stats


def tied_moments(X, sample_weight, shift, n_threads, block_size=BLOCK_SIZE):
    """_kernels.tied_moments of all of X around ``shift``, sharded over threads."""
    d = X.shape[1]
    w_arg, w_scale = kernel_weights(sample_weight, X.dtype)
    shift = np.ascontiguousarray(shift, dtype=X.dtype)
    total = np.zeros((d + 1) * (d + 1))

    def task(start, end):
        part = np.zeros_like(total)
        _kernels.tied_moments(X, start, end, w_arg, shift, part, block_size)
        return part

    def fold(part):
        np.add(total, part, out=total)

    chunks = plan_chunks(X.shape[0], block_size, d * d + 2 * d, row_bytes=X.strides[0])
    run_ordered(task, chunks, n_threads, fold=fold)
    return total * w_scale
