"""Disentanglement metrics of a representation against a ground truth with known factors (EVALUATION.md).

The four scores follow the protocol of disentanglement_lib (Locatello et al. 2019, "Challenging Common
Assumptions in the Unsupervised Learning of Disentangled Representations"), the reference implementation behind
the published dSprites numbers (deviations, for speed on a 2-core CPU, are listed below).

- beta-VAE score (Higgins et al. 2017, "beta-VAE: Learning Basic Visual Concepts with a Constrained
  Variational Framework"; lecture notes 000 (Imperial) A.3.2 / 001 (Ryu, SNU) ch. 5): accuracy of a linear
  classifier that tells, from the mean absolute difference of the codes of pairs sharing one factor, which
  factor was shared.
- FactorVAE score (Kim & Mnih 2018, "Disentangling by Factorising"): accuracy of a majority-vote classifier that
  maps the code dimension of least normalised variance, in batches with one factor fixed, to that factor.
- MIG (Chen et al. 2018, "Isolating Sources of Disentanglement in VAEs"): per factor, the gap between the two
  largest mutual informations with single code dimensions, divided by the factor's entropy.
- DCI (Eastwood & Williams 2018, "A Framework for the Quantitative Evaluation of Disentangled
  Representations"): disentanglement, completeness and informativeness from the feature importances of
  gradient-boosted trees that predict each factor from the code.

All of them take a *ground truth* and a *representation function*:

- ``ground_truth``: ``num_factors``, ``factor_sizes``, ``sample_factors(n, rng) -> (n, F) int`` and
  ``sample_observations_from_factors(factors, rng) -> Tensor`` (``gen_core.data.dsprites.DSprites`` is one);
- ``representation_fn``: observations (B, ...) -> codes (B, D), a numpy array or tensor; for a VAE, the
  encoder mean.

Usage, with ``encoder`` a trained VAE encoder returning (mean, log-variance)::

    data = DSprites()
    scores = all_metrics(data, lambda x: encoder(x)[0], seed=0)
    scores["factor_vae"]["eval_accuracy"], scores["mig"]["mig"], scores["mig"]["mutual_info"]  # (D, F) heatmap

Observations are drawn and encoded in chunks of ``chunk_size`` images per call of ``representation_fn``, so
the random draws come in a different order than in disentanglement_lib (same distribution, different numbers
for the same seed). Other differences from disentanglement_lib: the beta-VAE logistic regression may run up to
1000 iterations (not 100) to converge; the FactorVAE score reports the number of active dimensions (it reported
their total); DCI fits HistGradientBoostingClassifier (``DCI_PROTOCOL_NOTE``); ``all_metrics(preset="fast")``
uses fewer samples. The results of ``dci`` and ``all_metrics`` state theirs in ``protocol_note``.

Speed: the published protocol encodes about 2.9 million observations, but dSprites has only 737,280 distinct
images. When the ground truth says its observations are a deterministic function of the factors
(``deterministic = True``), ``all_metrics`` encodes each distinct image once and looks the codes up afterwards
(:class:`EncodedOnce`): the same random draws and the same codes (up to float rounding, as batches are composed
differently), so the same scores up to the odd near-boundary vote, with about 4x fewer encoder calls.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Callable, Literal, Protocol, Sequence, Union

import numpy as np
import torch
from torch import Tensor

if TYPE_CHECKING:
    from sklearn.ensemble import HistGradientBoostingClassifier

# scikit-learn is imported inside the functions that fit or score with it: importing sklearn.ensemble and its
# scipy.stats dependency costs ~2.5 s, which the dashboard's start-up should not pay before anyone asks for a metric.

__all__ = [
    "GroundTruth",
    "RepresentationFn",
    "beta_vae_score",
    "factor_vae_score",
    "mig",
    "mutual_info_matrix",
    "discretize",
    "dci",
    "dci_from_importance",
    "all_metrics",
    "EncodedOnce",
    "PRESETS",
]


class GroundTruth(Protocol):
    """A data set with discrete ground-truth factors of variation (disentanglement_lib's GroundTruthData)."""

    num_factors: int
    factor_sizes: Sequence[int]

    def sample_factors(self, n: int, rng: np.random.RandomState) -> np.ndarray: ...

    def sample_observations_from_factors(self, factors: np.ndarray, rng: np.random.RandomState) -> Tensor: ...


RepresentationFn = Callable[[Tensor], Union[np.ndarray, Tensor]]
Seed = Union[int, np.random.RandomState]

CHUNK_SIZE = 4096  # observations per call of representation_fn
PRUNE_STD = 0.05  # FactorVAE score: dimensions with global std below this have collapsed to the prior
NUM_BINS = 20  # MIG: histogram bins per code dimension


def _random_state(seed: Seed) -> np.random.RandomState:
    return seed if isinstance(seed, np.random.RandomState) else np.random.RandomState(seed)


def _check_count(name: str, value: int, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _represent(
    ground_truth: GroundTruth,
    representation_fn: RepresentationFn,
    factors: np.ndarray,
    rng: np.random.RandomState,
    chunk_size: int = CHUNK_SIZE,
) -> np.ndarray:
    """Codes (n, D) float64 of the observations of factors (n, F), encoded ``chunk_size`` at a time."""
    codes = []
    for start in range(0, len(factors), chunk_size):
        observations = ground_truth.sample_observations_from_factors(factors[start:start + chunk_size], rng)
        with torch.no_grad():
            z = representation_fn(observations)
        z = z.detach().cpu().numpy() if isinstance(z, Tensor) else np.asarray(z)
        if z.ndim != 2 or len(z) != len(observations):
            raise ValueError(f"representation_fn must return codes of shape (B, D) for B = {len(observations)}, "
                             f"got {z.shape}")
        codes.append(z.astype(np.float64))
    return np.concatenate(codes)


def _sample_codes(
    ground_truth: GroundTruth, representation_fn: RepresentationFn, n: int, rng: np.random.RandomState,
    chunk_size: int = CHUNK_SIZE,
) -> tuple[np.ndarray, np.ndarray]:
    """n i.i.d. observations encoded: codes (n, D) and their factors (n, F)."""
    factors = np.asarray(ground_truth.sample_factors(n, rng))
    return _represent(ground_truth, representation_fn, factors, rng, chunk_size), factors


# ---- beta-VAE score ------------------------------------------------------------------------------------------
def _beta_vae_points(
    ground_truth: GroundTruth, representation_fn: RepresentationFn, batch_size: int, num_points: int,
    rng: np.random.RandomState, chunk_size: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Features (num_points, D) = mean |z1 - z2| over batch_size pairs that share one factor, and that factor."""
    labels = rng.randint(ground_truth.num_factors, size=num_points)
    points_per_chunk = max(1, chunk_size // batch_size)
    features = []
    for start in range(0, num_points, points_per_chunk):
        shared = np.repeat(labels[start:start + points_per_chunk], batch_size)  # (m * batch_size,)
        factors1 = ground_truth.sample_factors(len(shared), rng)
        factors2 = ground_truth.sample_factors(len(shared), rng)
        rows = np.arange(len(shared))
        factors2[rows, shared] = factors1[rows, shared]
        z1 = _represent(ground_truth, representation_fn, factors1, rng, chunk_size)
        z2 = _represent(ground_truth, representation_fn, factors2, rng, chunk_size)
        features.append(np.abs(z1 - z2).reshape(-1, batch_size, z1.shape[1]).mean(axis=1))
    return np.concatenate(features), labels


def beta_vae_score(
    ground_truth: GroundTruth,
    representation_fn: RepresentationFn,
    seed: Seed = 0,
    batch_size: int = 64,
    num_train: int = 10000,
    num_eval: int = 5000,
    chunk_size: int = CHUNK_SIZE,
) -> dict[str, Any]:
    """beta-VAE score (Higgins et al. 2017), disentanglement_lib protocol.

    Each point picks a factor k uniformly, draws ``batch_size`` pairs of observations whose factor k agrees (the
    other factors independent) and has the feature mean_b |z(x1_b) - z(x2_b)| (D,) with label k. A logistic
    regression (scikit-learn's defaults, as disentanglement_lib; ``max_iter`` raised to 1000 so that it converges)
    is trained on ``num_train`` points and scored on ``num_eval`` fresh ones. Chance level is 1 / num_factors.
    Lecture notes 000 (Imperial) A.3.2 / 001 (Ryu, SNU) ch. 5.

    Returns: {"train_accuracy", "eval_accuracy", "num_train", "num_eval", "batch_size"}.
    """
    for name, value in (("batch_size", batch_size), ("num_train", num_train), ("num_eval", num_eval)):
        _check_count(name, value)
    rng = _random_state(seed)
    train_x, train_y = _beta_vae_points(ground_truth, representation_fn, batch_size, num_train, rng, chunk_size)
    eval_x, eval_y = _beta_vae_points(ground_truth, representation_fn, batch_size, num_eval, rng, chunk_size)
    if len(np.unique(train_y)) < 2:
        raise ValueError("the beta-VAE score needs training points of at least two factors; raise num_train")
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(max_iter=1000, random_state=rng)
    model.fit(train_x, train_y)
    return {
        "train_accuracy": float(model.score(train_x, train_y)),
        "eval_accuracy": float(model.score(eval_x, eval_y)),
        "num_train": num_train,
        "num_eval": num_eval,
        "batch_size": batch_size,
    }


# ---- FactorVAE score -----------------------------------------------------------------------------------------
def _factor_vae_votes(
    ground_truth: GroundTruth, representation_fn: RepresentationFn, batch_size: int, num_votes: int,
    rng: np.random.RandomState, global_variances: np.ndarray, active: np.ndarray, chunk_size: int,
) -> np.ndarray:
    """Votes (F, num_active): each vote fixes one factor over batch_size observations and votes for the active
    dimension of least variance normalised by its global variance."""
    votes = np.zeros((ground_truth.num_factors, int(active.sum())), dtype=np.int64)
    fixed = rng.randint(ground_truth.num_factors, size=num_votes)
    votes_per_chunk = max(1, chunk_size // batch_size)
    for start in range(0, num_votes, votes_per_chunk):
        chunk = fixed[start:start + votes_per_chunk]
        factors = ground_truth.sample_factors(len(chunk) * batch_size, rng).reshape(len(chunk), batch_size, -1)
        factors[np.arange(len(chunk)), :, chunk] = factors[np.arange(len(chunk)), 0, chunk][:, None]
        z = _represent(ground_truth, representation_fn, factors.reshape(len(chunk) * batch_size, -1), rng,
                       chunk_size).reshape(len(chunk), batch_size, -1)
        local_variances = np.var(z, axis=1, ddof=1)  # (m, D)
        dims = np.argmin(local_variances[:, active] / global_variances[active], axis=1)
        np.add.at(votes, (chunk, dims), 1)
    return votes


def factor_vae_score(
    ground_truth: GroundTruth,
    representation_fn: RepresentationFn,
    seed: Seed = 0,
    batch_size: int = 64,
    num_train: int = 10000,
    num_eval: int = 5000,
    num_variance_estimate: int = 10000,
    prune_std: float = PRUNE_STD,
    chunk_size: int = CHUNK_SIZE,
) -> dict[str, Any]:
    """FactorVAE score (Kim & Mnih 2018), disentanglement_lib protocol.

    The global variance of every code dimension is estimated on ``num_variance_estimate`` observations (ddof=1);
    dimensions with global std < ``prune_std`` (0.05, disentanglement_lib's ``prune_dims.threshold``) are dropped.
    Each vote fixes one random factor over ``batch_size`` observations and votes for the active dimension with
    the smallest variance / global variance. The classifier maps every dimension to the factor that got most of
    its training votes; accuracy = share of votes that the classifier gets right, on ``num_train`` training and
    ``num_eval`` fresh votes. Chance level is about 1 / num_factors.

    Returns: {"train_accuracy", "eval_accuracy", "num_active_dims", "active_dims" (bool (D,)),
    "dim_to_factor" ((D,) int, -1 for pruned dimensions), "votes" ((F, D) training votes)}. disentanglement_lib
    reports ``num_active_dims = len(active_dims)``, which is D; this is the number of active dimensions.
    """
    for name, value in (("batch_size", batch_size), ("num_train", num_train), ("num_eval", num_eval),
                        ("num_variance_estimate", num_variance_estimate)):
        _check_count(name, value, 2 if name in ("batch_size", "num_variance_estimate") else 1)
    rng = _random_state(seed)
    codes, _ = _sample_codes(ground_truth, representation_fn, num_variance_estimate, rng, chunk_size)
    global_variances = np.var(codes, axis=0, ddof=1)
    active = np.sqrt(global_variances) >= prune_std
    num_dims = len(global_variances)
    result: dict[str, Any] = {"num_active_dims": int(active.sum()), "active_dims": active}
    if not active.any():
        result.update(train_accuracy=0.0, eval_accuracy=0.0, dim_to_factor=np.full(num_dims, -1),
                      votes=np.zeros((ground_truth.num_factors, num_dims), dtype=np.int64))
        return result
    train_votes = _factor_vae_votes(ground_truth, representation_fn, batch_size, num_train, rng,
                                    global_variances, active, chunk_size)
    eval_votes = _factor_vae_votes(ground_truth, representation_fn, batch_size, num_eval, rng,
                                   global_variances, active, chunk_size)
    classifier = np.argmax(train_votes, axis=0)  # (num_active,) factor of each active dimension
    columns = np.arange(len(classifier))
    dim_to_factor = np.full(num_dims, -1)
    dim_to_factor[active] = classifier
    votes = np.zeros((ground_truth.num_factors, num_dims), dtype=np.int64)
    votes[:, active] = train_votes
    result.update(
        train_accuracy=float(train_votes[classifier, columns].sum() / train_votes.sum()),
        eval_accuracy=float(eval_votes[classifier, columns].sum() / eval_votes.sum()),
        dim_to_factor=dim_to_factor,
        votes=votes,
    )
    return result


# ---- MIG -----------------------------------------------------------------------------------------------------
def discretize(codes: np.ndarray, num_bins: int = NUM_BINS) -> np.ndarray:
    """Bin each code dimension into ``num_bins`` equal-width bins over its own range: (n, D) -> (n, D) int in
    1..num_bins (disentanglement_lib's ``_histogram_discretize``)."""
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2:
        raise ValueError(f"codes must have shape (n, D), got {codes.shape}")
    _check_count("num_bins", num_bins)
    binned = np.zeros(codes.shape, dtype=np.int64)
    for d in range(codes.shape[1]):
        edges = np.histogram(codes[:, d], num_bins)[1]
        binned[:, d] = np.digitize(codes[:, d], edges[:-1])
    return binned


def mutual_info_matrix(codes: np.ndarray, factors: np.ndarray, num_bins: int = NUM_BINS) -> np.ndarray:
    """Mutual information (nats) between each histogram-discretised code dimension and each factor: (D, F).

    I(z_d; v_f) is the plug-in estimate of sklearn.metrics.mutual_info_score on the contingency table of
    ``discretize(codes, num_bins)[:, d]`` and ``factors[:, f]``.

        >>> codes = np.array([[0.0], [0.0], [1.0], [1.0]])
        >>> factors = np.array([[0], [0], [1], [1]])
        >>> float(np.round(mutual_info_matrix(codes, factors)[0, 0], 4))  # = ln 2
        0.6931
    """
    factors = np.asarray(factors)
    if factors.ndim != 2 or len(factors) != len(codes):
        raise ValueError(f"factors must have shape (n, F) with n = {len(codes)}, got {factors.shape}")
    from sklearn.metrics import mutual_info_score

    binned = discretize(codes, num_bins)
    return np.array([[mutual_info_score(factors[:, f], binned[:, d]) for f in range(factors.shape[1])]
                     for d in range(binned.shape[1])])


def mig(
    ground_truth: GroundTruth,
    representation_fn: RepresentationFn,
    seed: Seed = 0,
    num_train: int = 10000,
    num_bins: int = NUM_BINS,
    chunk_size: int = CHUNK_SIZE,
) -> dict[str, Any]:
    """Mutual Information Gap (Chen et al. 2018), disentanglement_lib protocol ("discrete MIG").

    On ``num_train`` observations: each code dimension is discretised into ``num_bins`` = 20 equal-width bins,
    the mutual information I(z_d; v_f) is estimated for every pair (``mutual_info_matrix``), and
    MIG = mean_f (I_(1) - I_(2)) / H(v_f), where I_(1) >= I_(2) are the two largest I(z_d; v_f) over d and
    H(v_f) is the factor's empirical entropy. 1 when each factor is captured by exactly one dimension, near 0 for
    an uninformative or entangled code.

    Returns: {"mig", "per_factor" ((F,) normalised gaps), "mutual_info" ((D, F), nats),
    "factor_entropy" ((F,), nats)}.
    """
    _check_count("num_train", num_train, 2)
    rng = _random_state(seed)
    codes, factors = _sample_codes(ground_truth, representation_fn, num_train, rng, chunk_size)
    mutual_info = mutual_info_matrix(codes, factors, num_bins)
    from sklearn.metrics import mutual_info_score

    entropy = np.array([mutual_info_score(factors[:, f], factors[:, f]) for f in range(factors.shape[1])])
    if (entropy == 0).any():
        raise ValueError("a factor took a single value in the sample, so its entropy is 0; raise num_train")
    top = np.sort(mutual_info, axis=0)[::-1]  # (D, F), largest first
    second = top[1] if len(top) > 1 else np.zeros_like(top[0])
    per_factor = (top[0] - second) / entropy
    return {"mig": float(per_factor.mean()), "per_factor": per_factor, "mutual_info": mutual_info,
            "factor_entropy": entropy}


# ---- DCI -----------------------------------------------------------------------------------------------------
def _tree_gain_importances(model: HistGradientBoostingClassifier, num_features: int) -> np.ndarray:
    """Total split gain per feature over all trees of a fitted HistGradientBoostingClassifier, normalised to sum
    to 1: the impurity importance that GradientBoostingClassifier.feature_importances_ reports for its trees."""
    predictors = getattr(model, "_predictors", None)
    if predictors is None:
        raise RuntimeError("this scikit-learn's HistGradientBoostingClassifier does not expose its trees "
                           "(_predictors); DCI needs them for the feature importances")
    gains = np.zeros(num_features)
    for iteration in predictors:
        for tree in iteration:
            split = ~tree.nodes["is_leaf"].astype(bool)
            np.add.at(gains, tree.nodes["feature_idx"][split], tree.nodes["gain"][split])
    total = gains.sum()
    return gains / total if total > 0 else gains


def _entropy_columns(p: np.ndarray, base: int) -> np.ndarray:
    """Entropy of each column of a non-negative matrix, normalised to a distribution (as scipy.stats.entropy)."""
    q = p + 1e-11
    q = q / q.sum(axis=0, keepdims=True)
    return -(q * np.log(q)).sum(axis=0) / np.log(base)


def dci_from_importance(importance: np.ndarray) -> dict[str, float]:
    """Disentanglement and completeness (Eastwood & Williams 2018) of an importance matrix R (D codes, F factors).

    Disentanglement: D_d = 1 - H_F(P_d.) with P_dk = R_dk / sum_k R_dk, averaged with weights sum_k R_dk / sum R.
    Completeness: C_k = 1 - H_D(P_.k) with P_dk = R_dk / sum_d R_dk, averaged with weights sum_d R_dk / sum R.
    Entropies use log base F and D (so each term lies in [0, 1]); 1e-11 is added as in disentanglement_lib.
    """
    importance = np.abs(np.asarray(importance, dtype=np.float64))
    num_codes, num_factors = importance.shape
    weights = importance if importance.sum() > 0 else np.ones_like(importance)
    per_code = 1.0 - _entropy_columns(importance.T, base=num_factors) if num_factors > 1 else np.ones(num_codes)
    per_factor = 1.0 - _entropy_columns(importance, base=num_codes) if num_codes > 1 else np.ones(num_factors)
    return {
        "disentanglement": float(np.sum(per_code * weights.sum(axis=1) / weights.sum())),
        "completeness": float(np.sum(per_factor * weights.sum(axis=0) / weights.sum())),
    }


DCI_PROTOCOL_NOTE = (
    "DCI uses scikit-learn's HistGradientBoostingClassifier (trees of depth 3 and learning rate 0.1 as "
    "GradientBoostingClassifier's defaults, at most 100 iterations with early stopping on 10% of the training "
    "codes) and split-gain feature importances, instead of disentanglement_lib's GradientBoostingClassifier, "
    "which needs minutes per factor for the 40 orientation classes on a 2-core CPU."
)


def dci(
    ground_truth: GroundTruth,
    representation_fn: RepresentationFn,
    seed: Seed = 0,
    num_train: int = 10000,
    num_test: int = 5000,
    chunk_size: int = CHUNK_SIZE,
    workers: int | None = None,
) -> dict[str, Any]:
    """DCI disentanglement, completeness and informativeness (Eastwood & Williams 2018), after disentanglement_lib.

    For each factor a gradient-boosted tree classifier predicts the factor from the code on ``num_train``
    observations; its feature importances form column k of the importance matrix R (D, F), and its accuracy on
    the training codes and on ``num_test`` fresh codes is the informativeness (disentanglement_lib reports
    accuracies, averaged over factors). Disentanglement and completeness: see ``dci_from_importance``.
    Deviation from disentanglement_lib: see ``protocol_note`` (DCI_PROTOCOL_NOTE).

    Returns: {"disentanglement", "completeness", "informativeness_train", "informativeness_test",
    "importance" ((D, F)), "protocol_note"}.
    """
    return dci_from_codes(*_dci_draws(ground_truth, representation_fn, seed, num_train, num_test, chunk_size),
                          workers=workers)


def _dci_draws(ground_truth: GroundTruth, representation_fn: RepresentationFn, seed: Seed, num_train: int,
               num_test: int, chunk_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                                        np.random.RandomState]:
    """DCI's training and test codes and factors, and its random state after drawing them."""
    _check_count("num_train", num_train, 2)
    _check_count("num_test", num_test)
    rng = _random_state(seed)
    train_codes, train_factors = _sample_codes(ground_truth, representation_fn, num_train, rng, chunk_size)
    test_codes, test_factors = _sample_codes(ground_truth, representation_fn, num_test, rng, chunk_size)
    return train_codes, train_factors, test_codes, test_factors, rng


def dci_from_codes(train_codes: np.ndarray, train_factors: np.ndarray, test_codes: np.ndarray,
                   test_factors: np.ndarray, rng: np.random.RandomState, workers: int | None = None
                   ) -> dict[str, Any]:
    """The part of :func:`dci` after the draws: one tree classifier per factor, importances and accuracies."""
    num_codes, num_factors = train_codes.shape[1], train_factors.shape[1]
    importance = np.zeros((num_codes, num_factors))
    train_accuracy, test_accuracy = [], []
    # One OpenMP thread: on a busy 2-core machine (a Space also serving the UI) the spin-waiting of two OpenMP
    # threads made these fits over 100 times slower than one thread.
    from sklearn.ensemble import HistGradientBoostingClassifier
    from threadpoolctl import threadpool_limits

    seeds = [rng.randint(2**31 - 1) for _ in range(num_factors)]  # drawn in factor order, as one at a time would

    def fit(k: int) -> tuple[np.ndarray, float, float]:
        with threadpool_limits(limits=1, user_api="openmp"):   # per thread (OpenMP's setting is per thread)
            model = HistGradientBoostingClassifier(max_depth=3, early_stopping=True, random_state=seeds[k])
            model.fit(train_codes, train_factors[:, k])
            return (_tree_gain_importances(model, num_codes),
                    float(np.mean(model.predict(train_codes) == train_factors[:, k])),
                    float(np.mean(model.predict(test_codes) == test_factors[:, k])))

    # The factors' fits side by side on ``workers`` threads (scikit-learn's trees release the GIL in their loops),
    # the costliest (most classes) first; by default torch's thread count, the compute budget the caller set (1 in
    # the app). The same numbers with any count (each fit has its own seed, drawn above in factor order).
    workers = max(1, min(workers or torch.get_num_threads(), num_factors))
    order = sorted(range(num_factors), key=lambda k: -len(np.unique(train_factors[:, k])))
    with ThreadPoolExecutor(workers) as pool:
        fits = dict(zip(order, pool.map(fit, order)))
    for k in range(num_factors):
        importance[:, k], train_acc, test_acc = fits[k]
        train_accuracy.append(train_acc)
        test_accuracy.append(test_acc)
    return {
        **dci_from_importance(importance),
        "informativeness_train": float(np.mean(train_accuracy)),
        "informativeness_test": float(np.mean(test_accuracy)),
        "importance": importance,
        "protocol_note": DCI_PROTOCOL_NOTE,
    }


# ---- all four ------------------------------------------------------------------------------------------------
PRESETS: dict[str, dict[str, dict[str, int]]] = {
    # The sample counts of disentanglement_lib's dSprites study (EVALUATION.md).
    "disentanglement_lib": {
        "beta_vae": {"batch_size": 64, "num_train": 10000, "num_eval": 5000},
        "factor_vae": {"batch_size": 64, "num_train": 10000, "num_eval": 5000, "num_variance_estimate": 10000},
        "mig": {"num_train": 10000},
        "dci": {"num_train": 10000, "num_test": 5000},
    },
    # For interactive use: 162k instead of 2.9M encoded images, so that a small conv encoder is scored in about a
    # minute on 2 CPU cores. The accuracies carry a sampling error of 2-3 points, and the beta-VAE classifier,
    # trained on 500 points, can score lower than with 10,000: not comparable with published numbers.
    "fast": {
        "beta_vae": {"batch_size": 64, "num_train": 500, "num_eval": 250},
        "factor_vae": {"batch_size": 64, "num_train": 500, "num_eval": 250, "num_variance_estimate": 5000},
        "mig": {"num_train": 10000},
        "dci": {"num_train": 2000, "num_test": 1000},
    },
    # For tests of the plumbing only (a few thousand images): the numbers mean nothing.
    "smoke": {
        "beta_vae": {"batch_size": 8, "num_train": 60, "num_eval": 30},
        "factor_vae": {"batch_size": 8, "num_train": 60, "num_eval": 30, "num_variance_estimate": 1000},
        "mig": {"num_train": 1000},
        "dci": {"num_train": 500, "num_test": 200},  # trees hold out 10% (>= 40 orientations) to stop early
    },
}


class EncodedOnce:
    """A deterministic ground truth and a representation seen through a table of codes, so that every distinct
    observation is encoded once however often the metrics draw it.

    It is itself a ground truth whose "observations" are flat factor indices; :meth:`represent` is the matching
    representation function (it renders and encodes the indices not seen before, then looks all of them up).
    Valid only when ``sample_observations_from_factors`` ignores its random state (checked by ``all_metrics``
    through the ground truth's ``deterministic`` attribute), so the draws are exactly the uncached ones.
    """

    MAX_TABLE = 20_000_000  # factor combinations; beyond this the table would not fit in memory

    def __init__(self, ground_truth: GroundTruth, representation_fn: RepresentationFn) -> None:
        self.ground_truth = ground_truth
        self.representation_fn = representation_fn
        self.num_factors = ground_truth.num_factors
        self.factor_sizes = tuple(int(n) for n in ground_truth.factor_sizes)
        total = int(np.prod(self.factor_sizes))
        if total > self.MAX_TABLE:
            raise ValueError(f"{total:,} factor combinations are too many for a code table (max {self.MAX_TABLE:,})")
        self.known = np.zeros(total, dtype=bool)
        self.table: np.ndarray | None = None
        self.encoded = 0  # observations actually encoded

    def sample_factors(self, n: int, rng: np.random.RandomState) -> np.ndarray:
        return self.ground_truth.sample_factors(n, rng)

    def prefill(self, chunk_size: int = 16384) -> None:
        """Encode every factor combination not yet encoded, in order, ``chunk_size`` at a time: cheaper than encoding
        them as they are first drawn when the metrics will draw nearly all of them anyway (the disentanglement_lib
        counts draw ~2.9 million observations of dSprites' 737,280, so 98% of them), since every call is then full.
        The next chunk is rendered in a second thread while this one is encoded."""
        total = len(self.known)

        def render(start: int) -> tuple[np.ndarray, Tensor]:
            flat = np.arange(start, min(start + chunk_size, total))
            new = flat[~self.known[flat]]       # chunks are disjoint: the encoding thread writes other entries
            factors = np.stack(np.unravel_index(new, self.factor_sizes), axis=1)
            return new, self.ground_truth.sample_observations_from_factors(factors, None)

        starts = list(range(0, total, chunk_size))
        with ThreadPoolExecutor(1, thread_name_prefix="render") as renderer:
            ahead = renderer.submit(render, starts[0])
            for i in range(len(starts)):
                new, observations = ahead.result()
                if i + 1 < len(starts):
                    ahead = renderer.submit(render, starts[i + 1])
                if len(new):
                    self._store(new, observations)

    def sample_observations_from_factors(self, factors: np.ndarray, rng: np.random.RandomState) -> Tensor:
        """Flat indices (n,) of the factor combinations, standing in for the observations."""
        return torch.from_numpy(np.ravel_multi_index(np.asarray(factors).T, self.factor_sizes))

    def represent(self, flat: Tensor) -> np.ndarray:
        """Codes (n, D) of flat indices: new ones are rendered and encoded in one call, the rest looked up."""
        flat_np = flat.numpy()
        new = np.unique(flat_np[~self.known[flat_np]])
        if len(new):
            factors = np.stack(np.unravel_index(new, self.factor_sizes), axis=1)
            self._store(new, self.ground_truth.sample_observations_from_factors(factors, None))
        assert self.table is not None
        return self.table[flat_np]

    def _store(self, new: np.ndarray, observations: Tensor) -> None:
        """Encode the observations of the flat indices ``new`` (not seen before) into the table."""
        with torch.no_grad():
            z = self.representation_fn(observations)
        z = z.detach().cpu().numpy() if isinstance(z, Tensor) else np.asarray(z)
        if z.ndim != 2 or len(z) != len(new):
            raise ValueError(f"representation_fn must return codes of shape (B, D) for B = {len(new)}, "
                             f"got {z.shape}")
        if self.table is None:
            self.table = np.zeros((len(self.known), z.shape[1]), dtype=np.float64)
        self.table[new] = z
        self.known[new] = True
        self.encoded += len(new)


def expected_draws(counts: dict[str, dict[str, int]]) -> int:
    """Observations that ``all_metrics`` draws (and encodes, without a cache) with these sample counts."""
    b, f = counts["beta_vae"], counts["factor_vae"]
    return (2 * b["batch_size"] * (b["num_train"] + b["num_eval"])
            + f["batch_size"] * (f["num_train"] + f["num_eval"]) + f["num_variance_estimate"]
            + counts["mig"]["num_train"] + counts["dci"]["num_train"] + counts["dci"]["num_test"])


def all_metrics(
    ground_truth: GroundTruth,
    representation_fn: RepresentationFn,
    seed: int = 0,
    preset: Literal["disentanglement_lib", "fast", "smoke"] = "disentanglement_lib",
    chunk_size: int = CHUNK_SIZE,
    encode_once: bool = True,
) -> dict[str, Any]:
    """beta-VAE score, FactorVAE score, MIG and DCI of one representation, each with its own RandomState(seed).

    ``encode_once``: for a deterministic ground truth (dSprites), encode each distinct observation once
    (:class:`EncodedOnce`; the scores are unchanged).

    ``preset`` picks the sample counts (``PRESETS``): "disentanglement_lib" is the published protocol,
    "fast" uses fewer points (see PRESETS) and says so in ``protocol_note``.

    Returns: {"beta_vae": ..., "factor_vae": ..., "mig": ..., "dci": ..., "preset", "protocol_note"}.
    """
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {preset!r}")
    counts = PRESETS[preset]
    dci_result = None
    if encode_once and getattr(ground_truth, "deterministic", False):
        cached = EncodedOnce(ground_truth, representation_fn)
        ground_truth, representation_fn = cached, cached.represent
        if expected_draws(counts) >= 2 * len(cached.known):
            # DCI's draws first; its tree fits (mostly Python, holding the GIL) then run in a second thread while
            # this one encodes the rest of the grid (torch kernels, which release it). The same numbers as in turn.
            c = counts["dci"]
            draws = _dci_draws(cached, cached.represent, seed, c["num_train"], c["num_test"], chunk_size)
            dci_thread = ThreadPoolExecutor(1, thread_name_prefix="dci")
            dci_result = dci_thread.submit(dci_from_codes, *draws, workers=1)
            try:
                cached.prefill()
            finally:
                dci_thread.shutdown(wait=False)
    notes = [DCI_PROTOCOL_NOTE]
    if preset != "disentanglement_lib":
        notes.insert(0, f"Preset {preset!r}: fewer samples than disentanglement_lib ({counts}).")
    return {
        "beta_vae": beta_vae_score(ground_truth, representation_fn, seed, chunk_size=chunk_size, **counts["beta_vae"]),
        "factor_vae": factor_vae_score(ground_truth, representation_fn, seed, chunk_size=chunk_size,
                                       **counts["factor_vae"]),
        "mig": mig(ground_truth, representation_fn, seed, chunk_size=chunk_size, **counts["mig"]),
        "dci": (dci_result.result() if dci_result is not None
                else dci(ground_truth, representation_fn, seed, chunk_size=chunk_size, **counts["dci"])),
        "preset": preset,
        "protocol_note": " ".join(notes),
    }
