"""Initial statistics for EM: 'kmeans', 'k-means++', 'random', 'random_from_data'.

Each method yields the sufficient statistics of an initial assignment of the rows
to components; the M-step turns them into the starting parameters, exactly as a
later EM iteration would.  Random draws are those of scikit-learn (same calls on
the same RandomState, in the same order), so an integer random_state gives the
same start as scikit-learn's GaussianMixture.
"""

import numpy as np

from . import _kernels
from ._covariance import TYPES
from ._em import kernel_weights, tied_moments
from ._mstep import Statistics, centred_statistics, imprecise_components
from ._parallel import loop_chunks, plan_chunks, run_ordered, sum_ordered

def _weighted_mean(X, sample_weight):
    """Column means in float64, in chunks of rows (numpy's pairwise sums per chunk)."""
    total = np.zeros(X.shape[1])
    for s, e in loop_chunks(X.shape[0], X.strides[0]):
        if sample_weight is None:
            total += X[s:e].sum(axis=0, dtype=np.float64)
        else:
            total += sample_weight[s:e].astype(np.float64) @ X[s:e]
    weight = X.shape[0] if sample_weight is None else sample_weight.sum(dtype=np.float64)
    return total / weight


def _row_norms(X, shift):
    """‖x − shift‖² of every row (shift None: of x), einsum's sums in X's dtype."""
    out = np.empty(X.shape[0], dtype=X.dtype)
    for s, e in loop_chunks(X.shape[0], X.strides[0]):
        rows = X[s:e] if shift is None else X[s:e] - shift
        np.einsum("ij,ij->i", rows, rows, out=out[s:e])
    return out


def _sq_distances(X, shift, x_norms, points, n_threads):
    """(m, n) squared distances of every row of X − shift to m points, as
    scikit-learn's _euclidean_distances takes them: ‖p‖² + ‖x‖² − 2 p·x in
    float64, clipped at zero, in X's dtype (the same rounding, so that k-means++
    chooses among tied candidates alike)."""
    out = np.empty((points.shape[0], X.shape[0]), dtype=X.dtype)
    points = np.asarray(points, dtype=np.float64)
    point_norms = np.einsum("ij,ij->i", points, points)[:, None]

    def task(s, e):
        rows = X[s:e] if shift is None else X[s:e] - shift
        d = -2 * (points @ rows.astype(np.float64, copy=False).T)
        d += point_norms
        d += x_norms[None, s:e]
        np.maximum(d, 0, out=d)
        out[:, s:e] = d

    run_ordered(task, plan_chunks(X.shape[0], row_bytes=X.strides[0]), n_threads)
    return out


def kmeans_plusplus(X, n_clusters, random_state, sample_weight=None, n_threads=1,
                    shift=None):
    """Indices of k-means++ seeds, with greedy local trials (2 + log k per seed), of
    the rows X − shift (shift None: of X).

    The draws and the distances follow scikit-learn's ``_kmeans_plusplus`` call for
    call, so ties between candidates resolve alike.
    """
    n_samples = X.shape[0]
    w = (np.ones(n_samples, dtype=X.dtype) if sample_weight is None
         else sample_weight.astype(X.dtype))
    n_local_trials = 2 + int(np.log(n_clusters))
    indices = np.full(n_clusters, -1, dtype=np.intp)
    x_norms = _row_norms(X, shift)

    def seeds(ids):
        return X[ids] if shift is None else X[ids] - shift

    center_id = random_state.choice(n_samples, p=w / w.sum())
    indices[0] = center_id
    closest_dist_sq = _sq_distances(X, shift, x_norms, seeds([center_id]), n_threads)
    current_pot = closest_dist_sq @ w
    for c in range(1, n_clusters):
        rand_vals = random_state.uniform(size=n_local_trials) * current_pot
        candidate_ids = np.searchsorted(np.cumsum(w * closest_dist_sq), rand_vals)
        np.clip(candidate_ids, None, closest_dist_sq.size - 1, out=candidate_ids)
        dist = _sq_distances(X, shift, x_norms, seeds(candidate_ids), n_threads)
        np.minimum(closest_dist_sq, dist, out=dist)
        candidates_pot = dist @ w.reshape(-1, 1)
        best = np.argmin(candidates_pot)
        current_pot = candidates_pot[best]
        closest_dist_sq = dist[best]
        indices[c] = candidate_ids[best]
    return indices


