"""The table of covariance types (gmmcore._covariance): shapes, parameter counts and
the conversions between precisions, their Cholesky factors and covariances, checked
against dense numpy linear algebra and scikit-learn's conventions."""

import numpy as np
import pytest

from gmmcore import _kernels
from gmmcore._covariance import COVARIANCE_TYPES, TYPES
from conftest import dense_covariances_from_precisions, random_precisions


def dense(covariance_type, params, k, d):
    """A per-type array as k dense d × d matrices."""
    params = np.asarray(params, dtype=np.float64)
    if covariance_type == "full":
        return params
    if covariance_type == "tied":
        return np.broadcast_to(params, (k, d, d))
    if covariance_type == "diag":
        return np.stack([np.diag(p) for p in params])
    return np.stack([np.eye(d) * p for p in params])


def test_the_table_lists_the_kernels_types_in_their_order():
    assert COVARIANCE_TYPES == ("full", "tied", "diag", "spherical")
    assert {t: TYPES[t].code for t in TYPES} == _kernels.COVARIANCE_CODES
    assert [t for t in TYPES if TYPES[t].matrix] == ["full", "tied"]
    assert [t for t in TYPES if TYPES[t].shared] == ["tied"]


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_shapes_and_free_parameters_are_scikit_learns(covariance_type):
    k, d = 3, 4
    expected_shape = {"full": (k, d, d), "tied": (d, d), "diag": (k, d), "spherical": (k,)}
    # scikit-learn's GaussianMixture._n_parameters, covariance part
    expected_count = {"full": k * d * (d + 1) / 2, "tied": d * (d + 1) / 2, "diag": k * d,
                      "spherical": k}
    kind = TYPES[covariance_type]
    assert kind.shape(k, d) == expected_shape[covariance_type]
    assert kind.size(k, d) == int(np.prod(expected_shape[covariance_type]))
    assert kind.n_parameters(k, d) == expected_count[covariance_type]


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_conversions_agree_with_dense_linear_algebra(covariance_type):
    rng = np.random.RandomState(0)
    k, d = 3, 5
    kind = TYPES[covariance_type]
    precisions = random_precisions(covariance_type, k, d, rng)
    U = kind.cholesky_from_precisions(precisions)
    assert np.shape(U) == kind.shape(k, d)
    P = dense(covariance_type, precisions, k, d)
    U_dense = dense(covariance_type, U, k, d)
    # factors with U Uᵀ = P (scikit-learn's precisions_cholesky_), upper-triangular
    if kind.matrix:  # (the others' dense forms are diagonal by construction)
        np.testing.assert_allclose(np.tril(U_dense, -1), 0.0, atol=0)
    np.testing.assert_allclose(U_dense @ np.swapaxes(U_dense, 1, 2), P, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(kind.precisions_from_cholesky(U), precisions, rtol=1e-12)
    covariances = dense(covariance_type, kind.covariances_from_cholesky(U), k, d)
    np.testing.assert_allclose(covariances, np.linalg.inv(P), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(
        covariances, dense_covariances_from_precisions(covariance_type, precisions, k, d),
        rtol=1e-10, atol=1e-12)
    half_log_det = 0.5 * np.linalg.slogdet(P)[1]
    got = np.broadcast_to(kind.log_det_cholesky(U, d), (k,))
    np.testing.assert_allclose(got, half_log_det, rtol=1e-12)
