"""The Theory tab, end to end on the real app (fixtures in conftest.py): its four endpoints through gradio_client
with good and bad values, and a browser that opens the tab, sees every panel's plot and moves a slider."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import gradio as gr
import pytest
from gradio_client.exceptions import AppError

from gen_core import cards
from gen_core.cli import main
from gen_core.models import load_pretrained
from gen_core.theory import divergences as dv
from gen_core.ui.theory import preview_bigan, train_bigan
from tests.conftest import is_hidden_download, unpack_download

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


def _figure(value: dict) -> dict:
    assert value["type"] == "plotly"
    return json.loads(value["plot"])


def _bold(text: str) -> list[str]:
    return re.findall(r"\*\*([^*]+)\*\*", text)


def test_api_lists_the_theory_endpoints(client):
    names = set(client.view_api(return_format="dict", print_info=False)["named_endpoints"])
    assert {"/theory_minimax", "/theory_divergences", "/theory_likelihood", "/theory_gumbel"} <= names


def test_minimax_endpoint(client):
    fig, text = client.predict("bilinear", 0.3, 5, 100, 1.0, api_name="/theory_minimax")
    names = [t.get("name") for t in _figure(fig)["data"]]
    assert {"simultaneous GDA", "alternating GDA", "5 ascent steps per descent step", "equilibrium"} <= set(names)
    assert f"{math.sqrt(1 + 0.09):.4f}" in text  # simultaneous spectral radius sqrt(1 + eta^2)
    start, sim_end, alt_end, multi_end = (float(v) for v in [re.search(r"\| ([\d.]+) →", text).group(1),
                                                             *_bold(text)[:3]])
    assert sim_end > 10 * start and alt_end < 3 * start  # 1.0436^100 ~ 70; alternating stays on its ellipse
    assert multi_end < 3 * start  # 5 * 0.09 = 0.45 < 4: bounded
    fig, text = client.predict("gaussian_gan", 0.2, 1, 300, 1.0, api_name="/theory_minimax")
    assert "Gaussian GAN" in _figure(fig)["layout"]["title"]["text"]


def test_divergences_endpoint_matches_the_library(client):
    fig, text = client.predict(10.0, 0.5, api_name="/theory_divergences")
    data = _figure(fig)["data"]
    assert len(data) == 4 and data[0]["name"].startswith("target p")
    fwd, rev, jsd = (float(v) for v in _bold(text))
    fits = dv.divergence_fits(10.0)
    assert fwd == pytest.approx(fits["forward_kl"].value, abs=1e-4)
    assert rev == pytest.approx(math.log(2), abs=1e-3)  # one mode: KL(q || p) = log 2
    assert jsd == pytest.approx(fits["jsd"].value, abs=1e-4)
    assert f"σ = {math.sqrt(1 + 25):.3f}" in text  # moment matching: sigma^2 = 1 + d^2/4


def test_likelihood_endpoint_shows_the_bound(client):
    fig, text = client.predict(0.02, 0.01, api_name="/theory_likelihood")
    assert len(_figure(fig)["data"]) == 5
    data_ll, noisy_ll, memo_ll = (float(v) for v in _bold(text))
    bound = float(re.search(r"= (-?[\d.]+)\)", text).group(1))
    assert bound == pytest.approx(data_ll - math.log(100), abs=2e-3)
    assert bound <= noisy_ll <= data_ll and memo_ll < noisy_ll


def test_gumbel_endpoint(client):
    fig, text = client.predict(0.05, 0.2, 0.3, 0.5, api_name="/theory_gumbel")
    types = [t["type"] for t in _figure(fig)["data"]]
    assert types.count("scatterternary") == 4 and types.count("bar") == 3  # 3 argmax groups + the corners
    cold = float(_bold(text)[0])
    hot = float(_bold(client.predict(10.0, 0.2, 0.3, 0.5, api_name="/theory_gumbel")[1])[0])
    assert cold > 0.95 and hot < 0.45  # one-hot as tau -> 0, towards uniform (1/3) as tau grows


@pytest.mark.parametrize("api, args, message", [
    ("/theory_minimax", ("bilinear", 5.0, 1, 100, 1.0), "greater than maximum value 1.5"),
    ("/theory_minimax", ("rock-paper", 0.2, 1, 100, 1.0), "not in the list of choices"),
    ("/theory_minimax", ("bilinear", 0.2, 2.5, 100, 1.0), "n_dis .* must be a whole number"),
    ("/theory_minimax", ("bilinear", "fast", 1, 100, 1.0), "must be a number"),
    ("/theory_divergences", (-1.0, 0.5), "less than minimum value 0"),
    ("/theory_divergences", (3.0, None), "needs a value"),
    ("/theory_likelihood", (0.0, 0.01), "less than minimum value 0.002"),
    ("/theory_gumbel", (0.0, 0.2, 0.3, 0.5), "less than minimum value 0.01"),
    ("/theory_gumbel", (1.0, 0.2, "lots", 0.5), "Weight of category 2 must be a number"),
])
def test_theory_endpoints_reject_bad_values(client, api, args, message):
    with pytest.raises(AppError, match=message):
        client.predict(*args, api_name=api)


def test_browser_theory_tab_shows_every_panel_and_follows_a_slider(page):
    page.get_by_role("tab", name="Theory").click()
    for elem in ("theory-minimax-plot", "theory-div-plot", "theory-ll-plot", "theory-gumbel-plot"):
        page.locator(f"#{elem} .js-plotly-plot").first.wait_for(state="visible", timeout=60_000)
    assert page.locator("#theory-gumbel-plot .ternary").count() >= 1 or page.locator(
        "#theory-gumbel-plot .js-plotly-plot").count() == 1
    before = page.locator("#theory-gumbel-text").inner_text()
    tau = page.locator("#theory-tau input[type=number]")
    tau.fill("5")
    tau.press("Enter")
    page.wait_for_function(
        "(old) => { const el = document.querySelector('#theory-gumbel-text'); return el && el.innerText !== old "
        "&& el.innerText.includes('τ = 5'); }", arg=before, timeout=60_000)
    before = page.locator("#theory-div-text").inner_text()
    sep = page.locator("#theory-sep input[type=number]")
    sep.fill("1")
    sep.press("Enter")
    page.wait_for_function(
        "(old) => { const el = document.querySelector('#theory-div-text'); return el && el.innerText !== old; }",
        arg=before, timeout=60_000)
    page.locator("#theory-minimax-plot").scroll_into_view_if_needed()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "theory_tab.png"), full_page=True, timeout=60_000)


def test_bigan_live_run_finishes_with_its_metrics(client):
    fig, status, download = client.predict(50, 0, api_name="/theory_bigan_train")
    assert status.startswith("Done: 50 steps")
    recon, latent = (float(v) for v in _bold(status))
    assert math.isfinite(recon) and math.isfinite(latent)
    names = [t.get("name") for t in _figure(fig)["data"]]
    assert {"data x", "G(z)", "prior z", "E(x)", "G(E(x))"} <= set(names)
    # the trained BiGAN is offered; its card holds the numbers the status shows, and eval --check recomputes them
    folder = unpack_download(download, "bigan-ring-seed0-live")
    card = cards.card_metrics(folder)
    assert f"{card['recon_mse']:.3f}" == f"{recon:.3f}" and f"{card['latent_recon_mse']:.3f}" == f"{latent:.3f}"
    assert load_pretrained(folder).config.hidden == 64
    assert main(["eval", str(folder), "--check"]) == 0


def test_bigan_preview_is_the_first_frame_of_the_run_it_would_start():
    fig, status = preview_bigan(300, 4)
    first_fig, first_status, first_download = next(train_bigan(300, 4, {}))
    assert is_hidden_download(first_download)                      # a previous run's file is not offered
    assert status.startswith("Step 0 of 300, untrained, seed 4") and first_status.startswith("Training… step 0 / 300")
    assert status.split("Held-out")[1] == first_status.split("Held-out")[1]   # the same untrained E and G
    assert fig.to_json() == first_fig.to_json()
    with pytest.raises(gr.Error, match="Steps must be between 50"):
        preview_bigan(10, 0)


@pytest.mark.parametrize("args, message", [((10, 0), "less than minimum value 50"),
                                           ((100, -1), "less than minimum value 0")])
def test_bigan_rejects_bad_values(client, args, message):
    with pytest.raises(AppError, match=message):
        client.predict(*args, api_name="/theory_bigan_train")


def test_browser_bigan_trains_live_and_stops(page):
    page.get_by_role("tab", name="Theory").click()
    # before Start: step 0 of the default run, drawn
    page.locator("#theory-bigan-plot .js-plotly-plot").first.wait_for(state="visible", timeout=120_000)
    assert "untrained" in page.inner_text("#theory-bigan-status")
    steps = page.locator("#theory-bigan-steps input[type=number]")
    steps.fill("5000")
    steps.press("Enter")
    page.locator("#theory-bigan-start").click()
    page.locator("#theory-bigan-plot .js-plotly-plot").first.wait_for(state="visible", timeout=120_000)
    page.wait_for_function("() => (document.querySelector('#theory-bigan-status')?.innerText || '')"
                           ".includes('Training')", timeout=120_000)
    # a JS click: Playwright's own click waits for the layout to stop moving, which a streaming plot never does
    page.evaluate("() => document.querySelector('#theory-bigan-stop').click()")
    page.wait_for_function("() => (document.querySelector('#theory-bigan-status')?.innerText || '')"
                           ".includes('Stopped at step')", timeout=120_000)
    page.locator("#theory-bigan-plot").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "theory_bigan.png"), full_page=False, timeout=60_000)
