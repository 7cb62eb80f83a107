"""Contracts of the latent-variable models beyond the Gaussian VAE (issue 7): CVAE, VQ-VAE, dVAE, flow-prior VAE,
and the ELBO surgery split. Closed forms where they exist; gradients, save/load and the CLI end to end."""

from __future__ import annotations

import json
import math

import pytest
import torch

from gen_core import cli, losses
from gen_core.metrics.latent_models import evaluate_cvae, evaluate_dvae, evaluate_vqvae
from gen_core.metrics.surgery import elbo_surgery, log_q_agg, split_kl
from gen_core.models import (CVAE, DVAE, VAE, VQVAE, CVAEConfig, DVAEConfig, FlowPriorVAE, FlowPriorVAEConfig,
                             VAEConfig, VQVAEConfig, load_pretrained)
from gen_core.models.cvae import marginal_log_likelihood
from gen_core.models.discrete import (code_counts, codebook_perplexity, codebook_usage, kl_categorical_uniform,
                                      nearest_code, straight_through_quantize, temperature, vq_loss_terms)


def images(n: int = 6, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


# -- pure functions ------------------------------------------------------------------------------------------------

def test_nearest_code_matches_brute_force():
    g = torch.Generator().manual_seed(0)
    z, book = torch.randn(50, 4, generator=g), torch.randn(9, 4, generator=g)
    brute = torch.cdist(z, book).argmin(1)
    assert torch.equal(nearest_code(z, book), brute)


def test_straight_through_value_and_gradient():
    z_e = torch.randn(3, 4, requires_grad=True)
    z_q = torch.randn(3, 4)
    out = straight_through_quantize(z_e, z_q)
    assert torch.allclose(out, z_q)                     # forward: the quantised value
    (out * torch.arange(4.0)).sum().backward()
    assert torch.allclose(z_e.grad, torch.arange(4.0).expand(3, 4))   # backward: identity onto z_e


def test_vq_terms_move_only_their_side():
    z_e = torch.randn(2, 3, requires_grad=True)
    book = torch.randn(2, 3, requires_grad=True)
    codebook, commitment = vq_loss_terms(z_e, book)
    assert torch.allclose(codebook, commitment) and torch.allclose(codebook, (z_e - book).pow(2).sum(1))
    codebook.sum().backward(retain_graph=True)
    assert z_e.grad is None and book.grad is not None
    book.grad = None
    commitment.sum().backward()
    assert book.grad is None and z_e.grad is not None


def test_usage_and_perplexity_known_answers():
    counts = code_counts(torch.tensor([0, 0, 1, 3]), 4)
    assert counts.tolist() == [2, 1, 0, 1]
    assert codebook_usage(counts) == 0.75
    assert codebook_perplexity(torch.tensor([5, 5, 5, 5])) == pytest.approx(4.0)
    assert codebook_perplexity(torch.tensor([7, 0, 0])) == pytest.approx(1.0)
    p = torch.tensor([0.5, 0.25, 0.25])
    assert codebook_perplexity(torch.tensor([2, 1, 1])) == pytest.approx(math.exp(-(p * p.log()).sum().item()))


def test_kl_categorical_uniform_closed_form():
    assert kl_categorical_uniform(torch.zeros(5)).item() == pytest.approx(0.0, abs=1e-6)
    assert kl_categorical_uniform(torch.tensor([50.0, 0, 0, 0])).item() == pytest.approx(math.log(4), abs=1e-5)
    logits = torch.randn(10)
    q = logits.softmax(-1)
    assert kl_categorical_uniform(logits).item() == pytest.approx((q * (q * 10).log()).sum().item(), abs=1e-5)


def test_temperature_schedule():
    assert temperature(0, 1.0, 0.5, 1e-3) == 1.0
    assert temperature(100, 1.0, 0.1, 1e-3) == pytest.approx(math.exp(-0.1))
    assert temperature(10**6, 1.0, 0.5, 1e-3) == 0.5
    with pytest.raises(ValueError):
        temperature(0, 0.0, 0.5, 1e-3)


def test_gumbel_max_samples_match_the_categorical():
    """dVAE's exact (Gumbel-max) samples follow q(z|x) = softmax(logits): frequencies within 4 standard errors."""
    model = DVAE(DVAEConfig(n_latents=1, n_categories=4))
    logits = torch.log(torch.tensor([0.1, 0.2, 0.3, 0.4])).expand(20_000, 1, 4)
    z = model.sample_latents(logits, tau=1.0, hard="gumbel_max", generator=torch.Generator().manual_seed(0))
    freq = z.mean(dim=(0, 1))
    se = (torch.tensor([0.1, 0.2, 0.3, 0.4]) * 0.9 / 20_000).sqrt()
    assert ((freq - torch.tensor([0.1, 0.2, 0.3, 0.4])).abs() < 4 * se).all()
    assert torch.equal(z.sum(-1), torch.ones(20_000, 1))


def test_straight_through_dvae_passes_gradients_to_the_encoder():
    torch.manual_seed(0)
    model = DVAE(DVAEConfig(n_latents=3, n_categories=4, estimator="straight_through"))
    x = model.preprocess(images())
    model(x, step=0)["loss"].backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.encoder.parameters())


