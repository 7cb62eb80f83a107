"""The beta-VAE pieces behind the tab and the shipped sweep: traversals, card metadata, the live MIG estimate,
and `python -m gen_core train vae --dataset dsprites` end to end (train, evaluate, card)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from gen_core.data.dsprites import DSprites
from gen_core.hub import read_card_metadata
from gen_core.metrics.beta_vae import (encoder_mean_fn, factor_response, latent_factor_report, latent_response,
                                      mig_estimate)
from gen_core.models import VAE, VAEConfig
from tests.test_cli import cli


@pytest.fixture(scope="module")
def vae() -> VAE:
    torch.manual_seed(0)
    return VAE(VAEConfig(latent_dim=10, architecture="conv64", beta=4.0)).eval()


def test_traverse_sets_one_dim_per_row_and_keeps_the_others_at_the_posterior_mean(vae):
    image, _ = DSprites().sample(1, 3)
    values = torch.linspace(-3, 3, 5)
    dims = [4, 1]
    cells = vae.traverse(image, values, dims)
    assert cells.shape == (len(dims) * len(values), 1, 64, 64)
    mu = vae.encode(image)[0][0]
    for row, d in enumerate(dims):
        for col, v in enumerate(values):
            z = mu.clone()
            z[d] = v
            torch.testing.assert_close(cells[row * len(values) + col], vae.decode(z[None])[0])


def test_traverse_rejects_bad_input(vae):
    image, _ = DSprites().sample(2, 3)
    with pytest.raises(ValueError, match="one image"):
        vae.traverse(image, torch.zeros(3))
    with pytest.raises(ValueError, match="dims must lie"):
        vae.traverse(image[:1], torch.zeros(3), dims=[10])


def test_live_mig_estimate_is_a_fraction_and_restores_the_mode(vae):
    vae.train()
    value = mig_estimate(vae, n=500)
    assert 0.0 <= value <= 1.0 and vae.training
    vae.eval()


def test_latent_factor_report_shapes_and_a_dim_that_copies_a_factor():
    report = latent_factor_report(_FactorCopy(), n=2000)
    mi = np.asarray(report["mutual_info"])
    assert mi.shape == (10, 5) and len(report["kl_per_dim"]) == 10
    # dim 0 is the sprite's x centre of mass: with 20 bins it carries most of log 20 nats about the x position;
    # about the other factors only the plug-in bias (~(20 - 1)(40 - 1) / (2 n) = 0.19 nats for orientation) and the
    # small shift of an asymmetric sprite's centre of mass with orientation and scale
    assert mi[0, 3] > 2.0 and mi[0, 3] > 5 * mi[0, [0, 1, 2, 4]].max()
    assert np.abs(mi[1:]).max() < 1e-9  # constant dims carry no information
    activity = np.asarray(report["code_variance"])
    assert activity.shape == (10,) and activity[0] > 10 and np.abs(activity[1:]).max() < 1e-12   # x moves dim 0 only


def test_code_variance_is_the_variance_of_each_dims_mean_over_images():
    from gen_core.metrics.beta_vae import code_variance
    rng = np.random.default_rng(0)
    means = np.c_[rng.normal(0.0, 2.0, 4000), np.full(4000, 1.7), rng.normal(5.0, 0.05, 4000)]
    v = code_variance(means)
    assert abs(v[0] - 4.0) < 0.2 and v[1] < 1e-20 and abs(v[2] - 0.0025) < 3e-4   # a constant shift is not activity
    assert np.allclose(v, means.var(axis=0))
    with pytest.raises(ValueError, match="n >= 2"):
        code_variance(np.zeros((1, 3)))


class _FactorCopy(VAE):
    """A 'VAE' whose posterior mean in dim 0 is the sprite's x centre of mass (a known answer for the MI)."""

    def __init__(self) -> None:
        super().__init__(VAEConfig(latent_dim=10, architecture="conv64"))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        cols = torch.arange(64, dtype=x.dtype)
        com = (x[:, 0].sum(1) * cols).sum(1) / x[:, 0].sum((1, 2))
        mu = torch.zeros(x.shape[0], 10)
        mu[:, 0] = com
        return mu, torch.zeros_like(mu)


