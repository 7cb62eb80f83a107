"""Normalizing flows, all of them in this single file: a 1-D monotone flow, NICE, RealNVP and a neural spline flow.

A flow is an invertible, differentiable map ``z = f(x)`` from data to a latent ``z ~ N(0, I)``. By the change of
variables formula (lecture notes 001, Ryu, SNU ch. 5; MODELS.md)

    log p_X(x) = log p_Z(f(x)) + log |det df/dx (x)|,

and ``p_Z(f(x))`` alone is *wrong*: it forgets how f stretches volume. Composing layers ``f = f_K o ... o f_1`` adds
their log-determinants, ``log |det df/dx| = sum_k log |det df_k/dh_{k-1}|``. Sampling runs the inverse:
``x = f^{-1}(z)``, z ~ N(0, I).

Every layer is an ``nn.Module`` with ``forward(x) -> (z, logdet)`` (data -> latent, logdet of shape (B,)) and
``inverse(z) -> x``. The layers:

- ``MonotoneTanh1D``: ``f(x) = a x + b + sum_k w_k tanh(s_k x + c_k)`` with a, w_k, s_k > 0, so f' > 0 (1-D demo).
- ``AdditiveCoupling`` (NICE, Dinh et al. 2015): ``z_B = x_B + t(x_A)``, log det = 0.
- ``DiagonalScaling`` (NICE's last layer): ``z = exp(s) * x``, log det = sum s.
- ``AffineCoupling`` (RealNVP, Dinh et al. 2017): ``z_B = exp(s(x_A)) * x_B + t(x_A)``, log det = sum s(x_A).
- ``BatchNormFlow`` (RealNVP's batch norm, no affine parameters): log det = -0.5 sum log(var + eps).
- ``RationalQuadraticCoupling`` (neural spline flows, Durkan et al. 2019): monotone rational-quadratic splines.

``Flow(FlowConfig(...))`` stacks them and is a distribution (STYLE.md 4):

    >>> flow = Flow(FlowConfig(flow="realnvp", dim=2, n_layers=4, hidden=32))
    >>> x = torch.randn(16, 2)
    >>> flow.log_prob(x).shape, flow.sample(5).shape
    (torch.Size([16]), torch.Size([5, 2]))
    >>> loss = flow(x)["loss"]    # -log_prob(x).mean(), minimised by the shared training loop

References:
    Lecture notes 001 (Ryu, SNU ch. 5): change of variables, 1-D flows, coupling flows, NICE, RealNVP, batch norm.
    L. Dinh, D. Krueger, Y. Bengio. NICE: Non-linear independent components estimation. ICLR Workshop 2015.
    L. Dinh, J. Sohl-Dickstein, S. Bengio. Density estimation using Real NVP. ICLR 2017.
    C. Durkan, A. Bekasov, I. Murray, G. Papamakarios. Neural spline flows. NeurIPS 2019.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gen_core.hub import HubModule

__all__ = [
    "FlowConfig",
    "Flow",
    "MonotoneTanh1D",
    "AdditiveCoupling",
    "DiagonalScaling",
    "AffineCoupling",
    "BatchNormFlow",
    "RationalQuadraticCoupling",
    "rational_quadratic_spline",
    "standard_normal_log_prob",
]

LOG_2PI = math.log(2.0 * math.pi)
FLOW_TYPES = ("nice", "realnvp", "spline", "monotone1d")


# --------------------------------------------------------------------------------------------------------------------
# Config
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class FlowConfig:
    """Configuration of a ``Flow``; every field is JSON-serialisable (saved as config.json)."""

    model_type: str = "flow"
    flow: Literal["nice", "realnvp", "spline", "monotone1d"] = "realnvp"
    dim: int = 2  # data dimension; monotone1d needs 1, the coupling flows need >= 2
    # Coupling layers (or monotone layers for monotone1d). Masks alternate, so each half of x is transformed
    # n_layers / 2 times; 8 is plenty for the 2-D toy targets.
    n_layers: int = 8
    hidden: int = 128  # width of each coupling MLP; for monotone1d, the number of tanh units per layer
    depth: int = 2  # hidden layers in each coupling MLP (small and fast on CPU)
    # RealNVP's batch norm between coupling layers. None picks the family's default: "batchnorm" for realnvp,
    # "none" for the others.
    norm: Literal["none", "batchnorm"] | None = None
    bn_momentum: float = 0.9  # rho in the notes' running update mu <- rho mu + (1 - rho) mu_batch
    bn_eps: float = 1e-4  # eps in (x - mu) / sqrt(var + eps); keeps the log-det finite for near-constant batches
    # RealNVP: s = scale_clamp * tanh(s_raw / scale_clamp), a soft clamp (as in Glow / nflows practice) that keeps
    # exp(s) within [e^-3, e^3] per layer so early training cannot blow up; the log-det is still exactly sum s.
    scale_clamp: float = 3.0
    n_bins: int = 8  # spline: number of rational-quadratic bins K
    tail_bound: float = 5.0  # spline: splines act on [-B, B], identity outside (linear tails, Durkan et al.)
    # The toy target the flow was trained on (a name in gen_core.data.toy2d's registry) and, for the Gaussian
    # mixtures (ring, grid, two_moons, spirals), its component std. Recorded so that `gen_core eval` and the UI
    # rebuild exactly the density the flow is compared with; None for a flow not tied to a registered target.
    target: str | None = None
    std: float | None = None

    def __post_init__(self) -> None:
        if self.flow not in FLOW_TYPES:
            raise ValueError(f"unknown flow {self.flow!r}; choose one of {', '.join(FLOW_TYPES)}")
        if self.norm not in (None, "none", "batchnorm"):
            raise ValueError(f"norm must be None, 'none' or 'batchnorm', got {self.norm!r}")
        for name in ("dim", "n_layers", "hidden", "depth", "n_bins"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.flow == "monotone1d" and self.dim != 1:
            raise ValueError(f"the monotone1d flow is one-dimensional: set dim=1, got dim={self.dim}")
        if self.flow != "monotone1d" and self.dim < 2:
            raise ValueError(f"coupling flows ({self.flow}) need dim >= 2 to split x in two halves, got {self.dim}")
        for name in ("bn_eps", "scale_clamp", "tail_bound"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)!r}")
        if not 0.0 <= self.bn_momentum < 1.0:
            raise ValueError(f"bn_momentum must be in [0, 1), got {self.bn_momentum!r}")
        if self.target is not None and not (isinstance(self.target, str) and self.target):
            raise ValueError(f"target must be a target name such as 'ring' or None, got {self.target!r}")
        if self.std is not None and not (isinstance(self.std, (int, float)) and not isinstance(self.std, bool)
                                         and math.isfinite(self.std) and self.std > 0):
            raise ValueError(f"std (the target's component std) must be a positive number or None, got {self.std!r}")

    @property
    def resolved_norm(self) -> str:
        """The normalisation actually used: ``norm``, or the family default when ``norm`` is None."""
        if self.norm is not None:
            return self.norm
        return "batchnorm" if self.flow == "realnvp" else "none"


# --------------------------------------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------------------------------------


def standard_normal_log_prob(z: Tensor) -> Tensor:
    """``log N(z; 0, I) = -0.5 ||z||^2 - (d/2) log(2 pi)``, (B, d) -> (B,)."""
    return -0.5 * (z * z).sum(dim=1) - 0.5 * z.shape[1] * LOG_2PI


def _check_dim(x: Tensor, dim: int) -> None:
    """Raise a clear error for inputs that are not (B, dim)."""
    if x.ndim != 2 or x.shape[1] != dim:
        raise ValueError(f"expected a batch of shape (B, {dim}), got {tuple(x.shape)}")


def _mlp(n_in: int, n_out: int, hidden: int, depth: int) -> nn.Sequential:
    """MLP with SiLU activations whose last layer is zero, so a coupling layer built on it starts as the identity."""
    layers: list[nn.Module] = []
    width = n_in
    for _ in range(depth):
        layers += [nn.Linear(width, hidden), nn.SiLU()]
        width = hidden
    last = nn.Linear(width, n_out)
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
    layers.append(last)
    return nn.Sequential(*layers)


class _Coupling(nn.Module):
    """Shared bookkeeping of coupling layers (notes 001, "Coupling flows"): ``z = (x_A, f_hat(x_B | psi(x_A)))``.

    ``parity`` chooses the split: x_A holds the coordinates with index % 2 == parity (kept), x_B the others
    (transformed). Alternating the parity between layers lets every coordinate be transformed.
    The Jacobian is block triangular, so ``det df/dx = det df_hat/dx_B``.
    """

    def __init__(self, dim: int, parity: int, n_params_per_dim: int, hidden: int, depth: int) -> None:
        super().__init__()
        idx = torch.arange(dim)
        idx_a, idx_b = idx[idx % 2 == parity], idx[idx % 2 != parity]
        self.register_buffer("idx_a", idx_a, persistent=False)
        self.register_buffer("idx_b", idx_b, persistent=False)
        self.register_buffer("perm_inv", torch.argsort(torch.cat([idx_a, idx_b])), persistent=False)
        self.n_params_per_dim = n_params_per_dim
        self.net = _mlp(len(idx_a), len(idx_b) * n_params_per_dim, hidden, depth)

    def _split(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Return x_A (B, |A|), x_B (B, |B|) and the conditioner output psi(x_A) (B, |B|, n_params_per_dim)."""
        x_a, x_b = x[:, self.idx_a], x[:, self.idx_b]
        psi = self.net(x_a).view(x.shape[0], len(self.idx_b), self.n_params_per_dim)
        return x_a, x_b, psi

    def _merge(self, x_a: Tensor, y_b: Tensor) -> Tensor:
        """Put the kept and transformed halves back in the original coordinate order."""
        return torch.cat([x_a, y_b], dim=1)[:, self.perm_inv]

    def extra_repr(self) -> str:
        return f"keeps {self.idx_a.tolist()}, transforms {self.idx_b.tolist()}"