def test_marginal_log_likelihood_uniform_label_prior():
    ll = torch.log(torch.tensor([[0.2, 0.4]]))
    assert marginal_log_likelihood(ll).item() == pytest.approx(math.log(0.3))


# -- ELBO surgery -------------------------------------------------------------------------------------------------

def test_log_q_agg_of_one_component_is_that_gaussian():
    mu, logvar = torch.tensor([[0.5, -1.0]]), torch.tensor([[0.2, -0.3]])
    z = torch.randn(7, 2)
    assert torch.allclose(log_q_agg(z, mu, logvar), losses.normal_log_prob(z, mu, logvar), atol=1e-5)


def test_log_q_agg_of_two_components_closed_form():
    mu, logvar = torch.tensor([[0.0], [2.0]]), torch.zeros(2, 1)
    z = torch.tensor([[1.0]])
    expected = math.log(0.5 * math.exp(-0.5) / math.sqrt(2 * math.pi) * 2)
    assert log_q_agg(z, mu, logvar).item() == pytest.approx(expected, abs=1e-6)


def test_surgery_terms_sum_to_the_kl_and_mi_is_bounded():
    g = torch.Generator().manual_seed(0)
    n, k, d = 40, 8, 2
    mu, logvar = torch.randn(n, d, generator=g), torch.randn(n, d, generator=g) * 0.3 - 1.0
    z = mu + (0.5 * logvar).exp() * torch.randn(k, n, d, generator=g)
    parts = split_kl(z, mu, logvar, losses.std_normal_log_prob)
    assert torch.allclose(parts["kl"], parts["mutual_info"] + parts["marginal_kl"], atol=1e-4)
    mi = parts["mutual_info"].mean().item()
    assert -0.2 < mi <= math.log(n) + 0.2
    exact = losses.kl_normal_std_normal(mu, logvar).mean().item()      # closed form vs Monte Carlo
    assert parts["kl"].mean().item() == pytest.approx(exact, abs=0.35)


def test_identical_posteriors_carry_no_information():
    """All images with the same q(z|x): q_agg = q(z|x), so I_q = 0 exactly and KL(q_agg || p) is the whole KL."""
    mu, logvar = torch.full((10, 2), 0.7), torch.full((10, 2), -0.5)
    z = mu + (0.5 * logvar).exp() * torch.randn(4, 10, 2)
    parts = split_kl(z, mu, logvar, losses.std_normal_log_prob)
    assert parts["mutual_info"].abs().max().item() < 1e-5
    assert torch.allclose(parts["marginal_kl"], parts["kl"], atol=1e-5)