def test_encoder_mean_fn_returns_cpu_means(vae):
    images, _ = DSprites().sample(10, 0)
    with torch.no_grad():
        expected = vae.encode(images)[0]
    # mini-batches (3, 3, 3, 1) of a channels-last copy: the same means, and the caller's model untouched
    torch.testing.assert_close(encoder_mean_fn(vae, batch_size=3)(images), expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(encoder_mean_fn(vae)(images), expected, atol=1e-5, rtol=1e-5)
    assert all(p.is_contiguous() for p in vae.parameters())


def test_frozen_encoder_matches_eager_and_falls_back_when_a_trace_would_not(vae):
    images, _ = DSprites().sample(9, 1)
    with torch.no_grad():
        expected = vae.encode(images)[0]
    represent = encoder_mean_fn(vae, batch_size=4)
    first, again = represent(images), represent(images)   # eager, then the frozen graph
    torch.testing.assert_close(first, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(again, expected, atol=1e-5, rtol=1e-5)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)                              # batches on two worker threads, in order
    try:
        torch.testing.assert_close(represent(images), expected, atol=1e-5, rtol=1e-5)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)

    class Branchy(VAE):
        """An encoder with a data-dependent Python branch: a trace records only the branch of its example."""

        def __init__(self) -> None:
            super().__init__(VAEConfig(latent_dim=10, architecture="conv64"))

        def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            sign = 1.0 if float(x[0].sum()) > 0 else -1.0
            mu = sign * (x.mean((1, 2, 3))[:, None].repeat(1, 10) + 1.0)
            return mu, torch.zeros_like(mu)

    blank = torch.zeros(4, 1, 64, 64)
    mixed = torch.cat([images[:4], blank])          # batch 1 takes the + branch, batch 2 the - branch
    model = Branchy()
    represent = encoder_mean_fn(model, batch_size=4)
    represent(mixed)
    flipped = torch.cat([blank, images[:4]])        # a frozen + branch would give these images the wrong sign
    expected = torch.cat([model.encode(blank)[0], model.encode(images[:4])[0]])
    torch.testing.assert_close(represent(flipped), expected)


def test_cli_trains_and_scores_a_dsprites_beta_vae(tmp_path: Path):
    out = tmp_path / "bvae"
    res = cli("train", "vae", "--dataset", "dsprites", "--latent-dim", "10", "--beta", "4", "--steps", "6",
              "--batch-size", "16", "--log-every", "3", "--checkpoint-every", "3", "--metrics-preset", "smoke", "--eval-n", "500",
              "--threads", "1", "--precision", "bf16", "--out", str(out))
    assert res.returncode == 0, res.stderr[-2000:]
    config = json.loads((out / "config.json").read_text())
    assert config["architecture"] == "conv64" and config["beta"] == 4.0 and config["latent_dim"] == 10
    meta = read_card_metadata(out)
    metrics = meta["gen_core_metrics"]
    for key in ("elbo", "kl", "recon_nll", "recon_mse", "beta_vae", "factor_vae", "mig", "dci_disentanglement"):
        assert np.isfinite(metrics[key]), key
    assert 0 <= metrics["mig"] <= 1 and 0 <= metrics["factor_vae"] <= 1
    assert np.asarray(metrics["mutual_info"]).shape == (10, 5) and len(metrics["kl_per_dim"]) == 10
    assert metrics["preset"] == "smoke" and meta["gen_core_training"]["steps"] == 6
    card = (out / "README.md").read_text()
    assert "python -m gen_core train vae --dataset dsprites" in card and "'smoke' preset" in card
    assert "| `mig` |" in card
    assert "--precision bf16" in card and "Trained under bfloat16 autocast" in card    # the card says how it trained


