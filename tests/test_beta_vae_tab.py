"""The beta-VAE tab, end to end on the real app (fixtures in conftest.py): its endpoints through gradio_client,
with good and bad values, and a browser that changes beta and sees the traversal grid change."""

from __future__ import annotations

import json
import re
import time

import gradio as gr
import pytest
from gradio_client.exceptions import AppError

from gen_core import cards
from gen_core.metrics.beta_vae import held_out_images, mig_estimate
from gen_core.metrics.likelihood import evaluate_vae
from gen_core.models import load_pretrained
from gen_core.data.dsprites import DSpritesBatches
from gen_core.threads import one_thread
from gen_core.train import train
from gen_core.ui.beta_vae import LIVE_EVAL_N, LIVE_MIG_N, BetaSweep, BetaVAETab, LiveBetaRun
from tests.conftest import ARTIFACTS, is_hidden_download, stop_after_outputs, unpack_download

SWEEP = BetaSweep.load()
pytestmark = pytest.mark.skipif(len(SWEEP.models) < 2, reason="needs at least two shipped beta-VAEs in pretrained/")
BETAS = SWEEP.labels


def _figure(value: dict) -> dict:
    assert value["type"] == "plotly"
    return json.loads(value["plot"])


def test_show_draws_traversal_kl_mi_and_rate_distortion(client):
    traversal, pair, kl, heat, rd, status, response = client.predict(BETAS[-1], "ellipse", 3, 10, 5, 20,
                                                                     api_name="/bvae_show")
    fig = _figure(traversal)
    assert fig["data"][0]["type"] == "image" and fig["data"][0]["source"].startswith("data:image/png;base64,")
    rows = fig["layout"]["yaxis"]["ticktext"]
    assert len(rows) == 10 and all(r.startswith("z") and r.endswith("nats") for r in rows)
    kls = [float(r.split("·")[1].split()[0]) for r in rows]
    assert kls == sorted(kls, reverse=True)  # rows ordered by KL, most informative first
    assert fig["layout"]["xaxis"]["ticktext"][0] == "-3.0" and fig["layout"]["xaxis"]["ticktext"][-1] == "+3.0"
    assert _figure(kl)["data"][0]["type"] == "bar"
    mi = _figure(heat)["data"][0]
    assert mi["type"] == "heatmap" and mi["x"] == ["shape", "scale", "orientation", "x position", "y position"]
    assert "scatter" in {t["type"] for t in _figure(rd)["data"]}
    assert pair and SWEEP.models[BETAS[-1]].folder in status
    # response curves: one panel per factor, one line per active dim (KL > 0.1 nats) in each panel
    entry = SWEEP.models[BETAS[-1]]
    active = [f"z{d}" for d in entry.order if entry.kl[d] > 0.1]
    lines = _figure(response)["data"]
    assert len(lines) == 5 * len(active) and [t["name"] for t in lines[::5]] == active
    assert [len(t["x"]) for t in lines[:5]] == [3, 6, 40, 32, 32]
    assert all(any(v is not None for v in t["y"]) for t in lines)


def test_changing_beta_changes_the_traversal(client):
    a = _figure(client.predict(BETAS[0], "heart", 5, 0, 16, 16, api_name="/bvae_show")[0])
    b = _figure(client.predict(BETAS[-1], "heart", 5, 0, 16, 16, api_name="/bvae_show")[0])
    assert a["data"][0]["source"] != b["data"][0]["source"]


@pytest.mark.parametrize("args, message", [
    (("0.5", "heart", 5, 0, 16, 16), "'0.5' .* is not in the list of choices"),   # Gradio's own Radio check
    (("4", "triangle", 5, 0, 16, 16), "triangle is not in the list of choices"),
    (("4", "heart", 9, 0, 16, 16), r"Scale index \(0.5 → 1.0\) must be between 0 and 5: value 9 is greater than maximum value 5"),
    (("4", "heart", 5, 0, 16, 40), "y position index must be between 0 and 31: value 40 is greater"),
])
def test_bad_values_are_clear_errors(client, args, message):
    args = (BETAS[-1] if args[0] == "4" else args[0], *args[1:])
    with pytest.raises(AppError, match=message):
        client.predict(*args, api_name="/bvae_show")


def test_random_image_sets_valid_factors(client):
    shape, scale, orientation, x, y, seed = client.predict(7, api_name="/bvae_random")
    assert shape in ("square", "ellipse", "heart") and 0 <= scale <= 5 and 0 <= orientation <= 39
    assert 0 <= x <= 31 and 0 <= y <= 31 and seed == 8