class AdditiveCoupling(_Coupling):
    """NICE additive coupling (notes 001; Dinh et al. 2015): ``z_A = x_A``, ``z_B = x_B + t(x_A)``.

    Inverse ``x_B = z_B - t(z_A)``; the Jacobian is unit lower triangular, so ``log |det| = 0``.
    """

    def __init__(self, dim: int, parity: int, hidden: int = 128, depth: int = 2) -> None:
        super().__init__(dim, parity, 1, hidden, depth)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(B, d) -> z (B, d), logdet (B,) of zeros."""
        x_a, x_b, t = self._split(x)
        return self._merge(x_a, x_b + t[..., 0]), x.new_zeros(x.shape[0])

    def inverse(self, z: Tensor) -> Tensor:
        """``x_B = z_B - t(z_A)``."""
        z_a, z_b, t = self._split(z)
        return self._merge(z_a, z_b - t[..., 0])


class DiagonalScaling(nn.Module):
    """NICE's final diagonal scaling layer: ``z = exp(s) * x``, ``log |det| = sum_i s_i``.

    Dinh et al. 2015, "Allowing rescaling". Additive couplings preserve volume; this layer lets NICE change it. ``s`` starts at 0 (the identity).
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.log_scale = nn.Parameter(torch.zeros(dim))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(B, d) -> z (B, d), logdet (B,)."""
        return x * self.log_scale.exp(), self.log_scale.sum().expand(x.shape[0])

    def inverse(self, z: Tensor) -> Tensor:
        """``x = exp(-s) * z``."""
        return z * torch.exp(-self.log_scale)


class AffineCoupling(_Coupling):
    """RealNVP affine coupling (notes 001; Dinh et al. 2017): ``z_A = x_A``, ``z_B = exp(s(x_A)) * x_B + t(x_A)``.

    Inverse ``x_B = (z_B - t(z_A)) * exp(-s(z_A))``; ``log |det df/dx| = sum_j s_j(x_A)``.
    ``s`` is soft-clamped, ``s = c tanh(s_raw / c)`` (``FlowConfig.scale_clamp``), for stable training.
    """

    def __init__(self, dim: int, parity: int, hidden: int = 128, depth: int = 2, scale_clamp: float = 3.0) -> None:
        super().__init__(dim, parity, 2, hidden, depth)
        self.scale_clamp = scale_clamp

    def _scale_shift(self, psi: Tensor) -> tuple[Tensor, Tensor]:
        s = self.scale_clamp * torch.tanh(psi[..., 0] / self.scale_clamp)
        return s, psi[..., 1]

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(B, d) -> z (B, d), logdet (B,)."""
        x_a, x_b, psi = self._split(x)
        s, t = self._scale_shift(psi)
        return self._merge(x_a, x_b * s.exp() + t), s.sum(dim=1)

    def inverse(self, z: Tensor) -> Tensor:
        """``x_B = (z_B - t) * exp(-s)``."""
        z_a, z_b, psi = self._split(z)
        s, t = self._scale_shift(psi)
        return self._merge(z_a, (z_b - t) * torch.exp(-s))


