"""A Gaussian mixture's probabilities (predict_proba) as colour: unsure points pale.

    python examples/gmm_probabilities.py [--out DIR]

Each point's colour is the components' colours mixed by its probabilities, then faded
toward white as its highest probability falls toward 1/k, so the points between two
clusters, which a hard label would hide, show pale. Writes gmm_probabilities.png
(default into examples/images/) and prints how many points are uncertain. Needs
gmmcore and matplotlib (``pip install gmmcore[plot]``).
"""

import matplotlib

matplotlib.use("Agg")  # draw into a file: no window, no display needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from _data import best_matching, mixed_shape_clusters  # noqa: E402
from _plotting import PALETTE_RGB, clean_axes, output_dir, save  # noqa: E402
from gmmcore import GaussianMixture  # noqa: E402

K = 4
UNCERTAIN = 0.9  # a point is uncertain when no component has at least this probability


def probability_colors(proba, component_rgb):
    """RGB of each row of ``proba``: the components' colours mixed by probability, faded
    toward white by how far the highest probability is from certainty (1) toward 1/k
    (squared, so a point at 0.7 already looks washed out)."""
    k = proba.shape[1]
    mixed = proba @ component_rgb
    certainty = (proba.max(axis=1, keepdims=True) - 1 / k) / (1 - 1 / k)
    return 1 - (1 - mixed) * certainty**2


def main():
    out = output_dir(__doc__.splitlines()[0])
    X, truth = mixed_shape_clusters(n_samples=1200, seed=0)
    gmm = GaussianMixture(n_components=K, covariance_type="full", random_state=0).fit(X)
    proba = gmm.predict_proba(X)
    component_to_true, _ = best_matching(truth, proba.argmax(axis=1), K)
    component_rgb = PALETTE_RGB[component_to_true]

    fig, ax = plt.subplots(figsize=(7, 5.8), layout="constrained")
    ax.scatter(X[:, 0], X[:, 1], s=14, c=probability_colors(proba, component_rgb),
               edgecolors="0.55", linewidths=0.25)
    n_uncertain = int(np.sum(proba.max(axis=1) < UNCERTAIN))
    clean_axes(ax, "Colour mixed by predict_proba: pale where the mixture is unsure")
    ax.text(0.98, 0.02, f"{n_uncertain} of {len(X)} points have no component above {UNCERTAIN}",
            transform=ax.transAxes, ha="right", va="bottom", fontsize=9, color="0.35")

    print(f"uncertain points (highest probability below {UNCERTAIN}): {n_uncertain} of {len(X)}")
    i = proba.max(axis=1).argmin()
    print(f"least certain point: x={X[i].round(2)}  P={proba[i].round(3)}")
    save(fig, out, "gmm_probabilities.png")


if __name__ == "__main__":
    main()