def test_live_training_streams_and_reports_mig(client):
    job = client.submit(4, 60, 5e-4, 0, "β-VAE", 25, api_name="/bvae_train")
    outputs = job.result(timeout=300)
    curves, mig, kl, recons, traversal, status, download = outputs
    assert "Done." in status and "step 60/60" in status and "MIG" in status
    fig = _figure(traversal)                # the live model's traversals, rows ordered by its per-dim KL
    assert fig["data"][0]["type"] == "image" and "step 60: traversals of heart" in fig["layout"]["title"]["text"]
    kls = [float(t.split("· ")[1].split()[0]) for t in fig["layout"]["yaxis"]["ticktext"]]
    assert len(kls) == 10 and kls == sorted(kls, reverse=True)
    active = re.search(r"(\d+) of 10 dims active", status)
    assert active and f"{active.group(1)} of 10 dims move with the image" in _figure(kl)["layout"]["title"]["text"]
    assert {t["name"] for t in _figure(curves)["data"]} == {"reconstruction", "KL", "loss (recon + β·KL)"}
    assert _figure(mig)["data"][0]["y"]
    # the first frame hides a previous run's download; the last offers this model, which loads and re-scores
    assert is_hidden_download(job.outputs()[0][6])
    folder = unpack_download(download, "beta-vae-dsprites-b4-live")
    vae = load_pretrained(folder)
    assert vae.config.architecture == "conv64" and vae.config.beta == 4.0 and vae.config.objective == "beta_vae"
    card = cards.card_metrics(folder)
    again = evaluate_vae(vae, held_out_images(LIVE_EVAL_N)[0], iwae_k=0)
    assert abs(again["elbo"] - card["elbo"]) < 1e-3 and card["active_dims"] == int(active.group(1))
    shown_mig = float(re.search(r"MIG ([\d.]+)", status).group(1))
    assert abs(card["mig_estimate"] - shown_mig) < 6e-4                          # the status line's number
    assert abs(mig_estimate(vae, LIVE_MIG_N, seed=0) - card["mig_estimate"]) < 1e-5
    assert "β-VAE tab" in (folder / "README.md").read_text()
    # the seed fixes the whole run: replayed outside the app from the same settings, the same loss curves
    with one_thread():                                                # as the app trains (one torch thread)
        run = LiveBetaRun(4, 60, 5e-4, 0, "β-VAE", 25)
        for ev in train(run.model, DSpritesBatches(run.cfg.batch_size, run.cfg.seed), run.cfg):
            if ev.kind == "step":
                run.record(ev.step, ev.metrics)
    shown = {t["name"]: t["y"] for t in _figure(curves)["data"]}
    assert shown["reconstruction"] == pytest.approx(run.history["reconstruction"][1], rel=1e-6)
    assert shown["loss (recon + β·KL)"] == pytest.approx(run.history["loss (recon + β·KL)"][1], rel=1e-6)


def test_live_annealed_vae_streams_its_capacity_ramp(client):
    curves, _, _, _, _, status, download = client.predict(1000, 50, 5e-4, 0, "AnnealedVAE", 10,
                                                          api_name="/bvae_train")
    assert download["value"].endswith("annealed-vae-dsprites-g1000-live.zip")
    assert "Done." in status and "step 50/50" in status
    traces = {t["name"]: t for t in _figure(curves)["data"]}
    assert set(traces) == {"reconstruction", "KL", "loss (recon + γ·|KL − C|)", "capacity C"}
    c = traces["capacity C"]["y"]
    # C rises linearly to the chosen capacity over the run (each point: the mean over its 10 logged steps)
    assert c == sorted(c) and c[0] == pytest.approx(10 * 5.5 / 50) and c[-1] == pytest.approx(10 * 45.5 / 50)
    assert "AnnealedVAE, γ = 1000" in _figure(curves)["layout"]["title"]["text"]
    assert _figure(curves)["layout"]["yaxis"]["type"] == "log"      # KL and C stay readable beside the loss


def test_live_training_rejects_bad_values(client):
    with pytest.raises(AppError, match="Steps must be"):
        client.predict(4, 10, 5e-4, 0, "β-VAE", 25, api_name="/bvae_train")
    with pytest.raises(AppError, match="must be between 0 and 2000"):
        client.predict(-1, 100, 5e-4, 0, "β-VAE", 25, api_name="/bvae_train")
    with pytest.raises(AppError, match="β must be between 0 and 32"):
        client.predict(1000, 100, 5e-4, 0, "β-TCVAE", 25, api_name="/bvae_train")   # a gamma is not a beta
    with pytest.raises(AppError, match="(?i)capacity C .*must be between 0 and 50"):
        client.predict(1000, 100, 5e-4, 0, "AnnealedVAE", -3, api_name="/bvae_train")
    with pytest.raises(AppError, match="not in the list of choices"):
        client.predict(4, 100, 5e-4, 0, "FactorVAE", 25, api_name="/bvae_train")


