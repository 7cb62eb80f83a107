"""Divergence explainers: which Gaussian does each divergence pick for a two-mode target, and why likelihood and
sample quality can disagree.

**Mode covering vs mode seeking** (lecture notes 002, 004; MODELS.md "Divergences worth showing"). The target is a
two-component 1-D mixture p = w N(-d/2, s^2) + (1 - w) N(d/2, s^2) with separation d; the model is one Gaussian
q = N(mu, sigma^2). We fit q by minimising

- forward KL(p || q) = E_p log p - E_p log q: maximum likelihood. Its minimiser is closed-form moment matching,
  mu = E_p x, sigma^2 = Var_p x: q spreads over both modes (mode covering);
- reverse KL(q || p) = -H(q) - E_q log p: q is punished wherever p is small, so for a large separation it sits on
  one mode (mode seeking); it has one local minimum per mode;
- JSD(p, q) = 1/2 KL(p || m) + 1/2 KL(q || m), m = (p + q) / 2 (the 0.5 convention, MODELS.md), bounded by log 2:
  between the two.

Every expectation is a Gaussian expectation integrated numerically on a grid that follows that Gaussian
(E_p of a mixture is the weighted sum of its components' expectations), differentiable in (mu, sigma) with torch
in float64, and minimised by damped Newton steps from several starts (each mode, and the moment-matched Gaussian); the best is
kept. Tests compare it with a fixed fine grid and with closed forms.

**Great likelihood, poor samples** (004, 002; Theis et al. 2016). The mixture p_2 = 0.01 p_data + 0.99 p_noise
satisfies, pointwise,

    log p_2(x) = log(0.01 p_data(x) + 0.99 p_noise(x)) >= log(0.01 p_data(x)) = log p_data(x) - log 100,

so its expected log-likelihood on data is at most log 100 ~ 4.6 nats per sample below the true density's, while
99% of its samples are noise. In high dimension log p_data(x) grows in proportion to the dimension and the
constant 4.6 nats becomes negligible. The reverse case (002, "poor likelihood, great samples") is a model that
memorises the training set, p_1(x) = (1/n) sum_i N(x | x_i, eps^2 I): for small eps its samples are training
points, but its held-out log-likelihood tends to -infinity.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from gen_core.data.toy2d import Ring, Target

Divergence = Literal["forward_kl", "reverse_kl", "jsd"]
DIVERGENCES: tuple[str, ...] = ("forward_kl", "reverse_kl", "jsd")
DIVERGENCE_LABELS = {"forward_kl": "forward KL(p‖q)", "reverse_kl": "reverse KL(q‖p)", "jsd": "JSD(p, q)"}
LOG_2PI = math.log(2.0 * math.pi)
GRID_HALF_WIDTH = 10.0  # standard deviations each side: the Gaussian weight beyond is < 1e-22
GRID_POINTS = 801       # h = 0.025 std; the tests check agreement with a fine fixed grid to < 1e-6


def _std_grid(half_width: float = GRID_HALF_WIDTH, n: int = GRID_POINTS) -> tuple[Tensor, Tensor]:
    """Points u_i and weights w_i with sum_i w_i f(u_i) ~ E_{u~N(0,1)} f(u): the trapezoid rule on a uniform grid.

    (Gauss-Hermite quadrature was tried first: with a wide q over two far-apart modes, log p switches from one
    mode's quadratic to the other's within ~s^2/d, a feature it resolves badly (1e-2 errors, not converging
    monotonically in the number of nodes); the uniform grid is robust.)
    """
    u = torch.linspace(-half_width, half_width, n, dtype=torch.float64)
    w = torch.exp(-0.5 * u**2) / math.sqrt(2.0 * math.pi) * (u[1] - u[0])
    return u, w


_U, _W = _std_grid()


def gaussian_log_prob(x: Tensor, mu: Tensor | float, sigma: Tensor | float) -> Tensor:
    """log N(x | mu, sigma^2) = -(x - mu)^2 / (2 sigma^2) - log sigma - log(2 pi) / 2."""
    sigma = torch.as_tensor(sigma, dtype=x.dtype)
    return -0.5 * ((x - mu) / sigma) ** 2 - torch.log(sigma) - 0.5 * LOG_2PI


def kl_gaussians(mu1: float, s1: float, mu2: float, s2: float) -> float:
    """KL(N(mu1, s1^2) || N(mu2, s2^2)) = log(s2/s1) + (s1^2 + (mu1 - mu2)^2) / (2 s2^2) - 1/2 (closed form)."""
    return math.log(s2 / s1) + (s1**2 + (mu1 - mu2) ** 2) / (2 * s2**2) - 0.5


@dataclass(frozen=True)
class Mixture1D:
    """A 1-D Gaussian mixture sum_k w_k N(mu_k, s_k^2): exact ``log_prob``, ``sample``, moments."""

    weights: tuple[float, ...]
    means: tuple[float, ...]
    stds: tuple[float, ...]

    def __post_init__(self) -> None:
        if not (len(self.weights) == len(self.means) == len(self.stds) >= 1):
            raise ValueError("weights, means and stds must be non-empty and of equal length.")
        if any(not (w > 0) for w in self.weights) or not math.isclose(sum(self.weights), 1.0, abs_tol=1e-9):
            raise ValueError(f"weights must be positive and sum to 1; got {self.weights}.")
        if any(not (s > 0 and math.isfinite(s)) for s in self.stds):
            raise ValueError(f"stds must be positive and finite; got {self.stds}.")

    def log_prob(self, x: Tensor) -> Tensor:
        """log p(x) = logsumexp_k [log w_k + log N(x | mu_k, s_k^2)], any shape -> same shape."""
        comps = [math.log(w) + gaussian_log_prob(x, m, s) for w, m, s in zip(self.weights, self.means, self.stds)]
        return torch.logsumexp(torch.stack(comps), dim=0)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n samples, shape (n,), float64."""
        k = torch.multinomial(torch.tensor(self.weights, dtype=torch.float64), n, replacement=True,
                              generator=generator)
        eps = torch.randn(n, generator=generator, dtype=torch.float64)
        return torch.tensor(self.means, dtype=torch.float64)[k] + torch.tensor(self.stds, dtype=torch.float64)[k] * eps

    @property
    def mean(self) -> float:
        """E_p x = sum_k w_k mu_k."""
        return sum(w * m for w, m in zip(self.weights, self.means))

    @property
    def variance(self) -> float:
        """Var_p x = sum_k w_k (s_k^2 + mu_k^2) - (E_p x)^2."""
        return sum(w * (s**2 + m**2) for w, m, s in zip(self.weights, self.means, self.stds)) - self.mean**2

    def expect(self, f: Callable[[Tensor], Tensor]) -> Tensor:
        """E_p f(x) = sum_k w_k E_{u~N(0,1)} f(mu_k + s_k u), each on the grid of :func:`_std_grid`."""
        return sum(w * (_W * f(m + s * _U)).sum() for w, m, s in zip(self.weights, self.means, self.stds))


