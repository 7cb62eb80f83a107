"""Likelihood diagnostics of density models on toy targets whose density is known exactly (EVALUATION.md, "Likelihood").

On a toy target p with exact ``log p`` (gen_core.data.toy2d) a model q is scored by its *test NLL* on fresh samples
from p, drawn with a fixed seed that no training run uses, and compared with the target's *true entropy*:

    test NLL - H(p) = E_p[-log q(x)] - E_p[-log p(x)] = KL(p || q) >= 0     (nats),

the forward KL divergence that maximum-likelihood training of a flow minimises (lecture notes 001, Ryu, SNU ch. 5,
"Training flow models"). A gap of 0 means q = p. The functions here are pure: they take a model (anything with
``log_prob``, and ``sample`` where samples are needed), a target and seeds, and return numbers and arrays; the
plots that show them live in ``gen_core.viz.flows``.

Also here, for the Flows tab: a density evaluated on a grid (heatmaps), the layer-by-layer film strip of a flow
(samples and a grid pushed from the Gaussian to the data, with each layer's ``log |det J|``), and the curves of
the 1-D panel, where the right density ``p_Z(f(x)) |f'(x)|`` is drawn beside the wrong ``p_Z(f(x))``.

    >>> from gen_core.data.toy2d import make_target
    >>> ring = make_target("ring", std=0.05)
    >>> report = likelihood_report(ring_flow, ring)            # doctest: +SKIP
    >>> report.test_nll, report.entropy, report.gap            # doctest: +SKIP
    (-1.03, -1.07, 0.04)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor, nn

from gen_core.data.toy2d import Target, make_target

__all__ = [
    "EVAL_SEED",
    "TEST_N",
    "ENTROPY_N",
    "MIXTURE_TARGETS",
    "DensityModel",
    "LikelihoodReport",
    "DensityGrid",
    "Frame",
    "Panel1D",
    "FlowSnapshot",
    "build_target",
    "target_of",
    "held_out",
    "nll_stats",
    "true_entropy",
    "cached_true_entropy",
    "likelihood_report",
    "model_entropy",
    "evaluating",
    "grid_points",
    "density_grid",
    "histogram_density",
    "flow_blocks",
    "film_strip",
    "flow_1d_panel",
    "snapshot",
]

EVAL_SEED = 1234  # seed of the held-out test samples; training batches come from generators seeded 0, 1, 2, ...
TEST_N = 100_000  # test samples: the test NLL's standard error is ~ std(log q) / 316, about 0.003 nats here
ENTROPY_N = 1_000_000  # Monte Carlo samples of the true entropy when it has no closed form (SE < 0.005 nats)
MIXTURE_TARGETS = ("ring", "grid", "two_moons", "spirals")  # the targets whose component std is a parameter
_HALF_LOG_2PI_E = 0.5 * math.log(2.0 * math.pi * math.e)


class DensityModel(Protocol):
    """What the metrics need from a model: an exact ``log_prob`` (n, d) -> (n,) (a Flow, or a Target itself)."""

    def log_prob(self, x: Tensor) -> Tensor: ...


# --------------------------------------------------------------------------------------------------------------------
# Targets and held-out data
# --------------------------------------------------------------------------------------------------------------------


def build_target(name: str, std: float | None = None) -> Target:
    """The registered target ``name``; ``std`` sets the component std of a Gaussian mixture (ring, grid, two_moons,
    spirals) and must be None for the other targets.

    >>> build_target("ring", 0.05).std
    0.05
    """
    if std is not None and name not in MIXTURE_TARGETS:
        raise ValueError(f"target {name!r} has no component std; std applies to {', '.join(MIXTURE_TARGETS)}")
    return make_target(name, **({"std": float(std)} if std is not None else {}))


def target_of(model: nn.Module) -> Target:
    """The target a flow was trained on, rebuilt from its config (``target`` and ``std`` fields of FlowConfig)."""
    config = getattr(model, "config", None)
    name = getattr(config, "target", None)
    if name is None:
        raise ValueError("this model's config records no target (config.target is None), so there is no exact "
                         "density to compare it with; pass the target explicitly")
    return build_target(name, getattr(config, "std", None))


def held_out(target: Target, n: int = TEST_N, seed: int = EVAL_SEED) -> Tensor:
    """Fresh test samples from ``target`` drawn with a fixed seed: (n, dim). Same seed, same samples."""
    return target.sample(n, generator=torch.Generator().manual_seed(seed))


def _device(model: Any) -> torch.device:
    """Where a model's parameters live (CPU for parameter-free models such as a Target)."""
    if isinstance(model, nn.Module):
        for p in model.parameters():
            return p.device
    return torch.device("cpu")


