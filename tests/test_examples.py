"""The runnable examples and the demo command work and say what they should."""

import os
import pathlib
import re
import struct
import subprocess
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run(*args, env=None):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, check=True,
                          timeout=300, env=env).stdout


def test_soft_clustering_example_picks_three_components_by_bic():
    out = run(str(EXAMPLES / "soft_clustering.py"))
    assert "best: k=3" in out
    assert "GMM 100.0%" in out  # the mixture recovers the oblong clusters


def test_demo_command():
    """The demo shows what k-means' hard labels miss: the rows where it and the mixture
    disagree, and those the mixture is genuinely unsure of, with matched labels."""
    out = run("-m", "gmmcore", "demo")
    assert "k-means gives each point one hard label" in out
    assert "Columns: the point's index and coordinates, its k-means label" in out
    accuracy = out.split("agreement with the true clusters:")[1].split("\n")[0]
    km = float(accuracy.split("k-means")[1].split("%")[0])
    gmm = float(accuracy.split("GMM")[1].split("%")[0])
    assert gmm > km and gmm > 99.0
    n_disagree = int(re.search(r"disagree on (\d+) of", out).group(1))
    n_unsure = int(re.search(r"unsure \(no component above 90%\) of (\d+)", out).group(1))
    assert n_disagree > 0 and n_unsure > 0

    def rows(title):
        block = out.split(title)[1].split("\n\n")[0].splitlines()[2:]
        return [line.split() for line in block]

    disagree = rows("Where they disagree")
    assert disagree and all(r[3] != r[4] for r in disagree)  # k-means label != GMM label
    unsure = rows("Where the mixture is unsure")
    assert unsure and all(max(map(float, r[5:])) < 0.9 for r in unsure)
    # the labels are matched: most rows agree, so a disagreement is not a renaming
    assert n_disagree < 0.5 * 1500


def percent(text, after):
    return float(re.search(re.escape(after) + r"\s*([0-9.]+)%", text).group(1))


def gmm_beats_kmeans(out):
    km, gmm = percent(out, "k-means"), percent(out, "GMM")
    assert gmm > km and gmm > 99.0


def some_points_uncertain(out):
    n_uncertain, n_samples = map(int, re.search(r"below 0\.9\): (\d+) of (\d+)", out).groups())
    assert 0 < n_uncertain < n_samples / 10  # a pale band between clusters, not a haze


def full_has_lowest_bic(out):
    assert "lowest BIC: full" in out


def bic_finds_true_k(out):
    true_k = int(re.search(r"true number of clusters: (\d+)", out).group(1))
    assert f"best: k={true_k} covariance_type=full" in out


def bayesian_finds_the_clusters(out):
    true_k = int(re.search(r"true number of clusters: (\d+)", out).group(1))
    assert f"effective components (weight > 1%): {true_k} of 10" in out


def missing_values_fit_the_clusters(out):
    means, mixture = map(float, re.search(
        r"column means ([0-9.]+), mixture ([0-9.]+)", out).groups())
    assert mixture < means
    assert float(re.search(r"its cluster's: ([0-9.]+)", out).group(1)) < 0.2


PICTURES = {
    "kmeans_vs_gmm": gmm_beats_kmeans,
    "gmm_probabilities": some_points_uncertain,
    "covariance_types": full_has_lowest_bic,
    "bic_model_selection": bic_finds_true_k,
    "bayesian_components": bayesian_finds_the_clusters,
    "missing_values": missing_values_fit_the_clusters,
}


def png_size(path):
    """(width, height) from the IHDR chunk, which a valid PNG has right after its signature."""
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_SIGNATURE
    assert head[12:16] == b"IHDR"
    return struct.unpack(">II", head[16:24])


@pytest.mark.parametrize("name", PICTURES)
def test_picture_example(name, tmp_path):
    pytest.importorskip("matplotlib")
    env = {**os.environ, "MPLBACKEND": "Agg"}
    out = run(str(EXAMPLES / f"{name}.py"), "--out", str(tmp_path), env=env)
    png = tmp_path / f"{name}.png"
    assert f"wrote {png}" in out
    width, height = png_size(png)
    assert 400 <= width <= 2000 and 300 <= height <= 2000
    PICTURES[name](out)
