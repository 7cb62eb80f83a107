"""FID-FMNIST and precision / recall / density / coverage on the features of gen_core's own Fashion-MNIST classifier
(EVALUATION.md, "Sample quality on Fashion-MNIST").

Fréchet distance between Gaussians fitted to two feature sets (Heusel et al. 2017):

    FID = ||mu_1 - mu_2||^2 + Tr(S_1 + S_2 - 2 (S_1 S_2)^(1/2)).

The features are the 256-d hidden layer of ``pretrained/fmnist-classifier`` (:class:`FMNISTClassifier`), not
Inception, so the numbers are *FID-FMNIST*: comparable with each other, never with published Inception-FIDs. The
protocol uses 10,000 samples; the floor is the FID-FMNIST between 10,000 training images and the 10,000 test images.

Precision, recall, density and coverage (Naeem et al. 2020, "Reliable fidelity and diversity metrics for generative
models", k = 5) use k-nearest-neighbour balls in the same feature space: with ``r_k(x)`` the distance from a real
feature to its k-th nearest real neighbour,
precision = fraction of fakes inside some real ball; recall = fraction of reals inside some fake ball (radii from
the fakes' own k-NN); density = (1 / kM) sum_j #{real balls containing fake j}; coverage = fraction of real balls
that contain at least one fake.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import Tensor

__all__ = ["N_FID", "K_PRDC", "extract_features", "gaussian_stats", "frechet_distance", "fid_from_features",
           "prdc", "SampleQuality", "sample_quality"]

N_FID = 10_000   # samples per FID (EVALUATION.md)
K_PRDC = 5       # neighbours in precision / recall / density / coverage (Naeem et al. 2020)


@torch.no_grad()
def extract_features(feature_fn: Callable[[Tensor], Tensor], images: Tensor, batch_size: int = 1000) -> np.ndarray:
    """Features of images in [0, 1], (N, 1, 28, 28) -> (N, d) float64, computed in chunks."""
    if images.ndim != 4:
        raise ValueError(f"images must have shape (N, C, H, W), got {tuple(images.shape)}")
    out = [feature_fn(images[i:i + batch_size].float()).double().cpu() for i in range(0, images.shape[0], batch_size)]
    return torch.cat(out).numpy()


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (d,) and unbiased covariance (d, d) of (N, d) features."""
    if features.ndim != 2 or features.shape[0] < 2:
        raise ValueError(f"features must have shape (N >= 2, d), got {features.shape}")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> float:
    """``||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))`` between N(mu1, S1) and N(mu2, S2) (Heusel et al. 2017).

    For covariance (symmetric PSD) matrices ``Tr (S1 S2)^(1/2) = Tr (S1^(1/2) S2 S1^(1/2))^(1/2)``, the sum of the
    square roots of the eigenvalues of a symmetric PSD matrix: computed with ``eigh`` in float64, exact and stable
    even when a covariance is singular (dead ReLU features), where ``scipy.linalg.sqrtm(S1 S2)`` warns.
    """
    diff = mu1 - mu2
    w, v = np.linalg.eigh(s1)
    root1 = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
    inner = np.linalg.eigvalsh(root1 @ s2 @ root1)
    tr_covmean = float(np.sqrt(np.clip(inner, 0.0, None)).sum())
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_covmean)


def fid_from_features(a: np.ndarray, b: np.ndarray) -> float:
    """FID between two feature sets (N, d) and (M, d)."""
    return frechet_distance(*gaussian_stats(a), *gaussian_stats(b))


def _kth_nn_radius(x: np.ndarray, k: int) -> np.ndarray:
    """Distance from each row of x to its k-th nearest *other* row, (N,)."""
    d = torch.cdist(torch.from_numpy(x), torch.from_numpy(x))
    return d.kthvalue(k + 1, dim=1).values.numpy()   # the 1st smallest is the point itself (distance 0)


def prdc(real: np.ndarray, fake: np.ndarray, k: int = K_PRDC) -> dict[str, float]:
    """Precision, recall, density and coverage of Naeem et al. (2020) with k nearest neighbours."""
    if real.shape[0] <= k or fake.shape[0] <= k:
        raise ValueError(f"need more than k = {k} real and fake features")
    r_real = _kth_nn_radius(real, k)                       # (N,)
    r_fake = _kth_nn_radius(fake, k)                       # (M,)
    d = torch.cdist(torch.from_numpy(real), torch.from_numpy(fake)).numpy()   # (N, M)
    inside_real = d < r_real[:, None]                      # fake j inside real ball i
    precision = float(inside_real.any(axis=0).mean())
    recall = float((d < r_fake[None, :]).any(axis=1).mean())
    density = float(inside_real.sum(axis=0).mean() / k)
    coverage = float((d.min(axis=1) < r_real).mean())
    return {"precision": precision, "recall": recall, "density": density, "coverage": coverage}


@dataclass(frozen=True)
class SampleQuality:
    """FID-FMNIST of a sample set against the test set, with the train-vs-test floor and PRDC (k = 5)."""

    fid: float
    floor: float
    precision: float
    recall: float
    density: float
    coverage: float
    n: int

    def as_dict(self) -> dict[str, float]:
        """All fields as floats."""
        return {k: float(v) for k, v in asdict(self).items()}


def sample_quality(feature_fn: Callable[[Tensor], Tensor], samples: Tensor, test_images: Tensor,
                   train_images: Tensor, n_prdc: int = 5000) -> SampleQuality:
    """FID-FMNIST(samples, test), the floor FID-FMNIST(train, test) on as many training images as samples, and PRDC
    on the first ``n_prdc`` features of each set (the k-NN balls need an (n, n) distance matrix)."""
    n = samples.shape[0]
    f_fake = extract_features(feature_fn, samples)
    f_test = extract_features(feature_fn, test_images)
    f_train = extract_features(feature_fn, train_images[:n])
    m = min(n_prdc, n, f_test.shape[0])
    p = prdc(f_test[:m], f_fake[:m])
    return SampleQuality(fid=fid_from_features(f_fake, f_test), floor=fid_from_features(f_train, f_test), n=n, **p)
