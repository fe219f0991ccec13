"""The generated data sets the examples share, and how found clusters are matched to the truth.

Kept here rather than imported from the package's command-line module so the examples
depend only on gmmcore's public API.
"""

import itertools

import numpy as np


def oblong_clusters(n_samples=1500, seed=170):
    """Three Gaussian blobs sheared into parallel oblong clusters (the classic case
    where k-means' round clusters cut across the true groups)."""
    rng = np.random.RandomState(seed)
    centers = np.array([[-2.0, -8.0], [8.0, 6.0], [0.0, 0.0]])
    labels = rng.randint(0, 3, n_samples)
    X = centers[labels] + rng.randn(n_samples, 2)
    shear = np.array([[0.60834549, -0.63667341], [-0.40887718, 0.85253229]])
    return X @ shear, labels


# Four clusters of different shapes: tilted one way, small and round, long along x,
# tilted the other way; close enough that some points lie between two of them.
SHAPES_MEANS = np.array([[0.0, 0.0], [4.5, 4.0], [5.0, -2.5], [-1.0, 4.5]])
SHAPES_COVARIANCES = np.array([[[4.0, 2.6], [2.6, 2.0]],
                               [[0.6, 0.0], [0.0, 0.6]],
                               [[3.0, 0.0], [0.0, 0.3]],
                               [[1.2, -1.0], [-1.0, 1.5]]])


def mixed_shape_clusters(n_samples=1200, seed=0):
    """Draws from the four clusters of SHAPES_MEANS and SHAPES_COVARIANCES, equal weights."""
    rng = np.random.RandomState(seed)
    labels = rng.randint(0, len(SHAPES_MEANS), n_samples)
    cholesky = np.linalg.cholesky(SHAPES_COVARIANCES)
    X = SHAPES_MEANS[labels] + np.einsum("nij,nj->ni", cholesky[labels], rng.randn(n_samples, 2))
    return X, labels


def kmeans(X, k, seed):
    """k-means labels and centres: scikit-learn's KMeans where it is installed (the
    k-means that starts gmmcore's mixtures), else Lloyd's iterations in plain numpy
    from k distinct random rows."""
    try:
        from sklearn.cluster import KMeans
    except ImportError:
        rng = np.random.RandomState(seed)
        centers = X[rng.choice(len(X), k, replace=False)]
        for _ in range(300):
            labels = ((X[:, None, :] - centers[None]) ** 2).sum(axis=2).argmin(axis=1)
            moved = np.array([X[labels == c].mean(axis=0) if np.any(labels == c)
                              else centers[c] for c in range(k)])
            if np.allclose(moved, centers):
                break
            centers = moved
        return labels, centers
    km = KMeans(n_clusters=k, n_init=1, random_state=seed).fit(X)
    return km.labels_, km.cluster_centers_


def best_matching(true, found, k):
    """The permutation ``p`` (found cluster j is true cluster p[j]) that agrees with
    ``true`` on the most points, and that number of points."""
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (true, found), 1)
    best = max(itertools.permutations(range(k)),
               key=lambda p: sum(confusion[p[j], j] for j in range(k)))
    return np.array(best), sum(confusion[best[j], j] for j in range(k))


def matched_accuracy(true, found, k):
    """Share of points whose found cluster maps to their true cluster, under the best matching."""
    return best_matching(true, found, k)[1] / len(true)