def test_read_card_metadata_of_a_folder_without_a_card(tmp_path: Path):
    assert read_card_metadata(tmp_path) == {}


# ---- beta-TCVAE: the total-correlation estimate and the objective (Chen et al. 2018)

def test_total_correlation_is_zero_for_one_dim_and_for_a_factorised_aggregate():
    from gen_core.losses import total_correlation
    torch.manual_seed(0)
    mu, logvar = torch.randn(50, 1), torch.randn(50, 1) * 0.1
    z = mu + torch.exp(0.5 * logvar) * torch.randn(50, 1)
    assert total_correlation(z, mu, logvar).abs() < 1e-6            # one dim: q(z) is its own product
    # every image with the same posterior N(0, I): q(z) = q(z | x) factorises, TC = 0 ...
    mu, logvar = torch.zeros(64, 5), torch.zeros(64, 5)
    z = torch.randn(64, 5)
    assert total_correlation(z, mu, logvar).abs() < 1e-5
    # ... and with Chen et al.'s log(N M) normaliser the estimate is shifted by exactly (D - 1) log N
    n = 737_280
    torch.testing.assert_close(total_correlation(z, mu, logvar, n), torch.tensor(4 * math.log(n)), rtol=1e-5, atol=1e-4)


def test_total_correlation_matches_the_gaussian_closed_form():
    # posteriors N(m_i, s^2 I) centred at draws m_i ~ N(0, [[1, r], [r, 1]]): the aggregate posterior is close to
    # N(0, C) with C = [[1 + s^2, r], [r, 1 + s^2]], whose TC is -1/2 log(1 - rho^2), rho = r / (1 + s^2)
    from gen_core.losses import total_correlation
    g = torch.Generator().manual_seed(1)
    m, r, s = 3000, 0.8, 0.3
    chol = torch.linalg.cholesky(torch.tensor([[1.0, r], [r, 1.0]]))
    mu = torch.randn(m, 2, generator=g) @ chol.T
    logvar = torch.full((m, 2), 2 * math.log(s))
    z = mu + s * torch.randn(m, 2, generator=g)
    rho = r / (1 + s * s)
    expected = -0.5 * math.log(1 - rho * rho)                       # 0.387 nats
    assert abs(float(total_correlation(z, mu, logvar)) - expected) < 0.05
    independent = torch.randn(m, 2, generator=g)                    # the same with r = 0: about 0
    assert abs(float(total_correlation(independent + s * torch.randn(m, 2, generator=g), independent, logvar))) < 0.03


def test_total_correlation_rejects_mismatched_shapes():
    from gen_core.losses import total_correlation
    with pytest.raises(ValueError, match="one shape"):
        total_correlation(torch.zeros(4, 3), torch.zeros(4, 2), torch.zeros(4, 3))


def test_beta_tcvae_objective_is_the_elbo_plus_weighted_tc():
    from gen_core.losses import total_correlation
    images, _ = DSprites().sample(16, 2)
    torch.manual_seed(3)
    tc_model = VAE(VAEConfig(latent_dim=10, architecture="conv64", beta=6.0, objective="beta_tcvae"))
    plain = VAE(VAEConfig(latent_dim=10, architecture="conv64", beta=1.0))
    plain.load_state_dict(tc_model.state_dict())
    torch.manual_seed(4)
    out = tc_model(images)
    torch.manual_seed(4)
    ref = plain(images)                                  # the same posterior draws: -ELBO with beta = 1
    torch.manual_seed(4)
    mu, logvar = tc_model.encode(images)
    z = tc_model.reparameterize(mu, logvar)
    tc = total_correlation(z, mu, logvar)
    torch.testing.assert_close(out["loss"], ref["loss"] + 5.0 * tc)
    torch.testing.assert_close(out["tc"], tc.detach())
    out["loss"].backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in tc_model.encoder.parameters())
    with pytest.raises(ValueError, match="kl_schedule='constant'"):
        VAE(VAEConfig(latent_dim=4, objective="beta_tcvae", kl_schedule="linear", kl_warmup_steps=10))
    with pytest.raises(ValueError, match="objective must be"):
        VAE(VAEConfig(latent_dim=4, objective="tc"))  # type: ignore[arg-type]


