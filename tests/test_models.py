"""Contracts of the autoencoder family: shapes, gradients, the IWAE bound's properties."""

from __future__ import annotations

import pytest
import torch

from gen_core.models import VAE, Autoencoder, AutoencoderConfig, VAEConfig

CONFIGS = [
    VAEConfig(latent_dim=8),
    VAEConfig(latent_dim=2, likelihood="gaussian"),
    VAEConfig(latent_dim=4, likelihood="gaussian", gaussian_logvar=-2.0, beta=4.0, kl_schedule="linear",
              kl_warmup_steps=10),
    VAEConfig(latent_dim=10, architecture="conv64", beta=4.0),
    AutoencoderConfig(latent_dim=8),
    AutoencoderConfig(latent_dim=8, corruption="gaussian"),
    AutoencoderConfig(latent_dim=8, corruption="masking", noise_level=0.5),
]


def build(cfg):
    torch.manual_seed(0)
    return (VAE if isinstance(cfg, VAEConfig) else Autoencoder)(cfg)


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"{c.model_type}-{getattr(c, 'likelihood', None) or c.corruption}")
def test_every_parameter_gets_a_gradient(cfg):
    model = build(cfg)
    size = 64 if getattr(cfg, "architecture", "conv28") == "conv64" else 28
    x = model.preprocess(torch.rand(6, 1, size, size))
    out = model(x, step=5)
    assert out["loss"].ndim == 0 and torch.isfinite(out["loss"])
    out["loss"].backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"{c.model_type}-{getattr(c, 'likelihood', None) or c.corruption}")
def test_shapes(cfg):
    model = build(cfg)
    size = 64 if getattr(cfg, "architecture", "conv28") == "conv64" else 28
    x = torch.rand(3, 1, size, size)
    if isinstance(model, VAE):
        mu, logvar = model.encode(x)
        assert mu.shape == logvar.shape == (3, cfg.latent_dim)
        img = model.decode(mu)
        assert model.sample(5).shape == (5, 1, size, size) and model.image_size == size
    else:
        img = model.reconstruct(x)
        assert model.anomaly_score(x).shape == (3,)
    assert img.shape == (3, 1, size, size) and img.min() >= 0 and img.max() <= 1


def test_preprocess_supports():
    model = build(VAEConfig(latent_dim=2))
    x = torch.rand(2, 1, 28, 28)
    assert set(model.preprocess(x).unique().tolist()) <= {0.0, 1.0}
    g = build(VAEConfig(latent_dim=2, likelihood="gaussian")).preprocess(x)
    assert (g >= x * 255 / 256).all() and (g <= (x * 255 + 1) / 256).all()


def test_anomaly_score_is_squared_error():
    ae = build(AutoencoderConfig(latent_dim=4))
    x = torch.rand(2, 1, 28, 28)
    assert torch.allclose(ae.anomaly_score(x), ((x - ae.reconstruct(x)) ** 2).sum(dim=(1, 2, 3)))


def test_iwae_bound_at_least_elbo_and_non_decreasing_in_k():
    model = build(VAEConfig(latent_dim=4))
    # A few training steps so q(z|x) is not the prior.
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = model.preprocess(torch.rand(32, 1, 28, 28) * 0.5)
    for _ in range(20):
        opt.zero_grad()
        model(x)["loss"].backward()
        opt.step()
    torch.manual_seed(1)
    xs = x[:8]
    means = {k: torch.stack([model.iwae_log_likelihood(xs, k=k).mean() for _ in range(5)]).mean().item()
             for k in (1, 10, 100)}
    elbo = torch.stack([model.elbo_terms(xs)["elbo"].mean() for _ in range(20)]).mean().item()
    assert abs(means[1] - elbo) < 0.05 * abs(elbo)          # K = 1 is the ELBO
    assert means[1] <= means[10] <= means[100]
    assert means[100] > elbo