def two_mode_mixture(separation: float, std: float = 1.0, weight: float = 0.5) -> Mixture1D:
    """p = weight N(-d/2, std^2) + (1 - weight) N(d/2, std^2), d = separation >= 0."""
    if not (math.isfinite(separation) and separation >= 0):
        raise ValueError(f"separation must be a finite number >= 0; got {separation!r}.")
    if not (0 < weight < 1):
        raise ValueError(f"weight must be strictly between 0 and 1; got {weight!r}.")
    return Mixture1D((weight, 1.0 - weight), (-separation / 2, separation / 2), (std, std))


def _expect_q(f, mu: Tensor, sigma: Tensor) -> Tensor:
    return (_W * f(mu + sigma * _U)).sum()


def divergence(p: Mixture1D, mu: Tensor | float, sigma: Tensor | float, kind: Divergence) -> Tensor:
    """D(p, q) for q = N(mu, sigma^2), differentiable in mu and sigma (float64 scalar tensor).

    forward_kl: E_p[log p - log q]; reverse_kl: E_q[log q - log p]; jsd: 1/2 E_p[log p - log m] +
    1/2 E_q[log q - log m], m = (p + q)/2. Each expectation under a Gaussian N(c, r^2) is taken on the
    grid x = c + r u (:func:`_std_grid`), so the integral moves with q and is smooth in (mu, sigma).
    """
    mu = torch.as_tensor(mu, dtype=torch.float64)
    sigma = torch.as_tensor(sigma, dtype=torch.float64)
    log_q = lambda x: gaussian_log_prob(x, mu, sigma)  # noqa: E731
    if kind == "forward_kl":
        return p.expect(lambda x: p.log_prob(x) - log_q(x))
    if kind == "reverse_kl":
        return _expect_q(lambda x: log_q(x) - p.log_prob(x), mu, sigma)
    if kind == "jsd":
        log_m = lambda x: torch.logaddexp(p.log_prob(x), log_q(x)) - math.log(2.0)  # noqa: E731
        return 0.5 * p.expect(lambda x: p.log_prob(x) - log_m(x)) + 0.5 * _expect_q(lambda x: log_q(x) - log_m(x),
                                                                                     mu, sigma)
    raise ValueError(f"kind must be one of {', '.join(DIVERGENCES)}; got {kind!r}.")


