"""Contracts of the toy targets in gen_core.data.toy2d: exact densities, samplers, entropies, registry errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

from gen_core.data.toy2d import (
    TARGETS,
    TARGETS_1D,
    Banana,
    Beta1D,
    Checkerboard,
    GaussianMixture2D,
    Grid,
    Normal1D,
    Ring,
    Target,
    Uniform1D,
    make_target,
)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Keep CPU use modest: the suite shares the machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _integrate_2d(target: Target, window: tuple[float, float, float, float], h: float) -> float:
    """Midpoint rule of exp(log_prob) over the window with cell size h."""
    xmin, xmax, ymin, ymax = window
    xs = torch.arange(xmin + h / 2, xmax, h, dtype=torch.float64)
    ys = torch.arange(ymin + h / 2, ymax, h, dtype=torch.float64)
    gx, gy = torch.meshgrid(xs, ys, indexing="ij")
    pts = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)
    return float(target.log_prob(pts).exp().sum() * h * h)


def _integrate_1d(target: Target, lo: float, hi: float, h: float) -> float:
    """Midpoint rule of exp(log_prob) over [lo, hi]."""
    xs = torch.arange(lo + h / 2, hi, h, dtype=torch.float64)[:, None]
    return float(target.log_prob(xs).exp().sum() * h)


# --- mode layouts (EVALUATION.md, VEEGAN / PacGAN protocol) ----------------------------------------------------------


def test_ring_means_are_eight_distinct_points_on_the_unit_circle():
    ring = Ring()
    assert ring.means.shape == (8, 2) and ring.std == 0.01
    assert torch.allclose(ring.means.norm(dim=1), torch.ones(8), atol=1e-6)
    pairwise = torch.cdist(ring.means, ring.means) + 10 * torch.eye(8)
    assert pairwise.min() > 2 * math.sin(math.pi / 8) - 1e-5  # neighbouring modes are 45 degrees apart
    angles = torch.arange(8) * 2 * math.pi / 8
    expected = torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)
    assert torch.allclose(ring.means, expected, atol=1e-6)
    assert torch.equal(ring.mode_centres, ring.means)


def test_grid_means_are_the_25_points_of_the_protocol():
    grid = Grid()
    assert grid.means.shape == (25, 2) and grid.std == 0.05
    got = {tuple(p) for p in grid.means.round().int().tolist()}
    assert got == {(a, b) for a in (-4, -2, 0, 2, 4) for b in (-4, -2, 0, 2, 4)}
    assert torch.allclose(grid.means, grid.means.round())


# --- densities integrate to one ---------------------------------------------------------------------------------------

INTEGRATION_CASES = [
    # (name, kwargs, window (None = target.bounds), cell size)
    ("ring", {"std": 0.05}, None, 0.01),
    ("ring", {}, None, 0.005),  # the protocol's std 0.01; Riemann sums of Gaussians are accurate for h <= std
    ("grid", {}, None, 0.02),
    ("two_moons", {}, (-4.5, 4.5, -3.0, 3.0), 0.025),
    ("spirals", {}, (-4.6, 4.6, -4.6, 4.6), 0.025),
    ("banana", {}, (-6.0, 6.0, -2.5, 15.5), 0.02),  # x1 within 4 s1; x2 up to b((4 s1)^2 - s1^2) + 4 s2
    ("checkerboard", {}, (-4.5, 4.5, -4.5, 4.5), 0.05),
]


@pytest.mark.parametrize("name, kwargs, window, h", INTEGRATION_CASES)
def test_density_integrates_to_one(name, kwargs, window, h):
    target = make_target(name, **kwargs)
    total = _integrate_2d(target, window or target.bounds, h)
    assert abs(total - 1.0) < 0.01, f"{name}{kwargs}: integral {total:.4f}"


def test_ring_log_prob_matches_scipy_mixture_at_protocol_std():
    ring = Ring()  # std 0.01: check the exact value pointwise against an independent implementation
    gen = torch.Generator().manual_seed(3)
    pts = torch.cat([ring.means, ring.sample(200, generator=gen), torch.randn(50, 2, generator=gen)]).double()
    comps = [multivariate_normal(mean=m, cov=0.01**2 * np.eye(2)) for m in ring.means.double().numpy()]
    log_terms = np.stack([c.logpdf(pts.numpy()) for c in comps], axis=1) - math.log(8)
    expected = np.logaddexp.reduce(log_terms, axis=1)
    np.testing.assert_allclose(ring.log_prob(pts).numpy(), expected, rtol=1e-6, atol=1e-6)


def test_1d_densities_integrate_to_one():
    assert abs(_integrate_1d(Uniform1D(), -0.5, 1.5, 1e-4) - 1.0) < 1e-3
    assert abs(_integrate_1d(Beta1D(5, 5), -0.1, 1.1, 1e-4) - 1.0) < 1e-4
    assert abs(_integrate_1d(Normal1D(), -8.0, 8.0, 1e-3) - 1.0) < 1e-4


# --- samplers ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_sample_shape_dtype_and_finite_log_prob(name):
    target = make_target(name)
    x = target.sample(1000, generator=torch.Generator().manual_seed(0))
    assert x.shape == (1000, 2) and x.dtype == torch.float32
    lp = target.log_prob(x)
    assert lp.shape == (1000,) and torch.isfinite(lp).all()
    xmin, xmax, ymin, ymax = target.bounds
    assert xmin < xmax and ymin < ymax


@pytest.mark.parametrize("name", sorted(TARGETS_1D))
def test_1d_sample_shape(name):
    target = make_target(name)
    x = target.sample(500, generator=torch.Generator().manual_seed(0))
    assert x.shape == (500, 1) and x.dtype == torch.float32
    assert torch.isfinite(target.log_prob(x)).all()


@pytest.mark.parametrize("target", [GaussianMixture2D(torch.tensor([[0.5, -1.0]]), std=0.3), Ring(1, std=0.3)])
def test_single_gaussian_moments_and_entropy(target):
    n, std = 200_000, 0.3
    x = target.sample(n, generator=torch.Generator().manual_seed(1)).double()
    mean = target.means[0].double()
    assert torch.allclose(x.mean(0), mean, atol=5 * std / math.sqrt(n))
    cov = torch.cov(x.T)
    assert torch.allclose(cov, std**2 * torch.eye(2, dtype=torch.float64), atol=0.01 * std**2 * 5)
    h, se = target.entropy_mc(n=200_000)
    assert abs(h - math.log(2 * math.pi * math.e * std**2)) < 5 * se


def test_banana_moments():
    banana = Banana(s1=1.5, s2=0.4, b=0.4)
    x = banana.sample(400_000, generator=torch.Generator().manual_seed(2)).double()
    assert x.mean(0).abs().max() < 0.02
    assert abs(x[:, 0].var() - 1.5**2) < 0.02
    # Var x2 = b^2 Var(x1^2) + s2^2 = b^2 * 2 s1^4 + s2^2.
    assert abs(x[:, 1].var() / (0.4**2 * 2 * 1.5**4 + 0.4**2) - 1) < 0.02


def test_beta_moments():
    x = Beta1D(5, 5).sample(200_000, generator=torch.Generator().manual_seed(0)).double()
    assert abs(x.mean() - 0.5) < 0.002
    assert abs(x.var() - 25 / (100 * 11)) < 0.001
    assert ((x > 0) & (x < 1)).all()


def test_checkerboard_support():
    board = Checkerboard()
    x = board.sample(10_000, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(board.log_prob(x), torch.full((10_000,), -math.log(32.0)))
    white_and_outside = torch.tensor([[-3.0, -1.0], [1.0, 3.5], [4.5, 0.0], [-5.0, -5.0]])
    assert torch.isneginf(board.log_prob(white_and_outside)).all()
    assert board.log_prob(torch.tensor([[-3.0, -3.0]])).item() == pytest.approx(-math.log(32.0))


@pytest.mark.parametrize("name", sorted(TARGETS) + sorted(TARGETS_1D))
def test_seeded_generator_is_deterministic(name):
    target = make_target(name)
    a = target.sample(300, generator=torch.Generator().manual_seed(7))
    b = target.sample(300, generator=torch.Generator().manual_seed(7))
    c = target.sample(300, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)


# --- entropy ----------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def entropies() -> dict[str, tuple[float, float]]:
    """entropy_mc() at its default settings for every registered target (computed once)."""
    torch.set_num_threads(1)
    return {name: make_target(name).entropy_mc() for name in sorted(TARGETS) + sorted(TARGETS_1D)}


def test_entropy_standard_error_is_below_0005_at_defaults(entropies):
    for name, (_, se) in entropies.items():
        assert se < 0.005, f"{name}: SE {se}"


def test_entropy_matches_closed_forms(entropies):
    log_gauss = lambda std: math.log(2 * math.pi * math.e * std**2)  # noqa: E731  2-D isotropic Gaussian
    # Well-separated equal-weight modes: H = log K + H(component), up to exp(-d^2 / 8 std^2) ~ 0.
    exact = {
        "ring": math.log(8) + log_gauss(0.01),
        "grid": math.log(25) + log_gauss(0.05),
        "banana": Banana().entropy(),
        "checkerboard": math.log(32.0),
        "uniform": 0.0,
        "beta": Beta1D(5, 5).entropy(),
        "normal": 0.5 * math.log(2 * math.pi * math.e),
    }
    for name, h_true in exact.items():
        h, se = entropies[name]
        assert abs(h - h_true) < 5 * se + 1e-6, f"{name}: MC {h:.5f} +- {se:.5f}, exact {h_true:.5f}"
    assert Beta1D(1, 1).entropy() == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("name", ["ring", "grid", "two_moons", "spirals", "banana"])
def test_mean_log_prob_of_fresh_samples_is_minus_entropy(name, entropies):
    target = make_target(name)
    lp = target.log_prob(target.sample(100_000, generator=torch.Generator().manual_seed(123))).double()
    h, se = entropies[name]
    se_small = float(lp.std()) / math.sqrt(lp.numel())
    assert abs(-float(lp.mean()) - h) < 5 * math.hypot(se, se_small)


# --- bad input --------------------------------------------------------------------------------------------------------


def test_unknown_name_raises_with_choices():
    with pytest.raises(ValueError, match=r"unknown target 'nope'; choose one of .*ring"):
        make_target("nope")


@pytest.mark.parametrize(
    "build",
    [
        lambda: Ring(std=0.0),
        lambda: Ring(std=-0.1),
        lambda: Ring(n_modes=0),
        lambda: Ring(radius=float("nan")),
        lambda: Grid(spacing=0.0),
        lambda: Grid(n=0),
        lambda: make_target("two_moons", std=-1.0),
        lambda: make_target("spirals", turns=0.1),
        lambda: make_target("banana", s2=0.0),
        lambda: make_target("checkerboard", n=1),
        lambda: make_target("ring", colour="red"),
        lambda: Beta1D(0.5, 5.0),
        lambda: Normal1D(std=0.0),
        lambda: GaussianMixture2D(torch.zeros(3), std=1.0),
        lambda: Ring().log_prob(torch.zeros(4, 3)),
    ],
)
def test_bad_arguments_raise_value_error(build):
    with pytest.raises(ValueError):
        build()
