"""gen_core.metrics.density: test NLL, true entropy and gap, grid densities, the film strip and the 1-D panel.

The gap test NLL - H(p) must be ~0 when the model is the target itself and must equal the closed-form KL between
two Gaussians; a flow's samples' NLL must equal its entropy where that is known exactly (NICE), and sample-wise
``-log q(f^-1(z)) = -log p_Z(z) + log|det d f^-1 / dz|`` against autograd; grids and histograms integrate to 1.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.autograd.functional import jacobian

from gen_core.data.toy2d import Banana, Checkerboard, make_target
from gen_core.metrics.density import (
    ENTROPY_N,
    EVAL_SEED,
    build_target,
    cached_true_entropy,
    density_grid,
    evaluating,
    film_strip,
    flow_1d_panel,
    flow_blocks,
    grid_points,
    held_out,
    histogram_density,
    likelihood_report,
    model_entropy,
    nll_stats,
    snapshot,
    target_of,
    true_entropy,
)
from gen_core.models import load_pretrained
from gen_core.models.flows import BatchNormFlow, DiagonalScaling, Flow, FlowConfig

ROOT = Path(__file__).resolve().parents[1]
PRETRAINED = ROOT / "pretrained"


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _perturbed(config: FlowConfig, scale: float = 0.2, seed: int = 0) -> Flow:
    """A flow moved off its identity initialisation (and with non-trivial batch-norm statistics), in eval mode."""
    torch.manual_seed(seed)
    flow = Flow(config)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in flow.parameters():
            p.add_(scale * torch.randn(p.shape, generator=gen))
        for m in flow.modules():
            if isinstance(m, BatchNormFlow):
                m.running_mean.copy_(0.3 * torch.randn(m.running_mean.shape, generator=gen))
                m.running_var.copy_(0.6 + torch.rand(m.running_var.shape, generator=gen))
    return flow.eval()


# --- held-out data, test NLL, entropy, gap ---------------------------------------------------------------------------


def test_held_out_samples_are_fixed_by_the_seed():
    ring = make_target("ring", std=0.05)
    a, b = held_out(ring, 500), held_out(ring, 500)
    assert torch.equal(a, b) and a.shape == (500, 2)
    assert not torch.equal(a, held_out(ring, 500, seed=EVAL_SEED + 1))


@pytest.mark.parametrize("name, std", [("ring", 0.05), ("grid", 0.05), ("banana", None), ("checkerboard", None)])
def test_the_target_itself_has_zero_gap(name, std):
    """q = p: the test NLL is an unbiased estimate of H(p), so the gap is 0 up to its standard error."""
    target = build_target(name, std)
    report = likelihood_report(target, target, n=20_000, entropy=true_entropy(target, n=200_000))
    assert report.n_test == 20_000 and report.gap_se >= 0  # 0 for the checkerboard: log p is constant on samples
    assert abs(report.gap) < 4 * report.gap_se + 1e-6, report
    assert set(report.as_dict()) == {"test_nll", "test_nll_se", "true_entropy", "true_entropy_se", "gap", "gap_se",
                                     "n_test"}


def test_gap_equals_closed_form_kl_between_gaussians():
    """Banana with b = 0 is N(0, diag(s1^2, s2^2)); KL(p || q) of two such Gaussians has a closed form."""
    p, q = Banana(s1=1.0, s2=0.5, b=0.0), Banana(s1=1.5, s2=0.4, b=0.0)
    report = likelihood_report(q, p, n=50_000)
    kl = sum(math.log(sq / sp) + sp**2 / (2 * sq**2) - 0.5 for sp, sq in ((1.0, 1.5), (0.5, 0.4)))
    assert report.entropy_se == 0.0 and math.isclose(report.entropy, p.entropy())
    assert abs(report.gap - kl) < 4 * report.gap_se, (report.gap, kl)


def test_true_entropy_exact_or_monte_carlo_and_cached():
    assert true_entropy(Checkerboard()) == (math.log(32.0), 0.0)
    h, se = true_entropy(make_target("ring", std=0.05), n=200_000)
    assert 0 < se < 0.01
    exact = math.log(8) + math.log(2 * math.pi * math.e * 0.05**2)  # modes 15 std apart: overlap is negligible
    assert abs(h - exact) < 4 * se
    assert ENTROPY_N == 1_000_000
    first = cached_true_entropy("banana", None)
    assert first == cached_true_entropy("banana", None) == (Banana().entropy(), 0.0)


def test_nll_stats_refuses_points_outside_the_support():
    board = Checkerboard()
    outside = torch.tensor([[-3.5, -1.5], [0.5, 0.5], [10.0, 0.0]])  # a white square and off the board
    with pytest.raises(ValueError, match="non-finite log-density"):
        nll_stats(board, outside)
    with pytest.raises(ValueError, match="at least 2"):
        nll_stats(board, torch.zeros(1, 2))


def test_build_target_and_target_of():
    assert build_target("grid", 0.1).std == 0.1
    with pytest.raises(ValueError, match="has no component std"):
        build_target("banana", 0.1)
    flow = Flow(FlowConfig(flow="spline", n_layers=2, hidden=8, target="ring", std=0.05))
    assert target_of(flow).std == 0.05 and target_of(flow).name == "ring"
    with pytest.raises(ValueError, match="records no target"):
        target_of(Flow(FlowConfig(n_layers=2, hidden=8)))
    with pytest.raises(ValueError, match="std"):
        FlowConfig(target="ring", std=-0.1)


# --- samples' NLL vs the model's entropy -----------------------------------------------------------------------------


def test_samples_nll_equals_the_exact_entropy_of_nice():
    """NICE = volume-preserving couplings + diagonal scaling exp(s), so H(q) = H(N(0, I)) - sum(s) exactly."""
    flow = _perturbed(FlowConfig(flow="nice", n_layers=4, hidden=16))
    scaling = flow.layers[-1]
    assert isinstance(scaling, DiagonalScaling)
    exact = math.log(2 * math.pi * math.e) - float(scaling.log_scale.detach().sum())  # d/2 log(2 pi e), d = 2
    h, se = model_entropy(flow, n=20_000)
    assert se > 0 and abs(h - exact) < 4 * se, (h, exact, se)


@pytest.mark.parametrize("kind", ["nice", "realnvp", "spline"])
def test_samples_nll_matches_the_inverse_jacobian(kind):
    """Per sample, -log q(f^-1(z)) = -log N(z) + log|det d f^-1/dz (z)|: the forward log_prob of a sample agrees
    with the inverse map's Jacobian (autograd), which is what makes the samples' NLL the model's entropy."""
    flow = _perturbed(FlowConfig(flow=kind, n_layers=4, hidden=16), scale=0.1).double()
    z = torch.randn(6, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    with torch.no_grad():
        x = flow.inverse(z)
        nll = -flow.log_prob(x)
    for i in range(z.shape[0]):
        jac = jacobian(lambda v: flow.inverse(v[None])[0], z[i])
        expected = -flow.base_log_prob(z[i:i + 1])[0] + torch.linalg.slogdet(jac).logabsdet
        assert torch.allclose(nll[i], expected, atol=1e-7), (i, float(nll[i]), float(expected))


def test_shipped_flow_samples_nll_agrees_with_its_test_nll():
    """A well-fitted flow (the shipped ring spline flow, gap <= 0.05) has entropy H(q) close to its test NLL."""
    flow = load_pretrained(PRETRAINED / "flow-ring-spline")
    target = target_of(flow)
    report = likelihood_report(flow, target, n=20_000, entropy=true_entropy(target, n=200_000))
    h_q, se = model_entropy(flow, n=20_000)
    assert report.gap > -4 * report.gap_se and report.gap < 0.1, report
    assert abs(h_q - report.test_nll) < 0.1 + 4 * math.hypot(se, report.test_nll_se), (h_q, report.test_nll)


def test_every_shipped_flow_has_a_target_and_card_metrics():
    folders = sorted(PRETRAINED.glob("flow-*"))
    assert len(folders) >= 15, [f.name for f in folders]
    for folder in folders:
        config = json.loads((folder / "config.json").read_text())
        assert config["model_type"] == "flow" and config["target"], folder
        card = (folder / "README.md").read_text()
        assert "gen_core_metrics:" in card and "python -m gen_core train flow" in card, folder
        assert (folder / "model.safetensors").stat().st_size < 400_000, folder  # a few hundred KB at most
        assert not (folder / "training_state.safetensors").exists(), folder


# --- grids, histograms ----------------------------------------------------------------------------------------------


def test_grid_points_order_and_checks():
    xs, ys, pts = grid_points((0.0, 4.0, -1.0, 1.0), 4)
    assert np.allclose(xs, [0.5, 1.5, 2.5, 3.5]) and np.allclose(ys, [-0.75, -0.25, 0.25, 0.75])
    assert pts.shape == (16, 2) and torch.equal(pts[1], torch.tensor([1.5, -0.75]))  # x varies fastest
    with pytest.raises(ValueError, match="bounds"):
        grid_points((1.0, 0.0, 0.0, 1.0), 4)
    with pytest.raises(ValueError, match="resolution"):
        grid_points((0.0, 1.0, 0.0, 1.0), 1)


def test_density_grid_matches_log_prob_and_integrates_to_one():
    banana = Banana()
    grid = density_grid(banana, (-6.0, 6.0, -3.0, 9.0), 240)
    assert grid.values.shape == (240, 240)
    i, j = 100, 37
    expected = banana.log_prob(torch.tensor([[grid.xs[j], grid.ys[i]]], dtype=torch.float32)).exp().item()
    assert math.isclose(grid.values[i, j], expected, rel_tol=1e-5)
    assert abs(grid.mass - 1.0) < 0.01
    flow = _perturbed(FlowConfig(flow="realnvp", n_layers=4, hidden=16))
    assert abs(density_grid(flow, (-8.0, 8.0, -8.0, 8.0), 300).mass - 1.0) < 0.01
    board = density_grid(Checkerboard(), Checkerboard().bounds, 64)  # -inf off the support becomes 0
    assert np.isfinite(board.values).all() and abs(board.mass - 1.0) < 1e-6


def test_histogram_density():
    values = np.concatenate([np.linspace(0.0, 0.999, 900), np.full(100, 5.0)])  # 10% outside the range
    edges, heights = histogram_density(values, 0.0, 1.0, bins=10)
    assert edges.shape == (11,) and heights.shape == (10,)
    assert math.isclose(float((heights * np.diff(edges)).sum()), 0.9)
    with pytest.raises(ValueError):
        histogram_density(np.array([]), 0.0, 1.0)


# --- film strip, 1-D panel, live snapshot ----------------------------------------------------------------------------


def test_flow_blocks_group_normalisation_and_scaling_with_their_coupling():
    realnvp = Flow(FlowConfig(flow="realnvp", n_layers=3, hidden=8))  # coupling, BN, coupling, BN, coupling
    assert flow_blocks(realnvp) == [[0, 1], [2, 3], [4]]
    nice = Flow(FlowConfig(flow="nice", n_layers=3, hidden=8))  # 3 couplings + the diagonal scaling
    assert flow_blocks(nice) == [[0], [1], [2, 3]]


@pytest.mark.parametrize("kind", ["nice", "realnvp", "spline"])
def test_film_strip_goes_from_the_gaussian_to_the_samples(kind):
    flow = _perturbed(FlowConfig(flow=kind, n_layers=4, hidden=16), scale=0.1)
    frames = film_strip(flow, n_samples=300, n_lines=5, resolution=12, data_bounds=(-4.0, 4.0, -4.0, 4.0))
    assert len(frames) == len(flow_blocks(flow)) + 1 == 5
    z = torch.randn(300, 2, generator=torch.Generator().manual_seed(EVAL_SEED))
    assert np.allclose(frames[0].points, z.numpy()) and frames[0].logdet is None
    with torch.no_grad():
        assert np.allclose(frames[-1].points, flow.inverse(z).numpy(), atol=1e-5)
    assert frames[-1].bounds == (-4.0, 4.0, -4.0, 4.0)
    assert all(len(f.lines) == 10 and f.lines[0].shape == (61, 2) for f in frames)
    assert all(f.logdet is not None and f.logdet.values.shape == (12, 12) for f in frames[1:])
    if kind == "nice":  # additive couplings preserve volume; the final scaling's log-det is the constant sum(s)
        assert all(np.allclose(f.logdet.values, 0.0) for f in frames[2:])
        assert np.allclose(frames[1].logdet.values, float(flow.layers[-1].log_scale.detach().sum()), atol=1e-6)
    with pytest.raises(ValueError, match="2-D"):
        film_strip(Flow(FlowConfig(flow="monotone1d", dim=1, n_layers=1, hidden=4)))


def test_flow_1d_panel_right_density_integrates_to_one_and_wrong_does_not():
    flow = _perturbed(FlowConfig(flow="monotone1d", dim=1, n_layers=2, hidden=8), scale=0.3)
    target = make_target("beta")
    panel = flow_1d_panel(flow, target, n_samples=3000)
    assert abs(panel.right_mass - 1.0) < 0.01 and abs(panel.wrong_mass - 1.0) > 0.05
    x = torch.from_numpy(panel.x).float()[:, None]
    with torch.no_grad():
        assert np.allclose(panel.right, flow.density_right(x).numpy(), rtol=1e-5, atol=1e-7)
        assert np.allclose(panel.wrong, flow.density_wrong(x).numpy(), rtol=1e-5, atol=1e-7)
        assert np.allclose(panel.f, flow.transform(x)[0][:, 0].numpy(), atol=1e-5)
    edges, heights = panel.x_hist
    assert abs(float((heights * np.diff(edges)).sum()) - 1.0) < 1e-6  # Beta samples all lie in the window
    assert np.allclose(panel.true, target.log_prob(torch.from_numpy(panel.x)).exp().numpy())
    with pytest.raises(ValueError, match="1-D"):
        flow_1d_panel(flow, make_target("ring"))


def test_snapshot_evaluates_in_eval_mode_and_restores_training_mode():
    target = make_target("ring", std=0.1)
    flow = _perturbed(FlowConfig(flow="realnvp", n_layers=2, hidden=8)).train()
    test_x = held_out(target, 1000)
    snap = snapshot(flow, test_x, target.bounds, resolution=16, n_samples=50)
    assert flow.training and snap.samples.shape == (50, 2) and snap.density.values.shape == (16, 16)
    with evaluating(flow):
        assert not flow.training
        assert (snap.test_nll, snap.test_nll_se) == nll_stats(flow, test_x)
    assert flow.training
