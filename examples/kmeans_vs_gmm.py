"""k-means' hard labels next to a Gaussian mixture's, on oblong (sheared) clusters.

    python examples/kmeans_vs_gmm.py [--out DIR]

k-means assigns each point to the nearest centre, so its clusters are round and cut
across the three parallel oblong groups; a full-covariance Gaussian mixture learns
their shape, drawn as its 1- and 2-sigma ellipses. Writes kmeans_vs_gmm.png (default
into examples/images/) and prints how many points each method puts in their true
cluster. Needs gmmcore and matplotlib (``pip install gmmcore[plot]``).
"""

import matplotlib

matplotlib.use("Agg")  # draw into a file: no window, no display needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from _data import best_matching, kmeans, oblong_clusters  # noqa: E402
from _plotting import PALETTE, clean_axes, draw_ellipses, output_dir, save  # noqa: E402
from gmmcore import GaussianMixture  # noqa: E402

K = 3


def main():
    out = output_dir(__doc__.splitlines()[0])
    X, truth = oblong_clusters(n_samples=1500, seed=170)
    km_labels, km_centers = kmeans(X, K, 170)
    gmm = GaussianMixture(n_components=K, covariance_type="full", random_state=170).fit(X)
    gmm_labels = gmm.predict(X)

    # colour each found cluster like the true cluster it matches best, in both panels
    km_to_true, km_hits = best_matching(truth, km_labels, K)
    gmm_to_true, gmm_hits = best_matching(truth, gmm_labels, K)
    colors = np.array(PALETTE[:K])

    fig, (ax_km, ax_gmm) = plt.subplots(1, 2, figsize=(7.5, 6.4), sharex=True, sharey=True,
                                        layout="constrained")
    ax_km.scatter(X[:, 0], X[:, 1], s=6, c=colors[km_to_true[km_labels]], linewidths=0)
    ax_km.scatter(km_centers[:, 0], km_centers[:, 1], marker="X", s=110, c="white",
                  edgecolors="black", linewidths=1.2)
    clean_axes(ax_km, f"k-means: nearest centre\n{km_hits / len(X):.1%} in their true cluster")

    ax_gmm.scatter(X[:, 0], X[:, 1], s=6, c=colors[gmm_to_true[gmm_labels]], linewidths=0,
                   alpha=0.35)  # pale points, so the ellipses show
    draw_ellipses(ax_gmm, gmm.means_, gmm.covariances_, colors[gmm_to_true])
    clean_axes(ax_gmm, f"Gaussian mixture: 1σ and 2σ ellipses\n"
                       f"{gmm_hits / len(X):.1%} in their true cluster")
    fig.suptitle("Hard round clusters vs a Gaussian mixture on oblong data", fontsize=13)

    print(f"agreement with the true clusters: k-means {km_hits / len(X):.1%}, "
          f"GMM {gmm_hits / len(X):.1%}")
    save(fig, out, "kmeans_vs_gmm.png")


if __name__ == "__main__":
    main()