def test_kl_capacity_penalty_and_schedule_against_their_formulas():
    from gen_core.losses import kl_capacity_penalty
    from gen_core.models.vae import kl_capacity
    kl = torch.tensor([30.0, 20.0, 25.0], requires_grad=True)
    out = kl_capacity_penalty(kl, 25.0, 1000.0)
    assert out.tolist() == [5000.0, 5000.0, 0.0]             # gamma |KL - C|, symmetric around C
    out[:2].sum().backward()
    assert kl.grad.tolist() == [1000.0, -1000.0, 0.0]         # above C the KL is pushed down, below it up
    with pytest.raises(ValueError, match="must be >= 0"):
        kl_capacity_penalty(kl, -1.0, 1.0)
    assert [kl_capacity(t, 25.0, 100_000) for t in (0, 50_000, 100_000, 200_000)] == [0.0, 12.5, 25.0, 25.0]
    assert kl_capacity(7, 25.0, 0) == 25.0                     # no ramp: the full capacity from the start


def test_annealed_vae_objective_is_recon_plus_gamma_times_the_kl_distance_to_the_capacity():
    images, _ = DSprites().sample(16, 2)
    torch.manual_seed(3)
    model = VAE(VAEConfig(latent_dim=10, architecture="conv64", beta=1000.0, objective="annealed_vae",
                          capacity_max=25.0, capacity_steps=1000))
    for step, capacity in ((0, 0.0), (400, 10.0), (5000, 25.0)):
        torch.manual_seed(4)
        out = model(images, step=step)
        torch.manual_seed(4)
        terms = model.elbo_terms(images)                     # the same posterior draws
        expected = terms["recon"].mean() + 1000.0 * (terms["kl"].mean() - capacity).abs()
        torch.testing.assert_close(out["loss"], expected)
        assert out["capacity"].item() == capacity
    out["loss"].backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.encoder.parameters())
    with pytest.raises(ValueError, match="anneals the capacity"):
        VAE(VAEConfig(latent_dim=4, objective="annealed_vae", kl_schedule="linear", kl_warmup_steps=10))
    with pytest.raises(ValueError, match="capacity_max and capacity_steps must be >= 0"):
        VAE(VAEConfig(latent_dim=4, objective="annealed_vae", capacity_max=-1.0))


def test_cli_trains_an_annealed_vae_with_the_capacity_ramp_over_its_steps(tmp_path: Path):
    out = tmp_path / "annealed"
    res = cli("train", "vae", "--objective", "annealed_vae", "--beta", "50", "--capacity-max", "5", "--steps", "8",
              "--latent-dim", "2", "--channels", "8", "--hidden", "32", "--batch-size", "16", "--iwae-k", "5",
              "--iwae-n", "20", "--eval-n", "50", "--threads", "1", "--out", str(out))
    assert res.returncode == 0, res.stderr[-2000:]
    config = json.loads((out / "config.json").read_text())
    assert (config["objective"], config["capacity_max"], config["capacity_steps"]) == ("annealed_vae", 5.0, 8)
    bad = cli("train", "vae", "--objective", "annealed_vae", "--kl-warmup", "5", "--steps", "2", "--out",
              str(tmp_path / "bad"))
    assert bad.returncode == 2 and "anneals the capacity" in bad.stderr