def moment_match(p: Mixture1D) -> tuple[float, float]:
    """The forward-KL optimum in closed form: (mu, sigma) = (E_p x, sqrt(Var_p x))."""
    return p.mean, math.sqrt(p.variance)


@dataclass(frozen=True)
class GaussianFit:
    """The Gaussian N(mu, sigma^2) that minimises ``kind``, and the minimal value (nats)."""

    kind: str
    mu: float
    sigma: float
    value: float


def _newton_minimise(f, x0: Tensor, max_iter: int = 50, tol: float = 1e-9) -> Tensor:
    """Minimise a smooth f: R^2 -> R by damped Newton steps with backtracking (a plain gradient step wherever the
    Hessian is not positive definite). Two parameters only, so the 2x2 Hessian by double autograd is cheap; this
    avoids ``torch.optim``, whose first step imports ``torch._dynamo`` (~800 modules, tens of seconds on a busy
    2-core machine)."""
    x = x0.detach().clone()
    for _ in range(max_iter):
        xr = x.clone().requires_grad_(True)
        val = f(xr)
        (g,) = torch.autograd.grad(val, xr, create_graph=True)
        h = torch.stack([torch.autograd.grad(g[i], xr, retain_graph=True)[0] for i in range(len(x))])
        g, h, val = g.detach(), h.detach(), val.detach()
        if float(g.norm()) < tol:
            break
        try:
            step = -torch.linalg.solve(h, g)
            if float(step @ g) >= 0:  # not a descent direction: H is not positive definite here
                raise RuntimeError
        except RuntimeError:
            step = -g / max(1.0, float(g.norm()))
        t = 1.0
        while t > 1e-8:
            cand = x + t * step
            with torch.no_grad():
                fc = f(cand)
            if torch.isfinite(fc) and float(fc) <= float(val) + 1e-4 * t * float(step @ g):
                break
            t *= 0.5
        if t <= 1e-8:
            break
        x = cand
        if float((t * step).norm()) < 1e-9 or float(val) - float(fc) < 1e-14:
            break
    return x