def test_browser_beta_changes_the_traversal_grid(page):
    page.get_by_role("tab", name="β-VAE disentanglement").click(timeout=120_000)
    page.wait_for_selector("#bvae-traversal .js-plotly-plot image", timeout=60_000)
    src = "() => document.querySelector('#bvae-traversal .js-plotly-plot image')?.getAttribute('href')"
    before = page.evaluate(src)
    page.locator("#bvae-beta label").filter(has_text=BETAS[0]).first.click()
    page.wait_for_function(f"(b) => ({src})() !== b", arg=before, timeout=60_000)
    page.wait_for_function("(t) => document.querySelector('#bvae-traversal .gtitle')?.textContent.startsWith(t)",
                           arg=f"β = {BETAS[0]}:", timeout=30_000)
    # the live panel opens on step 0 of the run its controls describe
    page.wait_for_function("() => document.querySelector('#bvae-live-status')?.innerText"
                           ".startsWith('Step 0 of 1500: the untrained model (β = 4, seed 0)')", timeout=60_000)
    # the seed figure: one dot per trained run of the sweep
    page.locator("#bvae-seeds").scroll_into_view_if_needed()
    page.wait_for_selector("#bvae-seeds .js-plotly-plot .scatterlayer .point", timeout=60_000)
    time.sleep(1)
    page.screenshot(path=str(ARTIFACTS / "beta_vae_tab.png"), full_page=True)


# --- live panel: step 0 before Train, seeded runs, Stop ------------------------------------------------------------

def test_live_preview_shows_the_untrained_model_of_the_controls():
    tab = BetaVAETab(SWEEP)
    curves, mig, kl, recons, traversal, status = tab.preview(4, 1500, 5e-4, 0, "β-VAE", 25, session={})
    assert status.startswith("Step 0 of 1500: the untrained model (β = 4, seed 0)") and "Press **Train**" in status
    traces = {t.name: t for t in curves.data}
    assert set(traces) == {"reconstruction", "KL", "loss (recon + β·KL)"}
    assert all(list(t.x) == [0] and t.mode == "markers" for t in traces.values())
    # an untrained Bernoulli decoder outputs ~0.5 everywhere: about 64 * 64 * ln 2 = 2839 nats per image
    assert 2000 < traces["reconstruction"].y[0] < 3500 and 0 <= traces["KL"].y[0] < 1
    assert curves.layout.xaxis.range[1] == 1500                      # the axis spans the run to come
    assert list(mig.data[0].x) == [0] and 0 <= mig.data[0].y[0] < 0.05
    assert recons.shape[0] > 64 and len(kl.data[0].y) == 10
    assert traversal.layout.title.text.startswith("β = 4, step 0: traversals of heart")
    # the other objectives label their own loss; the same seed gives the same untrained weights
    tc = tab.preview(6, 1500, 5e-4, 0, "β-TCVAE", 25, session={})
    assert "loss (recon + KL + (β−1)·TC)" in {t.name for t in tc[0].data}
    assert {t.name: t.y[0] for t in tc[0].data}["reconstruction"] == traces["reconstruction"].y[0]
    other = tab.preview(4, 1500, 5e-4, 1, "β-VAE", 25, session={})
    assert {t.name: t.y[0] for t in other[0].data}["reconstruction"] != traces["reconstruction"].y[0]


def test_live_preview_leaves_a_running_or_half_typed_panel_alone():
    tab = BetaVAETab(SWEEP)
    session: dict = {}
    skip = type(gr.skip())
    assert all(isinstance(x, skip) for x in tab.preview(4, 10, 5e-4, 0, "β-VAE", 25, session=session))  # steps < 50
    assert all(isinstance(x, skip) for x in tab.preview(4, 1500, "", 0, "β-VAE", 25, session=session))
    run = tab.train_live(4, 50, 5e-4, 0, "β-VAE", 25, session=session)
    next(run)                                                         # going: the preview must not draw over it
    assert all(isinstance(x, skip) for x in tab.preview(4, 1500, 5e-4, 0, "β-VAE", 25, session=session))
    run.close()                                                       # over (here: abandoned), so it may again
    assert not isinstance(tab.preview(4, 1500, 5e-4, 0, "β-VAE", 25, session=session)[0], skip)


def test_api_stop_ends_the_live_run_with_its_final_state(client):
    job = client.submit(4, 20_000, 5e-4, 0, "β-VAE", 25, api_name="/bvae_train")
    status = stop_after_outputs(client, job, "/bvae_stop")[5]
    assert status.startswith("**Stopped.**"), status
    assert 0 < int(re.search(r"step (\d+)/20000", status).group(1)) < 20_000
