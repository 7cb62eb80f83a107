"""Toy targets with exact densities: 2-D mixtures and shapes for flows and GANs, 1-D targets for the 1-D flow demo.

Every target behaves like a ``torch.distributions`` object (STYLE.md 4):

    >>> ring = make_target("ring")
    >>> x = ring.sample(2500, generator=torch.Generator().manual_seed(0))   # (2500, 2)
    >>> ring.log_prob(x).shape
    torch.Size([2500])

Because ``log_prob`` is exact, a model's test NLL can be reported next to the target's true differential entropy
``H = -E_p log p(x)`` (``entropy_mc``); their difference estimates ``KL(p_data || p_model) >= 0`` (EVALUATION.md,
"Likelihood"). The ring and the grid follow the VEEGAN / PacGAN mode-coverage protocol of EVALUATION.md:
8 Gaussians on the unit circle with std 0.01, and 25 Gaussians on {-4, -2, 0, 2, 4}^2 with std 0.05.

Targets
-------
2-D (``TARGETS``): ``ring``, ``grid``, ``two_moons``, ``spirals`` (Gaussian mixtures), ``banana`` (a unit-Jacobian
change of variables of a Gaussian), ``checkerboard`` (piecewise-constant density).
1-D (``TARGETS_1D``, the targets of the 1-D flow demo in lecture notes 001, Ryu, SNU ch. 5): ``uniform``
(Uniform[0, 1]), ``beta`` (Beta(5, 5)), ``normal`` (N(0, 1)). Their ``sample`` returns shape (n, 1).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Callable

import torch
from torch import Tensor

__all__ = [
    "Target",
    "GaussianMixture2D",
    "Ring",
    "Grid",
    "TwoMoons",
    "Spirals",
    "Banana",
    "Checkerboard",
    "Uniform1D",
    "Beta1D",
    "Normal1D",
    "TARGETS",
    "TARGETS_1D",
    "make_target",
]

LOG_2PI = math.log(2.0 * math.pi)


def _check_positive(name: str, value: float) -> None:
    """Raise ValueError unless ``value`` is a finite number > 0 (STYLE.md 11: no silent fixing of bad input)."""
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number, got {value!r}")


def _check_count(name: str, value: int, minimum: int = 1) -> None:
    """Raise ValueError unless ``value`` is an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