def test_bad_configs_raise():
    with pytest.raises(ValueError, match="latent_dim"):
        VAE(VAEConfig(latent_dim=0))
    with pytest.raises(ValueError, match="likelihood"):
        VAE(VAEConfig(likelihood="poisson"))
    with pytest.raises(ValueError, match="beta"):
        VAE(VAEConfig(beta=-1))
    with pytest.raises(ValueError, match="k must be"):
        build(VAEConfig(latent_dim=2)).iwae_log_likelihood(torch.rand(1, 1, 28, 28), k=0)
    with pytest.raises(ValueError, match="beta_start and beta_end > 0"):
        VAE(VAEConfig(kl_schedule="decay", beta_start=0.0, beta=4.0))
    with pytest.raises(ValueError, match="kl_schedule must be"):
        VAE(VAEConfig(kl_schedule="cosine"))


def test_decaying_beta_weighs_the_kl_by_the_schedule_at_each_step():
    model = build(VAEConfig(latent_dim=4, beta=4.0, kl_schedule="decay", beta_start=16.0, beta_hold_steps=10,
                            beta_decay_steps=20))
    x = torch.rand(8, 1, 28, 28).round()
    for step, beta in ((0, 16.0), (20, 8.0), (30, 4.0), (1000, 4.0)):
        torch.manual_seed(1)
        out = model(x, step=step)
        assert out["beta"].item() == pytest.approx(beta)
        assert out["loss"].item() == pytest.approx((out["recon"] + beta * out["kl"]).item(), rel=1e-5)


def test_interpolation_ends_are_reconstructions():
    model = build(VAEConfig(latent_dim=3)).eval()
    a, b = torch.rand(1, 1, 28, 28), torch.rand(1, 1, 28, 28)
    strip = model.interpolate(a, b, steps=5)
    assert strip.shape == (5, 1, 28, 28)
    assert torch.allclose(strip[0], model.decode(model.encode(a)[0])[0], atol=1e-6)
    assert torch.allclose(strip[-1], model.decode(model.encode(b)[0])[0], atol=1e-6)
    with pytest.raises(ValueError, match="steps"):
        model.interpolate(a, b, steps=1)


def test_decode_grid_layout():
    model = build(VAEConfig(latent_dim=2)).eval()
    grid = model.decode_grid(n=3, extent=2.0)
    assert grid.shape == (9, 1, 28, 28)
    # top-left cell is z = (-2, +2); bottom-right is (+2, -2)
    assert torch.allclose(grid[0], model.decode(torch.tensor([[-2.0, 2.0]]))[0], atol=1e-6)
    assert torch.allclose(grid[8], model.decode(torch.tensor([[2.0, -2.0]]))[0], atol=1e-6)
    with pytest.raises(ValueError, match="2-D latent"):
        build(VAEConfig(latent_dim=3)).decode_grid()


def test_conv64_is_the_disentanglement_lib_architecture():
    """Layer widths, kernels and parameter count of disentanglement_lib's conv encoder / deconv decoder."""
    model = build(VAEConfig(latent_dim=10, architecture="conv64"))
    convs = [m for m in model.encoder.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size, c.stride) for c in convs] == [
        (32, (4, 4), (2, 2)), (32, (4, 4), (2, 2)), (64, (2, 2), (2, 2)), (64, (2, 2), (2, 2))]
    deconvs = [m for m in model.decoder.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [d.out_channels for d in deconvs] == [64, 32, 32, 1]
    # encoder: convs 544 + 16,416 + 8,256 + 16,448; fc 1024*256+256; head 256*20+20
    assert sum(p.numel() for p in model.encoder.parameters()) == 544 + 16416 + 8256 + 16448 + 262400 + 5140
    with pytest.raises(ValueError, match="architecture"):
        VAE(VAEConfig(architecture="resnet"))


def test_evaluate_vae_refuses_integer_images_with_a_hint():
    from gen_core.metrics.likelihood import evaluate_vae
    vae = VAE(VAEConfig(latent_dim=2, channels=8, hidden=16))
    with pytest.raises(TypeError, match=r"float images in \[0, 1\].*float_images\(\)"):
        evaluate_vae(vae, torch.zeros(4, 1, 28, 28, dtype=torch.uint8), iwae_k=0)