def fit_gaussian(p: Mixture1D, kind: Divergence, max_iter: int = 50) -> GaussianFit:
    """Minimise ``divergence(p, N(mu, sigma^2), kind)`` over (mu, log sigma) by damped Newton from several starts.

    Starts: the moment-matched Gaussian and each component of p (reverse KL and JSD have a local minimum near each
    well separated mode). The lowest of the local minima is returned.
    """
    if kind not in DIVERGENCES:
        raise ValueError(f"kind must be one of {', '.join(DIVERGENCES)}; got {kind!r}.")
    starts = list(dict.fromkeys([moment_match(p), *zip(p.means, p.stds)]))  # distinct starts only
    objective = lambda v: divergence(p, v[0], v[1].exp(), kind)  # noqa: E731  v = (mu, log sigma)
    best: GaussianFit | None = None
    for mu0, s0 in starts:
        v = _newton_minimise(objective, torch.tensor([float(mu0), math.log(s0)], dtype=torch.float64), max_iter)
        with torch.no_grad():
            value = float(objective(v))
        if best is None or value < best.value - 1e-12:
            best = GaussianFit(kind, float(v[0]), float(v[1].exp()), value)
    assert best is not None
    return best


def divergence_fits(separation: float, std: float = 1.0, weight: float = 0.5) -> dict[str, GaussianFit]:
    """The three fits of :data:`DIVERGENCES` to :func:`two_mode_mixture` (the Theory tab's panel). Forward KL
    uses its closed-form optimum (moment matching; the tests check that :func:`fit_gaussian` finds the same)."""
    p = two_mode_mixture(separation, std, weight)
    mu, sigma = moment_match(p)
    fits = {"forward_kl": GaussianFit("forward_kl", mu, sigma, float(divergence(p, mu, sigma, "forward_kl")))}
    fits.update({kind: fit_gaussian(p, kind) for kind in ("reverse_kl", "jsd")})
    return fits


# --- great likelihood, poor samples (and the reverse) --------------------------------------------------------------


@dataclass(frozen=True)
class BoxUniform:
    """Uniform noise on the square [-half_width, half_width]^2: log p = -2 log(2 half_width) inside."""

    half_width: float = 3.0

    def log_prob(self, x: Tensor) -> Tensor:
        inside = (x.abs() <= self.half_width).all(dim=-1)
        lp = torch.full(x.shape[:-1], -2.0 * math.log(2.0 * self.half_width), dtype=x.dtype)
        return torch.where(inside, lp, torch.full_like(lp, -math.inf))

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        return (torch.rand(n, 2, generator=generator) * 2.0 - 1.0) * self.half_width