def column_variances(X):
    """Variance of each column of X in float64, in chunks of rows (no n×d temporary)."""
    return column_moments(X)[1]


def column_moments(X):
    """Mean and variance of each column of X in float64, in chunks of rows."""
    mean = _weighted_mean(X, None)
    total = np.zeros(X.shape[1])
    with np.errstate(over="ignore"):
        for s, e in loop_chunks(X.shape[0], X.strides[0]):
            diff = X[s:e] - mean
            total += np.einsum("ij,ij->j", diff, diff)
    return mean, total / X.shape[0]


def _distances_to_assigned(X, x_shift, centers, labels):
    """‖(x − x_shift) − centers[label]‖² per row, in chunks (no n×d temporary)."""
    out = np.empty(X.shape[0], dtype=X.dtype)
    for s, e in loop_chunks(X.shape[0], X.strides[0]):
        diff = (X[s:e] - x_shift) - centers[labels[s:e]]
        np.einsum("ij,ij->i", diff, diff, out=out[s:e])
    return out


def _relocate_empty_clusters(X, x_shift, sample_weight, centers_old, sums, weight_in_clusters,
                             labels):
    """Give each empty cluster one of the points farthest from their centers (in place)."""
    empty = np.flatnonzero(weight_in_clusters == 0)
    if empty.size == 0:
        return
    distances = _distances_to_assigned(X, x_shift, centers_old, labels)
    if np.max(distances) == 0:
        # More clusters than distinct points: relocating cannot help.
        return
    far = np.argpartition(distances, -empty.size)[:-empty.size - 1:-1]
    for new_id, far_idx in zip(empty, far):
        weight = 1.0 if sample_weight is None else float(sample_weight[far_idx])
        old_id = labels[far_idx]
        point = (X[far_idx].astype(np.float64) - x_shift) * weight
        sums[old_id] -= point
        sums[new_id] = point
        weight_in_clusters[new_id] = weight
        weight_in_clusters[old_id] -= weight


def _average_centers(sums, weight):
    """Centres from weighted sums as scikit-learn's Lloyd iteration takes them: times
    the reciprocal weight (the same rounding, so ties break alike later), and an
    empty cluster at the heaviest one's centre."""
    centers = np.empty_like(sums)
    heaviest = int(np.argmax(weight))
    for c in range(len(weight)):
        if weight[c] > 0:
            centers[c] = sums[c] * (1.0 / weight[c])
    for c in np.flatnonzero(~(weight > 0)):
        centers[c] = centers[heaviest]
    return centers


def kmeans(X, n_clusters, random_state, sample_weight=None, n_threads=1, max_iter=300,
           tol=1e-4, block_size=256):
    """Lloyd's k-means from k-means++ seeds; returns (labels, centers).

    The same algorithm as scikit-learn's KMeans(n_init=1) (data centred, tolerance
    relative to the mean feature variance, empty clusters re-seeded from the
    farthest points, strict convergence when no label changes).
    """
    dtype = X.dtype
    x_mean = _weighted_mean(X, None)
    x_shift = x_mean.astype(dtype)
    variances = column_variances(X)
    if not np.all(np.isfinite(variances)):
        raise ValueError("the variance of X overflows float64: scale the input data")
    tol = float(np.mean(variances) * tol)
    seeds = kmeans_plusplus(X, n_clusters, random_state, sample_weight, n_threads,
                            shift=x_shift)
    centers = (X[seeds] - x_shift).astype(dtype)
    labels = np.full(X.shape[0], -1, dtype=np.intp)
    w_arg = kernel_weights(sample_weight, dtype)[0]
    chunks = plan_chunks(X.shape[0], block_size, row_bytes=X.strides[0])
    d = X.shape[1]

    def assign(centers):
        total = [0, np.zeros((n_clusters, d)), np.zeros(n_clusters)]
        norms = np.einsum("ij,ij->i", centers, centers)  # scikit-learn's row_norms

        def task(start, end):
            sums = np.zeros((n_clusters, d))
            weight = np.zeros(n_clusters)
            n_changed = _kernels.lloyd_step(X, start, end, w_arg, x_shift, centers, norms,
                                            labels, sums, weight, block_size)
            return n_changed, sums, weight

        def fold(part):
            total[0] += part[0]
            total[1] += part[1]
            total[2] += part[2]

        run_ordered(task, chunks, n_threads, fold)
        return total

    strict = False
    for _ in range(max_iter):
        n_changed, sums, weight = assign(centers)
        _relocate_empty_clusters(X, x_shift, sample_weight, centers, sums, weight, labels)
        new_centers = _average_centers(sums, weight).astype(dtype)
        shift_tot = float(np.sum((new_centers.astype(np.float64) - centers) ** 2))
        centers = new_centers
        if n_changed == 0:
            strict = True
            break
        if shift_tot <= tol:
            break
    if not strict:
        assign(centers)  # final labels under the final centers
    return labels, centers.astype(np.float64) + x_mean