class BatchNormFlow(nn.Module):
    """RealNVP's batch normalisation without affine parameters (notes 001, "Batch normalization").

    ``z = (x - mu) / sqrt(var + eps)``, ``log |det| = -0.5 sum_i log(var_i + eps)``.
    Train mode uses the batch statistics (gradients flow through them) and updates the running ones,
    ``mu <- rho mu + (1 - rho) mu_batch``, ``var <- rho var + (1 - rho) var_batch``; eval mode uses the running
    statistics, and then the layer is an exact per-sample bijection. ``inverse`` always uses the running
    statistics (there is no batch of x to take them from), so in train mode it inverts the eval-mode map.
    """

    def __init__(self, dim: int, momentum: float = 0.9, eps: float = 1e-4) -> None:
        super().__init__()
        self.momentum, self.eps = momentum, eps
        self.register_buffer("running_mean", torch.zeros(dim))
        self.register_buffer("running_var", torch.ones(dim))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(B, d) -> z (B, d), logdet (B,)."""
        if self.training:
            if x.shape[0] < 2:
                raise ValueError("BatchNormFlow in train mode needs a batch of at least 2; call .eval() first")
            mean, var = x.mean(dim=0), x.var(dim=0, unbiased=False)
            with torch.no_grad():
                self.running_mean.mul_(self.momentum).add_((1 - self.momentum) * mean)
                self.running_var.mul_(self.momentum).add_((1 - self.momentum) * var)
        else:
            mean, var = self.running_mean, self.running_var
        z = (x - mean) * torch.rsqrt(var + self.eps)
        logdet = -0.5 * torch.log(var + self.eps).sum()
        return z, logdet.expand(x.shape[0])

    def inverse(self, z: Tensor) -> Tensor:
        """``x = z * sqrt(var + eps) + mu`` with the running statistics."""
        return z * torch.sqrt(self.running_var + self.eps) + self.running_mean


def rational_quadratic_spline(
    x: Tensor,
    raw_widths: Tensor,
    raw_heights: Tensor,
    raw_derivatives: Tensor,
    tail_bound: float,
    inverse: bool = False,
    min_bin_width: float = 1e-3,
    min_bin_height: float = 1e-3,
    min_derivative: float = 1e-3,
) -> tuple[Tensor, Tensor]:
    """Monotone rational-quadratic spline on [-B, B] with identity (linear) tails (Durkan et al. 2019).

    In bin k with knots (x_k, y_k), width w_k, height h_k, slope s_k = h_k / w_k, knot derivatives d_k, d_{k+1},
    and xi = (x - x_k) / w_k in [0, 1]:

        g(x)  = y_k + h_k [s_k xi^2 + d_k xi (1 - xi)] / [s_k + (d_{k+1} + d_k - 2 s_k) xi (1 - xi)]
        g'(x) = s_k^2 [d_{k+1} xi^2 + 2 s_k xi (1 - xi) + d_k (1 - xi)^2] / [s_k + (d_{k+1} + d_k - 2 s_k) xi(1-xi)]^2

    The inverse solves the quadratic ``a xi^2 + b xi + c = 0`` for xi in bin k (Durkan et al. 2019) with the
    numerically stable root ``xi = 2c / (-b - sqrt(b^2 - 4ac))``. Widths and heights come from a softmax, the
    inner derivatives from ``min_derivative + softplus(raw + log(e^{1 - min_derivative} - 1))`` (so raw = 0 gives
    derivative 1: zero raw parameters make g the identity), and the boundary derivatives are 1 to match the tails.

    Args:
        x: inputs (...,); raw_widths, raw_heights: (..., K); raw_derivatives: (..., K - 1).
        tail_bound: B. inverse: evaluate g^{-1} instead of g.

    Returns:
        (y, log |dy/dx|) both (...,): for ``inverse=True``, y = g^{-1}(x) and the log-derivative of g^{-1}.
    """
    n_bins = raw_widths.shape[-1]
    inside = (x >= -tail_bound) & (x <= tail_bound)
    xc = x.clamp(-tail_bound, tail_bound)  # evaluate the spline on clamped inputs: no NaNs leak from the tails

    def knots(raw: Tensor, min_size: float) -> tuple[Tensor, Tensor]:
        """Bin sizes >= min_size from a softmax, and their cumulative knot positions on [-B, B]."""
        sizes = min_size + (1 - min_size * n_bins) * torch.softmax(raw, dim=-1)
        cum = F.pad(torch.cumsum(sizes, dim=-1), (1, 0), value=0.0)
        cum = 2 * tail_bound * cum - tail_bound
        cum = torch.cat([torch.full_like(cum[..., :1], -tail_bound), cum[..., 1:-1],
                         torch.full_like(cum[..., :1], tail_bound)], dim=-1)
        return cum, cum[..., 1:] - cum[..., :-1]  # knots (..., K + 1), sizes (..., K)

    cum_w, widths = knots(raw_widths, min_bin_width)
    cum_h, heights = knots(raw_heights, min_bin_height)
    shift = math.log(math.expm1(1 - min_derivative))
    inner = min_derivative + F.softplus(raw_derivatives + shift)
    derivs = F.pad(inner, (1, 1), value=1.0)  # (..., K + 1), boundary derivatives 1

    search = cum_h if inverse else cum_w
    k = (torch.searchsorted(search.contiguous(), xc[..., None].contiguous(), right=True) - 1).clamp(0, n_bins - 1)

    def pick(t: Tensor) -> Tensor:
        """The entry of bin k (per element) from a (..., K) or (..., K + 1) tensor."""
        return t.gather(-1, k)[..., 0]

    x_k, w_k, y_k, h_k = pick(cum_w), pick(widths), pick(cum_h), pick(heights)
    d_k, d_k1 = pick(derivs[..., :-1]), pick(derivs[..., 1:])
    s_k = h_k / w_k

    if inverse:
        dy = xc - y_k
        a = h_k * (s_k - d_k) + dy * (d_k1 + d_k - 2 * s_k)
        b = h_k * d_k - dy * (d_k1 + d_k - 2 * s_k)
        c = -s_k * dy
        disc = (b * b - 4 * a * c).clamp_min(0.0)
        xi = (2 * c / (-b - torch.sqrt(disc))).clamp(0.0, 1.0)
        y = xi * w_k + x_k
    else:
        xi = ((xc - x_k) / w_k).clamp(0.0, 1.0)
        y = y_k + h_k * (s_k * xi**2 + d_k * xi * (1 - xi)) / (s_k + (d_k1 + d_k - 2 * s_k) * xi * (1 - xi))

    one_m = 1 - xi
    denom = s_k + (d_k1 + d_k - 2 * s_k) * xi * one_m
    log_deriv = (2 * torch.log(s_k) + torch.log(d_k1 * xi**2 + 2 * s_k * xi * one_m + d_k * one_m**2)
                 - 2 * torch.log(denom))  # log g'(x) at the (forward-side) point
    if inverse:
        log_deriv = -log_deriv
    return torch.where(inside, y, x), torch.where(inside, log_deriv, torch.zeros_like(log_deriv))


class RationalQuadraticCoupling(_Coupling):
    """Rational-quadratic spline coupling (neural spline flows, Durkan et al. 2019): ``z_B = g(x_B | psi(x_A))``.

    Each coordinate of x_B passes through its own monotone spline with K bins whose widths, heights and inner
    knot derivatives (3K - 1 numbers) come from an MLP of x_A; ``log |det| = sum_j log g_j'(x_Bj)``.
    A zero last layer gives equal bins and unit derivatives, i.e. the identity.
    """

    def __init__(
        self, dim: int, parity: int, hidden: int = 128, depth: int = 2, n_bins: int = 8, tail_bound: float = 5.0
    ) -> None:
        super().__init__(dim, parity, 3 * n_bins - 1, hidden, depth)
        self.n_bins, self.tail_bound = n_bins, tail_bound

    def _spline(self, v: Tensor, psi: Tensor, inverse: bool) -> tuple[Tensor, Tensor]:
        k = self.n_bins
        return rational_quadratic_spline(
            v, psi[..., :k], psi[..., k: 2 * k], psi[..., 2 * k:], self.tail_bound, inverse=inverse
        )

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(B, d) -> z (B, d), logdet (B,)."""
        x_a, x_b, psi = self._split(x)
        z_b, log_deriv = self._spline(x_b, psi, inverse=False)
        return self._merge(x_a, z_b), log_deriv.sum(dim=1)

    def inverse(self, z: Tensor) -> Tensor:
        """``x_B = g^{-1}(z_B | psi(z_A))`` (exact, by the quadratic formula)."""
        z_a, z_b, psi = self._split(z)
        x_b, _ = self._spline(z_b, psi, inverse=True)
        return self._merge(z_a, x_b)


