"""Command line: ``python -m gmmcore demo``."""

import argparse
import itertools
import sys

import numpy as np


def oblong_clusters(n_samples=1500, seed=170):
    """Three Gaussian blobs sheared into parallel oblong clusters (the classic case
    where k-means' round clusters cut across the true groups)."""
    rng = np.random.RandomState(seed)
    centers = np.array([[-2.0, -8.0], [8.0, 6.0], [0.0, 0.0]])
    labels = rng.randint(0, 3, n_samples)
    X = centers[labels] + rng.randn(n_samples, 2)
    shear = np.array([[0.60834549, -0.63667341], [-0.40887718, 0.85253229]])
    return X @ shear, labels


def matched_accuracy(true, found, k):
    """Share of points whose found cluster maps to their true cluster, under the best matching."""
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (true, found), 1)
    best = max(sum(confusion[i, p[i]] for i in range(k)) for p in itertools.permutations(range(k)))
    return best / len(true)


def demo(args):
    from . import GaussianMixture
    from ._init import kmeans

    X, truth = oblong_clusters(args.n_samples, args.seed)
    km_labels, _ = kmeans(X, 3, np.random.RandomState(args.seed))
    gmm = GaussianMixture(n_components=3, covariance_type="full", random_state=args.seed).fit(X)
    proba = gmm.predict_proba(X)
    gmm_labels = proba.argmax(axis=1)

    print(f"gmmcore demo: {len(X)} points in 3 sheared (oblong) Gaussian clusters\n")
    print("k-means gives each point one hard label; a Gaussian mixture gives the probability")
    print("that it belongs to each component (predict_proba), and its covariances follow the")
    print("oblong shape that k-means' round clusters cut across.\n")
    print(f"{'point':>5}  {'x':>7} {'y':>7}  {'k-means':>7}  {'GMM':>3}  "
          f"{'P(comp 0)':>9} {'P(comp 1)':>9} {'P(comp 2)':>9}")
    # the most ambiguous points are the interesting ones: show them first
    order = np.argsort(proba.max(axis=1))
    shown = np.concatenate([order[:5], order[-5:]])
    for i in shown:
        p = proba[i]
        print(f"{i:>5}  {X[i, 0]:7.2f} {X[i, 1]:7.2f}  {km_labels[i]:>7}  {gmm_labels[i]:>3}  "
              f"{p[0]:9.4f} {p[1]:9.4f} {p[2]:9.4f}")
    print()
    print(f"agreement with the true clusters: k-means {matched_accuracy(truth, km_labels, 3):.1%}, "
          f"GMM {matched_accuracy(truth, gmm_labels, 3):.1%}")
    print(f"GMM: converged={gmm.converged_} in {gmm.n_iter_} iterations, "
          f"mean log-likelihood {gmm.lower_bound_:.4f}, BIC {gmm.bic(X):.1f}")
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="gmmcore", description=(
        "Gaussian mixture models fitted by EM on compiled, multithreaded kernels."))
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="fit the classic oblong-clusters example and compare "
                                    "k-means' hard labels with GMM probabilities")
    p.add_argument("--n-samples", type=int, default=1500)
    p.add_argument("--seed", type=int, default=170)
    p.set_defaults(func=demo)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
