"""Mathematical contracts of gen_core.models.flows, parametrised over every layer type and every flow type.

Invertibility f^-1(f(x)) = x, log-det against torch.autograd.functional.jacobian, normalisation of log_prob,
gradients reach every parameter, sampling, a short training run, and the 1-D monotone flow's right/wrong densities.
"""

from __future__ import annotations

import math
from typing import Callable

import pytest
import torch
from torch import nn
from torch.autograd.functional import jacobian

from gen_core.data.toy2d import Beta1D, Ring
from gen_core.models.flows import (
    AdditiveCoupling,
    AffineCoupling,
    BatchNormFlow,
    DiagonalScaling,
    Flow,
    FlowConfig,
    MonotoneTanh1D,
    RationalQuadraticCoupling,
)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Keep CPU use modest: the suite shares the machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _perturb(module: nn.Module, scale: float = 0.1, seed: int = 0) -> nn.Module:
    """Move every parameter off its (identity) initialisation and randomise batch-norm running statistics."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn(p.shape, generator=gen, dtype=p.dtype))
        for m in module.modules():
            if isinstance(m, BatchNormFlow):
                m.running_mean.copy_(0.5 * torch.randn(m.running_mean.shape, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=gen))
    return module


# --- single layers ----------------------------------------------------------------------------------------------------

LAYERS: dict[str, tuple[Callable[[], nn.Module], int]] = {
    # name: (factory, dim)
    "additive": (lambda: AdditiveCoupling(2, 0, hidden=16), 2),
    "additive-3d": (lambda: AdditiveCoupling(3, 1, hidden=16), 3),
    "diagonal_scaling": (lambda: DiagonalScaling(2), 2),
    "affine": (lambda: AffineCoupling(2, 1, hidden=16), 2),
    "affine-3d": (lambda: AffineCoupling(3, 0, hidden=16), 3),
    "batchnorm(eval)": (lambda: BatchNormFlow(2), 2),
    "spline": (lambda: RationalQuadraticCoupling(2, 0, hidden=16, n_bins=6, tail_bound=3.0), 2),
    "spline-3d": (lambda: RationalQuadraticCoupling(3, 1, hidden=16, n_bins=6, tail_bound=3.0), 3),
    "monotone1d": (lambda: MonotoneTanh1D(8), 1),
}


def _layer(name: str, dtype: torch.dtype = torch.float32, scale: float = 0.3) -> tuple[nn.Module, int]:
    """A perturbed layer in eval mode. Large perturbations make ill-conditioned maps (contractions of e^-10 and
    more), which float32 cannot invert to 1e-4; the float32 round trips therefore use a milder scale."""
    factory, dim = LAYERS[name]
    torch.manual_seed(0)  # the default nn.Linear init draws from the global generator
    layer = _perturb(factory().to(dtype), scale=scale)
    return layer.eval(), dim


def _points(n: int, dim: int, dtype: torch.dtype = torch.float32, seed: int = 1) -> torch.Tensor:
    """Points spread over [-5, 5]-ish, so spline tails (bound 3) are exercised too."""
    return 2.0 * torch.randn(n, dim, generator=torch.Generator().manual_seed(seed), dtype=dtype)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_is_invertible(name):
    layer, dim = _layer(name, scale=0.1)
    x = _points(512, dim)
    with torch.no_grad():
        z, logdet = layer(x)
        assert z.shape == x.shape and logdet.shape == (512,)
        assert torch.allclose(layer.inverse(z), x, atol=1e-4)
        assert torch.allclose(layer(layer.inverse(x))[0], x, atol=1e-4)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_logdet_matches_autograd_jacobian(name):
    layer, dim = _layer(name, torch.float64)
    x = _points(6, dim, torch.float64)
    _, logdet = layer(x)
    for i in range(x.shape[0]):
        jac = jacobian(lambda v: layer(v[None])[0][0], x[i])  # (dim, dim)
        assert torch.allclose(torch.linalg.slogdet(jac).logabsdet, logdet[i], atol=1e-8), f"sample {i}"


def test_couplings_start_at_the_identity():
    x = _points(64, 2)
    for layer in (AdditiveCoupling(2, 0), AffineCoupling(2, 1), RationalQuadraticCoupling(2, 0)):
        z, logdet = layer(x)
        assert torch.allclose(z, x, atol=1e-5) and torch.allclose(logdet, torch.zeros(64), atol=1e-5)


def test_batchnorm_train_mode_uses_batch_statistics_and_updates_running_ones():
    bn = BatchNormFlow(2, momentum=0.9, eps=1e-4).train()
    x = torch.tensor([3.0, -1.0]) + torch.tensor([2.0, 0.5]) * _points(4096, 2) / 2
    z, logdet = bn(x)
    assert torch.allclose(z.mean(0), torch.zeros(2), atol=1e-5)
    assert torch.allclose(z.var(0, unbiased=False), torch.ones(2), atol=1e-3)
    var = x.var(0, unbiased=False)
    assert torch.allclose(logdet, (-0.5 * torch.log(var + 1e-4).sum()).expand(4096))
    assert torch.allclose(bn.running_mean, 0.1 * x.mean(0), atol=1e-6)  # rho mu + (1 - rho) mu_batch, mu = 0
    assert torch.allclose(bn.running_var, 0.9 + 0.1 * var, atol=1e-5)
    with pytest.raises(ValueError, match="batch of at least 2"):
        bn(x[:1])


# --- whole flows ------------------------------------------------------------------------------------------------------

CONFIGS: dict[str, FlowConfig] = {
    "nice": FlowConfig(flow="nice", n_layers=4, hidden=16),
    "realnvp": FlowConfig(flow="realnvp", n_layers=4, hidden=16),
    "realnvp-3d": FlowConfig(flow="realnvp", dim=3, n_layers=3, hidden=16),
    "spline": FlowConfig(flow="spline", n_layers=4, hidden=16, n_bins=6),
    "monotone1d": FlowConfig(flow="monotone1d", dim=1, n_layers=2, hidden=8),
}


def _flow(name: str, dtype: torch.dtype = torch.float32, scale: float = 0.1) -> Flow:
    torch.manual_seed(0)
    return _perturb(Flow(CONFIGS[name]).to(dtype), scale=scale).eval()


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_flow_is_invertible_and_trajectories_are_consistent(name):
    flow = _flow(name)
    x = _points(512, flow.dim)
    with torch.no_grad():
        z, _ = flow.transform(x)
        assert torch.allclose(flow.inverse(z), x, atol=1e-4)
        forward_path = flow.trajectory(x)
        assert len(forward_path) == len(flow.layers) + 1 == len(flow.layer_names()) + 1
        assert torch.equal(forward_path[0], x) and torch.allclose(forward_path[-1], z)
        backward_path = flow.inverse_trajectory(z)
        assert len(backward_path) == len(forward_path)
        for a, b in zip(forward_path, reversed(backward_path)):
            assert torch.allclose(a, b, atol=1e-4)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_flow_logdet_matches_autograd_jacobian(name):
    flow = _flow(name, torch.float64, scale=0.3)
    x = _points(5, flow.dim, torch.float64)
    z, logdet = flow.transform(x)
    assert torch.allclose(torch.stack(flow.layer_logdets(x)).sum(0), logdet)
    assert torch.allclose(flow.log_prob(x), flow.base_log_prob(z) + logdet)
    for i in range(x.shape[0]):
        jac = jacobian(lambda v: flow.transform(v[None])[0][0], x[i])
        assert torch.allclose(torch.linalg.slogdet(jac).logabsdet, logdet[i], atol=1e-8)


@pytest.mark.parametrize("name", ["nice", "realnvp", "spline", "monotone1d"])
def test_log_prob_integrates_to_one(name):
    flow = _flow(name, torch.float64, scale=0.2)
    h, lim = (0.04, 8.0) if flow.dim == 2 else (0.002, 15.0)
    ticks = torch.arange(-lim + h / 2, lim, h, dtype=torch.float64)
    if flow.dim == 2:
        gx, gy = torch.meshgrid(ticks, ticks, indexing="ij")
        pts, cell = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1), h * h
    else:
        pts, cell = ticks[:, None], h
    with torch.no_grad():
        assert not torch.allclose(flow.transform(pts[:100])[0], pts[:100], atol=1e-2)  # not the identity
        total = float(flow.log_prob(pts).exp().sum() * cell)
    assert abs(total - 1.0) < 0.01, f"{name}: integral {total:.4f}"


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_every_parameter_receives_a_gradient(name):
    flow = _flow(name).train()
    x = _points(128, flow.dim)
    out = flow(x)
    assert set(out) == {"loss", "nll"} and not out["nll"].requires_grad
    out["loss"].backward()
    for pname, p in flow.named_parameters():
        assert p.grad is not None, f"{pname} got no gradient"
        assert torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, f"{pname} has a zero gradient"


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_sampling_shape_finite_and_seeded(name):
    flow = _flow(name)
    x = flow.sample(64, generator=torch.Generator().manual_seed(5))
    assert x.shape == (64, flow.dim) and torch.isfinite(x).all() and not x.requires_grad
    assert torch.equal(x, flow.sample(64, generator=torch.Generator().manual_seed(5)))
    assert flow.rsample(8).requires_grad
    assert torch.allclose(flow(x)["loss"], -flow.log_prob(x).mean())


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_save_load_round_trip_is_exact(name, tmp_path):
    flow = _flow(name)
    flow.save_pretrained(tmp_path / name)
    loaded = Flow.from_pretrained(tmp_path / name)
    assert loaded.config == flow.config
    x = _points(64, flow.dim)
    with torch.no_grad():
        assert torch.equal(loaded.log_prob(x), flow.log_prob(x))
        z = torch.randn(16, flow.dim)
        assert torch.equal(loaded.inverse(z), flow.inverse(z))


def test_realnvp_training_reduces_nll():
    torch.manual_seed(0)
    target = Ring(std=0.1)
    flow = Flow(FlowConfig(flow="realnvp", n_layers=6, hidden=64))
    test_x = target.sample(4000, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        nll_before = -flow.eval().log_prob(test_x).mean().item()
    optimiser = torch.optim.Adam(flow.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    flow.train()
    for _ in range(300):
        loss = flow(target.sample(256, generator=gen))["loss"]
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        nll_after = -flow.eval().log_prob(test_x).mean().item()
    # Identity start: NLL ~ 2.35 nats; the target's entropy is ~ 0.31 nats (a perfect model's NLL).
    assert nll_after < nll_before - 0.7, (nll_before, nll_after)


# --- the 1-D monotone flow (lecture notes 001, 1-D demo) --------------------------------------------------------------


@pytest.fixture(scope="module")
def beta_flow() -> Flow:
    """A monotone 1-D flow trained briefly on Beta(5, 5)."""
    torch.manual_seed(0)
    target = Beta1D(5, 5)
    flow = Flow(FlowConfig(flow="monotone1d", dim=1, n_layers=1, hidden=16))
    optimiser = torch.optim.Adam(flow.parameters(), lr=1e-2)
    gen = torch.Generator().manual_seed(0)
    for _ in range(300):
        loss = flow(target.sample(256, generator=gen))["loss"]
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return flow.eval()


def test_monotone_flow_fits_beta(beta_flow):
    target = Beta1D(5, 5)
    x = target.sample(5000, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        nll = -beta_flow.log_prob(x).mean().item()
    assert nll < target.entropy() + 0.06  # test NLL - H estimates KL(p_data || p_model) >= 0


def test_monotone_flow_is_increasing_and_invertible(beta_flow):
    x = torch.linspace(-20, 20, 20001)[:, None]
    with torch.no_grad():
        z, log_df = beta_flow.transform(x)
        assert torch.isfinite(log_df).all()
        assert (z[1:] > z[:-1]).all()  # strictly increasing on a fine grid: f' > 0
        assert torch.allclose(beta_flow.inverse(z), x, atol=1e-4)
        zs = torch.linspace(-6, 6, 1001)[:, None]
        assert torch.allclose(beta_flow.transform(beta_flow.inverse(zs))[0], zs, atol=1e-4)


def test_monotone_inverse_has_implicit_gradient():
    layer = _perturb(MonotoneTanh1D(8).double(), scale=0.3)
    z = torch.linspace(-3, 3, 7, dtype=torch.float64)[:, None].requires_grad_(True)
    x = layer.inverse(z)
    (dx_dz,) = torch.autograd.grad(x.sum(), z)
    _, log_df = layer(x.detach())
    assert torch.allclose(dx_dz[:, 0], torch.exp(-log_df), atol=1e-8)  # (f^-1)'(z) = 1 / f'(x)


def test_right_density_integrates_to_one_and_wrong_one_does_not(beta_flow):
    h = 1e-3
    x = torch.arange(-10 + h / 2, 10, h)[:, None]
    with torch.no_grad():
        right = float(beta_flow.density_right(x).sum() * h)
        wrong = float(beta_flow.density_wrong(x).sum() * h)
        assert torch.allclose(beta_flow.density_right(x), beta_flow.log_prob(x).exp())
    assert abs(right - 1.0) < 0.01
    assert abs(wrong - 1.0) > 0.2, wrong  # p_Z(f(x)) forgets f' (notes 001: "This is wrong")


# --- bad input --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "build",
    [
        lambda: FlowConfig(flow="glow"),
        lambda: FlowConfig(flow="monotone1d", dim=2),
        lambda: FlowConfig(flow="realnvp", dim=1),
        lambda: FlowConfig(n_layers=0),
        lambda: FlowConfig(norm="layernorm"),
        lambda: FlowConfig(bn_momentum=1.0),
        lambda: Flow(FlowConfig()).log_prob(torch.zeros(4, 3)),
    ],
)
def test_bad_input_raises_value_error(build):
    with pytest.raises(ValueError):
        build()


def test_norm_defaults():
    assert any(isinstance(m, BatchNormFlow) for m in Flow(FlowConfig(flow="realnvp")).layers)
    assert not any(isinstance(m, BatchNormFlow) for m in Flow(FlowConfig(flow="realnvp", norm="none")).layers)
    assert not any(isinstance(m, BatchNormFlow) for m in Flow(FlowConfig(flow="spline")).layers)
    assert isinstance(Flow(FlowConfig(flow="nice")).layers[-1], DiagonalScaling)
    assert math.isclose(FlowConfig().bn_momentum, 0.9)


def test_compiled_training_follows_the_eager_losses():
    # TrainConfig(compile=True) runs the loss under torch.compile (inductor): the same steps as eager, to float error.
    from gen_core.data.toy2d import make_target
    from gen_core.train import TrainConfig, train
    from gen_core.train.loop import SamplerBatches

    losses = {}
    for compiled in (False, True):
        torch.manual_seed(0)
        flow = Flow(FlowConfig(flow="realnvp", n_layers=2, hidden=16, norm="none"))
        cfg = TrainConfig(steps=6, batch_size=64, seed=0, device="cpu", log_every=1, compile=compiled)
        source = SamplerBatches(make_target("ring"), 64, 0, torch.device("cpu"))
        losses[compiled] = [e.metrics["loss"] for e in train(flow, source, cfg) if e.kind == "step"]
    assert len(losses[True]) == 6
    assert losses[True] == pytest.approx(losses[False], abs=1e-4)
    assert losses[False][-1] < losses[False][0]      # it trains