@pytest.mark.parametrize("flow_prior", [False, True], ids=["gaussian-prior", "flow-prior"])
def test_elbo_surgery_identity_on_a_model(flow_prior):
    torch.manual_seed(0)
    model = FlowPriorVAE(FlowPriorVAEConfig(latent_dim=2)) if flow_prior else VAE(VAEConfig(latent_dim=2))
    t = elbo_surgery(model, images(30), n_samples=3)
    assert t.elbo == pytest.approx(t.recon - t.mutual_info - t.marginal_kl, abs=1e-3)
    assert t.kl == pytest.approx(t.mutual_info + t.marginal_kl, abs=1e-3)
    assert (t.kl_closed_form is None) == flow_prior
    if not flow_prior:
        assert t.kl == pytest.approx(t.kl_closed_form, abs=3 * t.kl_se + 0.05)


# -- models: gradients, shapes, save/load --------------------------------------------------------------------------

MODELS = {
    "cvae": lambda: CVAE(CVAEConfig(latent_dim=4, hidden=32)),
    "vqvae": lambda: VQVAE(VQVAEConfig(codebook_size=16, code_dim=4, channels=8)),
    "dvae": lambda: DVAE(DVAEConfig(n_latents=3, n_categories=4, channels=8, hidden=32)),
    "flow_prior_vae": lambda: FlowPriorVAE(FlowPriorVAEConfig(latent_dim=2, channels=8, hidden=32)),
}


def batch_for(name: str, model):
    x = model.preprocess(images())
    return (x, torch.tensor([0, 1, 2, 3, 4, 9])) if name == "cvae" else x


@pytest.mark.parametrize("name", list(MODELS))
def test_every_parameter_gets_a_gradient(name):
    torch.manual_seed(0)
    model = MODELS[name]()
    with torch.no_grad():   # the flow prior starts as the identity (zero last layers), which blocks gradients
        for p in model.parameters():
            if not p.abs().sum():
                p.normal_(0.0, 0.01)
    out = model(batch_for(name, model), step=1)
    assert out["loss"].ndim == 0 and torch.isfinite(out["loss"])
    out["loss"].backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, pname


@pytest.mark.parametrize("name", list(MODELS))
def test_save_load_round_trip_is_exact(name, tmp_path):
    torch.manual_seed(0)
    model = MODELS[name]()
    model(batch_for(name, model), step=1)            # VQ-VAE: initialises its codebook from the batch
    model.save_pretrained(tmp_path / name)
    back = load_pretrained(tmp_path / name)
    assert type(back) is type(model) and back.config == model.config
    for (k, a), (_, b) in zip(model.state_dict().items(), back.state_dict().items()):
        assert torch.equal(a, b), k


def test_cvae_label_checks_and_class_conditioning():
    torch.manual_seed(0)
    model = CVAE(CVAEConfig(latent_dim=4, hidden=32))
    assert model.sample(3, y=2).shape == (3, 1, 28, 28)
    grid = model.decode_all_classes(torch.zeros(4))
    assert grid.shape == (10, 1, 28, 28) and not torch.allclose(grid[0], grid[1])
    assert torch.allclose(grid[3], model.decode(torch.zeros(1, 4), 3)[0])
    assert model.traverse(5, torch.zeros(4), 1, torch.linspace(-2, 2, 5)).shape == (5, 1, 28, 28)
    for bad in (10, -1, 1.5, True, torch.tensor([0.5])):
        with pytest.raises(ValueError, match="class label"):
            model.sample(1, y=bad)


def test_cvae_iwae_bound_at_least_elbo():
    torch.manual_seed(0)
    model = CVAE(CVAEConfig(latent_dim=4, hidden=32))
    x = model.preprocess(images(4))
    y = torch.tensor([1, 2, 3, 4])
    elbo = torch.stack([model.elbo_terms(x, y)["elbo"] for _ in range(200)]).mean(0)
    iwae = model.iwae_log_likelihood(x, y, k=200)
    assert (iwae >= elbo - 0.5).all()


