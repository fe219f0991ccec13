"""A mixture fitted to data with missing coordinates, and the gaps filled from it.

    python examples/missing_values.py [--out DIR]

The oblong clusters of kmeans_vs_gmm.py with 30% of their coordinates removed at
random.  Left: the truth.  Middle: the usual remedy, each gap filled with its
column's mean, which puts the points on two lines through the middle.  Right:
GaussianMixture(nan_policy='marginalize') fitted to the rows as they are (each on
its observed coordinates), its ellipses, and each gap filled by ``impute`` with
its expectation given the row's other coordinate (crosses).  Rows with both
coordinates removed are left out of the middle and right panels: nothing is known
of them.  Writes missing_values.png (default into examples/images/) and prints the
imputation errors and the fitted means against the true ones.  Needs gmmcore and
matplotlib (``pip install gmmcore[plot]``).
"""

import matplotlib

matplotlib.use("Agg")  # draw into a file: no window, no display needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from _data import best_matching, oblong_clusters  # noqa: E402
from _plotting import PALETTE, clean_axes, draw_ellipses, output_dir, save  # noqa: E402
from gmmcore import GaussianMixture  # noqa: E402

K = 3
MISSING = 0.3


def main():
    out = output_dir(__doc__.splitlines()[0])
    X, truth = oblong_clusters(n_samples=1500, seed=170)
    rng = np.random.RandomState(0)
    gaps = X.copy()
    gaps[rng.rand(*X.shape) < MISSING] = np.nan
    missing = np.isnan(gaps)
    partial = missing.any(axis=1) & ~missing.all(axis=1)
    shown = ~missing.all(axis=1)

    gmm = GaussianMixture(n_components=K, nan_policy="marginalize", n_init=3,
                          random_state=170).fit(gaps)
    filled = gmm.impute(gaps)
    column_means = np.where(missing, np.nanmean(gaps, axis=0), gaps)
    labels = gmm.predict(gaps)
    to_true, _ = best_matching(truth, labels, K)
    colors = np.array(PALETTE[:K])

    fig, axes = plt.subplots(1, 3, figsize=(12, 4.6), sharex=True, sharey=True,
                             layout="constrained")
    truth_ax, mean_ax, gmm_ax = axes
    truth_ax.scatter(X[:, 0], X[:, 1], s=6, c=colors[truth], linewidths=0)
    clean_axes(truth_ax, "the truth")
    for ax, values, title in (
            (mean_ax, column_means, "gaps filled with column means"),
            (gmm_ax, filled, "fitted with the gaps, gaps filled by impute")):
        complete = shown & ~partial
        ax.scatter(values[complete, 0], values[complete, 1], s=6, c="0.7", linewidths=0)
        ax.scatter(values[partial, 0], values[partial, 1], s=14, marker="x", linewidths=0.9,
                   c=colors[truth[partial]])
        clean_axes(ax, title)
    draw_ellipses(gmm_ax, gmm.means_, gmm.covariances_, colors[to_true])

    def rmse(values):
        return float(np.sqrt(np.mean((values[missing & shown[:, None]]
                                      - X[missing & shown[:, None]]) ** 2)))

    true_means = np.array([X[truth == c].mean(axis=0) for c in range(K)])
    found = np.empty_like(true_means)
    found[to_true] = gmm.means_
    print(f"coordinates removed: {missing.mean():.1%}; rows with one of two: "
          f"{partial.mean():.1%}, with none: {(~shown).mean():.1%}")
    print(f"imputation error (RMSE over rows with one coordinate): column means "
          f"{rmse(column_means):.3f}, mixture {rmse(filled):.3f}")
    print(f"largest distance of a fitted mean from its cluster's: "
          f"{np.max(np.linalg.norm(found - true_means, axis=1)):.3f}")
    save(fig, out, "missing_values.png")


if __name__ == "__main__":
    main()
