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
