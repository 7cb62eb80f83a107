"""GAN losses against their formulas (MODELS.md "GANs"), the gradient penalty per sample, the optimal-discriminator
value 2 JSD - 2 log 2, and the f-GAN critic value at the optimal critic against each f-divergence."""

from __future__ import annotations

import math

import pytest
import torch

from gen_core import losses
from gen_core.models.gan import gaussian_pair_theory, generator_loss_curves

R = torch.tensor([2.0, -1.0, 0.5, 3.0])     # critic outputs on real examples
FK = torch.tensor([-0.5, 1.5, -2.0])        # critic outputs on fakes (a batch of another size)


def sig(v: torch.Tensor) -> torch.Tensor:
    return 1.0 / (1.0 + torch.exp(-v))


def test_original_gan_losses_match_the_log_formulas():
    d_real, d_fake = sig(R), sig(FK)
    expected_d = -(torch.log(d_real).mean() + torch.log(1 - d_fake).mean())
    assert torch.allclose(losses.gan_discriminator_loss(R, FK), expected_d, atol=1e-6)
    assert torch.allclose(losses.gan_generator_loss_minimax(FK), torch.log(1 - d_fake).mean(), atol=1e-6)
    assert torch.allclose(losses.gan_generator_loss_non_saturating(FK), -torch.log(d_fake).mean(), atol=1e-6)
    # (B, 1) outputs give the same numbers; stable at extreme logits
    assert torch.allclose(losses.gan_discriminator_loss(R[:, None], FK[:, None]), expected_d)
    assert torch.isfinite(losses.gan_discriminator_loss(torch.tensor([-200.0]), torch.tensor([200.0])))


def test_lsgan_hinge_and_wasserstein_losses():
    assert torch.allclose(losses.lsgan_discriminator_loss(R, FK), 0.5 * ((R - 1) ** 2).mean() + 0.5 * (FK ** 2).mean())
    assert torch.allclose(losses.lsgan_generator_loss(FK), 0.5 * ((FK - 1) ** 2).mean())
    assert torch.allclose(losses.hinge_discriminator_loss(R, FK),
                          torch.clamp(1 - R, min=0).mean() + torch.clamp(1 + FK, min=0).mean())
    assert losses.hinge_discriminator_loss(torch.tensor([1.0, 5.0]), torch.tensor([-1.0, -3.0])).item() == 0.0
    assert torch.allclose(losses.hinge_generator_loss(FK), -FK.mean())
    assert torch.allclose(losses.wasserstein_critic_loss(R, FK), FK.mean() - R.mean())
    assert torch.allclose(losses.wasserstein_generator_loss(FK), -FK.mean())


def test_dispatch_by_name_covers_every_loss():
    for name in losses.GAN_LOSSES:
        assert torch.isfinite(losses.discriminator_loss(name, R, FK))
        assert torch.isfinite(losses.generator_loss(name, FK))
    with pytest.raises(ValueError, match="unknown GAN loss"):
        losses.discriminator_loss("vanilla", R, FK)
    with pytest.raises(ValueError, match="shape"):
        losses.gan_discriminator_loss(torch.zeros(2, 2), FK)


# -- f-GAN ----------------------------------------------------------------------------------------------------------

ACTIVATIONS = {  # Nowozin et al. 2016, Table 6, written out literally
    "kl": lambda v: v,
    "reverse_kl": lambda v: -torch.exp(-v),
    "pearson": lambda v: v,
    "hellinger": lambda v: 1 - torch.exp(-v),
    "js": lambda v: math.log(2) - torch.log(1 + torch.exp(-v)),
    "gan": lambda v: -torch.log(1 + torch.exp(-v)),
}
CONJUGATES = {
    "kl": lambda t: torch.exp(t - 1),
    "reverse_kl": lambda t: -1 - torch.log(-t),
    "pearson": lambda t: t * t / 4 + t,
    "hellinger": lambda t: t / (1 - t),
    "js": lambda t: -torch.log(2 - torch.exp(t)),
    "gan": lambda t: -torch.log(1 - torch.exp(t)),
}