@contextmanager
def evaluating(model: Any) -> Iterator[Any]:
    """Put an ``nn.Module`` in eval mode (batch norm uses its running statistics) and restore its mode afterwards."""
    was_training = bool(getattr(model, "training", False))
    if isinstance(model, nn.Module):
        model.eval()
    try:
        yield model
    finally:
        if isinstance(model, nn.Module):
            model.train(was_training)


# --------------------------------------------------------------------------------------------------------------------
# Test NLL, true entropy, gap
# --------------------------------------------------------------------------------------------------------------------


@torch.no_grad()
def nll_stats(model: DensityModel, x: Tensor, batch_size: int = 50_000) -> tuple[float, float]:
    """Mean negative log-likelihood ``-(1/n) sum_i log q(x_i)`` in nats and its standard error ``std / sqrt(n)``.

    ``model`` is evaluated as it is (call it inside :func:`evaluating` for batch-norm flows). A non-finite log
    density (e.g. a test point outside a model's support) is an error, not a silently dropped point.
    """
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"x must be a batch of at least 2 points, shape (n, d); got {tuple(x.shape)}")
    device = _device(model)
    lp = torch.cat([model.log_prob(chunk.to(device)).double().cpu() for chunk in x.split(batch_size)])
    if not torch.isfinite(lp).all():
        bad = int((~torch.isfinite(lp)).sum())
        raise ValueError(f"the model gives a non-finite log-density to {bad} of {lp.numel()} test points")
    return float(-lp.mean()), float(lp.std() / math.sqrt(lp.numel()))


def true_entropy(target: Target, n: int = ENTROPY_N, seed: int = 0) -> tuple[float, float]:
    """The target's differential entropy ``H(p) = -E_p log p(x)`` in nats and its standard error.

    Exact (SE 0) when the target has a closed form (banana ``log(2 pi e s1 s2)``, checkerboard ``log area``, the 1-D
    targets); otherwise the Monte Carlo estimate ``Target.entropy_mc`` on ``n`` samples (SE < 0.005 nats at 10^6).
    """
    exact = getattr(target, "entropy", None)
    if callable(exact):
        return float(exact()), 0.0
    return target.entropy_mc(n=n, seed=seed)


@functools.lru_cache(maxsize=64)
def cached_true_entropy(name: str, std: float | None = None) -> tuple[float, float]:
    """:func:`true_entropy` of ``build_target(name, std)`` with the default n and seed, computed once per process."""
    return true_entropy(build_target(name, std))


@dataclass(frozen=True)
class LikelihoodReport:
    """Test NLL of a model on held-out target samples, the target's true entropy, and their gap (all nats)."""

    test_nll: float
    test_nll_se: float
    entropy: float
    entropy_se: float
    n_test: int

    @property
    def gap(self) -> float:
        """``test NLL - H(p)``, an estimate of ``KL(p || q) >= 0`` (slightly negative values are sampling noise)."""
        return self.test_nll - self.entropy

    @property
    def gap_se(self) -> float:
        """Standard error of the gap (the test NLL and the entropy use independent samples)."""
        return math.hypot(self.test_nll_se, self.entropy_se)

    def as_dict(self) -> dict[str, float]:
        """Flat metrics for model cards and JSON output."""
        return {"test_nll": self.test_nll, "test_nll_se": self.test_nll_se, "true_entropy": self.entropy,
                "true_entropy_se": self.entropy_se, "gap": self.gap, "gap_se": self.gap_se,
                "n_test": float(self.n_test)}


