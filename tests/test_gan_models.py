"""GAN models and the adversarial step: shapes, Hub round trip, spectral norm, and each update scheme against a
hand-written reference of the formulas in lecture notes 001 ("Minimax optimization algorithm")."""

from __future__ import annotations

import copy
import json

import numpy as np

import pytest
import torch

from gen_core import losses
from gen_core.data.toy2d import Ring
from gen_core.models import load_pretrained
from gen_core.models.gan import DCGAN, GAN2D, DCGANConfig, GAN2DConfig
from gen_core.train.adversarial import AdversarialConfig, AdversarialTask, LabelledBatches, adversarial_task
from gen_core.train.loop import DistInfo, Diverged, SamplerBatches, TrainConfig, train
from gen_core.train.mlp_gan import MLPAdversarialTask, supports_hand_backward

CPU = torch.device("cpu")


def small_gan(loss: str = "non_saturating", normalization: str = "none", seed: int = 0) -> GAN2D:
    torch.manual_seed(seed)
    return GAN2D(GAN2DConfig(hidden=16, depth=2, loss=loss, normalization=normalization))


def test_gan2d_shapes_and_hub_round_trip(tmp_path):
    gan = small_gan(normalization="spectral")
    assert gan.sample(7).shape == (7, 2) and gan.critic(torch.zeros(3, 2)).shape == (3,)
    gan.train()
    gan.critic(torch.randn(4, 2))           # one power iteration updates the spectral-norm vectors
    gan.eval()
    gan.save_pretrained(tmp_path)
    back = load_pretrained(tmp_path)
    assert isinstance(back, GAN2D) and back.config == gan.config
    x, z = torch.randn(5, 2), torch.randn(5, 2)
    assert torch.equal(back.critic(x), gan.critic(x)) and torch.equal(back.generate(z), gan.generate(z))


def test_spectral_norm_bounds_every_critic_layer():
    gan = small_gan(normalization="spectral")
    gan.train()
    for _ in range(30):                      # power iterations converge
        gan.critic(torch.randn(8, 2))
    gan.eval()
    for layer in gan.discriminator:
        if isinstance(layer, torch.nn.Linear):
            assert abs(torch.linalg.matrix_norm(layer.weight, ord=2).item() - 1.0) < 1e-2