def test_the_sweep_loads_a_beta_tcvae_beside_the_beta_vaes(tmp_path: Path):
    from gen_core.ui.beta_vae import BetaSweep
    from gen_core.viz.beta_vae import rate_distortion_figure
    shipped = sorted(Path("pretrained").glob("beta-vae-dsprites-b*"))
    if not shipped:
        pytest.skip("needs a shipped beta-VAE in pretrained/")
    (tmp_path / shipped[0].name).symlink_to(shipped[0].resolve())
    res = cli("train", "vae", "--dataset", "dsprites", "--latent-dim", "10", "--beta", "6", "--objective", "beta_tcvae",
              "--steps", "4", "--batch-size", "16", "--metrics-preset", "smoke", "--eval-n", "300", "--threads", "1",
              "--out", str(tmp_path / "beta-tcvae-dsprites-b6"))
    assert res.returncode == 0, res.stderr[-2000:]
    assert json.loads((tmp_path / "beta-tcvae-dsprites-b6" / "config.json").read_text())["objective"] == "beta_tcvae"
    assert "bfloat16" not in (tmp_path / "beta-tcvae-dsprites-b6" / "README.md").read_text()   # float32 by default
    sweep = BetaSweep.load(tmp_path)
    beta_vae = sweep.labels[0]
    assert sweep.labels == [beta_vae, "6 (β-TCVAE)"]          # the beta-VAE sweep first, then the beta-TCVAEs
    assert [row[1] for row in sweep.table()[:2]] == sweep.labels
    fig = sweep.rate_distortion("6 (β-TCVAE)")
    names = [t.name for t in fig.data]
    assert names == ["β-VAE sweep", "β = 6 (β-TCVAE)", "β = 6 (β-TCVAE) (selected)"]
    tc = sweep.models["6 (β-TCVAE)"].metrics
    assert (fig.data[2].x[0], fig.data[2].y[0]) == (tc["kl"], tc["recon_nll"])   # the ring is on the beta-TCVAE
    ring = rate_distortion_figure([1.0, 4.0], [20.0, 10.0], [30.0, 60.0], current=4.0)
    assert (ring.data[-1].x[0], ring.data[-1].y[0]) == (10.0, 60.0)
    labelled = rate_distortion_figure([4.0, 1.0], [10.0, 20.0], [60.0, 30.0], steps=[50_000, 30_000])
    assert list(labelled.data[0].text) == ["β=1 · 30k", "β=4 · 50k"]     # each label keeps its own model's steps


def test_seed_spread_figure_has_every_run_and_the_medians():
    from gen_core.viz.beta_vae import seed_spread_figure
    runs = [(1.0, 0, 0.63, 0.05), (1.0, 2, 0.62, 0.04), (1.0, 3, 0.51, 0.03), (4.0, 0, 0.66, 0.07), (4.0, 2, 0.52, 0.03)]
    fig = seed_spread_figure(runs, published=(0.63, 0.21))
    dots_fv, med_fv, dots_mig, med_mig = fig.data
    assert list(dots_fv.y) == [0.63, 0.62, 0.51, 0.66, 0.52] and list(dots_mig.customdata) == [0, 2, 3, 0, 2]
    assert list(med_fv.x) == [1.0, 4.0] and np.allclose(med_fv.y, [0.62, 0.59])    # median of 3, of 2
    assert np.allclose(med_mig.y, [0.04, 0.05]) and list(med_mig.customdata) == [3, 2]
    assert [shape.y0 for shape in fig.layout.shapes] == [0.63, 0.21]             # the published lines
    go.Figure(json.loads(fig.to_json()))


def test_the_shipped_sweep_plots_each_recorded_seed():
    from gen_core.ui.beta_vae import BetaSweep
    sweep = BetaSweep.load()
    if "4" not in sweep.models or not sweep.models["4"].seed_runs:
        pytest.skip("needs the shipped beta = 4 model with its recorded seeds")
    fig = sweep.seed_spread()
    b4 = [(x, s) for x, s in zip(fig.data[0].x, fig.data[0].customdata) if x == 4.0]
    # the shipped seed and each recorded one, once: runs off the sweep (β = 4 after β = 8) are not dots
    assert sorted(s for _, s in b4) == sorted([0] + [r["seed"] for r in sweep.models["4"].seed_runs])