def moment_statistics(X, sample_weight, covariance_type, n_threads, block_size=256):
    """The statistics of every row as one component ('full' for the matrix types,
    else 'diag'), by the E-step's statistics kernels: add those of several chunks,
    then read the moments with data_moments."""
    kind = "full" if TYPES[covariance_type].matrix else "diag"
    n_samples, d = X.shape
    dtype = X.dtype
    shift = _weighted_mean(X, sample_weight).astype(dtype)
    shifts = shift[np.newaxis]
    w_arg, w_scale = kernel_weights(sample_weight, dtype)
    # neither responsibilities nor labels: one component, every row's
    no_resp, no_labels = np.empty((0, 0), dtype=dtype), np.empty(0, dtype=np.intp)
    code = TYPES[kind].code

    def task(start, end):
        part = Statistics(kind, shifts, shift, n_rows=end - start)
        _kernels.assignment_statistics(X, start, end, w_arg, code, shift, shifts, no_resp,
                                       no_labels, part.row, block_size)
        return part

    total = sum_ordered(task, plan_chunks(n_samples, block_size, row_bytes=X.strides[0]),
                        n_threads)
    total.row *= w_scale
    return total


def data_moments(total):
    """The rows' weighted mean and covariance (ddof 1, weights as repetitions, as
    numpy.cov's fweights) from moment_statistics: a d × d matrix ('full'),
    per-feature variances ('diag'); scikit-learn's default priors of the
    variational mixture."""
    d = total.shifts.shape[1]
    n, s1 = total.nk[0], total.s1[0]
    centre = np.asarray(total.shifts[0], dtype=np.float64)
    if total.covariance_type == "full":
        lower = np.tril(total.s2.reshape(d, d))
        scatter = lower + np.tril(lower, -1).T - np.outer(s1, s1) / n
    else:
        scatter = total.s2.reshape(d) - s1**2 / n
    return centre + s1 / n, scatter / (n - 1.0)