class MonotoneTanh1D(nn.Module):
    """1-D monotone flow layer (lecture notes 001, "1D flow demonstration").

    ``f(x) = a x + b + sum_k w_k tanh(s_k x + c_k)`` with ``a, w_k, s_k = softplus(.) > 0``, so
    ``f'(x) = a + sum_k w_k s_k (1 - tanh^2(s_k x + c_k)) >= a > 0``: f is strictly increasing, hence invertible,
    and ``log f'(x)`` is exact. f grows linearly at +-infinity, so every z has a preimage in
    ``[(z - b - W) / a, (z - b + W) / a]``, W = sum_k w_k, where ``inverse`` finds it by vectorised bisection
    (tolerance 1e-6) and one final Newton step that also gives exact implicit gradients.

    Initialisation: a = 1, b = 0, s_k = 1, the tanh centres -c_k / s_k spread over [-3, 3] and w_k = 1 / K, a mild
    monotone perturbation of the identity from which training moves quickly.
    """

    def __init__(self, n_units: int = 16, tol: float = 1e-6) -> None:
        super().__init__()
        inv_softplus_one = math.log(math.expm1(1.0))
        self.raw_a = nn.Parameter(torch.tensor(inv_softplus_one))
        self.b = nn.Parameter(torch.tensor(0.0))
        self.raw_w = nn.Parameter(torch.full((n_units,), math.log(math.expm1(1.0 / n_units))))
        self.raw_s = nn.Parameter(torch.full((n_units,), inv_softplus_one))
        self.c = nn.Parameter(-torch.linspace(-3.0, 3.0, n_units))
        self.tol = tol

    def _coefficients(self) -> tuple[Tensor, Tensor, Tensor]:
        return F.softplus(self.raw_a), F.softplus(self.raw_w), F.softplus(self.raw_s)

    def _f_and_log_df(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x (B,) -> f(x) (B,), log f'(x) (B,)."""
        a, w, s = (t.to(x.dtype) for t in self._coefficients())
        u = torch.tanh(x[:, None] * s + self.c.to(x.dtype))  # (B, K)
        f = a * x + self.b.to(x.dtype) + (w * u).sum(dim=1)
        df = a + (w * s * (1 - u * u)).sum(dim=1)
        return f, torch.log(df)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(B, 1) -> z (B, 1), logdet = log f'(x) (B,)."""
        _check_dim(x, 1)
        f, log_df = self._f_and_log_df(x[:, 0])
        return f[:, None], log_df

    def inverse(self, z: Tensor) -> Tensor:
        """Solve f(x) = z by bisection in float64, then one Newton step (differentiable in z and the parameters)."""
        _check_dim(z, 1)
        target = z[:, 0]
        with torch.no_grad():
            a, w, _ = self._coefficients()
            t = target.double()
            width_total = float(w.sum())
            lo = (t - float(self.b) - width_total) / float(a)
            hi = (t - float(self.b) + width_total) / float(a)
            n_iter = max(1, math.ceil(math.log2(max(2 * width_total / float(a), self.tol) / (0.1 * self.tol))))
            for _ in range(min(n_iter, 200)):
                mid = 0.5 * (lo + hi)
                f_mid, _ = self._f_and_log_df(mid)
                above = f_mid > t
                hi = torch.where(above, mid, hi)
                lo = torch.where(above, lo, mid)
            x_star = (0.5 * (lo + hi)).to(z.dtype)
        f, log_df = self._f_and_log_df(x_star)
        x = x_star - (f - target) / log_df.exp()  # Newton step: exact root stays put, gradients are implicit
        return x[:, None]

    def extra_repr(self) -> str:
        return f"n_units={self.raw_w.numel()}"


# --------------------------------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------------------------------


class Flow(HubModule):
    """A normalizing flow ``z = f_K o ... o f_1 (x)`` with base ``p_Z = N(0, I)``, built from a ``FlowConfig``.

    - ``nice``: additive couplings with alternating halves, then a diagonal scaling (Dinh et al. 2015).
    - ``realnvp``: affine couplings with alternating halves and RealNVP batch norm between them (Dinh et al. 2017).
    - ``spline``: rational-quadratic spline couplings with alternating halves (Durkan et al. 2019).
    - ``monotone1d``: ``n_layers`` stacked ``MonotoneTanh1D`` layers of ``hidden`` units (notes 001, 1-D demo).

    ``log_prob(x) = log p_Z(f(x)) + sum_k log |det df_k/dh_{k-1}|`` (notes 001, "Composing flows").
    With batch norm, call ``.eval()`` before evaluating densities or sampling (running statistics).
    Saved and loaded in Hub layout (config.json + model.safetensors) through ``HubModule``.
    """

    config_class = FlowConfig

    def __init__(self, config: FlowConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        layers: list[nn.Module] = []
        for i in range(c.n_layers):
            parity = i % 2
            if c.flow == "monotone1d":
                layers.append(MonotoneTanh1D(c.hidden))
            elif c.flow == "nice":
                layers.append(AdditiveCoupling(c.dim, parity, c.hidden, c.depth))
            elif c.flow == "realnvp":
                layers.append(AffineCoupling(c.dim, parity, c.hidden, c.depth, c.scale_clamp))
            else:
                layers.append(RationalQuadraticCoupling(c.dim, parity, c.hidden, c.depth, c.n_bins, c.tail_bound))
            if c.resolved_norm == "batchnorm" and i < c.n_layers - 1:
                layers.append(BatchNormFlow(c.dim, c.bn_momentum, c.bn_eps))
        if c.flow == "nice":
            layers.append(DiagonalScaling(c.dim))
        self.layers = nn.ModuleList(layers)

    @property
    def dim(self) -> int:
        """Data dimension."""
        return self.config.dim

    def layer_names(self) -> list[str]:
        """Short label of every layer, in data -> latent order (for plots such as the film strip)."""
        return [f"{i + 1}: {type(layer).__name__}" for i, layer in enumerate(self.layers)]

    # ---- data -> latent -------------------------------------------------------------------------------------------

    def transform(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``z = f(x)`` and ``log |det df/dx|``: (B, d) -> (B, d), (B,)."""
        _check_dim(x, self.dim)
        logdet = x.new_zeros(x.shape[0])
        for layer in self.layers:
            x, ld = layer(x)
            logdet = logdet + ld
        return x, logdet

    def base_log_prob(self, z: Tensor) -> Tensor:
        """``log p_Z(z)`` of the standard normal base, (B, d) -> (B,)."""
        return standard_normal_log_prob(z)

    def log_prob(self, x: Tensor) -> Tensor:
        """``log p_X(x) = log p_Z(f(x)) + log |det df/dx (x)|`` (notes 001; MODELS.md), (B, d) -> (B,)."""
        z, logdet = self.transform(x)
        return self.base_log_prob(z) + logdet

    def forward(self, x: Tensor, step: int = 0) -> dict[str, Tensor]:
        """Training objective for the shared loop: ``{"loss": -mean log p(x), "nll": the same, detached}`` (nats).

        ``step`` is part of the shared loop's calling convention; flows do not use it.
        """
        loss = -self.log_prob(x).mean()
        return {"loss": loss, "nll": loss.detach()}

    def trajectory(self, x: Tensor) -> list[Tensor]:
        """Points after every layer, data -> latent: ``[x, f_1(x), f_2(f_1(x)), ..., z]`` (len = n layers + 1)."""
        _check_dim(x, self.dim)
        points = [x]
        for layer in self.layers:
            x, _ = layer(x)
            points.append(x)
        return points

    def layer_logdets(self, x: Tensor) -> list[Tensor]:
        """Per-layer ``log |det df_k/dh_{k-1}|``, each (B,), in data -> latent order; they sum to the total."""
        _check_dim(x, self.dim)
        out = []
        for layer in self.layers:
            x, ld = layer(x)
            out.append(ld)
        return out

    # ---- latent -> data -------------------------------------------------------------------------------------------

    def inverse(self, z: Tensor) -> Tensor:
        """``x = f^{-1}(z) = f_1^{-1}(... f_K^{-1}(z))``, (B, d) -> (B, d)."""
        _check_dim(z, self.dim)
        for layer in reversed(self.layers):
            z = layer.inverse(z)
        return z

    def inverse_trajectory(self, z: Tensor) -> list[Tensor]:
        """Points after every inverse layer, latent -> data: ``[z, f_K^{-1}(z), ..., x]`` (len = n layers + 1)."""
        _check_dim(z, self.dim)
        points = [z]
        for layer in reversed(self.layers):
            z = layer.inverse(z)
            points.append(z)
        return points

    def rsample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Differentiable samples ``x = f^{-1}(z)``, z ~ N(0, I): (n, d)."""
        p = next(self.parameters())
        z = torch.randn(n, self.dim, generator=generator, device=p.device, dtype=p.dtype)
        return self.inverse(z)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Samples ``x = f^{-1}(z)``, z ~ N(0, I) (notes 001, "Sampling from flow models"): (n, d), no gradients."""
        return self.rsample(n, generator=generator)

    # ---- the 1-D panel: right and wrong change of variables -------------------------------------------------------

    def density_right(self, x: Tensor) -> Tensor:
        """``p_X(x) = p_Z(f(x)) |det df/dx|``: the correct density (integrates to 1), (B, d) -> (B,)."""
        return self.log_prob(x).exp()

    def density_wrong(self, x: Tensor) -> Tensor:
        """``p_Z(f(x))`` without the Jacobian factor: the mistake the notes warn about (not a density), (B,)."""
        z, _ = self.transform(x)
        return self.base_log_prob(z).exp()