def _sweep_beside_beta8(tmp_path: Path, folder: str, *args: str) -> Path:
    """A sweep folder holding the shipped beta = 8 model and a dSprites VAE that ``train vae *args`` trains for 3
    steps (smoke metrics) into ``folder``; the beta = 8 model's path."""
    shipped = Path("pretrained/beta-vae-dsprites-b8")
    if not shipped.is_dir():
        pytest.skip("needs the shipped beta = 8 model in pretrained/")
    (tmp_path / shipped.name).symlink_to(shipped.resolve())
    res = cli("train", "vae", "--dataset", "dsprites", "--latent-dim", "10", *args, "--steps", "3", "--batch-size",
              "16", "--metrics-preset", "smoke", "--eval-n", "300", "--threads", "1", "--out", str(tmp_path / folder))
    assert res.returncode == 0, res.stderr[-2000:]
    return shipped


def test_a_run_continued_at_another_beta_is_labelled_and_kept_off_the_sweep_line(tmp_path: Path):
    from gen_core.ui.beta_vae import BetaSweep
    _sweep_beside_beta8(tmp_path, "beta-vae-dsprites-b4-after-b8", "--beta", "4", "--init-from",
                        "pretrained/beta-vae-dsprites-b8")
    assert "50,000 steps, trained with beta = 8), then trained 3 more steps" in \
        (tmp_path / "beta-vae-dsprites-b4-after-b8" / "README.md").read_text()
    sweep = BetaSweep.load(tmp_path)
    assert sweep.labels == ["4 (after β = 8)", "8"]            # beta order; the continued run says where it began
    continued = sweep.models["4 (after β = 8)"]
    assert not continued.on_sweep and sweep.models["8"].on_sweep
    assert sweep.table()[0][2] == "50,000 + 3"                   # steps of both parts
    from gen_core.ui.beta_vae import TABLE_HEADERS
    assert all(len(row) == len(TABLE_HEADERS) for row in sweep.table())
    fig = sweep.rate_distortion("4 (after β = 8)")
    assert [t.name for t in fig.data] == ["β-VAE sweep", "β = 4 (after β = 8)", "β = 4 (after β = 8) (selected)"]
    assert list(fig.data[0].x) == [sweep.models["8"].metrics["kl"]]       # the line holds the from-scratch runs only
    assert (fig.data[2].x[0], fig.data[2].y[0]) == (continued.metrics["kl"], continued.metrics["recon_nll"])
    from dataclasses import replace
    from_tcvae = replace(continued, training={"init_config": {"objective": "beta_tcvae"}})   # same beta, other loss
    assert from_tcvae.label == "4 (after β-TCVAE β = 4)" and not from_tcvae.on_sweep
    from gen_core.models import VAE, VAEConfig
    decayed = replace(continued, training={}, model=VAE(VAEConfig(
        latent_dim=10, architecture="conv64", beta=4.0, kl_schedule="decay", beta_start=16.0, beta_hold_steps=5,
        beta_decay_steps=5)))                                  # one run whose beta fell from 16 to 4
    assert decayed.label == "4 (from β = 16)" and not decayed.on_sweep
    seeds = [{"seed": 2, "folder": "s2", "metrics": {"mig": 0.0604, "factor_vae": 0.4981}},
             {"seed": 1, "folder": "s1", "metrics": {"mig": 0.1}}]
    # a run without both metrics is skipped
    assert replace(continued, seed_runs=seeds).other_seeds == "0.498 / 0.060 (seed 2)"