@dataclass(frozen=True)
class NoisyMixture:
    """p_2 = w p_data + (1 - w) p_noise (notes 004, w = 0.01): ``log_prob`` and ``sample``."""

    data: Target
    noise: BoxUniform
    w: float = 0.01

    def log_prob(self, x: Tensor) -> Tensor:
        """log(w p_data + (1 - w) p_noise) = logaddexp(log w + log p_data, log(1 - w) + log p_noise)."""
        return torch.logaddexp(math.log(self.w) + self.data.log_prob(x), math.log1p(-self.w) + self.noise.log_prob(x))

    def sample(self, n: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """n samples (n, 2) and a bool mask of which ones came from the noise component."""
        is_noise = torch.rand(n, generator=generator) >= self.w
        x = torch.where(is_noise[:, None], self.noise.sample(n, generator), self.data.sample(n, generator))
        return x, is_noise


@dataclass(frozen=True)
class Memoriser:
    """p_1(x) = (1/n) sum_i N(x | x_i, eps^2 I) on the training points (notes 002, "poor likelihood, great
    samples"): samples are training points plus eps-noise; held-out log-likelihood -> -inf as eps -> 0."""

    train: Tensor  # (n, 2)
    eps: float

    def log_prob(self, x: Tensor) -> Tensor:
        sq = ((x[:, None, :] - self.train[None, :, :]) ** 2).sum(-1)  # (m, n)
        n, d = self.train.shape
        return torch.logsumexp(-0.5 * sq / self.eps**2, dim=1) - math.log(n) - d * (math.log(self.eps) + 0.5 * LOG_2PI)

    def sample(self, m: int, generator: torch.Generator | None = None) -> Tensor:
        idx = torch.randint(len(self.train), (m,), generator=generator)
        return self.train[idx] + self.eps * torch.randn(m, 2, generator=generator)


@dataclass(frozen=True)
class LikelihoodVsSamples:
    """Samples and mean held-out log-likelihoods (nats per sample) of the data density, the noisy mixture and the
    memoriser; ``bound`` = mean log p_data - log(1/w), the floor of the noisy mixture's value."""

    data_samples: np.ndarray
    noisy_samples: np.ndarray
    noisy_is_noise: np.ndarray
    memo_samples: np.ndarray
    train_points: np.ndarray
    loglik_data: float
    loglik_noisy: float
    loglik_memo: float
    loglik_memo_train: float
    bound: float
    noise_fraction: float
    w: float
    eps: float


def likelihood_vs_samples(eps: float = 0.02, w: float = 0.01, n_train: int = 200, n_test: int = 5000,
                          n_show: int = 400, seed: int = 0) -> LikelihoodVsSamples:
    """The counter-example on an 8-mode ring (radius 2, std 0.15) with uniform noise on [-3, 3]^2.

    Held-out log-likelihoods are means over ``n_test`` fresh data samples (the same ones for every model); the
    memoriser is fitted on ``n_train`` other samples and also scored on them (its training log-likelihood).
    """
    if not (math.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be a positive number; got {eps!r}.")
    if not (0 < w <= 1):
        raise ValueError(f"w must be in (0, 1]; got {w!r}.")
    gen = torch.Generator().manual_seed(seed)
    data = Ring(n_modes=8, radius=2.0, std=0.15)
    noisy = NoisyMixture(data, BoxUniform(3.0), w) if w < 1 else None
    train = data.sample(n_train, gen).double()
    test = data.sample(n_test, gen).double()
    memo = Memoriser(train, eps)
    lp_data = data.log_prob(test)
    lp_noisy = noisy.log_prob(test) if noisy is not None else lp_data
    noisy_x, is_noise = noisy.sample(n_show, gen) if noisy is not None else (data.sample(n_show, gen),
                                                                             torch.zeros(n_show, dtype=torch.bool))
    return LikelihoodVsSamples(
        data_samples=data.sample(n_show, gen).numpy(), noisy_samples=noisy_x.numpy(),
        noisy_is_noise=is_noise.numpy(), memo_samples=memo.sample(n_show, gen).numpy(), train_points=train.numpy(),
        loglik_data=float(lp_data.mean()), loglik_noisy=float(lp_noisy.mean()), loglik_memo=float(memo.log_prob(test).mean()),
        loglik_memo_train=float(memo.log_prob(train).mean()), bound=float(lp_data.mean()) + math.log(w),
        noise_fraction=float(is_noise.double().mean()), w=w, eps=eps)


@dataclass(frozen=True)
class DivergencePanel:
    """The target density, each fitted Gaussian's density on the grid ``x``, and the fits (the Theory tab)."""

    x: np.ndarray
    p: np.ndarray
    q: dict[str, np.ndarray]
    fits: dict[str, GaussianFit]
    separation: float
    weight: float


def divergence_panel(separation: float, weight: float = 0.5, std: float = 1.0, n_grid: int = 600) -> DivergencePanel:
    """:func:`divergence_fits` plus the densities to draw, on a grid covering p and every fitted q."""
    p = two_mode_mixture(separation, std, weight)
    fits = divergence_fits(separation, std, weight)
    half = max(separation / 2 + 4 * std, *(abs(f.mu) + 3.5 * f.sigma for f in fits.values()))
    x = torch.linspace(-half, half, n_grid, dtype=torch.float64)
    q = {k: gaussian_log_prob(x, f.mu, f.sigma).exp().numpy() for k, f in fits.items()}
    return DivergencePanel(x.numpy(), p.log_prob(x).exp().numpy(), q, fits, separation, weight)