def initial_statistics(X, sample_weight, init_params, n_components, covariance_type,
                       random_state, n_threads, block_size=256):
    """Statistics of the initial assignment chosen by ``init_params``."""
    n_samples, d = X.shape
    dtype = X.dtype
    # the weights in the kernels' dtype and range: only their ratios matter here
    w_arg, w_scale = kernel_weights(sample_weight, dtype)
    scaled = None if sample_weight is None else w_arg
    resp = np.empty((0, 0), dtype=dtype)
    labels = np.empty(0, dtype=np.intp)
    if init_params in ("random_from_data", "k-means++"):  # one data point per component
        if init_params == "random_from_data":
            indices = _kernels.choice_without_replacement(random_state, n_samples,
                                                          n_components)
        else:
            indices = kmeans_plusplus(X, n_components, random_state, scaled, n_threads)
        if len(np.unique(indices)) == n_components:
            return _seed_statistics(X, sample_weight, indices, covariance_type, n_threads)
    data_mean = tied_shift = _weighted_mean(X, sample_weight).astype(dtype)

    if init_params == "kmeans":
        labels, centers = kmeans(X, n_components, random_state, scaled, n_threads,
                                 block_size=block_size)
        shifts = centers.astype(dtype)
    elif init_params == "random":
        resp = np.asarray(random_state.uniform(size=(n_samples, n_components)), dtype=dtype)
        resp /= resp.sum(axis=1)[:, np.newaxis]
        shifts = np.tile(tied_shift, (n_components, 1))
    else:
        # k-means++ picked one row twice (when every row left lies on a seed):
        # scikit-learn's responsibilities then give that row to each of its
        # components, which one label a row has cannot say
        resp = np.zeros((n_samples, n_components), dtype=dtype)
        resp[indices, np.arange(n_components)] = 1
        shifts = np.ascontiguousarray(X[indices])
        # Here the responsibilities of most rows are all zero, and scikit-learn's
        # tied covariance is then (XᵀX − Σ N_k μ_k μ_kᵀ) / Σ N_k over every row;
        # an unshifted tied statistic reproduces that start exactly.
        tied_shift = np.zeros(d, dtype=dtype)

    code = TYPES[covariance_type].code
    # The E-step's statistics kernels, responsibilities given: around the shifts
    # where the plan takes its statistics around the means, else around the one
    # shift (the data's mean; tied, k-means++: the origin, see above).
    shift = tied_shift if covariance_type == "tied" else data_mean
    around = _kernels.assignment_around_means(code, d, n_components, dtype)
    out_shifts = shifts if around else np.ascontiguousarray(
        np.broadcast_to(shift, (n_components, d)))

    def task(start, end):
        part = Statistics(covariance_type, out_shifts, shift, n_rows=end - start)
        _kernels.assignment_statistics(X, start, end, w_arg, code, shift, shifts, resp, labels,
                                       part.row, block_size)
        return part

    total = sum_ordered(task, plan_chunks(n_samples, block_size, row_bytes=X.strides[0]),
                        n_threads)
    total.row *= w_scale
    total.row[1] = n_samples if sample_weight is None else sample_weight.sum()
    imprecise = imprecise_components(total)
    if imprecise:  # tight clusters far from the shift: sum them again around their means
        total = centred_statistics(total, imprecise,
                                   _assignment_blocks(X, sample_weight, resp, labels, n_components))
    return total


def _seed_statistics(X, sample_weight, indices, covariance_type, n_threads):
    """The statistics of one row per component, every other row's responsibilities
    zero ('random_from_data', 'k-means++'), with no n-long array: N the seed's
    weight, S1 and S2 zero around the seed itself, and tied's S2 that of every row
    around the origin (scikit-learn's tied start is (XᵀX − Σ N_k μ_k μ_kᵀ) / Σ N_k)."""
    n_samples, d = X.shape
    k = len(indices)
    stats = Statistics(covariance_type, np.asarray(X[indices], dtype=np.float64), np.zeros(d),
                       n_rows=n_samples)
    stats.row[1] = n_samples if sample_weight is None else sample_weight.sum()
    stats.row[2:2 + k] = 1.0 if sample_weight is None else sample_weight[indices]
    if covariance_type == "tied":
        moments = tied_moments(X, sample_weight, np.zeros(d), n_threads).reshape(d + 1, d + 1)
        stats.row[2 + k + k * d:] = np.tril(moments[1:, 1:]).reshape(-1)
    return stats


def _assignment_blocks(X, sample_weight, resp, labels, n_components, step=4096):
    """(rows, weights, responsibilities) of a given assignment over X, in slices."""
    for start in range(0, X.shape[0], step):
        end = min(start + step, X.shape[0])
        if resp.shape[0]:
            block = resp[start:end]
        else:
            block = np.zeros((end - start, n_components))
            hit = labels[start:end] >= 0
            block[np.flatnonzero(hit), labels[start:end][hit]] = 1.0
        yield X[start:end], None if sample_weight is None else sample_weight[start:end], block

