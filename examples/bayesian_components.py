"""A Dirichlet-process mixture switches the components it does not need off.

    python examples/bayesian_components.py [--out DIR]

Fits BayesianGaussianMixture with 10 components to data drawn from four clusters of
different shapes.  Left: the data coloured by component, with the 1- and 2-sigma
ellipses of the components the fit uses (weight above 1%).  Right: the expected
weights of all ten, sorted, beside those of a plain GaussianMixture with ten
components, which spends all of them.  Writes bayesian_components.png (default into
examples/images/) and prints both sets of weights and the effective components.
Needs gmmcore and matplotlib (``pip install gmmcore[plot]``).
"""

import matplotlib

matplotlib.use("Agg")  # draw into a file: no window, no display needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from _data import SHAPES_MEANS, mixed_shape_clusters  # noqa: E402
from _plotting import (PALETTE_RGB, clean_axes, draw_ellipses, output_dir,  # noqa: E402
                       save)
from gmmcore import BayesianGaussianMixture, GaussianMixture  # noqa: E402

N_COMPONENTS = 10


def main():
    out = output_dir(__doc__.splitlines()[0])
    X, _ = mixed_shape_clusters(n_samples=1200, seed=0)
    bayesian = BayesianGaussianMixture(n_components=N_COMPONENTS, weight_concentration_prior=0.01,
                                       max_iter=500, random_state=0).fit(X)
    plain = GaussianMixture(n_components=N_COMPONENTS, random_state=0).fit(X)
    used = bayesian.effective_components(threshold=0.01)

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.6), layout="constrained",
                                      width_ratios=[1.15, 1])
    colors = np.full((N_COMPONENTS, 3), 0.6)
    colors[used] = PALETTE_RGB[:len(used)]
    labels = bayesian.predict(X)
    left.scatter(X[:, 0], X[:, 1], s=6, color=colors[labels], alpha=0.35)
    draw_ellipses(left, bayesian.means_[used], bayesian.covariances_[used], colors[used])
    clean_axes(left, f"{len(used)} of {N_COMPONENTS} components in use")

    order = np.argsort(-bayesian.weights_)
    positions = np.arange(1, N_COMPONENTS + 1)
    right.bar(positions - 0.2, bayesian.weights_[order], width=0.4, color=colors[order],
              label="BayesianGaussianMixture")
    right.bar(positions + 0.2, np.sort(plain.weights_)[::-1], width=0.4, color="none",
              edgecolor="0.45", label="GaussianMixture")
    right.set_xticks(positions)
    right.set_xlabel("component, heaviest first")
    right.set_ylabel("weight")
    right.set_title(f"weights of {N_COMPONENTS} components; the data has "
                    f"{len(SHAPES_MEANS)} clusters", fontsize=11)
    for side in ("top", "right"):
        right.spines[side].set_visible(False)
    right.legend(frameon=False)

    np.set_printoptions(precision=4, suppress=True)
    print("Bayesian weights, heaviest first:", bayesian.weights_[order])
    print("EM weights, heaviest first:      ", np.sort(plain.weights_)[::-1])
    print(f"effective components (weight > 1%): {len(used)} of {N_COMPONENTS}")
    print(f"true number of clusters: {len(SHAPES_MEANS)}")
    save(fig, out, "bayesian_components.png")


if __name__ == "__main__":
    main()