def test_the_sweep_loads_an_annealed_vae_named_by_its_capacity(tmp_path: Path):
    from gen_core.ui.beta_vae import BetaSweep
    _sweep_beside_beta8(tmp_path, "annealed-vae-dsprites-c25", "--objective", "annealed_vae", "--beta", "1000",
                        "--capacity-max", "25")
    sweep = BetaSweep.load(tmp_path)
    assert sweep.labels == ["8", "C = 25 (AnnealedVAE)"]        # after the beta-VAEs; named by its capacity
    annealed = sweep.models["C = 25 (AnnealedVAE)"]
    assert annealed.title == "AnnealedVAE, C = 25 nats, γ = 1000" and sweep.models["8"].title == "β = 8"
    assert not annealed.on_sweep and sweep.table()[1][1] == "C = 25 (AnnealedVAE)"
    fig = sweep.rate_distortion("C = 25 (AnnealedVAE)")
    assert list(fig.data[0].x) == [sweep.models["8"].metrics["kl"]]       # a point beside the line, not on it
    assert [t.name for t in fig.data[1:]] == ["AnnealedVAE, C = 25 nats, γ = 1000",
                                              "AnnealedVAE, C = 25 nats, γ = 1000 (selected)"]


def test_objective_text_names_the_objective_and_its_weight():
    from gen_core.ui.beta_vae import objective_text
    assert [objective_text(o, 4.0) for o in ("beta_vae", "beta_tcvae", "annealed_vae")] == \
        ["β = 4", "β-TCVAE β = 4", "AnnealedVAE γ = 4"]
    assert [objective_text(o, 1000.0, selector=True) for o in ("beta_vae", "beta_tcvae", "annealed_vae")] == \
        ["1000", "1000 (β-TCVAE)", "γ 1000 (AnnealedVAE)"]


def test_factor_response_is_the_mean_code_per_factor_value():
    # dim 0 copies factor 0, dim 1 is the fold |v - 2| of it, dim 2 copies factor 1; every value of both appears
    grid = np.array([[a, b] for a in range(5) for b in range(3)] * 2)
    codes = np.stack([grid[:, 0], np.abs(grid[:, 0] - 2.0), 10.0 * grid[:, 1]], axis=1)
    by_f0, by_f1 = factor_response(codes, grid, (5, 3))
    assert by_f0.shape == (3, 5) and by_f1.shape == (3, 3)
    np.testing.assert_allclose(by_f0[0], [0, 1, 2, 3, 4])          # monotone: rises with the factor
    np.testing.assert_allclose(by_f0[1], [2, 1, 0, 1, 2])          # folded: falls, then rises
    np.testing.assert_allclose(by_f0[2], [10, 10, 10, 10, 10])     # ignores factor 0: flat at its mean
    np.testing.assert_allclose(by_f1[2], [0, 10, 20])
    np.testing.assert_allclose(by_f1[0], [2, 2, 2])


def test_factor_response_marks_missing_values_and_rejects_bad_input():
    r = factor_response(np.array([[1.0], [3.0]]), np.array([[0], [0]]), (2,))[0]
    assert r[0, 0] == 2.0 and np.isnan(r[0, 1])
    with pytest.raises(ValueError, match="same n"):
        factor_response(np.zeros((3, 1)), np.zeros((2, 1), dtype=int), (2,))
    with pytest.raises(ValueError, match="one size per factor"):
        factor_response(np.zeros((2, 1)), np.zeros((2, 1), dtype=int), (2, 2))
    with pytest.raises(ValueError, match=r"\[0, size\)"):
        factor_response(np.zeros((2, 1)), np.array([[0], [2]]), (2,))


def test_latent_response_of_a_model_covers_every_factor_value(vae):
    responses = latent_response(vae, n=600)
    assert [r.shape for r in responses] == [(vae.config.latent_dim, n) for n in (3, 6, 40, 32, 32)]
    assert all(np.isfinite(r).all() for r in responses[:2])   # 600 images hit every shape and scale