@pytest.mark.parametrize("div", losses.FGAN_DIVERGENCES)
def test_fgan_activation_conjugate_and_losses_match_the_table(div):
    v = torch.linspace(-3, 3, 13, dtype=torch.float64)
    g = ACTIVATIONS[div](v)
    assert torch.allclose(losses.fgan_activation(v, div), g)
    assert torch.allclose(losses.fgan_conjugate(g, div), CONJUGATES[div](g))
    assert torch.allclose(losses.fgan_conjugate_of_activation(v, div), CONJUGATES[div](g), atol=1e-10)
    value = ACTIVATIONS[div](R.double()).mean() - CONJUGATES[div](ACTIVATIONS[div](FK.double())).mean()
    assert torch.allclose(losses.fgan_critic_loss(R.double(), FK.double(), div), -value)
    assert torch.allclose(losses.fgan_generator_loss(FK.double(), div), -ACTIVATIONS[div](FK.double()).mean())
    assert torch.allclose(losses.fgan_generator_loss(FK.double(), div, form="minimax"),
                          -CONJUGATES[div](ACTIVATIONS[div](FK.double())).mean())


F_GENERATORS = {  # f(u) of each divergence D_f(P||Q) = int q f(p/q), and the optimal V*(x) as a function of u = p/q
    "kl": (lambda u: u * torch.log(u), lambda u: 1 + torch.log(u)),
    "reverse_kl": (lambda u: -torch.log(u), lambda u: torch.log(u)),
    "pearson": (lambda u: (u - 1) ** 2, lambda u: 2 * (u - 1)),
    "hellinger": (lambda u: (torch.sqrt(u) - 1) ** 2, lambda u: 0.5 * torch.log(u)),
    "js": (lambda u: -(u + 1) * torch.log((1 + u) / 2) + u * torch.log(u), lambda u: torch.log(u)),
    "gan": (lambda u: u * torch.log(u) - (u + 1) * torch.log(u + 1), lambda u: torch.log(u)),
}


@pytest.mark.parametrize("div", losses.FGAN_DIVERGENCES)
def test_fgan_value_at_the_optimal_critic_is_the_f_divergence(div):
    """max_V E_P g(V) - E_Q f*(g(V)) = D_f(P||Q), attained at g(V*) = f'(p/q) (Nowozin et al. 2016, eq. (5)):
    quadrature over P = N(0.3, 1), Q = N(0, 1.2^2)."""
    x = torch.linspace(-14, 14, 40001, dtype=torch.float64)
    p = torch.exp(-0.5 * ((x - 0.3) / 1.0) ** 2) / math.sqrt(2 * math.pi)
    q = torch.exp(-0.5 * (x / 1.2) ** 2) / (1.2 * math.sqrt(2 * math.pi))
    f, v_star = F_GENERATORS[div]
    u = p / q
    d_f = torch.trapezoid(q * f(u), x)
    v = v_star(u)
    value = (torch.trapezoid(p * losses.fgan_activation(v, div), x)
             - torch.trapezoid(q * losses.fgan_conjugate_of_activation(v, div), x))
    assert abs(float(value) - float(d_f)) < 1e-6
    if div == "kl":  # closed form KL(N(0.3, 1) || N(0, 1.44))
        closed = math.log(1.2) + (1 + 0.09) / (2 * 1.44) - 0.5
        assert abs(float(d_f) - closed) < 1e-6


# -- WGAN-GP --------------------------------------------------------------------------------------------------------


def test_gradient_penalty_is_zero_for_a_unit_gradient_critic():
    w = torch.randn(1, 3, 4, 4)
    w = w / w.norm()
    critic = lambda x: (x * w).flatten(1).sum(1)  # noqa: E731 - a linear critic, ||grad|| = 1 everywhere
    real, fake = torch.randn(8, 3, 4, 4), torch.randn(8, 3, 4, 4)
    assert losses.gradient_penalty(critic, real, fake).item() < 1e-10
    assert torch.allclose(losses.per_sample_grad_norm(critic, real), torch.ones(8))


