"""Drawing helpers the picture examples share: palette, covariance ellipses, output file.

Imports no pyplot, so each example chooses the backend itself before it does.
"""

import argparse
import io
import pathlib

import numpy as np
from matplotlib.colors import to_rgb
from matplotlib.patches import Ellipse
from PIL import Image  # a dependency of matplotlib

# Okabe-Ito colours: distinguishable with the common colour-vision deficiencies.
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]
PALETTE_RGB = np.array([to_rgb(c) for c in PALETTE])

DEFAULT_OUT = pathlib.Path(__file__).resolve().parent / "images"


def output_dir(description):
    """The directory given by ``--out`` (default: examples/images/), created if missing."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT,
                        help=f"directory to write the PNG into (default: {DEFAULT_OUT})")
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    return out


def save(fig, out, name):
    """Writes ``out/name``, a PNG at 100 dpi in 256 colours, and prints its path."""
    path = out / name
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    # flat colours and antialiased edges look the same in 256 colours, at a third of the size
    Image.open(buffer).convert("RGB").quantize(256).save(path, optimize=True)
    print(f"wrote {path}")
    return path


def full_covariances(gmm):
    """The fitted covariances as one (n_components, d, d) array, whatever the
    covariance type (covariances_ is (k, d, d) for full, (d, d) for tied,
    (k, d) for diag and (k,) for spherical)."""
    k, d = gmm.means_.shape
    cov = gmm.covariances_
    if gmm.covariance_type == "full":
        return cov
    if gmm.covariance_type == "tied":
        return np.broadcast_to(cov, (k, d, d))
    if gmm.covariance_type == "diag":
        return cov[:, :, None] * np.eye(d)
    return cov[:, None, None] * np.eye(d)  # spherical


def draw_ellipses(ax, means, covariances, colors, n_sigmas=(1, 2)):
    """Outlines, for each 2-d Gaussian, the points at Mahalanobis distance 1, 2... from its mean."""
    for mean, cov, color in zip(means, covariances, colors):
        variances, axes = np.linalg.eigh(cov)  # ascending: the last axis is the long one
        angle = np.degrees(np.arctan2(axes[1, 1], axes[0, 1]))
        for n in n_sigmas:
            width, height = 2 * n * np.sqrt(variances[::-1])
            ax.add_patch(Ellipse(mean, width, height, angle=angle, fill=False, color=color,
                                 linewidth=2.0 if n == 1 else 1.2, alpha=0.9 if n == 1 else 0.6))
        ax.plot(*mean, marker="+", color="black", markersize=9, markeredgewidth=1.5)


def clean_axes(ax, title):
    """Equal aspect, a title and no ticks: the coordinates of generated data mean nothing."""
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=11)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_color("0.75")