def test_bad_configs_are_refused():
    with pytest.raises(ValueError, match="unknown GAN loss"):
        GAN2D(GAN2DConfig(loss="vanilla"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="normalization"):
        GAN2D(GAN2DConfig(normalization="batch"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_critic"):
        AdversarialConfig(scheme="n_critic", n_critic=0)
    with pytest.raises(ValueError, match="scheme"):
        AdversarialConfig(scheme="round_robin")  # type: ignore[arg-type]


def adam(params, lr):
    return torch.optim.Adam(params, lr=lr, betas=(0.5, 0.999))


def reference_step(gan: GAN2D, real: torch.Tensor, z: torch.Tensor, scheme: str, lr: float = 0.01) -> None:
    """The textbook loops of notes 001, written out with separate forwards and autograd.grad."""
    g_params, d_params = list(gan.generator.parameters()), list(gan.discriminator.parameters())
    opt_g, opt_d = adam(g_params, lr), adam(d_params, lr)
    fake = gan.generate(z)
    d_loss = losses.gan_discriminator_loss(gan.critic(real), gan.critic(fake.detach()))
    grads_d = torch.autograd.grad(d_loss, d_params)
    if scheme == "simultaneous":            # both gradients at (theta_k, phi_k)
        g_loss = losses.gan_generator_loss_non_saturating(gan.critic(fake))
        grads_g = torch.autograd.grad(g_loss, g_params)
    for p, gr in zip(d_params, grads_d):
        p.grad = gr
    opt_d.step()
    if scheme == "alternating":             # the generator gradient at (theta_k, phi_{k+1})
        g_loss = losses.gan_generator_loss_non_saturating(gan.critic(fake))
        grads_g = torch.autograd.grad(g_loss, g_params)
    for p, gr in zip(g_params, grads_g):
        p.grad = gr
    opt_g.step()


@pytest.mark.parametrize("engine", [AdversarialTask, MLPAdversarialTask])
@pytest.mark.parametrize("scheme", ["simultaneous", "alternating"])
def test_update_schemes_match_the_reference(scheme, engine):
    gan = small_gan()
    ref = copy.deepcopy(gan)
    real = Ring().sample(32, torch.Generator().manual_seed(1))
    task = engine(gan, TrainConfig(grad_clip=None), CPU, DistInfo(),
                  AdversarialConfig(scheme=scheme, lr_g=0.01, lr_d=0.01))
    z = torch.randn(32, 2, generator=torch.Generator().manual_seed(7919))  # the task's own noise: seed + 7919
    metrics = task.step(real, 1)
    reference_step(ref, real, z, scheme)
    for (name, p), q in zip(gan.named_parameters(), ref.parameters()):
        assert torch.allclose(p, q, atol=1e-6), name
    assert {"d_loss", "g_loss", "d_real", "d_fake", "d_grad_norm", "g_grad_norm"} <= set(metrics)
    other = "alternating" if scheme == "simultaneous" else "simultaneous"
    ref2 = copy.deepcopy(small_gan())
    reference_step(ref2, real, z, other)
    assert not all(torch.allclose(p, q, atol=1e-6) for p, q in zip(gan.generator.parameters(), ref2.generator.parameters()))


@pytest.mark.parametrize("scheme", ["simultaneous", "alternating", "n_critic"])
@pytest.mark.parametrize("data_scale", [1.0, 4.0])
def test_hand_written_backward_equals_autograd_for_every_loss(scheme, data_scale):
    """MLPAdversarialTask (the live engine) against AdversarialTask: same weights after 4 steps of every loss, with
    a learning-rate schedule, gradient clipping that bites, n_critic = 3 and a data scale."""
    target = Ring()
    for loss in losses.GAN_LOSSES:
        if loss == "wgan_gp":
            continue
        torch.manual_seed(0)
        a = GAN2D(GAN2DConfig(hidden=16, depth=3, loss=loss, data_scale=data_scale))
        b = copy.deepcopy(a)
        adv = AdversarialConfig(scheme=scheme, n_critic=3 if scheme == "n_critic" else 1, lr_g=0.01, lr_d=0.01,
                                lr_schedule="linear_decay")
        cfg = TrainConfig(steps=4, grad_clip=0.5)
        src_a, src_b = SamplerBatches(target, 32, 0, CPU), SamplerBatches(target, 32, 0, CPU)
        task_a = AdversarialTask(a, cfg, CPU, DistInfo(), adv, next_batch=src_a.next_batch)
        task_b = MLPAdversarialTask(b, cfg, CPU, DistInfo(), adv, next_batch=src_b.next_batch)
        for step in range(1, 5):
            ma, mb = task_a.step(src_a.next_batch(), step), task_b.step(src_b.next_batch(), step)
        assert ma.keys() == mb.keys()
        for k in ma:
            assert torch.allclose(ma[k], mb[k], rtol=1e-5, atol=1e-6), (loss, k)
        for (name, p), q in zip(a.named_parameters(), b.parameters()):
            assert torch.allclose(p, q, rtol=1e-5, atol=1e-6), (loss, name)
        assert not torch.equal(a.generator[0].weight, small_gan().generator[0].weight)


def test_the_factory_picks_the_engine_and_the_hand_engine_refuses_a_nan_update():
    adv = AdversarialConfig()
    assert isinstance(adversarial_task(adv)(small_gan(), TrainConfig(), CPU, DistInfo()), MLPAdversarialTask)
    for gan in (small_gan(loss="wgan_gp"), small_gan(normalization="spectral")):
        assert not supports_hand_backward(gan)
        assert type(adversarial_task(adv)(gan, TrainConfig(), CPU, DistInfo())) is AdversarialTask
    slow = adversarial_task(AdversarialConfig(engine="autograd"))(small_gan(), TrainConfig(), CPU, DistInfo())
    assert type(slow) is AdversarialTask
    with pytest.raises(ValueError, match="engine"):
        AdversarialConfig(engine="numpy")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="autograd"):
        MLPAdversarialTask(small_gan(loss="wgan_gp"), TrainConfig(), CPU, DistInfo(), adv)
    gan = small_gan()
    task = MLPAdversarialTask(gan, TrainConfig(), CPU, DistInfo(), adv)
    before = [p.detach().clone() for p in gan.parameters()]
    real = Ring().sample(16, torch.Generator().manual_seed(0))
    real[3, 0] = float("nan")
    with pytest.raises(Diverged, match="loss nan"):
        task.step(real, 1)
    assert all(torch.equal(p, q) for p, q in zip(gan.parameters(), before))   # the last good weights are kept


def test_n_critic_steps_and_weight_clipping():
    gan = small_gan(loss="wgan_clip")
    source = SamplerBatches(Ring(), 16, 0, CPU)
    adv = AdversarialConfig(scheme="n_critic", n_critic=3, lr_g=0.05, lr_d=0.05, clip_value=0.02)
    task = adversarial_task(adv, source)(gan, TrainConfig(), CPU, DistInfo())
    for step in range(1, 3):
        task.step(source.next_batch(), step)
    state_d = task.opt_d.state[task.d_params[0]]["step"]
    state_g = task.opt_g.state[task.g_params[0]]["step"]
    assert float(state_d) == 6 and float(state_g) == 2          # 3 critic steps per generator step
    assert max(p.abs().max().item() for p in gan.discriminator.parameters()) <= 0.02 + 1e-7
    assert max(p.abs().max().item() for p in gan.generator.parameters()) > 0.02  # G is not clipped


def test_generator_step_leaves_the_critic_alone_and_every_parameter_learns():
    gan = small_gan(loss="wgan_gp")
    task = AdversarialTask(gan, TrainConfig(), CPU, DistInfo(), AdversarialConfig())
    before = {n: p.detach().clone() for n, p in gan.named_parameters()}
    m = task.step(Ring().sample(32, torch.Generator().manual_seed(0)), 1)
    assert "gp" in m and m["gp"] >= 0
    for n, p in gan.named_parameters():
        if n != "discriminator.4.bias":      # E_G D - E_data D does not depend on the critic's output bias
            assert not torch.equal(before[n], p), f"{n} was not updated"
    # the generator's update computed no critic gradients (backward(inputs=G params))
    task.opt_d.zero_grad(set_to_none=True)
    fake = gan.generate(torch.randn(8, 2))
    task._update_g(losses.generator_loss("wgan_gp", gan.critic(fake)))
    assert all(p.grad is None for p in gan.discriminator.parameters())


def test_shared_loop_trains_a_gan_and_stops_on_divergence():
    gan = small_gan()
    source = SamplerBatches(Ring(), 64, 0, CPU)
    cfg = TrainConfig(steps=40, batch_size=64, log_every=10, device="cpu")
    events = list(train(gan, source, cfg, task_factory=adversarial_task(AdversarialConfig(), source)))
    assert [e.kind for e in events][0] == "start" and events[-1].kind == "done"
    steps = [e for e in events if e.kind == "step"]
    assert [e.step for e in steps] == [10, 20, 30, 40] and "g_loss" in steps[0].metrics
    # a learning rate that blows the weights up ends in a "diverged" event, never a NaN update
    bad = small_gan(loss="fgan_kl")
    events = list(train(bad, source, TrainConfig(steps=300, log_every=50, device="cpu"),
                        task_factory=adversarial_task(AdversarialConfig(lr_g=1e4, lr_d=1e4), source)))
    if events[-1].kind == "diverged":
        assert all(torch.isfinite(p).all() for p in bad.parameters())


@pytest.mark.parametrize("n_classes", [0, 10])
def test_dcgan_shapes_gradients_and_round_trip(tmp_path, n_classes):
    torch.manual_seed(0)
    model = DCGAN(DCGANConfig(latent_dim=8, channels=4, n_classes=n_classes, normalization="spectral"))
    y = torch.arange(6) % 10 if n_classes else None
    x = model.generate(torch.randn(6, 8), y)
    assert x.shape == (6, 1, 28, 28) and 0 <= x.min() and x.max() <= 1
    assert model.critic(x, y).shape == (6,)
    images = (torch.rand(64, 1, 28, 28) * 255).to(torch.uint8)
    labels = torch.arange(64) % 10
    source = LabelledBatches(images, labels, 16, 0, CPU) if n_classes else None
    task = AdversarialTask(model, TrainConfig(), CPU, DistInfo(), AdversarialConfig(lr_g=1e-3, lr_d=1e-3))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    batch = source.next_batch() if source else images[:16].float() / 255
    task.step(batch, 1)
    for n, p in model.named_parameters():
        assert not torch.equal(before[n], p), f"{n} was not updated"
    model.eval()
    model.save_pretrained(tmp_path)
    back = load_pretrained(tmp_path)
    z = torch.randn(3, 8)
    yy = torch.tensor([1, 2, 3]) if n_classes else None
    assert torch.equal(back.generate(z, yy), model.generate(z, yy))
    assert model.interpolate(torch.zeros(8), torch.ones(8), 5, None if not n_classes else torch.tensor(4)).shape == (5, 1, 28, 28)
    with pytest.raises(ValueError):
        model.generate(z, None if n_classes else torch.tensor([1, 2, 3]))


# -- FID-FMNIST and the classifier ----------------------------------------------------------------------------------


def test_frechet_distance_closed_forms():
    from scipy import linalg

    from gen_core.metrics.fid import fid_from_features, frechet_distance

    g = np.random.default_rng(0)
    a = g.normal(size=(4000, 3))
    assert abs(fid_from_features(a, a)) < 1e-9
    # diagonal Gaussians: ||mu1 - mu2||^2 + sum (s1 - s2)^2
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    s1, s2 = np.diag([1.0, 4.0, 9.0]), np.diag([4.0, 1.0, 1.0])
    assert abs(frechet_distance(mu1, s1, mu2, s2) - (5.0 + 1 + 1 + 4)) < 1e-9
    # a full-covariance case against scipy's matrix square root
    m = g.normal(size=(5, 5))
    c1, c2 = m @ m.T + np.eye(5), np.cov(g.normal(size=(50, 5)), rowvar=False)
    ref = np.trace(c1) + np.trace(c2) - 2 * np.trace(linalg.sqrtm(c1 @ c2).real)
    assert abs(frechet_distance(np.zeros(5), c1, np.zeros(5), c2) - ref) < 1e-6
    # a singular covariance (a dead feature) stays finite
    c3 = c1.copy()
    c3[0, :] = c3[:, 0] = 0.0
    assert np.isfinite(frechet_distance(np.zeros(5), c3, np.zeros(5), c2))


def test_prdc_known_answers():
    from gen_core.metrics.fid import prdc

    g = np.random.default_rng(1)
    real = g.normal(size=(600, 2))
    same = prdc(real, g.normal(size=(600, 2)))
    assert same["precision"] > 0.9 and same["recall"] > 0.9 and 0.8 < same["density"] < 1.2 and same["coverage"] > 0.9
    far = prdc(real, g.normal(size=(600, 2)) + 10.0)
    assert far == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}
    collapsed = prdc(real, 0.01 * g.normal(size=(600, 2)))          # all fakes at the centre: precise, not diverse
    assert collapsed["precision"] > 0.9 and collapsed["recall"] < 0.1 and collapsed["coverage"] < 0.2


def test_classifier_shapes_augmentation_and_round_trip(tmp_path):
    from gen_core.models.classifier import ClassifierConfig, FMNISTClassifier

    torch.manual_seed(0)
    clf = FMNISTClassifier(ClassifierConfig(channels=4, hidden=16))
    x, y = torch.rand(6, 1, 28, 28), torch.arange(6)
    out = clf((x, y))
    assert out["loss"].ndim == 0 and clf.features(x).shape == (6, 16) and clf.predict(x).shape == (6,)
    dot = torch.zeros(1, 1, 28, 28)
    dot[0, 0, 14, 14] = 1.0
    moved = clf.augment(dot.expand(50, -1, -1, -1))
    assert torch.allclose(moved.sum(dim=(1, 2, 3)), torch.ones(50))          # a shift or flip keeps the pixel
    rows, cols = moved[:, 0].nonzero()[:, 1], moved[:, 0].nonzero()[:, 2]
    assert rows.min() >= 12 and rows.max() <= 16 and len(set(cols.tolist())) > 1
    clf.eval()
    clf.save_pretrained(tmp_path)
    back = load_pretrained(tmp_path)
    assert torch.equal(back.features(x), clf.features(x))


def test_cli_trains_evaluates_and_documents_a_2d_gan(tmp_path, capsys):
    from gen_core.cli import main

    out = tmp_path / "gan"
    assert main(["train", "gan", "--target", "grid", "--steps", "30", "--batch-size", "32", "--hidden", "16",
                 "--depth", "1", "--loss", "hinge", "--scheme", "n_critic", "--n-critic", "2", "--log-every", "10",
                 "--checkpoint-every", "0", "--out", str(out)]) == 0
    capsys.readouterr()
    card = (out / "README.md").read_text()
    assert "- Steps: 30 " in card and "high_quality_pct" in card and "Mode coverage (EVALUATION.md" in card
    assert main(["eval", str(out)]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["n_modes"] == 25 and 0 <= metrics["modes"] <= 25 and metrics["n_sample_seeds"] == 5
    assert main(["train", "gan", "--target", "beta", "--steps", "5", "--out", str(tmp_path / "bad")]) == 2