def test_gradient_penalty_is_per_sample_over_all_non_batch_dims():
    """D(x) = 0.5 ||x||^2 per sample has gradient x, so each sample's norm is ||xhat_i||: the penalty must be
    lambda * mean_i (||xhat_i|| - 1)^2, not the norm over the batch or over one axis only."""
    critic = lambda x: 0.5 * x.pow(2).flatten(1).sum(1)  # noqa: E731
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(5, 2, 3, 3, generator=g), torch.randn(5, 2, 3, 3, generator=g) * 0.1
    alpha = torch.rand(5, generator=g)
    xhat = alpha[:, None, None, None] * real + (1 - alpha[:, None, None, None]) * fake
    norms = xhat.flatten(1).norm(dim=1)
    assert torch.allclose(losses.per_sample_grad_norm(critic, xhat), norms, atol=1e-6)
    expected = 10.0 * ((norms - 1) ** 2).mean()
    assert torch.allclose(losses.gradient_penalty(critic, real, fake, alpha=alpha), expected, atol=1e-5)
    wrong_axis = 10.0 * ((xhat.norm(dim=1) - 1) ** 2).mean()    # the classic bug: the norm over channels only
    wrong_batch = 10.0 * ((xhat.norm() - 1) ** 2)                # or over the whole batch
    assert not torch.allclose(expected, wrong_axis) and not torch.allclose(expected, wrong_batch)


def test_gradient_penalty_backpropagates_into_the_critic():
    lin = torch.nn.Linear(2, 1)
    gp = losses.gradient_penalty(lambda x: lin(x)[:, 0], torch.randn(4, 2), torch.randn(4, 2))
    gp.backward()
    # ||grad_x D|| = ||w||, so d gp / dw = lambda * 2 (||w|| - 1) w / ||w||
    w = lin.weight.detach()
    assert torch.allclose(lin.weight.grad, 10 * 2 * (w.norm() - 1) * w / w.norm(), atol=1e-5)


# -- the optimal discriminator ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("params", [(0.0, 1.0, 0.0, 1.0), (0.0, 1.0, 1.5, 0.7), (-2.0, 0.5, 3.0, 2.0)])
def test_minimax_value_at_optimal_d_is_2jsd_minus_2log2(params):
    th = gaussian_pair_theory(*params)
    assert abs(th.value - th.value_from_jsd) < 1e-6
    assert 0.0 <= th.jsd <= math.log(2) + 1e-9
    if params[:2] == params[2:]:
        assert abs(th.jsd) < 1e-9 and torch.allclose(th.d_star, torch.full_like(th.d_star, 0.5))


def test_minimax_value_by_monte_carlo_with_the_loss_functions():
    """The same identity through gen_core.losses on samples: -discriminator_loss(logit D*) ~ 2 JSD - 2 log 2."""
    g = torch.Generator().manual_seed(0)
    mu_d, s_d, mu_g, s_g = 0.0, 1.0, 1.0, 1.0
    xr = mu_d + s_d * torch.randn(400_000, generator=g, dtype=torch.float64)
    xf = mu_g + s_g * torch.randn(400_000, generator=g, dtype=torch.float64)
    logit = lambda x: (-0.5 * ((x - mu_d) / s_d) ** 2 - math.log(s_d)) - (-0.5 * ((x - mu_g) / s_g) ** 2 - math.log(s_g))  # noqa: E731
    value = -losses.gan_discriminator_loss(logit(xr), logit(xf)).item()
    th = gaussian_pair_theory(mu_d, s_d, mu_g, s_g)
    assert abs(value - th.value_from_jsd) < 5e-3
    assert torch.allclose(losses.optimal_discriminator(torch.tensor([0.0]), torch.tensor([0.0])), torch.tensor([0.5]))


def test_generator_loss_curves_saturate_where_the_notes_say():
    d = torch.tensor([0.01, 0.5, 0.99])
    curves = generator_loss_curves(d)
    loss_mm, grad_mm = curves["minimax"]
    loss_ns, grad_ns = curves["non_saturating"]
    assert torch.allclose(loss_mm, torch.log(1 - d), atol=1e-6) and torch.allclose(grad_mm, -d, atol=1e-6)
    assert torch.allclose(loss_ns, -torch.log(d), atol=1e-6) and torch.allclose(grad_ns, -(1 - d), atol=1e-6)
    assert abs(grad_mm[0]) < 0.02 < 0.98 < abs(grad_ns[0])   # D(G(z)) ~ 0: the minimax gradient vanishes
    with pytest.raises(ValueError):
        generator_loss_curves(torch.tensor([0.0, 0.5]))
