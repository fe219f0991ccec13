"""Choosing the number of components and the covariance type by BIC.

    python examples/bic_model_selection.py [--out DIR]

Fits 1 to 8 components of each covariance type to data drawn from four clusters of
different shapes and plots the Bayesian information criterion (gmm.bic(X): lower is
better) against the number of components, each curve's minimum marked. 'full' bottoms
out at the true four; the constrained types keep adding components to make up for
their shape and still score worse. Writes bic_model_selection.png (default into
examples/images/) and prints the BIC table and the choice. Needs gmmcore and
matplotlib (``pip install gmmcore[plot]``).
"""

import matplotlib

matplotlib.use("Agg")  # draw into a file: no window, no display needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from _data import SHAPES_MEANS, mixed_shape_clusters  # noqa: E402
from _plotting import PALETTE, output_dir, save  # noqa: E402
from gmmcore import GaussianMixture  # noqa: E402

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
N_COMPONENTS = np.arange(1, 9)


def main():
    out = output_dir(__doc__.splitlines()[0])
    X, _ = mixed_shape_clusters(n_samples=1200, seed=0)
    bic = {covariance_type: np.array([
        GaussianMixture(n_components=k, covariance_type=covariance_type, random_state=0)
        .fit(X).bic(X) for k in N_COMPONENTS]) for covariance_type in COVARIANCE_TYPES}
    best_type = min(bic, key=lambda t: bic[t].min())
    best_k = int(N_COMPONENTS[bic[best_type].argmin()])

    fig, ax = plt.subplots(figsize=(7.5, 4.6), layout="constrained")
    for color, covariance_type in zip(PALETTE, COVARIANCE_TYPES):
        curve = bic[covariance_type]
        i = curve.argmin()
        ax.plot(N_COMPONENTS, curve, marker="o", markersize=4, color=color,
                label=f"{covariance_type} (best k={N_COMPONENTS[i]})")
        ax.plot(N_COMPONENTS[i], curve[i], marker="o", markersize=11, markerfacecolor="none",
                markeredgewidth=1.6, color=color)
    ax.annotate(f"lowest BIC: {best_type}, k={best_k}", (best_k, bic[best_type].min()),
                xytext=(12, -12), textcoords="offset points", ha="left", va="top",
                color="0.2")
    ax.axvline(len(SHAPES_MEANS), color="0.8", linestyle=":", zorder=0)
    ax.set_xticks(N_COMPONENTS)
    ax.set_xlabel("number of components")
    ax.set_ylabel("BIC (lower is better)")
    ax.set_title(f"BIC by number of components; the data has {len(SHAPES_MEANS)} clusters "
                 "(dotted line)", fontsize=11)
    ax.margins(y=0.12)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.legend(frameon=False, title="covariance type")

    print("BIC by number of components (lower is better):")
    print(f"{'k':>3} " + " ".join(f"{t:>10}" for t in COVARIANCE_TYPES))
    for i, k in enumerate(N_COMPONENTS):
        print(f"{k:>3} " + " ".join(f"{bic[t][i]:10.1f}" for t in COVARIANCE_TYPES))
    print(f"true number of clusters: {len(SHAPES_MEANS)}")
    print(f"best: k={best_k} covariance_type={best_type}")
    save(fig, out, "bic_model_selection.png")


if __name__ == "__main__":
    main()