def test_vqvae_codebook_initialised_from_encoder_outputs():
    torch.manual_seed(0)
    model = VQVAE(VQVAEConfig(codebook_size=16, code_dim=4, channels=8)).train()
    x = model.preprocess(images(8))
    model(x, step=0)
    z_e = model.encode_continuous(x).permute(0, 2, 3, 1).reshape(-1, 4)
    dist = (model.codebook.detach()[:, None] - z_e.detach()[None]).norm(dim=-1).min(1).values  # exact, not cdist's mm
    assert dist.max() < 1e-5                           # every code is one of the batch's encoder outputs


def test_vqvae_restarts_dead_codes():
    torch.manual_seed(0)
    model = VQVAE(VQVAEConfig(codebook_size=16, code_dim=4, channels=8, restart_every=1, usage_decay=0.0))
    model.train()
    x = model.preprocess(images(8))
    model(x, step=0)
    model.codebook.data[5] = 1e3                        # a code nothing is near: dead
    model(x, step=1)                                   # usage decays to this batch's counts, then restart
    assert model.codebook.data[5].abs().max() < 1e3


def test_flow_prior_is_a_normalised_density():
    """The flow prior integrates to 1 over a wide 2-D grid (change of variables)."""
    torch.manual_seed(0)
    model = FlowPriorVAE(FlowPriorVAEConfig(latent_dim=2))
    xs = torch.linspace(-8, 8, 321)
    gx, gy = torch.meshgrid(xs, xs, indexing="ij")
    with torch.no_grad():
        p = model.prior_log_prob(torch.stack([gx.flatten(), gy.flatten()], 1)).exp()
    assert (p.sum() * (xs[1] - xs[0]) ** 2).item() == pytest.approx(1.0, abs=0.01)
    assert model.sample(3).shape == (3, 1, 28, 28)


# -- held-out metrics and the CLI ---------------------------------------------------------------------------------

def test_evaluators_on_real_test_images(fmnist_test):
    torch.manual_seed(0)
    x, y = fmnist_test.float_images(slice(0, 64)), fmnist_test.labels[:64]
    m = evaluate_cvae(CVAE(CVAEConfig(latent_dim=4, hidden=32)), x, y, iwae_k=10, iwae_n=8)
    assert m["elbo"] == pytest.approx(-(m["recon_nll"] + m["kl"]), rel=1e-5) and m["iwae_n"] == 8
    v = evaluate_vqvae(MODELS["vqvae"](), x)
    assert 0 < v["codebook_usage"] <= 1 and v["codes_used"] == round(v["codebook_usage"] * 16)
    d = evaluate_dvae(MODELS["dvae"](), x)
    assert d["elbo"] == pytest.approx(-(d["recon_nll"] + d["kl"]), rel=1e-5)
    assert 0 <= d["kl"] <= 3 * math.log(4) + 1e-4


@pytest.mark.parametrize("model,extra", [
    ("cvae", ["--latent-dim", "4", "--hidden", "32"]),
    ("vqvae", ["--codebook-size", "16", "--code-dim", "4", "--channels", "8"]),
    ("dvae", ["--n-latents", "3", "--n-categories", "4", "--channels", "8", "--hidden", "32"]),
    ("flow_prior_vae", ["--latent-dim", "2", "--channels", "8", "--hidden", "32", "--prior-layers", "2"]),
])
def test_cli_trains_evaluates_and_resumes(model, extra, tmp_path, capsys):
    out = tmp_path / model
    common = ["train", model, "--out", str(out), "--batch-size", "32", "--iwae-k", "5", "--iwae-n", "10",
              "--threads", "1", "--checkpoint-every", "5", "--keep-state", "--eval-n", "100", *extra]
    assert cli.main([*common, "--steps", "5"]) == 0
    assert cli.main([*common, "--steps", "10", "--resume"]) == 0
    card = (out / "README.md").read_text()
    assert "Held-out metrics" in card and "- Command: `python -m gen_core" in card
    assert json.loads((out / "training_state.json").read_text())["step"] == 10
    assert load_pretrained(out).config_dict["model_type"] == model
    assert cli.main(["eval", str(out), "--iwae-k", "5", "--iwae-n", "10"]) == 0
