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
    out = run("-m", "gmmcore", "demo")
    assert "k-means gives each point one hard label" in out
    accuracy = out.split("agreement with the true clusters:")[1].split("\n")[0]
    km = float(accuracy.split("k-means")[1].split("%")[0])
    gmm = float(accuracy.split("GMM")[1].split("%")[0])
    assert gmm > km and gmm > 99.0


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


PICTURES = {
    "kmeans_vs_gmm": gmm_beats_kmeans,
    "gmm_probabilities": some_points_uncertain,
    "covariance_types": full_has_lowest_bic,
    "bic_model_selection": bic_finds_true_k,
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