def likelihood_report(model: DensityModel, target: Target, n: int = TEST_N, seed: int = EVAL_SEED,
                      entropy: tuple[float, float] | None = None) -> LikelihoodReport:
    """Test NLL of ``model`` on ``n`` fresh samples of ``target`` (seed ``seed``), the true entropy and the gap.

    ``gap = test NLL - H(p)`` estimates ``KL(p || q)`` (EVALUATION.md, "Likelihood"; lecture notes 001, Ryu, SNU
    ch. 5). ``entropy``: a precomputed ``(H, SE)`` to reuse (e.g. :func:`cached_true_entropy`).
    """
    x = held_out(target, n, seed)
    with evaluating(model):
        nll, nll_se = nll_stats(model, x)
    h, h_se = entropy if entropy is not None else true_entropy(target)
    return LikelihoodReport(nll, nll_se, h, h_se, n)


@torch.no_grad()
def model_entropy(model: Any, n: int = 20_000, seed: int = EVAL_SEED) -> tuple[float, float]:
    """The model's own entropy ``H(q) = -E_q log q(x)`` estimated on its samples: the NLL of ``n`` samples
    ``x = f^{-1}(z)``, z ~ N(0, I), under the model, with its standard error.

    Sampling runs the inverse and ``log_prob`` the forward direction, so agreement with an exact entropy checks
    that the two are consistent. For a flow ``H(q) = H(N(0, I)) - E_q log |det df/dx|``.
    """
    with evaluating(model):
        x = model.sample(n, generator=torch.Generator(device=_device(model)).manual_seed(seed))
        return nll_stats(model, x)


# --------------------------------------------------------------------------------------------------------------------
# Densities on a grid (heatmaps)
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DensityGrid:
    """A function evaluated at the centres of a regular grid: ``values[i, j]`` at ``(xs[j], ys[i])``."""

    xs: np.ndarray  # (nx,) cell centres
    ys: np.ndarray  # (ny,)
    values: np.ndarray  # (ny, nx)

    @property
    def cell_area(self) -> float:
        """Area of one grid cell."""
        return float((self.xs[1] - self.xs[0]) * (self.ys[1] - self.ys[0]))

    @property
    def mass(self) -> float:
        """Midpoint-rule integral ``sum values * cell area`` (for a density: the probability inside the window)."""
        return float(self.values.sum() * self.cell_area)


def grid_points(bounds: Sequence[float], resolution: int) -> tuple[np.ndarray, np.ndarray, Tensor]:
    """Cell centres of a ``resolution x resolution`` grid over ``bounds = (xmin, xmax, ymin, ymax)``.

    Returns ``xs`` (nx,), ``ys`` (ny,) and the points (ny * nx, 2) in row-major order (y outer, x inner).
    """
    if len(bounds) != 4 or not (bounds[0] < bounds[1] and bounds[2] < bounds[3]):
        raise ValueError(f"bounds must be (xmin, xmax, ymin, ymax) with xmin < xmax and ymin < ymax, got {bounds}")
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 2:
        raise ValueError(f"resolution must be an integer >= 2, got {resolution!r}")
    hx = (bounds[1] - bounds[0]) / resolution
    hy = (bounds[3] - bounds[2]) / resolution
    xs = bounds[0] + hx * (np.arange(resolution) + 0.5)
    ys = bounds[2] + hy * (np.arange(resolution) + 0.5)
    gx, gy = np.meshgrid(xs, ys)  # (ny, nx) each
    points = torch.from_numpy(np.stack([gx.ravel(), gy.ravel()], axis=1)).float()
    return xs, ys, points