class Target(ABC):
    """Base class of every toy target: ``sample``, exact ``log_prob`` and a Monte Carlo entropy.

    Subclasses set ``name``, ``dim`` and ``bounds`` and implement ``sample`` and ``log_prob``.
    """

    name: str = "target"
    dim: int = 2
    # Plotting window: (xmin, xmax, ymin, ymax) for 2-D targets, (xmin, xmax) for 1-D targets.
    bounds: tuple[float, ...] = (-1.0, 1.0, -1.0, 1.0)

    @abstractmethod
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Draw ``n`` samples, shape (n, dim), float32."""

    @abstractmethod
    def log_prob(self, x: Tensor) -> Tensor:
        """Exact log density at ``x`` of shape (n, dim); returns shape (n,)."""

    def entropy_mc(self, n: int = 1_000_000, seed: int = 0) -> tuple[float, float]:
        """Monte Carlo differential entropy ``H = -E_p log p(x)`` in nats and its standard error.

        ``H ~ -(1/n) sum_i log p(x_i)``, x_i ~ p, with standard error ``std_i(log p(x_i)) / sqrt(n)``.
        At the default n = 10^6 the standard error is below 0.005 nats for every registered target
        (tests/test_toy2d.py checks it). Samples and log-densities are processed in chunks to bound memory.

        Args:
            n: number of Monte Carlo samples.
            seed: seed of the ``torch.Generator`` that draws them.

        Returns:
            (entropy, standard_error), both in nats.
        """
        _check_count("n", n, minimum=2)
        generator = torch.Generator().manual_seed(seed)
        total, total_sq, done = 0.0, 0.0, 0
        chunk = 100_000
        while done < n:
            m = min(chunk, n - done)
            lp = self.log_prob(self.sample(m, generator=generator)).double()
            total += lp.sum().item()
            total_sq += (lp * lp).sum().item()
            done += m
        mean = total / n
        var = max(total_sq / n - mean * mean, 0.0) * n / (n - 1)
        return -mean, math.sqrt(var / n)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


# --------------------------------------------------------------------------------------------------------------------
# Gaussian mixtures
# --------------------------------------------------------------------------------------------------------------------


class GaussianMixture2D(Target):
    """Equal-weight mixture of isotropic 2-D Gaussians.

    ``p(x) = (1/K) sum_k N(x; mu_k, std^2 I)``, so
    ``log p(x) = logsumexp_k [ -||x - mu_k||^2 / (2 std^2) ] - log K - log(2 pi std^2)``.

    With a single mean this is one isotropic Gaussian, whose entropy is ``log(2 pi e std^2)``.

    Args:
        means: (K, 2) component means.
        std: common standard deviation of every component (> 0).
        name: label for plots and the registry.
        bounds: plotting window (xmin, xmax, ymin, ymax); by default the means' box plus 4 std and 10%.
    """

    def __init__(
        self,
        means: Tensor,
        std: float,
        name: str = "gaussian_mixture",
        bounds: tuple[float, float, float, float] | None = None,
    ) -> None:
        _check_positive("std", std)
        means = torch.as_tensor(means, dtype=torch.float32)
        if means.ndim != 2 or means.shape[1] != 2 or means.shape[0] < 1:
            raise ValueError(f"means must have shape (K, 2) with K >= 1, got {tuple(means.shape)}")
        self.means = means  # (K, 2)
        self.std = float(std)
        self.name = name
        if bounds is None:
            lo, hi = means.min(0).values, means.max(0).values
            pad = 0.1 * float((hi - lo).max()) + 4.0 * self.std
            bounds = (float(lo[0]) - pad, float(hi[0]) + pad, float(lo[1]) - pad, float(hi[1]) + pad)
        self.bounds = bounds

    @property
    def n_components(self) -> int:
        """Number of mixture components K."""
        return self.means.shape[0]

    @property
    def weights(self) -> Tensor:
        """Mixture weights, (K,), all 1/K."""
        return torch.full((self.n_components,), 1.0 / self.n_components)

    @property
    def mode_centres(self) -> Tensor:
        """Mode centres used by the mode-coverage metrics, (K, 2) (the component means)."""
        return self.means

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Pick a component uniformly, then add isotropic noise: ``x = mu_k + std * eps``; returns (n, 2)."""
        _check_count("n", n, minimum=0)
        k = torch.randint(self.n_components, (n,), generator=generator)
        eps = torch.randn(n, 2, generator=generator)
        return self.means[k] + self.std * eps

    def log_prob(self, x: Tensor) -> Tensor:
        """Exact mixture log density (logsumexp over components), (n, 2) -> (n,)."""
        if x.ndim != 2 or x.shape[1] != 2:
            raise ValueError(f"x must have shape (n, 2), got {tuple(x.shape)}")
        means = self.means.to(device=x.device, dtype=x.dtype)
        out = []
        # Chunk so that the (chunk, K, 2) difference tensor stays small even for K = 200.
        chunk = max(1, 2_000_000 // self.n_components)
        for xc in x.split(chunk):
            sq = ((xc[:, None, :] - means[None, :, :]) ** 2).sum(-1)  # (chunk, K)
            out.append(torch.logsumexp(-0.5 * sq / self.std**2, dim=1))
        log_norm = math.log(self.n_components) + LOG_2PI + 2.0 * math.log(self.std)
        return torch.cat(out) - log_norm if out else x.new_zeros(0)


class Ring(GaussianMixture2D):
    """Ring of Gaussians (VEEGAN / PacGAN protocol, EVALUATION.md): 8 modes on the unit circle, std 0.01.

    ``mu_i = radius * (cos(2 pi i / K), sin(2 pi i / K))``, i = 0..K-1, built from ``arange(K) * 2 pi / K``.
    (``linspace(0, 2 pi, K)`` would repeat the mode at angle 0 and leave only K-1 distinct modes.)
    """

    def __init__(self, n_modes: int = 8, radius: float = 1.0, std: float = 0.01) -> None:
        _check_count("n_modes", n_modes)
        _check_positive("radius", radius)
        _check_positive("std", std)
        angles = torch.arange(n_modes, dtype=torch.float64) * (2.0 * math.pi / n_modes)
        means = radius * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)
        r = 1.2 * radius + 4.0 * std
        super().__init__(means.float(), std, name="ring", bounds=(-r, r, -r, r))


