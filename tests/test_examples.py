"""The runnable example and the demo command work and say what they should."""

import pathlib
import subprocess
import sys

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def run(*args):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, check=True,
                          timeout=300).stdout


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