@torch.no_grad()
def density_grid(model: DensityModel, bounds: Sequence[float], resolution: int = 100) -> DensityGrid:
    """``p(x) = exp(log_prob(x))`` on a grid over ``bounds`` (zero where ``log_prob`` is -inf), for heatmaps.

    Works for a target and for a flow (call it inside :func:`evaluating` for batch-norm flows).
    """
    xs, ys, points = grid_points(bounds, resolution)
    log_p = model.log_prob(points.to(_device(model))).double().cpu()
    density = torch.exp(log_p).nan_to_num(nan=0.0, posinf=0.0).numpy().reshape(len(ys), len(xs))
    return DensityGrid(xs, ys, density)


def histogram_density(values: np.ndarray | Tensor, lo: float, hi: float,
                      bins: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Histogram scaled to a density: ``count_k / (n * width)`` on ``bins`` equal bins over [lo, hi].

    Points outside [lo, hi] are not counted but still count in n, so the bars integrate to the fraction inside.
    Returns the bin edges (bins + 1,) and the heights (bins,).
    """
    v = values.detach().cpu().numpy() if isinstance(values, Tensor) else np.asarray(values)
    v = v.reshape(-1)
    if v.size == 0:
        raise ValueError("cannot make a histogram of no values")
    if not lo < hi:
        raise ValueError(f"need lo < hi, got {lo} and {hi}")
    counts, edges = np.histogram(v, bins=bins, range=(lo, hi))
    return edges, counts / (v.size * (edges[1] - edges[0]))


# --------------------------------------------------------------------------------------------------------------------
# The film strip: a flow layer by layer, from the Gaussian to the data
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    """One stage of the film strip: points and grid lines after some of the inverse layers.

    ``logdet`` is the ``log |det J|`` of the block that produced this frame, in the forward (data -> latent)
    direction, evaluated over this frame's plane: ``log p`` just before the block = ``log p`` just after it +
    ``logdet``, so > 0 marks where the block *raises* the density (squeezes the samples together). None for the
    first frame (the Gaussian, produced by no layer).
    """

    title: str
    points: np.ndarray  # (n, 2)
    lines: list[np.ndarray]  # each (m, 2): a grid line of the latent space, pushed through the layers
    bounds: tuple[float, float, float, float]
    logdet: DensityGrid | None


_COUPLINGS = ("AdditiveCoupling", "AffineCoupling", "RationalQuadraticCoupling", "MonotoneTanh1D")
_SHORT_NAMES = {"AdditiveCoupling": "additive", "AffineCoupling": "affine", "RationalQuadraticCoupling": "spline",
                "BatchNormFlow": "batch norm", "DiagonalScaling": "scaling", "MonotoneTanh1D": "monotone"}


def _sub(k: int) -> str:
    """``k`` in Unicode subscript digits (f₁₂), for frame titles."""
    return str(k).translate(str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉"))


def flow_blocks(model: nn.Module) -> list[list[int]]:
    """Group a flow's layers into blocks of one coupling (or monotone) layer plus the normalisation / scaling
    layers that follow it, in data -> latent order: RealNVP's ``[coupling, batch norm]`` pairs, NICE's last
    coupling with its diagonal scaling. Returns lists of indices into ``model.layers``."""
    blocks: list[list[int]] = []
    for i, layer in enumerate(model.layers):
        if type(layer).__name__ in _COUPLINGS or not blocks:
            blocks.append([i])
        else:
            blocks[-1].append(i)
    return blocks


def _frame_bounds(points: np.ndarray, pad: float = 0.15) -> tuple[float, float, float, float]:
    """A window holding the central 99% of the points, padded by ``pad`` of its size on every side."""
    lo = np.quantile(points, 0.005, axis=0)
    hi = np.quantile(points, 0.995, axis=0)
    span = np.maximum(hi - lo, 1e-3)
    lo, hi = lo - pad * span, hi + pad * span
    return float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])


@torch.no_grad()
def film_strip(model: nn.Module, n_samples: int = 400, n_lines: int = 9, extent: float = 3.0, resolution: int = 40,
               seed: int = EVAL_SEED, data_bounds: Sequence[float] | None = None, line_points: int = 61) -> list[Frame]:
    """A 2-D flow layer by layer, from the Gaussian to the data: ``x = f_1^{-1}(... f_K^{-1}(z))``.

    Frame 0 holds z ~ N(0, I) (``n_samples`` points, seed ``seed``) and ``n_lines`` horizontal and vertical grid
    lines over [-extent, extent]^2 (``line_points`` points each); each next frame applies the inverse of one block
    (:func:`flow_blocks`) to both and carries that block's forward ``log |det J|`` on a ``resolution``^2 grid over
    the frame's window (the per-block terms sum to ``log p_X(x) - log p_Z(z)``, lecture notes 001, "Composing
    flows"). The last frame is the data space, drawn over ``data_bounds`` when given (the target's window).
    """
    if getattr(model, "dim", None) != 2:
        raise ValueError("the film strip draws 2-D flows; this flow has dim "
                         f"{getattr(model, 'dim', None)}")
    with evaluating(model):
        device = _device(model)
        gen = torch.Generator(device=device).manual_seed(seed)
        z = torch.randn(n_samples, 2, generator=gen, device=device)
        ticks = torch.linspace(-extent, extent, n_lines, device=device)
        along = torch.linspace(-extent - 0.5, extent + 0.5, line_points, device=device)
        lines = [torch.stack([t.expand_as(along), along], 1) for t in ticks]  # vertical lines x = t
        lines += [torch.stack([along, t.expand_as(along)], 1) for t in ticks]  # horizontal lines y = t
        n_pts = [n_samples] + [len(along)] * len(lines)
        h = torch.cat([z, *lines])  # everything travels together through the layers
        span = extent + 0.5
        frames = [Frame("z ~ N(0, I), a square grid", z.cpu().numpy(), [ln.cpu().numpy() for ln in lines],
                        (-span, span, -span, span), None)]
        blocks = flow_blocks(model)
        for b in range(len(blocks) - 1, -1, -1):
            for i in reversed(blocks[b]):
                h = model.layers[i].inverse(h)
            parts = h.split(n_pts)
            pts = parts[0].cpu().numpy()
            last = b == 0
            bounds = tuple(float(v) for v in data_bounds) if (last and data_bounds is not None) else _frame_bounds(pts)
            xs, ys, grid = grid_points(bounds, resolution)
            g, logdet = grid.to(device), torch.zeros(grid.shape[0], device=device, dtype=grid.dtype)
            for i in blocks[b]:
                g, ld = model.layers[i](g)
                logdet = logdet + ld
            names = " + ".join(_SHORT_NAMES.get(type(model.layers[i]).__name__, type(model.layers[i]).__name__)
                               for i in blocks[b])
            title = f"x = data, after f{_sub(b + 1)}⁻¹ ({names})" if last else f"after f{_sub(b + 1)}⁻¹ ({names})"
            frames.append(Frame(title, pts, [p.cpu().numpy() for p in parts[1:]], bounds,  # type: ignore[arg-type]
                                DensityGrid(xs, ys, logdet.double().cpu().numpy().reshape(len(ys), len(xs)))))
    return frames


# --------------------------------------------------------------------------------------------------------------------
# The 1-D panel: right and wrong change of variables
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Panel1D:
    """Everything the 1-D panel draws for a 1-D flow f on a 1-D target (lecture notes 001, "1D flow demonstration").

    ``right = p_Z(f(x)) |f'(x)|`` (the change of variables, integrates to 1) and ``wrong = p_Z(f(x))`` (forgets
    the factor |f'(x)|, notes 001: "This is wrong"); ``right_mass`` and ``wrong_mass`` are their integrals over a
    wide window, so the missing factor shows as a number too.
    """

    x: np.ndarray  # (m,) grid over the target's window
    f: np.ndarray  # (m,) f(x)
    right: np.ndarray  # (m,) p_Z(f(x)) |f'(x)|
    wrong: np.ndarray  # (m,) p_Z(f(x))
    true: np.ndarray  # (m,) the target density p(x)
    right_mass: float
    wrong_mass: float
    x_hist: tuple[np.ndarray, np.ndarray]  # (edges, heights) of samples x ~ p
    z_hist: tuple[np.ndarray, np.ndarray]  # (edges, heights) of z = f(x)
    z_grid: np.ndarray  # (k,) for the N(0, 1) curve
    z_pdf: np.ndarray  # (k,)


@torch.no_grad()
def flow_1d_panel(model: nn.Module, target: Target, n_samples: int = 5000, seed: int = EVAL_SEED,
                  resolution: int = 400, bins: int = 50) -> Panel1D:
    """Curves and histograms of the 1-D panel for a 1-D flow (``density_right`` / ``density_wrong`` of Flow).

    The masses are midpoint-rule integrals over a window 30 times wider than the target's, where both curves
    have decayed (f grows at least linearly, so p_Z(f(x)) has Gaussian tails).
    """
    if getattr(model, "dim", None) != 1 or target.dim != 1:
        raise ValueError("the 1-D panel needs a 1-D flow and a 1-D target")
    with evaluating(model):
        device = _device(model)
        lo, hi = float(target.bounds[0]), float(target.bounds[1])
        x = torch.linspace(lo, hi, resolution, dtype=torch.float64)
        xd = x[:, None].to(device=device, dtype=torch.float32)
        f, _ = model.transform(xd)
        right = model.density_right(xd).double().cpu()
        wrong = model.density_wrong(xd).double().cpu()
        true = target.log_prob(x).exp()
        centre, half = 0.5 * (lo + hi), 15.0 * (hi - lo)
        step = (2 * half) / 60_000
        wide = (centre - half + step * (torch.arange(60_000, dtype=torch.float64) + 0.5))[:, None]
        wide = wide.to(device=device, dtype=torch.float32)
        right_mass = float(model.density_right(wide).double().sum() * step)
        wrong_mass = float(model.density_wrong(wide).double().sum() * step)
        samples = target.sample(n_samples, generator=torch.Generator().manual_seed(seed))
        z, _ = model.transform(samples.to(device))
        z_grid = np.linspace(-4.0, 4.0, 201)
        return Panel1D(
            x=x.numpy(), f=f[:, 0].double().cpu().numpy(), right=right.numpy(), wrong=wrong.numpy(),
            true=true.numpy(), right_mass=right_mass, wrong_mass=wrong_mass,
            x_hist=histogram_density(samples, lo, hi, bins), z_hist=histogram_density(z, -4.0, 4.0, bins),
            z_grid=z_grid, z_pdf=np.exp(-0.5 * z_grid**2 - 0.5 * math.log(2 * math.pi)),
        )


# --------------------------------------------------------------------------------------------------------------------
# Live training: one snapshot of the model
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FlowSnapshot:
    """What a live-training update shows: held-out NLL, the learned density on a grid, and model samples."""

    test_nll: float
    test_nll_se: float
    density: DensityGrid
    samples: np.ndarray  # (n, d)


@torch.no_grad()
def snapshot(model: Any, test_x: Tensor, bounds: Sequence[float], resolution: int = 80, n_samples: int = 1000,
             seed: int = EVAL_SEED) -> FlowSnapshot:
    """Evaluate a model mid-training in eval mode (restoring its mode after): NLL on ``test_x`` (fixed held-out
    samples), ``p(x)`` on a grid over ``bounds`` and ``n_samples`` samples (seed ``seed``, so successive snapshots
    move the same latent points)."""
    with evaluating(model):
        nll, se = nll_stats(model, test_x)
        grid = density_grid(model, bounds, resolution)
        samples = model.sample(n_samples, generator=torch.Generator(device=_device(model)).manual_seed(seed))
    return FlowSnapshot(nll, se, grid, samples.cpu().numpy())