class Grid(GaussianMixture2D):
    """Grid of Gaussians (VEEGAN / PacGAN protocol, EVALUATION.md): 25 modes at {-4, -2, 0, 2, 4}^2, std 0.05.

    Means ``(spacing * (i - (n-1)/2), spacing * (j - (n-1)/2))`` for i, j = 0..n-1.
    """

    def __init__(self, n: int = 5, spacing: float = 2.0, std: float = 0.05) -> None:
        _check_count("n", n)
        _check_positive("spacing", spacing)
        _check_positive("std", std)
        ticks = (torch.arange(n, dtype=torch.float32) - (n - 1) / 2.0) * spacing
        gx, gy = torch.meshgrid(ticks, ticks, indexing="ij")
        means = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)
        r = float(ticks[-1]) + max(0.5 * spacing, 4.0 * std)
        super().__init__(means, std, name="grid", bounds=(-r, r, -r, r))


class TwoMoons(GaussianMixture2D):
    """Two interleaved half-circles, as an exact Gaussian mixture along the arcs.

    The arcs are those of scikit-learn's ``make_moons``, centred and scaled by ``scale``:
    upper moon ``(cos t, sin t)``, lower moon ``(1 - cos t, 0.5 - sin t)``, t in [0, pi], shifted by (-0.5, -0.25).
    ``n_per_moon`` equally spaced components per arc share the std, so ``log_prob`` is the exact mixture density.
    """

    def __init__(self, n_per_moon: int = 50, std: float = 0.1, scale: float = 2.0) -> None:
        _check_count("n_per_moon", n_per_moon, minimum=2)
        _check_positive("std", std)
        _check_positive("scale", scale)
        t = torch.linspace(0.0, math.pi, n_per_moon, dtype=torch.float64)
        upper = torch.stack([torch.cos(t), torch.sin(t)], dim=1)
        lower = torch.stack([1.0 - torch.cos(t), 0.5 - torch.sin(t)], dim=1)
        means = scale * (torch.cat([upper, lower]) - torch.tensor([0.5, 0.25], dtype=torch.float64))
        super().__init__(means.float(), std, name="two_moons")


class Spirals(GaussianMixture2D):
    """Two interleaved Archimedean spiral arms, as an exact Gaussian mixture along the arms.

    Arm 1: ``r(theta) = radius * theta / theta_max`` at angle theta, theta in [pi/2, theta_max],
    theta_max = 2 pi * turns; arm 2 is arm 1 rotated by pi. The angles are spaced as
    ``theta = sqrt(linspace(theta_min^2, theta_max^2))`` so the components are roughly equally spaced in arc
    length (the arc length of an Archimedean spiral grows like theta^2).
    """

    def __init__(self, n_per_arm: int = 100, std: float = 0.1, turns: float = 1.5, radius: float = 4.0) -> None:
        _check_count("n_per_arm", n_per_arm, minimum=2)
        _check_positive("std", std)
        _check_positive("turns", turns)
        _check_positive("radius", radius)
        theta_max = 2.0 * math.pi * turns
        theta_min = 0.5 * math.pi
        if theta_max <= theta_min:
            raise ValueError(f"turns must be > 0.25 so the arms have positive length, got {turns!r}")
        theta = torch.linspace(theta_min**2, theta_max**2, n_per_arm, dtype=torch.float64).sqrt()
        r = radius * theta / theta_max
        arm = torch.stack([r * torch.cos(theta), r * torch.sin(theta)], dim=1)
        means = torch.cat([arm, -arm])
        b = radius + 4.0 * std
        super().__init__(means.float(), std, name="spirals", bounds=(-b, b, -b, b))


