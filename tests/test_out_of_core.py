"""Out-of-core fitting: memory maps and re-iterable chunk sources run the same EM
as an array in memory, with memory bounded by the chunks, not by n."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from gmmcore import GaussianMixture
from conftest import COVARIANCE_TYPES, make_blobs

pytestmark = pytest.mark.filterwarnings("ignore:Best performing initialization")
ATTRIBUTES = ("weights_", "means_", "covariances_", "precisions_cholesky_")


def write_memmap(path, X):
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=X.dtype, shape=X.shape)
    mm[:] = X
    mm.flush()
    del mm
    return np.load(path, mmap_mode="r")


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_memmap_fit_is_the_in_memory_fit(tmp_path, covariance_type, init_params):
    X = make_blobs(n_samples=30_000, n_features=4, n_components=3, seed=9)
    mapped = write_memmap(tmp_path / "X.npy", X)
    params = dict(covariance_type=covariance_type, init_params=init_params, random_state=0,
                  max_iter=30)
    in_memory = GaussianMixture(3, **params).fit(X)
    out_of_core = GaussianMixture(3, **params).fit(mapped)
    for name in ATTRIBUTES:  # the same passes in the same order: the same bits
        np.testing.assert_array_equal(getattr(out_of_core, name), getattr(in_memory, name))
    np.testing.assert_array_equal(out_of_core.predict_proba(mapped), in_memory.predict_proba(X))
    np.testing.assert_array_equal(out_of_core.score_samples(mapped), in_memory.score_samples(X))


def common_start(X, covariance_type, k=3):
    ref = GaussianMixture(k, covariance_type=covariance_type, random_state=0,
                          max_iter=0).fit(X[:5000])
    return dict(weights_init=ref.weights_, means_init=ref.means_,
                precisions_init=ref.precisions_)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_chunk_source_fit_is_the_in_memory_fit(covariance_type, dtype):
    X = make_blobs(n_samples=40_000, n_features=5, n_components=3, seed=2, dtype=dtype)
    w = np.random.RandomState(0).uniform(0.2, 3.0, len(X)).astype(dtype)
    params = dict(covariance_type=covariance_type, tol=0.0, max_iter=25,
                  **common_start(X, covariance_type))
    in_memory = GaussianMixture(3, **params).fit(X, sample_weight=w)
    sizes = [7000, 13001, 5000, 14999]  # uneven chunks
    bounds = np.cumsum([0] + sizes)

    def chunks():
        return ((X[a:b], w[a:b]) for a, b in zip(bounds[:-1], bounds[1:]))

    chunked = GaussianMixture(3, **params).fit(chunks)
    rtol = 1e-10 if dtype == np.float64 else 1e-4
    for name in ATTRIBUTES:
        np.testing.assert_allclose(getattr(chunked, name), getattr(in_memory, name), rtol=rtol,
                                   atol=rtol * 1e-2, err_msg=name)
    np.testing.assert_allclose(chunked.lower_bounds_, in_memory.lower_bounds_, rtol=rtol)
    assert chunked.means_.dtype == dtype


def test_chunk_source_initialises_on_its_first_chunk_and_fit_predict_labels_every_row():
    X = make_blobs(n_samples=30_000, n_features=3, n_components=3, seed=5)

    def chunks():
        return (X[s:s + 8000] for s in range(0, len(X), 8000))

    start_only = GaussianMixture(3, random_state=0, max_iter=0).fit(chunks)
    first_chunk = GaussianMixture(3, random_state=0, max_iter=0).fit(X[:8000])
    for name in ATTRIBUTES:
        np.testing.assert_array_equal(getattr(start_only, name), getattr(first_chunk, name))
    gmm = GaussianMixture(3, random_state=0)
    labels = gmm.fit_predict(chunks)
    np.testing.assert_array_equal(labels, gmm.predict(X))


def test_chunk_source_errors():
    X = make_blobs(n_samples=3000, n_features=3, n_components=2, seed=1)
    gmm = GaussianMixture(2, random_state=0, max_iter=3)
    with pytest.raises(ValueError, match="no chunks"):
        gmm.fit(lambda: iter([]))
    with pytest.raises(ValueError, match="chunk 1 has 2 features"):
        gmm.fit(lambda: iter([X[:1000], X[1000:, :2]]))
    with pytest.raises(ValueError, match="chunk 1 contains NaN"):
        bad = X.copy()
        bad[1500, 0] = np.nan
        gmm.fit(lambda: iter([bad[:1000], bad[1000:]]))
    passes = []

    def shrinking():
        passes.append(1)
        return iter([X[: 3000 - 100 * len(passes)]])

    with pytest.raises(ValueError, match="same rows on every call"):
        gmm.fit(shrinking)
    with pytest.raises(ValueError, match="yield pairs"):
        gmm.fit(lambda: iter([X]), sample_weight=np.ones(len(X)))
    with pytest.raises(TypeError, match="must return an iterator"):
        gmm.fit(lambda: 42)
    with pytest.raises(ValueError, match="pair"):
        gmm.fit(lambda: iter([(X, np.ones(len(X)), 1)]))


PEAK_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    from gmmcore import GaussianMixture

    def status(key):
        for line in open("/proc/self/status"):
            if line.startswith(key):
                return int(line.split()[1]) * 1024

    path, covariance_type = sys.argv[1], sys.argv[2]
    X = np.load(path, mmap_mode="r")
    k, d = 4, X.shape[1]
    start = dict(weights_init=np.full(k, 1 / k), means_init=np.array(X[:k]),
                 precisions_init={"full": np.stack([np.eye(d)] * k), "diag": np.ones((k, d))}[
                     covariance_type])
    gmm = GaussianMixture(k, covariance_type=covariance_type, max_iter=2, tol=0, **start)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak (VmHWM) to the current resident size
    before = status("VmRSS")
    gmm.fit(X)
    gmm.predict(X)
    print(status("VmHWM") - before, X.nbytes)
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_memmap_fit_memory_is_bounded_by_chunks_not_by_the_file(tmp_path, covariance_type):
    path = tmp_path / "big.npy"
    n, d = 2_000_000, 12  # 192 MB
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=(n, d))
    rng = np.random.RandomState(0)
    centres = rng.randn(4, d) * 6
    for s in range(0, n, 250_000):
        mm[s:s + 250_000] = centres[rng.randint(0, 4, 250_000)] + rng.randn(250_000, d)
    mm.flush()
    del mm
    out = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, str(path), covariance_type],
                         capture_output=True, text=True, timeout=300, check=True).stdout
    peak, file_size = map(int, out.split())
    # the file is 4x what the fit (and a predict's n labels) may add to the process
    assert peak * 4 <= file_size, (peak / 2**20, file_size / 2**20)
    print(f"peak growth {peak / 2**20:.1f} MiB for a {file_size / 2**20:.0f} MiB file")
