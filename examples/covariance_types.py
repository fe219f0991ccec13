"""The four covariance types (full, tied, diag, spherical) fitted to the same four clusters.

    python examples/covariance_types.py [--out DIR]

Four components each time, drawn as their 1- and 2-sigma ellipses: 'full' gives every
component its own tilted ellipse; 'tied' one shape shared by all; 'diag' ellipses
aligned with the axes; 'spherical' circles. Only 'full' can follow clusters tilted in
different directions. Writes covariance_types.png (default into examples/images/) and
prints each type's BIC. Needs gmmcore and matplotlib (``pip install gmmcore[plot]``).
"""

import matplotlib

matplotlib.use("Agg")  # draw into a file: no window, no display needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from _data import best_matching, mixed_shape_clusters  # noqa: E402
from _plotting import (  # noqa: E402
    PALETTE, clean_axes, draw_ellipses, full_covariances, output_dir, save)
from gmmcore import GaussianMixture  # noqa: E402

K = 4
COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


def main():
    out = output_dir(__doc__.splitlines()[0])
    X, truth = mixed_shape_clusters(n_samples=1200, seed=0)
    colors = np.array(PALETTE[:K])

    fig, axes = plt.subplots(2, 2, figsize=(8.5, 7.6), sharex=True, sharey=True,
                             layout="constrained")
    bics = {}
    for ax, covariance_type in zip(axes.flat, COVARIANCE_TYPES):
        gmm = GaussianMixture(n_components=K, covariance_type=covariance_type,
                              random_state=0).fit(X)
        labels = gmm.predict(X)
        component_to_true, hits = best_matching(truth, labels, K)
        bics[covariance_type] = gmm.bic(X)
        ax.scatter(X[:, 0], X[:, 1], s=5, c=colors[component_to_true[labels]], linewidths=0,
                   alpha=0.35)  # pale points, so the ellipses show
        draw_ellipses(ax, gmm.means_, full_covariances(gmm), colors[component_to_true])
        clean_axes(ax, f"'{covariance_type}': BIC {bics[covariance_type]:,.0f}, "
                       f"{hits / len(X):.1%} in their true cluster")
        print(f"{covariance_type:>9}: BIC {bics[covariance_type]:10.1f}  "
              f"agreement with the true clusters {hits / len(X):.1%}")
    fig.suptitle("Covariance types, 4 components each (lower BIC is better)", fontsize=13)

    print(f"lowest BIC: {min(bics, key=bics.get)}")
    save(fig, out, "covariance_types.png")


if __name__ == "__main__":
    main()