# --------------------------------------------------------------------------------------------------------------------
# Non-mixture 2-D targets
# --------------------------------------------------------------------------------------------------------------------


class Banana(Target):
    """Banana (twisted Gaussian): a unit-Jacobian change of variables of a diagonal Gaussian.

    ``x1 ~ N(0, s1^2)``, ``x2 | x1 ~ N(b (x1^2 - s1^2), s2^2)``. The map ``(u1, u2) -> (u1, u2 + b (u1^2 - s1^2))``
    is triangular with unit diagonal, so ``|det J| = 1`` and
    ``log p(x) = log N(x1; 0, s1^2) + log N(x2 - b (x1^2 - s1^2); 0, s2^2)``.
    Its entropy is exactly ``log(2 pi e s1 s2)``; E[x] = 0.

    Args:
        s1: std of x1. s2: conditional std of x2. b: curvature (any real number; 0 gives a Gaussian).
    """

    def __init__(self, s1: float = 1.5, s2: float = 0.4, b: float = 0.4) -> None:
        _check_positive("s1", s1)
        _check_positive("s2", s2)
        if not (isinstance(b, (int, float)) and math.isfinite(b)):
            raise ValueError(f"b must be a finite number, got {b!r}")
        self.s1, self.s2, self.b = float(s1), float(s2), float(b)
        self.name = "banana"
        top = abs(b) * (9.0 - 1.0) * s1**2 + 3.0 * s2  # |b| ((3 s1)^2 - s1^2) + 3 s2
        low = abs(b) * s1**2 + 3.0 * s2
        ymin, ymax = (-low, top) if b >= 0 else (-top, low)
        self.bounds = (-3.0 * s1, 3.0 * s1, ymin, ymax)

    def entropy(self) -> float:
        """Exact differential entropy ``log(2 pi e s1 s2)`` in nats."""
        return math.log(2.0 * math.pi * math.e * self.s1 * self.s2)

    def _shift(self, x1: Tensor) -> Tensor:
        """Conditional mean of x2 given x1: ``b (x1^2 - s1^2)``."""
        return self.b * (x1 * x1 - self.s1**2)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``x1 = s1 u1``, ``x2 = s2 u2 + b (x1^2 - s1^2)`` with u ~ N(0, I); returns (n, 2)."""
        _check_count("n", n, minimum=0)
        u = torch.randn(n, 2, generator=generator)
        x1 = self.s1 * u[:, 0]
        x2 = self.s2 * u[:, 1] + self._shift(x1)
        return torch.stack([x1, x2], dim=1)

    def log_prob(self, x: Tensor) -> Tensor:
        """Exact log density (unit Jacobian), (n, 2) -> (n,)."""
        if x.ndim != 2 or x.shape[1] != 2:
            raise ValueError(f"x must have shape (n, 2), got {tuple(x.shape)}")
        u1 = x[:, 0] / self.s1
        u2 = (x[:, 1] - self._shift(x[:, 0])) / self.s2
        return -0.5 * (u1 * u1 + u2 * u2) - LOG_2PI - math.log(self.s1 * self.s2)


class Checkerboard(Target):
    """Uniform density on the black squares of an n x n board covering [-half_width, half_width]^2.

    Square (i, j), i, j = 0..n-1 (column from the left, row from the bottom), is black when i + j is even, so the
    bottom-left square is black. With the default 4 x 4 board over [-4, 4]^2 there are 8 black 2 x 2 squares, total
    area 32, so ``p(x) = 1/32`` on them and the entropy is exactly ``log 32``.

    ``log_prob`` returns ``-inf`` outside the support (white squares and outside the board). Squares are half-open,
    ``[a, a + side)``, so points on the board's right or top edge count as outside (a set of measure zero).
    """

    def __init__(self, n: int = 4, half_width: float = 4.0) -> None:
        _check_count("n", n, minimum=2)
        _check_positive("half_width", half_width)
        self.n, self.half_width = n, float(half_width)
        self.side = 2.0 * half_width / n
        ij = torch.cartesian_prod(torch.arange(n), torch.arange(n))
        self.black_squares = ij[(ij.sum(1) % 2) == 0]  # (n_black, 2) integer corners (i, j)
        self.area = self.black_squares.shape[0] * self.side**2
        self.name = "checkerboard"
        self.bounds = (-half_width, half_width, -half_width, half_width)

    def entropy(self) -> float:
        """Exact differential entropy ``log(area of the black squares)`` in nats."""
        return math.log(self.area)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Pick a black square uniformly, then a uniform point in it; returns (n, 2)."""
        _check_count("n", n, minimum=0)
        k = torch.randint(self.black_squares.shape[0], (n,), generator=generator)
        u = torch.rand(n, 2, generator=generator)
        corner = self.black_squares[k].float() * self.side - self.half_width
        return corner + self.side * u

    def log_prob(self, x: Tensor) -> Tensor:
        """``-log(area)`` on the black squares, ``-inf`` elsewhere; (n, 2) -> (n,)."""
        if x.ndim != 2 or x.shape[1] != 2:
            raise ValueError(f"x must have shape (n, 2), got {tuple(x.shape)}")
        cell = torch.floor((x + self.half_width) / self.side)  # (n, 2) square indices
        inside = ((cell >= 0) & (cell < self.n)).all(dim=1)
        black = (cell.sum(dim=1).remainder(2) == 0) & inside
        out = torch.full(x.shape[:1], -math.inf, dtype=x.dtype, device=x.device)
        return out.masked_fill(black, -math.log(self.area))


