"""The Theory tab's math (gen_core.theory) against closed forms: minimax dynamics, divergences, Gumbel tricks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gen_core.theory import minimax as mm

# --- minimax dynamics (notes 001) ----------------------------------------------------------------------------------


@pytest.mark.parametrize("eta", [0.05, 0.2, 0.5])
def test_simultaneous_bilinear_grows_by_sqrt_1_plus_eta2(eta):
    t = mm.gda(mm.bilinear_grad, 0.7, -0.4, "simultaneous", eta, eta, steps=50)
    ratios = t.norm[1:] / t.norm[:-1]
    np.testing.assert_allclose(ratios, math.sqrt(1 + eta**2), rtol=1e-12)
    assert t.norm[-1] > t.norm[0] * 1.05


@pytest.mark.parametrize("eta", [0.05, 0.5, 1.5, 1.99])
def test_alternating_bilinear_stays_on_its_ellipse(eta):
    t = mm.gda(mm.bilinear_grad, 1.0, 0.3, "alternating", eta, eta, steps=2000)
    v = mm.alternating_invariant(t.theta, t.phi, eta, eta)
    np.testing.assert_allclose(v, v[0], rtol=1e-9)
    # bounded: |z|^2 <= V / lambda_min(Q) for all k
    q = np.array([[eta, eta * eta / 2], [eta * eta / 2, eta]])
    assert np.all(t.norm**2 <= v[0] / np.linalg.eigvalsh(q)[0] * (1 + 1e-9))
    assert mm.bilinear_spectral_radius("alternating", eta, eta) == pytest.approx(1.0, abs=1e-6)


def test_multi_ascent_matches_its_matrix_and_its_threshold():
    a, b, n = 0.3, 0.3, 5
    t = mm.gda(mm.bilinear_grad, 1.0, 0.0, "multi_ascent", a, b, n_dis=n, steps=30)
    m = mm.bilinear_update_matrix("multi_ascent", a, b, n)
    z = np.array([1.0, 0.0])
    for k in range(31):
        np.testing.assert_allclose([t.theta[k], t.phi[k]], z, atol=1e-10)
        z = m @ z
    assert len(t.path_theta) == 1 + 30 * (n + 1)  # n ascent moves + one descent move per step
    # bounded while n a b < 4, spirals out beyond
    assert mm.bilinear_spectral_radius("multi_ascent", 0.6, 0.6, 11) == pytest.approx(1.0)  # n a b = 3.96 < 4
    # n a b = 4.32: trace t = 2 - 4.32, largest |eigenvalue| = (|t| + sqrt(t^2 - 4)) / 2
    tr = 2 - 12 * 0.36
    assert mm.bilinear_spectral_radius("multi_ascent", 0.6, 0.6, 12) == pytest.approx((abs(tr) + math.sqrt(tr**2 - 4)) / 2)
    out = mm.gda(mm.bilinear_grad, 1.0, 0.0, "multi_ascent", 0.6, 0.6, n_dis=12, steps=20)
    assert out.norm[-1] > 100


def test_multi_ascent_with_one_step_is_alternating():
    a = mm.gda(mm.bilinear_grad, 0.5, 0.5, "alternating", 0.2, 0.3, steps=40)
    b = mm.gda(mm.bilinear_grad, 0.5, 0.5, "multi_ascent", 0.2, 0.3, n_dis=1, steps=40)
    np.testing.assert_array_equal(a.theta, b.theta)
    np.testing.assert_array_equal(a.phi, b.phi)


def test_simultaneous_matrix_and_radius():
    m = mm.bilinear_update_matrix("simultaneous", 0.2, 0.2)
    assert mm.bilinear_spectral_radius("simultaneous", 0.2, 0.2) == pytest.approx(math.sqrt(1.04))
    t = mm.gda(mm.bilinear_grad, 0.3, 0.8, "simultaneous", 0.2, 0.2, steps=5)
    np.testing.assert_allclose([t.theta[5], t.phi[5]], np.linalg.matrix_power(m, 5) @ [0.3, 0.8])


def _num_grad(f, x, y, h=1e-5):
    return (f(x + h, y) - f(x - h, y)) / (2 * h), (f(x, y + h) - f(x, y - h)) / (2 * h)


@pytest.mark.parametrize("s", [0.0, 0.5, 1.0, 2.0])
@pytest.mark.parametrize("theta, phi", [(0.0, 0.0), (0.8, -0.3), (-1.5, 2.0)])
def test_gaussian_gan_gradient_matches_its_value(s, theta, phi):
    g = mm.gaussian_gan_grad_fn(s)(theta, phi)
    num = _num_grad(lambda a, b: mm.gaussian_gan_value(a, b, s), theta, phi)
    np.testing.assert_allclose(g, num, atol=1e-7)


def test_gaussian_gan_value_against_monte_carlo_and_equilibrium():
    rng = np.random.default_rng(0)
    s, theta, phi = 1.0, 0.7, 1.3
    x, z = rng.normal(0, s, 1_000_000), rng.normal(size=1_000_000)
    mc = np.mean(-np.logaddexp(0, -phi * x)) + np.mean(-np.logaddexp(0, phi * (theta + s * z)))
    assert mm.gaussian_gan_value(theta, phi, s) == pytest.approx(mc, abs=3e-3)
    assert mm.gaussian_gan_value(0.0, 0.0, s) == pytest.approx(-2 * math.log(2), abs=1e-12)
    np.testing.assert_allclose(mm.gaussian_gan_grad_fn(s)(0.0, 0.0), (0.0, 0.0), atol=1e-12)


@pytest.mark.parametrize("s", [0.0, 1.0])
def test_gaussian_gan_hessian_at_equilibrium(s):
    h = 1e-4
    g = mm.gaussian_gan_grad_fn(s)
    jac = np.column_stack([(np.array(g(h, 0)) - np.array(g(-h, 0))) / (2 * h),
                           (np.array(g(0, h)) - np.array(g(0, -h))) / (2 * h)])
    np.testing.assert_allclose(jac, mm.gaussian_gan_linearisation(s), atol=1e-6)


def test_gaussian_gan_dirac_spirals_out_and_noise_damps():
    dirac_sim = mm.run_game("gaussian_gan", 1.0, 0.0, "simultaneous", 0.2, 0.2, 1, 600, noise_std=0.0)
    dirac_alt = mm.run_game("gaussian_gan", 1.0, 0.0, "alternating", 0.2, 0.2, 1, 600, noise_std=0.0)
    noisy_sim = mm.run_game("gaussian_gan", 1.0, 0.0, "simultaneous", 0.2, 0.2, 1, 600, noise_std=1.0)
    assert dirac_sim.norm[-1] > 1.5 * dirac_sim.norm[0]
    assert dirac_alt.norm.max() < 1.5 * dirac_alt.norm[0] and dirac_alt.norm[-1] > 0.5
    assert noisy_sim.norm[-1] < 0.1 * noisy_sim.norm[0]


@pytest.mark.parametrize("kwargs, match", [
    (dict(method="gradient"), "method must be one of"),
    (dict(lr_theta=0.0), "lr_theta must be a positive"),
    (dict(lr_phi=float("nan")), "lr_phi must be a positive"),
    (dict(n_dis=0), "n_dis must be a whole number"),
    (dict(steps=-1), "steps must be a whole number"),
])
def test_gda_rejects_bad_arguments(kwargs, match):
    args = dict(method="simultaneous", lr_theta=0.1, lr_phi=0.1, n_dis=1, steps=3) | kwargs
    with pytest.raises(ValueError, match=match):
        mm.gda(mm.bilinear_grad, 1.0, 0.0, **args)
    with pytest.raises(ValueError, match="game must be one of"):
        mm.run_game("rps", 1.0, 0.0, "simultaneous", 0.1, 0.1, 1, 3)


# --- divergences (notes 002, 004) ---------------------------------------------------------------------------------

import torch  # noqa: E402

from gen_core.theory import divergences as dv  # noqa: E402


def _grid_divergence(p, mu, sigma, kind):
    """Reference: trapezoid rule on a fine grid (independent of the quadrature)."""
    x = torch.linspace(-40, 40, 400_001, dtype=torch.float64)
    lp, lq = p.log_prob(x), dv.gaussian_log_prob(x, mu, sigma)
    if kind == "forward_kl":
        f = lp.exp() * (lp - lq)
    elif kind == "reverse_kl":
        f = lq.exp() * (lq - lp)
    else:
        lm = torch.logaddexp(lp, lq) - math.log(2)
        f = 0.5 * lp.exp() * (lp - lm) + 0.5 * lq.exp() * (lq - lm)
    return float(torch.trapezoid(f, x))


@pytest.mark.parametrize("kind", dv.DIVERGENCES)
@pytest.mark.parametrize("sep, mu, sigma", [(0.0, 0.3, 1.2), (3.0, -1.0, 0.7), (8.0, 0.5, 3.0), (8.0, 4.0, 1.0)])
def test_quadrature_matches_grid_integration(kind, sep, mu, sigma):
    p = dv.two_mode_mixture(sep, 1.0, 0.3)
    assert float(dv.divergence(p, mu, sigma, kind)) == pytest.approx(_grid_divergence(p, mu, sigma, kind), abs=1e-6)


@pytest.mark.parametrize("kind", ["forward_kl", "reverse_kl"])
def test_kl_between_gaussians_matches_closed_form(kind):
    p = dv.Mixture1D((1.0,), (0.4,), (1.3,))
    q = (-0.5, 0.8)
    want = dv.kl_gaussians(0.4, 1.3, *q) if kind == "forward_kl" else dv.kl_gaussians(*q, 0.4, 1.3)
    assert float(dv.divergence(p, *q, kind)) == pytest.approx(want, abs=1e-10)


@pytest.mark.parametrize("sep, weight", [(0.0, 0.5), (3.0, 0.5), (6.0, 0.3), (12.0, 0.5)])
def test_forward_kl_fit_is_moment_matching(sep, weight):
    p = dv.two_mode_mixture(sep, 1.0, weight)
    fit = dv.fit_gaussian(p, "forward_kl")
    mu, sigma = dv.moment_match(p)
    assert mu == pytest.approx(sep / 2 * (1 - 2 * weight), abs=1e-12)
    assert sigma == pytest.approx(math.sqrt(1 + sep**2 * weight * (1 - weight)), abs=1e-12)
    assert fit.mu == pytest.approx(mu, abs=1e-5) and fit.sigma == pytest.approx(sigma, abs=1e-5)


def test_forward_kl_value_for_far_apart_modes():
    # disjoint modes: H(p) = H(N(0,1)) + log 2, so KL(p || N(0, sigma^2)) = log sigma - log 2, sigma^2 = 1 + d^2/4
    d = 30.0
    fit = dv.fit_gaussian(dv.two_mode_mixture(d), "forward_kl")
    assert fit.value == pytest.approx(0.5 * math.log(1 + d**2 / 4) - math.log(2), abs=1e-6)


def test_reverse_kl_and_jsd_seek_one_mode_when_far_apart():
    d = 12.0
    fits = dv.divergence_fits(d, 1.0, 0.5)
    rk, js = fits["reverse_kl"], fits["jsd"]
    assert abs(rk.mu) == pytest.approx(d / 2, abs=1e-4) and rk.sigma == pytest.approx(1.0, abs=1e-4)
    assert rk.value == pytest.approx(math.log(2), abs=1e-6)  # KL(q || p) = -log w for q = one component
    # JSD with q = one disjoint component: 1/2 (1/2 log(4/3)) ... = 3/4 log(4/3)
    assert abs(js.mu) == pytest.approx(d / 2, abs=1e-3)
    assert js.value == pytest.approx(0.75 * math.log(4 / 3), abs=1e-5)
    assert fits["forward_kl"].sigma > 6  # covers both modes
    # unequal weights: reverse KL picks the heavier mode, value -log w_heavy
    heavy = dv.fit_gaussian(dv.two_mode_mixture(d, 1.0, 0.3), "reverse_kl")
    assert heavy.mu == pytest.approx(d / 2, abs=1e-3) and heavy.value == pytest.approx(-math.log(0.7), abs=1e-5)


def test_all_fits_agree_on_a_single_gaussian():
    for kind, fit in dv.divergence_fits(0.0, 1.7).items():
        assert fit.mu == pytest.approx(0.0, abs=1e-5) and fit.sigma == pytest.approx(1.7, abs=1e-5), kind
        assert fit.value == pytest.approx(0.0, abs=1e-9)


def test_jsd_is_bounded_by_log2_and_symmetric_in_the_two_gaussian_case():
    p = dv.Mixture1D((1.0,), (0.0,), (1.0,))
    far = float(dv.divergence(p, 50.0, 1.0, "jsd"))
    assert far == pytest.approx(math.log(2), abs=1e-6)
    a = float(dv.divergence(dv.Mixture1D((1.0,), (0.2,), (0.5,)), 1.0, 2.0, "jsd"))
    b = float(dv.divergence(dv.Mixture1D((1.0,), (1.0,), (2.0,)), 0.2, 0.5, "jsd"))
    assert a == pytest.approx(b, abs=1e-9)


def test_mixture_sampling_moments():
    p = dv.two_mode_mixture(4.0, 0.5, 0.25)
    x = p.sample(400_000, torch.Generator().manual_seed(0))
    assert float(x.mean()) == pytest.approx(p.mean, abs=0.01)
    assert float(x.var()) == pytest.approx(p.variance, rel=0.01)


@pytest.mark.parametrize("call, match", [
    (lambda: dv.two_mode_mixture(-1.0), "separation must be"),
    (lambda: dv.two_mode_mixture(2.0, weight=1.0), "weight must be"),
    (lambda: dv.fit_gaussian(dv.two_mode_mixture(1.0), "tv"), "kind must be one of"),
    (lambda: dv.likelihood_vs_samples(eps=0.0), "eps must be"),
    (lambda: dv.Mixture1D((0.5, 0.6), (0, 1), (1, 1)), "sum to 1"),
])
def test_divergences_reject_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_noisy_mixture_bound_holds_pointwise():
    from gen_core.data.toy2d import Ring

    data = Ring(8, 2.0, 0.15)
    noisy = dv.NoisyMixture(data, dv.BoxUniform(3.0), 0.01)
    x = torch.cat([data.sample(2000, torch.Generator().manual_seed(1)), dv.BoxUniform(3.0).sample(2000)]).double()
    lp, l2 = data.log_prob(x).double(), noisy.log_prob(x)
    assert torch.all(l2 >= lp - math.log(100) - 1e-9)
    assert torch.all(l2 <= torch.logaddexp(lp, dv.BoxUniform(3.0).log_prob(x)))


def test_likelihood_vs_samples_counter_example():
    r = dv.likelihood_vs_samples(eps=0.02, w=0.01, n_test=4000, n_show=4000, seed=0)
    assert r.bound == pytest.approx(r.loglik_data - math.log(100))
    assert r.bound <= r.loglik_noisy <= r.loglik_data  # at most 4.6 nats per sample worse
    # 99% of the mixture's samples are noise: binomial(4000, 0.99) within 5 standard errors
    assert abs(r.noise_fraction - 0.99) < 5 * math.sqrt(0.99 * 0.01 / 4000)
    # the memoriser: great on its training points, far worse than the noisy mixture on held-out data
    assert r.loglik_memo_train > r.loglik_data > r.loglik_noisy > r.loglik_memo
    # and its held-out log-likelihood falls without bound as eps -> 0
    assert dv.likelihood_vs_samples(eps=0.002, n_test=1000).loglik_memo < r.loglik_memo - 50


def test_memoriser_density_integrates_to_one():
    train = torch.tensor([[0.0, 0.0], [1.0, -0.5]], dtype=torch.float64)
    m = dv.Memoriser(train, 0.3)
    g = torch.linspace(-4, 5, 601, dtype=torch.float64)
    xx, yy = torch.meshgrid(g, g, indexing="ij")
    dens = m.log_prob(torch.stack([xx.ravel(), yy.ravel()], 1)).exp().reshape(601, 601)
    assert float(torch.trapezoid(torch.trapezoid(dens, g), g)) == pytest.approx(1.0, abs=1e-6)


# --- Gumbel tricks (notes 002) --------------------------------------------------------------------------------------

from gen_core.theory import gumbel as gb  # noqa: E402

PI = torch.tensor([0.05, 0.15, 0.3, 0.5], dtype=torch.float64)


def _chi2_ok(counts: torch.Tensor, probs: torch.Tensor) -> bool:
    """Pearson chi-square below the 0.999 quantile (df = K - 1) for a fixed seed."""
    from scipy.stats import chi2

    n = counts.sum()
    stat = float(((counts - n * probs) ** 2 / (n * probs)).sum())
    return stat < chi2.ppf(0.999, len(probs) - 1)


def test_gumbel_noise_has_the_gumbel_moments():
    g = gb.sample_gumbel((400_000,), torch.Generator().manual_seed(0), torch.float64)
    assert float(g.mean()) == pytest.approx(0.5772156649, abs=0.01)  # Euler-Mascheroni
    assert float(g.var()) == pytest.approx(math.pi**2 / 6, rel=0.02)


@pytest.mark.parametrize("offset", [0.0, 7.5])  # logits are log pi up to a constant
def test_gumbel_max_frequencies_match_the_categorical(offset):
    idx = gb.gumbel_max(torch.log(PI) + offset, 200_000, torch.Generator().manual_seed(1))
    counts = torch.bincount(idx, minlength=4).double()
    assert _chi2_ok(counts, PI)
    np.testing.assert_allclose(counts / 200_000, PI, atol=0.005)


@pytest.mark.parametrize("tau", [0.1, 1.0, 10.0])
def test_relaxed_argmax_is_categorical_at_every_temperature(tau):
    y = gb.gumbel_softmax(torch.log(PI), tau, 100_000, torch.Generator().manual_seed(2))
    np.testing.assert_allclose(y.sum(-1).numpy(), 1.0, atol=1e-12)
    assert _chi2_ok(torch.bincount(y.argmax(-1), minlength=4).double(), PI)


def test_relaxed_samples_tend_to_one_hot_and_to_uniform():
    gen = torch.Generator().manual_seed(3)
    g = gb.sample_gumbel((5000, 4), gen, torch.float64)
    cold = gb.gumbel_softmax(torch.log(PI), 0.01, gumbel=g)
    hot = gb.gumbel_softmax(torch.log(PI), 1e4, gumbel=g)
    onehot = torch.nn.functional.one_hot((torch.log(PI) + g).argmax(-1), 4).double()
    assert float((cold - onehot).abs().max(-1).values.median()) < 1e-6  # same noise -> the Gumbel-max sample
    assert float(cold.max(-1).values.mean()) > 0.99
    np.testing.assert_allclose(hot.numpy(), 0.25, atol=2e-3)
    m = gb.mean_max_weight(torch.log(PI), [1e-3, 0.1, 1.0, 10.0, 1e4])
    assert m[0] > 0.999 and abs(float(m[-1]) - 0.25) < 1e-3
    assert torch.all(m[1:] <= m[:-1])  # monotone in tau for the same noise


def test_straight_through_is_one_hot_forward_and_passes_gradients():
    logits = torch.log(PI).clone().requires_grad_(True)
    g = gb.sample_gumbel((64, 4), torch.Generator().manual_seed(4), torch.float64)
    y = gb.straight_through(logits, 0.5, gumbel=g)
    assert torch.all((y == 0) | (y == 1)) and torch.all(y.sum(-1) == 1)
    w = torch.arange(4, dtype=torch.float64)
    (y * w).sum().backward()
    st_grad = logits.grad.clone()
    assert st_grad.abs().sum() > 0
    logits.grad = None
    (gb.gumbel_softmax(logits, 0.5, gumbel=g) * w).sum().backward()  # the backward pass is the relaxed one
    np.testing.assert_allclose(st_grad.numpy(), logits.grad.numpy(), atol=1e-12)


@pytest.mark.parametrize("call, match", [
    (lambda: gb.gumbel_softmax(torch.zeros(3), 0.0, 2), "tau"),
    (lambda: gb.gumbel_softmax(torch.zeros(3), float("inf"), 2), "tau"),
    (lambda: gb.gumbel_max(torch.zeros(1), 2), "at least 2 categories"),
    (lambda: gb.gumbel_max(torch.tensor([0.0, -math.inf]), 2), "finite"),
])
def test_gumbel_rejects_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()
