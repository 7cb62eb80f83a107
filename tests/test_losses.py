"""Each loss against its closed form or a Monte Carlo / torch.distributions reference."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Bernoulli, Independent, Normal, kl_divergence

from gen_core import losses
from gen_core.models.vae import beta_decay, kl_weight


def test_kl_matches_torch_distributions_and_monte_carlo():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    q = Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)
    p = Independent(Normal(torch.zeros(3), torch.ones(3)), 1)
    assert torch.allclose(losses.kl_normal_std_normal(mu, logvar), kl_divergence(q, p), atol=1e-5)
    z = q.sample((200_000,))
    mc = (q.log_prob(z) - p.log_prob(z)).mean(0)
    assert torch.allclose(losses.kl_normal_std_normal(mu, logvar), mc, atol=0.05)
    assert torch.allclose(losses.kl_normal_std_normal_per_dim(mu, logvar).sum(1), losses.kl_normal_std_normal(mu, logvar))


def test_kl_zero_at_prior():
    assert losses.kl_normal_std_normal(torch.zeros(2, 4), torch.zeros(2, 4)).abs().max() == 0


def test_bernoulli_nll_matches_distribution():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(4, 1, 5, 5, generator=g) * 3
    x = torch.bernoulli(torch.full((4, 1, 5, 5), 0.4), generator=g)
    ref = -Independent(Bernoulli(logits=logits), 3).log_prob(x)
    assert torch.allclose(losses.bernoulli_nll(logits, x), ref, atol=1e-4)


def test_gaussian_nll_matches_distribution():
    g = torch.Generator().manual_seed(2)
    mean, x = torch.rand(3, 1, 4, 4, generator=g), torch.rand(3, 1, 4, 4, generator=g)
    logvar = torch.tensor([-2.0])
    ref = -Independent(Normal(mean, math.exp(0.5 * -2.0)), 3).log_prob(x)
    assert torch.allclose(losses.gaussian_nll(mean, logvar, x), ref, atol=1e-4)


def test_normal_log_probs():
    z, mu, logvar = torch.randn(6, 3), torch.randn(6, 3), torch.randn(6, 3)
    ref = Independent(Normal(mu, torch.exp(0.5 * logvar)), 1).log_prob(z)
    assert torch.allclose(losses.normal_log_prob(z, mu, logvar), ref, atol=1e-5)
    assert torch.allclose(losses.std_normal_log_prob(z), Independent(Normal(0.0, torch.ones(3)), 1).log_prob(z), atol=1e-5)


def test_squared_error_and_negative_elbo():
    x, y = torch.ones(2, 1, 2, 2), torch.zeros(2, 1, 2, 2)
    assert losses.squared_error(x, y).tolist() == [4.0, 4.0]
    assert losses.negative_elbo(torch.tensor([3.0]), torch.tensor([2.0]), beta=4.0).item() == 11.0


def test_iwae_bound_k1_is_elbo_and_exact_for_constant_weights():
    a, b, c = torch.randn(1, 7), torch.randn(1, 7), torch.randn(1, 7)
    assert torch.allclose(losses.iwae_bound(a, b, c), (a + b - c)[0])
    # identical weights: log mean exp = the weight itself
    w = torch.randn(1, 7).expand(50, 7)
    assert torch.allclose(losses.iwae_bound(w, torch.zeros_like(w), torch.zeros_like(w)), w[0], atol=1e-5)


def test_iwae_bound_of_exact_posterior_is_log_evidence():
    # Linear-Gaussian model: z ~ N(0,1), x|z ~ N(z, 1) => p(x) = N(0, 2), p(z|x) = N(x/2, 1/2).
    x = torch.tensor([0.3, -1.2, 2.0])
    z = x / 2 + math.sqrt(0.5) * torch.randn(20, 3)
    log_px_z = Normal(z, 1.0).log_prob(x)
    log_pz = Normal(0.0, 1.0).log_prob(z)
    log_q = Normal(x / 2, math.sqrt(0.5)).log_prob(z)
    assert torch.allclose(losses.iwae_bound(log_px_z, log_pz, log_q), Normal(0.0, math.sqrt(2)).log_prob(x), atol=1e-5)


def test_kl_weight_schedules():
    assert kl_weight(10, 4.0, "constant", 100) == 4.0
    assert kl_weight(0, 4.0, "linear", 100) == 0.0
    assert kl_weight(50, 4.0, "linear", 100) == 2.0
    assert kl_weight(500, 4.0, "linear", 100) == 4.0
    with pytest.raises(ValueError, match="unknown KL schedule"):
        kl_weight(1, 1.0, "cosine", 10)


def test_beta_decay_holds_then_falls_geometrically_to_the_final_beta():
    assert beta_decay(0, 16.0, 4.0, 100, 200) == 16.0
    assert beta_decay(99, 16.0, 4.0, 100, 200) == 16.0
    assert beta_decay(100, 16.0, 4.0, 100, 200) == pytest.approx(16.0)
    assert beta_decay(200, 16.0, 4.0, 100, 200) == pytest.approx(8.0)      # halfway: the geometric mean
    assert beta_decay(150, 16.0, 4.0, 100, 200) == pytest.approx(16.0 * 0.25 ** 0.25)
    assert beta_decay(300, 16.0, 4.0, 100, 200) == 4.0
    assert beta_decay(10_000, 16.0, 4.0, 100, 200) == 4.0
    assert beta_decay(100, 16.0, 4.0, 100, 0) == 4.0                      # no decay steps: a step down
    assert beta_decay(5, 1.0, 4.0, 0, 10) == pytest.approx(2.0)            # rising works the same way
    with pytest.raises(ValueError, match="beta_start and beta_end > 0"):
        beta_decay(0, 0.0, 4.0, 10, 10)
    with pytest.raises(ValueError, match="must be >= 0"):
        beta_decay(0, 16.0, 4.0, -1, 10)