# --------------------------------------------------------------------------------------------------------------------
# 1-D targets of the 1-D flow demo (lecture notes 001, Ryu, SNU ch. 5)
# --------------------------------------------------------------------------------------------------------------------


def _as_column(x: Tensor) -> Tensor:
    """Accept (n,) or (n, 1) and return (n,)."""
    if x.ndim == 2 and x.shape[1] == 1:
        return x[:, 0]
    if x.ndim == 1:
        return x
    raise ValueError(f"x must have shape (n,) or (n, 1), got {tuple(x.shape)}")


class Uniform1D(Target):
    """Uniform[0, 1]: ``log p(x) = 0`` on [0, 1] and ``-inf`` outside; entropy 0."""

    dim = 1

    def __init__(self) -> None:
        self.name = "uniform"
        self.bounds = (-0.25, 1.25)

    def entropy(self) -> float:
        """Exact differential entropy, 0 nats."""
        return 0.0

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Draw ``n`` samples, shape (n, 1)."""
        _check_count("n", n, minimum=0)
        return torch.rand(n, 1, generator=generator)

    def log_prob(self, x: Tensor) -> Tensor:
        """0 on [0, 1], -inf elsewhere; (n, 1) or (n,) -> (n,)."""
        x = _as_column(x)
        inside = (x >= 0) & (x <= 1)
        return torch.where(inside, torch.zeros_like(x), torch.full_like(x, -math.inf))


class Beta1D(Target):
    """Beta(a, b) on [0, 1] (Beta(5, 5) in the notes' demo), for a, b >= 1.

    ``log p(x) = (a-1) log x + (b-1) log(1-x) - log B(a, b)``, ``-inf`` outside [0, 1].
    Entropy ``log B(a,b) - (a-1) psi(a) - (b-1) psi(b) + (a+b-2) psi(a+b)``.
    Sampling is by rejection from Uniform[0, 1] under the density's maximum, which needs a, b >= 1 (bounded density)
    and works with a seeded ``torch.Generator``.
    """

    dim = 1

    def __init__(self, a: float = 5.0, b: float = 5.0) -> None:
        _check_positive("a", a)
        _check_positive("b", b)
        if a < 1 or b < 1:
            raise ValueError(f"Beta1D needs a >= 1 and b >= 1 (bounded density), got a={a!r}, b={b!r}")
        self.a, self.b = float(a), float(b)
        self.name = "beta"
        self.bounds = (-0.1, 1.1)
        self.log_beta = math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)
        mode = 0.5 if a + b == 2 else (a - 1) / (a + b - 2)
        self._log_max = float(self.log_prob(torch.tensor([mode], dtype=torch.float64)))

    def entropy(self) -> float:
        """Exact differential entropy in nats."""
        a, b = torch.tensor(self.a, dtype=torch.float64), torch.tensor(self.b, dtype=torch.float64)
        h = self.log_beta - (a - 1) * torch.digamma(a) - (b - 1) * torch.digamma(b) + (a + b - 2) * torch.digamma(a + b)
        return float(h)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Rejection sampling: accept x ~ U[0,1] with probability ``p(x) / max p``; returns (n, 1)."""
        _check_count("n", n, minimum=0)
        accepted: list[Tensor] = []
        remaining = n
        while remaining > 0:
            m = int(remaining * math.exp(self._log_max) * 1.2) + 16
            x = torch.rand(m, generator=generator, dtype=torch.float64)
            u = torch.rand(m, generator=generator, dtype=torch.float64)
            keep = x[torch.log(u) < self.log_prob(x) - self._log_max][:remaining]
            accepted.append(keep)
            remaining -= keep.shape[0]
        return torch.cat(accepted).float()[:, None] if accepted else torch.zeros(0, 1)

    def log_prob(self, x: Tensor) -> Tensor:
        """Exact log density; (n, 1) or (n,) -> (n,)."""
        x = _as_column(x)
        inside = (x > 0) & (x < 1)
        xc = x.clamp(1e-12, 1 - 1e-12)
        lp = (self.a - 1) * torch.log(xc) + (self.b - 1) * torch.log1p(-xc) - self.log_beta
        return torch.where(inside, lp, torch.full_like(x, -math.inf))


class Normal1D(Target):
    """N(mean, std^2): ``log p(x) = -(x - mean)^2 / (2 std^2) - log(std) - 0.5 log(2 pi)``."""

    dim = 1

    def __init__(self, mean: float = 0.0, std: float = 1.0) -> None:
        _check_positive("std", std)
        self.mean, self.std = float(mean), float(std)
        self.name = "normal"
        self.bounds = (self.mean - 4.0 * self.std, self.mean + 4.0 * self.std)

    def entropy(self) -> float:
        """Exact differential entropy ``0.5 log(2 pi e std^2)`` in nats."""
        return 0.5 * math.log(2.0 * math.pi * math.e * self.std**2)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Draw ``n`` samples, shape (n, 1)."""
        _check_count("n", n, minimum=0)
        return self.mean + self.std * torch.randn(n, 1, generator=generator)

    def log_prob(self, x: Tensor) -> Tensor:
        """Exact log density; (n, 1) or (n,) -> (n,)."""
        x = _as_column(x)
        u = (x - self.mean) / self.std
        return -0.5 * u * u - math.log(self.std) - 0.5 * LOG_2PI


# --------------------------------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------------------------------

TARGETS: dict[str, Callable[..., Target]] = {
    "ring": Ring,
    "grid": Grid,
    "two_moons": TwoMoons,
    "spirals": Spirals,
    "banana": Banana,
    "checkerboard": Checkerboard,
}

TARGETS_1D: dict[str, Callable[..., Target]] = {
    "uniform": Uniform1D,
    "beta": Beta1D,
    "normal": Normal1D,
}


def make_target(name: str, **kwargs: object) -> Target:
    """Build a target by name from ``TARGETS`` (2-D) or ``TARGETS_1D`` (1-D), forwarding ``kwargs``.

    >>> make_target("grid", std=0.1).means.shape
    torch.Size([25, 2])

    Raises:
        ValueError: for an unknown name, or for bad arguments (e.g. a non-positive std).
    """
    registry = {**TARGETS, **TARGETS_1D}
    if name not in registry:
        raise ValueError(f"unknown target {name!r}; choose one of {', '.join(sorted(registry))}")
    try:
        return registry[name](**kwargs)
    except TypeError as err:  # an unexpected keyword argument: say which target rejected it
        raise ValueError(f"bad arguments for target {name!r}: {err}") from err
