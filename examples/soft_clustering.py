"""k-means' hard labels next to a Gaussian mixture's probabilities, on oblong clusters.

    python examples/soft_clustering.py

Prints, for the points the mixture is least sure about, the k-means label, the
mixture's label and its probabilities, then picks the number of components by BIC.
Runs in a second or two; needs only gmmcore.
"""

import numpy as np

from _data import kmeans, matched_accuracy, oblong_clusters
from gmmcore import GaussianMixture


def main():
    X, truth = oblong_clusters(n_samples=1500, seed=170)
    km_labels, _ = kmeans(X, 3, 0)
    gmm = GaussianMixture(n_components=3, covariance_type="full", random_state=0).fit(X)
    proba = gmm.predict_proba(X)

    print("least certain points: k-means label, GMM label, GMM probabilities")
    for i in np.argsort(proba.max(axis=1))[:8]:
        print(f"  x={X[i].round(2)}  k-means {km_labels[i]}  GMM {proba[i].argmax()}  "
              f"P={proba[i].round(3)}")
    print(f"agreement with the truth: k-means {matched_accuracy(truth, km_labels, 3):.1%}, "
          f"GMM {matched_accuracy(truth, proba.argmax(axis=1), 3):.1%}")

    print("\nBIC by number of components (lower is better):")
    bics = {}
    for k in range(1, 7):
        bics[k] = GaussianMixture(k, random_state=0).fit(X).bic(X)
        print(f"  k={k}: {bics[k]:10.1f}")
    print(f"best: k={min(bics, key=bics.get)}")


if __name__ == "__main__":
    main()
