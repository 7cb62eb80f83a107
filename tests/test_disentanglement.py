"""Disentanglement metrics on representations whose answers are known: the true factors, noise, mixtures."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gen_core.data.dsprites import DSprites
from gen_core.metrics.disentanglement import (
    all_metrics,
    beta_vae_score,
    dci,
    dci_from_importance,
    discretize,
    factor_vae_score,
    mig,
    mutual_info_matrix,
)


class ToyGroundTruth:
    """Four independent uniform factors of sizes 3, 4, 5, 6; an observation is just its factor vector."""

    factor_sizes = (3, 4, 5, 6)
    num_factors = 4

    def sample_factors(self, n: int, rng: np.random.RandomState) -> np.ndarray:
        return np.stack([rng.randint(size, size=n) for size in self.factor_sizes], axis=1)

    def sample_observations_from_factors(self, factors: np.ndarray, rng: np.random.RandomState) -> torch.Tensor:
        return torch.as_tensor(factors, dtype=torch.float32)


TOY = ToyGroundTruth()
SCALE = torch.tensor(TOY.factor_sizes, dtype=torch.float32) - 1
CHANCE = 1 / TOY.num_factors


def true_factors(noise: float = 0.01, seed: int = 0):
    """Codes = factors scaled to [0, 1] plus small Gaussian noise (noise << the factor step of >= 0.2)."""
    generator = torch.Generator().manual_seed(seed)
    return lambda x: (x / SCALE + noise * torch.randn(x.shape, generator=generator)).numpy()


def random_codes(dims: int = 5, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    return lambda x: torch.randn(len(x), dims, generator=generator).numpy()


def rotate_first_two(x: torch.Tensor) -> np.ndarray:
    """Factors 0 and 1 mixed into both of the first two dimensions (a 45-degree rotation); 2 and 3 kept apart."""
    z = x / SCALE
    return torch.stack([z[:, 0] + z[:, 1], z[:, 0] - z[:, 1], z[:, 2], z[:, 3]], dim=1).numpy()


# Small sample counts (the toy observations cost nothing; the classifiers and MI estimates dominate the time).
SMALL = dict(beta_vae=dict(num_train=1000, num_eval=500), factor_vae=dict(num_train=1000, num_eval=1000,
             num_variance_estimate=2000), mig=dict(num_train=4000), dci=dict(num_train=1000, num_test=500))


def scores(representation_fn, ground_truth=TOY, seed=0, counts=SMALL) -> dict:
    return {
        "beta_vae": beta_vae_score(ground_truth, representation_fn, seed, **counts["beta_vae"]),
        "factor_vae": factor_vae_score(ground_truth, representation_fn, seed, **counts["factor_vae"]),
        "mig": mig(ground_truth, representation_fn, seed, **counts["mig"]),
        "dci": dci(ground_truth, representation_fn, seed, **counts["dci"]),
    }


def test_true_factors_score_near_one():
    """Each factor in its own dimension: every metric is (nearly) perfect. Measured: beta-VAE 1.0, FactorVAE 1.0,
    MIG 0.997, DCI 0.98 / 0.98 / 0.995. They fall short of 1 only through the noise: a few codes land in a
    neighbouring histogram bin (MIG), and the trees give small importances to the other, noisy dimensions (DCI)."""
    s = scores(true_factors())
    assert s["beta_vae"]["eval_accuracy"] >= 0.95
    assert s["factor_vae"]["eval_accuracy"] >= 0.95 and s["factor_vae"]["num_active_dims"] == 4
    np.testing.assert_array_equal(s["factor_vae"]["dim_to_factor"], [0, 1, 2, 3])
    assert s["mig"]["mig"] >= 0.9
    assert s["mig"]["mutual_info"].shape == (4, 4)
    np.testing.assert_array_equal(s["mig"]["mutual_info"].argmax(axis=0), [0, 1, 2, 3])
    np.testing.assert_allclose(s["mig"]["factor_entropy"], np.log(TOY.factor_sizes), atol=0.02)
    assert s["dci"]["disentanglement"] >= 0.9 and s["dci"]["completeness"] >= 0.9
    assert s["dci"]["informativeness_test"] >= 0.95
    assert "HistGradientBoosting" in s["dci"]["protocol_note"]


def test_random_codes_score_at_chance():
    """Codes independent of the data: beta-VAE and FactorVAE accuracies near 1 / F, MIG and DCI near 0, and the
    DCI test accuracy near the mean of 1 / factor size (0.2375). Measured: 0.25, 0.27, 0.00, 0.01, 0.24."""
    s = scores(random_codes())
    assert abs(s["beta_vae"]["eval_accuracy"] - CHANCE) < 0.06
    assert abs(s["factor_vae"]["eval_accuracy"] - CHANCE) < 0.06
    assert s["mig"]["mig"] < 0.02
    assert s["dci"]["disentanglement"] < 0.1 and s["dci"]["completeness"] < 0.1
    assert abs(s["dci"]["informativeness_test"] - np.mean(1 / np.array(TOY.factor_sizes))) < 0.05


def test_mixing_two_factors_lowers_the_scores():
    """Rotating factors 0 and 1 into the same two dimensions keeps all the information but gives each of them two
    equally informative dimensions: their gaps vanish, so MIG drops from 1 to 1/2 (the two untouched factors)."""
    separated, mixed = scores(true_factors(noise=0.0)), scores(rotate_first_two)
    assert mixed["mig"]["mig"] < separated["mig"]["mig"] - 0.3
    assert mixed["mig"]["mig"] == pytest.approx(0.5, abs=0.05)
    np.testing.assert_allclose(mixed["mig"]["per_factor"][:2], 0.0, atol=0.05)
    assert mixed["factor_vae"]["eval_accuracy"] < separated["factor_vae"]["eval_accuracy"] - 0.1
    assert mixed["dci"]["disentanglement"] < separated["dci"]["disentanglement"] - 0.1


def test_mutual_info_matrix_matches_a_hand_computed_value():
    """A binary code and a binary factor that agree 3 times in 4: I = 2 (3/8) ln((3/8)/(1/4)) + 2 (1/8) ln((1/8)/(1/4))
    = 0.75 ln 1.5 - 0.25 ln 2; a second code independent of the factor has I = 0; a perfect copy has I = ln 2."""
    code_agree = np.array([0, 0, 0, 1, 1, 1, 1, 0], dtype=float)
    factor = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    code_independent = np.array([0, 1, 0, 1, 0, 1, 0, 1], dtype=float)
    codes = np.stack([code_agree, code_independent, factor.astype(float)], axis=1)  # (8, 3)
    mi = mutual_info_matrix(codes, factor[:, None])
    assert mi.shape == (3, 1)
    expected = 0.75 * math.log(1.5) - 0.25 * math.log(2)
    np.testing.assert_allclose(mi[:, 0], [expected, 0.0, math.log(2)], atol=1e-12)


def test_discretize_uses_equal_width_bins_over_each_dimensions_range():
    codes = np.stack([np.linspace(0, 1, 200), np.linspace(-50, 10, 200) ** 3], axis=1)
    binned = discretize(codes, num_bins=20)
    assert binned.min() == 1 and binned.max() == 20
    np.testing.assert_array_equal(np.bincount(binned[:, 0])[1:], np.full(20, 10))  # uniform -> 10 per bin
    np.testing.assert_array_equal(binned[:, 0], np.digitize(codes[:, 0], np.histogram(codes[:, 0], 20)[1][:-1]))


def test_dci_from_importance_known_matrices():
    assert dci_from_importance(np.eye(3)) == pytest.approx({"disentanglement": 1.0, "completeness": 1.0})
    assert dci_from_importance(np.ones((3, 3))) == pytest.approx({"disentanglement": 0.0, "completeness": 0.0},
                                                                 abs=1e-9)
    # one code explains both factors equally: not disentangled (it serves two factors) but complete
    assert dci_from_importance(np.array([[1.0, 1.0], [0.0, 0.0]])) == pytest.approx(
        {"disentanglement": 0.0, "completeness": 1.0}, abs=1e-6)


def test_factor_vae_prunes_collapsed_dimensions():
    """A constant dimension (std 0 < 0.05) is dropped and never voted for."""
    representation = true_factors()
    with_constant = lambda x: np.concatenate([representation(x), np.full((len(x), 1), 3.0)], axis=1)
    result = factor_vae_score(TOY, with_constant, 0, num_train=200, num_eval=100, num_variance_estimate=1000)
    assert result["num_active_dims"] == 4
    np.testing.assert_array_equal(result["active_dims"], [True, True, True, True, False])
    assert result["dim_to_factor"][4] == -1 and result["votes"][:, 4].sum() == 0
    assert result["eval_accuracy"] >= 0.95


def test_metrics_are_reproducible_for_a_seed():
    first = mig(TOY, true_factors(seed=1), seed=7, num_train=1000)
    again = mig(TOY, true_factors(seed=1), seed=7, num_train=1000)
    np.testing.assert_array_equal(first["mutual_info"], again["mutual_info"])
    other = mig(TOY, true_factors(seed=1), seed=8, num_train=1000)
    assert not np.array_equal(first["mutual_info"], other["mutual_info"])


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="shape"):
        mig(TOY, lambda x: np.zeros(len(x)), num_train=100)
    with pytest.raises(ValueError, match="num_train"):
        beta_vae_score(TOY, true_factors(), num_train=0)
    with pytest.raises(ValueError, match="preset"):
        all_metrics(TOY, true_factors(), preset="quick")


class StampedDSprites(DSprites):
    """dSprites whose images carry their factor indices in the top row, which no sprite ever reaches (see
    test_dsprites), so that a representation can read off the true factors."""

    def sample_observations_from_factors(self, factors, rng=None):
        images = self.render(factors)
        images[:, 0, 0, :5] = torch.as_tensor(factors, dtype=torch.float32)
        return images


def test_dsprites_with_true_factor_codes_score_near_one():
    """On the real dSprites factors (sizes 3, 6, 40, 32, 32), codes that are the normalised true factors score
    near 1. Measured: beta-VAE 1.0, FactorVAE 1.0, DCI 1.0 / 1.0, and MIG 0.89: 20 histogram bins cannot hold the
    40 orientations or 32 positions, so I(z; v) / H(v) is only about ln 20 / ln 40 = 0.81 and ln 20 / ln 32 = 0.86
    for those factors (about 0.91 on average over the five)."""
    data = StampedDSprites()
    sizes = torch.tensor(data.factor_sizes, dtype=torch.float32) - 1
    read_factors = lambda x: (x[:, 0, 0, :5] / sizes).numpy()
    counts = dict(beta_vae=dict(num_train=150, num_eval=100), factor_vae=dict(num_train=150, num_eval=100,
                  num_variance_estimate=2000), mig=dict(num_train=5000), dci=dict(num_train=1000, num_test=500))
    s = scores(read_factors, data, counts=counts)
    assert s["beta_vae"]["eval_accuracy"] >= 0.95
    assert s["factor_vae"]["eval_accuracy"] >= 0.95
    assert s["mig"]["mig"] >= 0.8
    assert s["dci"]["disentanglement"] >= 0.9 and s["dci"]["completeness"] >= 0.9


def test_encoding_each_dsprites_image_once_gives_identical_scores():
    """all_metrics on dSprites encodes each distinct image once (EncodedOnce): the same draws and the same codes
    (up to float rounding: a matmul over a differently composed batch may round differently), so the same scores
    up to a few near-boundary votes, with fewer encoder calls. A fixed random projection of the pixels is the code."""
    from gen_core.data.dsprites import DSprites
    from gen_core.metrics.disentanglement import EncodedOnce, all_metrics

    projection = torch.randn(64 * 64, 6, generator=torch.Generator().manual_seed(0))
    calls = {"n": 0}

    def represent(x: torch.Tensor) -> torch.Tensor:
        calls["n"] += len(x)
        return x.reshape(len(x), -1) @ projection

    data = DSprites()
    plain = all_metrics(data, represent, seed=3, preset="fast", encode_once=False)
    n_plain, calls["n"] = calls["n"], 0
    cached = all_metrics(data, represent, seed=3, preset="fast")
    for key in ("beta_vae", "factor_vae"):
        assert abs(cached[key]["eval_accuracy"] - plain[key]["eval_accuracy"]) <= 0.01
    np.testing.assert_allclose(cached["mig"]["mutual_info"], plain["mig"]["mutual_info"], atol=1e-3)
    assert abs(cached["dci"]["disentanglement"] - plain["dci"]["disentanglement"]) <= 0.02
    flat = torch.arange(0, 737_280, 9_001)
    once = EncodedOnce(data, represent)
    np.testing.assert_allclose(once.represent(flat), represent(data.images(flat)).numpy(), rtol=1e-5, atol=1e-4)
    assert calls["n"] < n_plain  # repeated draws were looked up, not encoded again
    with pytest.raises(ValueError, match="too many"):
        EncodedOnce(type("Huge", (), {"num_factors": 2, "factor_sizes": (10**5, 10**5)})(), represent)


def test_prefilled_code_table_gives_the_same_scores_as_encoding_every_draw():
    """When the metrics will draw each observation many times over (here the smoke counts draw ~4,900 from 120
    combinations), all_metrics encodes the whole factor grid up front, once (DCI's draws first, its fits then
    running beside the rest): the scores equal those of encoding every draw."""
    from gen_core.metrics.disentanglement import all_metrics, expected_draws, PRESETS

    class Grid:
        num_factors, factor_sizes, deterministic = 3, (5, 6, 4), True

        def sample_factors(self, n: int, rng: np.random.RandomState) -> np.ndarray:
            return np.stack([rng.randint(s, size=n) for s in self.factor_sizes], axis=1)

        def sample_observations_from_factors(self, factors: np.ndarray, rng) -> torch.Tensor:
            return torch.as_tensor(factors, dtype=torch.float64)

    calls: list[int] = []

    def represent(x: torch.Tensor) -> torch.Tensor:   # elementwise, so batch composition cannot change a code
        calls.append(len(x))
        return torch.cat([torch.sin(x), x[:, :1] * 0.3 + x[:, 1:2]], dim=1)

    assert expected_draws(PRESETS["smoke"]) >= 2 * 120
    plain = all_metrics(Grid(), represent, seed=5, preset="smoke", encode_once=False)
    calls.clear()
    cached = all_metrics(Grid(), represent, seed=5, preset="smoke")
    assert sum(calls) == 120 and len(calls) <= 3   # each combination once: DCI's draws, then the rest of the grid
    for key, field in (("beta_vae", "eval_accuracy"), ("factor_vae", "eval_accuracy"), ("mig", "mig"),
                       ("dci", "disentanglement"), ("dci", "informativeness_test")):
        assert cached[key][field] == plain[key][field], key
    from gen_core.metrics.disentanglement import dci
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = dci(Grid(), represent, seed=2, num_train=500, num_test=200)
        torch.set_num_threads(2)                           # the factors' fits on two threads: the same numbers
        two = dci(Grid(), represent, seed=2, num_train=500, num_test=200)
    finally:
        torch.set_num_threads(threads)
    np.testing.assert_array_equal(one["importance"], two["importance"])
    assert one["informativeness_test"] == two["informativeness_test"]
