"""BiGAN contracts (notes 004): shapes, which player each update moves, gradients reach E and G, the minimax
generator loss is -V, save/load is exact, and a short run through the shared loop learns a Gaussian."""

from __future__ import annotations

import math

import pytest
import torch

from gen_core import losses
from gen_core.data.toy2d import GaussianMixture2D
from gen_core.models.bigan import BiGAN, BiGANConfig, BiGANTask, bigan_metrics, bigan_task
from gen_core.train import TrainConfig, train
from gen_core.train.adversarial import AdversarialConfig
from gen_core.train.loop import DistInfo, SamplerBatches


@pytest.fixture()
def small():
    torch.manual_seed(0)
    return BiGAN(BiGANConfig(hidden=16, depth=2))


def _snapshot(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def _changed(before: list[torch.Tensor], module: torch.nn.Module) -> list[bool]:
    return [not torch.equal(a, b) for a, b in zip(before, module.parameters())]


def test_shapes_and_scale(small):
    z = small.sample_latent(7)
    assert small.generate(z).shape == (7, 2) and small.encode(torch.randn(7, 2)).shape == (7, 2)
    assert small.critic(torch.randn(7, 2), z).shape == (7,) and small.reconstruct(torch.randn(4, 2)).shape == (4, 2)
    with pytest.raises(ValueError, match="unknown BiGAN loss"):
        BiGAN(BiGANConfig(loss="hinge"))  # type: ignore[arg-type]


@pytest.mark.parametrize("scheme", ["alternating", "simultaneous", "n_critic"])
def test_each_step_moves_every_parameter_of_both_players(small, scheme):
    src = SamplerBatches(GaussianMixture2D(torch.tensor([[1.0, 0.0]]), 0.5), 32, 0, torch.device("cpu"))
    adv = AdversarialConfig(scheme=scheme, n_critic=3 if scheme == "n_critic" else 1)
    task = BiGANTask(small, TrainConfig(seed=0), torch.device("cpu"), DistInfo(), adv, src.next_batch)
    g_e, g_g, d = _snapshot(small.generator.e), _snapshot(small.generator.g), _snapshot(small.discriminator)
    metrics = task.step(src.next_batch(), 1)
    assert all(_changed(g_e, small.generator.e)), "the encoder must receive gradients (through D(x, E(x)))"
    assert all(_changed(g_g, small.generator.g)) and all(_changed(d, small.discriminator))
    assert all(math.isfinite(float(v)) for v in metrics.values())


def test_critic_update_leaves_the_generator_player_alone(small):
    task = BiGANTask(small, TrainConfig(seed=0), torch.device("cpu"), DistInfo(), AdversarialConfig())
    x = torch.randn(16, 2)
    before = _snapshot(small.generator)
    d_real, d_fake = task._logits(x, detach=True)
    from gen_core.train.loop import apply_gradients

    apply_gradients(losses.gan_discriminator_loss(d_real, d_fake), task.d_params, task.opt_d, None, None,
                    only_params=True)
    assert not any(_changed(before, small.generator))
    assert all(p.grad is None for p in small.generator.parameters())


def test_generator_losses_are_the_bigan_objective(small):
    task = BiGANTask(small, TrainConfig(seed=0), torch.device("cpu"), DistInfo(), AdversarialConfig())
    d_real, d_fake = torch.tensor([0.3, -1.0]), torch.tensor([2.0, 0.1])
    # V = E log D(x, E(x)) + E log(1 - D(G(z), z)); the discriminator minimises -V
    v = (torch.log(torch.sigmoid(d_real)).mean() + torch.log(1 - torch.sigmoid(d_fake)).mean())
    assert float(losses.gan_discriminator_loss(d_real, d_fake)) == pytest.approx(-float(v), rel=1e-6)
    task.loss = "minimax"
    assert float(task._g_loss(d_real, d_fake)) == pytest.approx(float(v), rel=1e-6)
    task.loss = "non_saturating"  # labels flipped: -log D(G(z), z) - log(1 - D(x, E(x)))
    flipped = -(torch.log(torch.sigmoid(d_fake)).mean() + torch.log(1 - torch.sigmoid(d_real)).mean())
    assert float(task._g_loss(d_real, d_fake)) == pytest.approx(float(flipped), rel=1e-6)


def test_save_load_round_trip_is_exact(small, tmp_path):
    small.save_pretrained(tmp_path / "bigan")
    back = BiGAN.from_pretrained(tmp_path / "bigan")
    x, z = torch.randn(5, 2), torch.randn(5, 2)
    small.eval()
    assert torch.equal(back.encode(x), small.encode(x)) and torch.equal(back.generate(z), small.generate(z))
    assert torch.equal(back.critic(x, z), small.critic(x, z))


def test_short_run_through_the_shared_loop_learns_a_gaussian():
    """The game oscillates (notes 001: GDA rotates around the equilibrium), so the test asks that within 400 steps
    the run comes close to inverting the data at some evaluation, not that it stays there."""
    torch.set_num_threads(1)
    mean = torch.tensor([[1.0, -1.0]])
    target = GaussianMixture2D(mean, 0.5)
    torch.manual_seed(0)
    model = BiGAN(BiGANConfig(hidden=32, depth=2, data_scale=1.0))
    src = SamplerBatches(target, 128, 0, torch.device("cpu"))
    x = target.sample(2000, torch.Generator().manual_seed(5))

    def evaluate(m: BiGAN) -> dict[str, float]:
        g_mean = m.sample(4000, torch.Generator().manual_seed(6)).mean(0)
        return {**bigan_metrics(m, x), "g_mean_dist": float((g_mean - mean[0]).norm())}

    before = evaluate(model)
    cfg = TrainConfig(steps=400, batch_size=128, seed=0, log_every=100, eval_every=50, device="cpu")
    events = list(train(model, src, cfg, eval_fn=evaluate,
                        task_factory=bigan_task(AdversarialConfig(lr_g=2e-3, lr_d=2e-3), src)))
    assert events[-1].kind == "done"
    evals = [e.metrics for e in events if e.kind == "eval"]
    assert len(evals) >= 8
    assert before["recon_mse"] > 2.0 and before["g_mean_dist"] > 1.0
    assert min(m["g_mean_dist"] for m in evals) < 0.4       # G reaches the data
    assert min(m["recon_mse"] for m in evals) < 1.0         # and G(E(x)) comes close to x (data variance: 0.5)
