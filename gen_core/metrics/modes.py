"""Mode coverage and sample quality of 2-D generators (EVALUATION.md, "Mode coverage on 2D mixtures").

The VEEGAN / PacGAN protocol: draw 2,500 generator samples; a sample is *high quality* if it lies within 3 std of
its nearest mode centre; a mode is *captured* if at least one high-quality sample is nearest to it. Report the
number of modes captured and the percentage of high-quality samples, averaged over seeds.

    >>> from gen_core.data.toy2d import Ring
    >>> ring = Ring()
    >>> report = mode_report(ring.sample(2500, torch.Generator().manual_seed(0)), ring.mode_centres, ring.std)
    >>> report.modes, round(report.high_quality_pct)
    (8, 99)

For samples of the target itself the expected high-quality fraction is the 2-D Gaussian mass within 3 std,
``P(chi^2_2 <= 9) = 1 - exp(-9/2) = 98.89%`` (the modes are far apart, so the nearest centre is the own one).

Also here: KL and Jensen-Shannon divergences between the 2-D histograms of real and generated samples (a
distribution-level view that also sees mass in the wrong proportions), with additive smoothing so that empty bins
do not make them infinite.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import Tensor

__all__ = [
    "N_SAMPLES",
    "HQ_STD",
    "ModeReport",
    "nearest_mode",
    "mode_report",
    "histogram2d",
    "kl_divergence",
    "js_divergence",
    "histogram_divergences",
    "expected_high_quality_fraction",
]

N_SAMPLES = 2500     # generator samples per evaluation (VEEGAN / PacGAN protocol)
HQ_STD = 3.0         # a sample is high quality within this many std of its nearest mode


@dataclass(frozen=True)
class ModeReport:
    """Modes captured (out of ``n_modes``), % high-quality samples, and per-mode counts of HQ samples."""

    modes: int
    n_modes: int
    high_quality_pct: float
    counts: tuple[int, ...]      # high-quality samples nearest to each mode, (n_modes,)

    def as_dict(self) -> dict[str, float]:
        """``{"modes": ..., "n_modes": ..., "high_quality_pct": ...}`` as floats (for events and cards)."""
        d = asdict(self)
        d.pop("counts")
        return {k: float(v) for k, v in d.items()}


def nearest_mode(x: Tensor, centres: Tensor) -> tuple[Tensor, Tensor]:
    """Index of the nearest centre and the Euclidean distance to it for every sample: (n, 2), (K, 2) -> (n,), (n,)."""
    if x.ndim != 2 or centres.ndim != 2 or x.shape[1] != centres.shape[1]:
        raise ValueError(f"x (n, d) and centres (K, d) must agree in d, got {tuple(x.shape)} and {tuple(centres.shape)}")
    d = torch.cdist(x.double(), centres.double())   # (n, K)
    dist, idx = d.min(dim=1)
    return idx, dist


def mode_report(samples: Tensor, centres: Tensor, std: float, hq_std: float = HQ_STD) -> ModeReport:
    """Modes captured and % high-quality samples (EVALUATION.md): HQ if within ``hq_std * std`` of the nearest
    centre; a mode is captured if at least one HQ sample is nearest to it. Non-finite samples count as low quality.

    Args:
        samples: (n, 2) generator samples (the protocol uses n = 2,500).
        centres: (K, 2) mode centres (``target.mode_centres``).
        std: the components' standard deviation (``target.std``).
    """
    if not (math.isfinite(std) and std > 0):
        raise ValueError(f"std must be a positive number, got {std!r}")
    if samples.shape[0] == 0:
        raise ValueError("mode_report needs at least one sample")
    samples = samples.detach().cpu()
    finite = torch.isfinite(samples).all(dim=1)
    idx, dist = nearest_mode(torch.where(finite[:, None], samples, torch.zeros_like(samples)), centres.cpu())
    hq = finite & (dist <= hq_std * std)
    counts = torch.bincount(idx[hq], minlength=centres.shape[0])
    return ModeReport(modes=int((counts > 0).sum()), n_modes=int(centres.shape[0]),
                      high_quality_pct=100.0 * float(hq.double().mean()), counts=tuple(int(c) for c in counts))


def expected_high_quality_fraction(hq_std: float = HQ_STD) -> float:
    """Mass of an isotropic 2-D Gaussian within ``hq_std`` std of its mean: ``1 - exp(-hq_std^2 / 2)``
    (the squared radius is chi-squared with 2 degrees of freedom). 0.98889 for 3 std."""
    return 1.0 - math.exp(-0.5 * hq_std * hq_std)


def histogram2d(x: Tensor, bounds: tuple[float, float, float, float], bins: int = 50) -> Tensor:
    """Counts of 2-D samples on a ``bins x bins`` grid over ``bounds = (xmin, xmax, ymin, ymax)``; samples outside
    the window (or non-finite) are dropped. Returns (bins, bins) float64, indexed [x bin, y bin]."""
    xmin, xmax, ymin, ymax = bounds
    if not (xmax > xmin and ymax > ymin):
        raise ValueError(f"bounds must satisfy xmin < xmax and ymin < ymax, got {bounds}")
    x = x.detach().double().cpu()
    ix = torch.floor((x[:, 0] - xmin) / (xmax - xmin) * bins)
    iy = torch.floor((x[:, 1] - ymin) / (ymax - ymin) * bins)
    ok = torch.isfinite(ix) & torch.isfinite(iy) & (ix >= 0) & (ix < bins) & (iy >= 0) & (iy < bins)
    flat = (ix[ok] * bins + iy[ok]).long()
    return torch.bincount(flat, minlength=bins * bins).double().reshape(bins, bins)


def _normalise(counts: Tensor, smoothing: float) -> Tensor:
    p = counts.double().flatten() + smoothing
    total = p.sum()
    if total <= 0:
        raise ValueError("a histogram with no mass cannot be normalised; add smoothing > 0")
    return p / total


def kl_divergence(p_counts: Tensor, q_counts: Tensor, smoothing: float = 0.5) -> float:
    """``KL(p || q) = sum_i p_i log(p_i / q_i)`` in nats between two histograms of the same shape, each normalised
    after adding ``smoothing`` to every bin (so an empty generated bin does not make the divergence infinite)."""
    if p_counts.shape != q_counts.shape:
        raise ValueError(f"histograms must have the same shape, got {tuple(p_counts.shape)} and {tuple(q_counts.shape)}")
    p, q = _normalise(p_counts, smoothing), _normalise(q_counts, smoothing)
    nz = p > 0
    return float((p[nz] * (p[nz].log() - q[nz].log())).sum())


def js_divergence(p_counts: Tensor, q_counts: Tensor, smoothing: float = 0.0) -> float:
    """``JSD(p || q) = 0.5 KL(p || m) + 0.5 KL(q || m)``, m = (p + q) / 2, in nats, in [0, log 2]
    (MODELS.md: the 0.5 convention). Finite without smoothing, since m > 0 wherever p or q is."""
    if p_counts.shape != q_counts.shape:
        raise ValueError(f"histograms must have the same shape, got {tuple(p_counts.shape)} and {tuple(q_counts.shape)}")
    p, q = _normalise(p_counts, smoothing), _normalise(q_counts, smoothing)
    m = 0.5 * (p + q)

    def kl_to_m(a: Tensor) -> Tensor:
        nz = a > 0
        return (a[nz] * (a[nz].log() - m[nz].log())).sum()

    return float(0.5 * kl_to_m(p) + 0.5 * kl_to_m(q))


def histogram_divergences(real: Tensor, fake: Tensor, bounds: tuple[float, float, float, float],
                          bins: int = 50) -> dict[str, float]:
    """KL(real || fake), KL(fake || real) and JSD between the 2-D histograms of real and generated samples, nats.

    Forward KL punishes missing modes (mode covering), reverse KL punishes mass where the data has none (mode
    seeking) (MODELS.md, "Divergences worth showing").
    """
    hr, hf = histogram2d(real, bounds, bins), histogram2d(fake, bounds, bins)
    return {"kl_real_fake": kl_divergence(hr, hf), "kl_fake_real": kl_divergence(hf, hr), "js": js_divergence(hr, hf)}
