"""The Normalizing Flows tab, end to end on the real app (fixtures in conftest.py).

API (gradio_client): every endpoint with good values, and bad values that must come back as a clear sentence.
Browser (Playwright + Chromium): train a flow for a few seconds, see the learned-density heatmap change, Stop it.
"""

from __future__ import annotations

import base64
import json
import re
import time
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from gradio_client.exceptions import AppError
from huggingface_hub import ModelCard

from gen_core import cards
from gen_core.metrics.density import EVAL_SEED, build_target, held_out
from gen_core.models import load_pretrained
from gen_core.ui.flows import LIVE_TEST_N, FlowModels, FlowsTab
from tests.conftest import is_hidden_download, unpack_download

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
PRETRAINED = ROOT / "pretrained"
GOOD_2D = ("ring", 0.05, "spline")


def _figure(value: dict) -> dict:
    """The plotly figure inside a gr.Plot value as returned by gradio_client."""
    assert value["type"] == "plotly"
    return json.loads(value["plot"])


def _array(value: dict | list) -> np.ndarray:
    """A plotly data array: a plain list, or a typed array sent base64-encoded ({"bdata", "dtype", "shape"})."""
    if isinstance(value, dict):
        shape = [int(n) for n in str(value.get("shape", "-1")).split(",")]
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"]).reshape(shape)
    return np.asarray(value, dtype=float)


def _titles(fig: dict) -> list[str]:
    return [a.get("text", "") for a in fig["layout"].get("annotations", [])]


# --- API -------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("target, std, flow", [GOOD_2D, ("grid", 0.05, "realnvp"), ("checkerboard", 0.05, "spline"),
                                               ("two_moons", 0.1, "realnvp")])
def test_load_pretrained(client, target, std, flow):
    dashboard, film, status = client.predict(target, std, flow, api_name="/flows_load_pretrained")
    dens = _figure(dashboard)
    assert [t["type"] for t in dens["data"]] == ["heatmap", "heatmap", "scatter", "scatter", "scatter"]
    target_z, model_z = _array(dens["data"][0]["z"]), _array(dens["data"][1]["z"])
    assert target_z.shape == model_z.shape and target_z.shape[0] > 10  # target and model on the same grid
    assert np.isfinite(model_z).all() and model_z.max() > 0
    assert "target p(x)" in _titles(dens)
    assert [t.get("name") for t in dens["data"][3:]] == ["test NLL", "true entropy H(p)"]
    frames = [t for t in _figure(film)["data"] if t["type"] == "heatmap"]
    assert len(frames) >= 4  # one log|det J| map per block
    assert f"flow-{target}-{flow}" in status
    shown = float(re.search(r"gap ≈ KL\(p‖q\) \*\*(-?[\d.]+)\*\*", status).group(1))
    card = ModelCard.load(PRETRAINED / f"flow-{target}-{flow}" / "README.md").data.to_dict()["gen_core_metrics"]
    assert abs(shown - card["gap"]) < 6e-4  # the number on screen is the one the CLI measured (100,000 samples)


def test_load_pretrained_1d(client):
    for target in ("uniform", "beta", "normal"):
        panel, status = client.predict(target, api_name="/flows_load_pretrained_1d")
        fig = _figure(panel)
        names = [t.get("name", "") for t in fig["data"]]
        assert any(n.startswith("right: p_Z(f(x))·|f'(x)|, ∫ = 1.00") for n in names), names
        assert any(n.startswith("wrong: p_Z(f(x))") for n in names)
        assert f"flow-{target}-monotone1d" in status and "∫ p_Z(f(x)) dx" in status


def test_train_live_streams_and_finishes(client):
    job = client.submit("two_moons", 0.1, "realnvp", 2, 60, 3e-3, 1, api_name="/flows_train_live")
    final = job.result(timeout=120)
    updates = job.outputs()
    assert len(updates) >= 2  # the untrained flow first, then the finished one
    assert final[2].startswith("**Done.** step 60/60")
    nll = _array(_figure(final[0])["data"][3]["y"])
    assert len(nll) >= 2 and nll[-1] < nll[0]  # the test NLL went down
    assert "at step 60" in " ".join(_titles(_figure(final[0])))
    # the last frame offers the trained flow; unzipped, it loads and scores what the tab showed
    assert is_hidden_download(updates[0][3])                     # a previous run's is hidden
    folder = unpack_download(final[3], "flow-two_moons-realnvp-live")   # downloaded by the client from the server
    flow = load_pretrained(folder)
    assert flow.config.target == "two_moons" and flow.config.std == 0.1 and flow.config.n_layers == 2
    card = cards.card_metrics(folder)
    test_x = held_out(build_target("two_moons", 0.1), LIVE_TEST_N, EVAL_SEED)
    assert abs(-flow.log_prob(test_x).mean().item() - card["test_nll"]) < 1e-5
    assert abs(card["test_nll"] - nll[-1]) < 1e-3                 # the curve's last point (plotted rounded)
    text = (folder / "README.md").read_text()
    assert "Trained live in the gen_core dashboard" in text and "| seed | 1 |" in text and "Steps run: 60" in text


def test_stop_ends_the_sessions_run_with_its_final_state(client):
    job = client.submit("ring", 0.05, "realnvp", 4, 5000, 2e-3, 0, api_name="/flows_train_live")
    deadline = time.time() + 60
    while len(job.outputs()) < 2 and time.time() < deadline:
        time.sleep(0.1)
    client.predict(api_name="/flows_stop")  # same client, same session: stops this run between two steps
    final = job.result(timeout=60)
    step = int(re.search(r"^\*\*Stopped\.\*\* step (\d+)/5000", final[2]).group(1))
    assert 0 < step < 5000 and "at step" in " ".join(_titles(_figure(final[0])))


def test_train_live_1d(client):
    job = client.submit("uniform", 40, 1e-2, 0, api_name="/flows_train_live_1d")
    panel, status, download = job.result(timeout=120)
    assert status.startswith("**Done.** step 40/40") and "∫ p_Z(f(x))·|f'(x)| dx = **1.0" in status
    assert any("right" in t.get("name", "") for t in _figure(panel)["data"])
    # the finished 1-D flow is offered too; unzipped, it scores the test NLL the status showed
    assert is_hidden_download(job.outputs()[0][2])
    folder = unpack_download(download, "flow-uniform-monotone1d-live")
    flow = load_pretrained(folder)
    test_x = held_out(build_target("uniform"), LIVE_TEST_N, EVAL_SEED)
    card = cards.card_metrics(folder)
    assert abs(-flow.log_prob(test_x).mean().item() - card["test_nll"]) < 1e-5
    assert f"test NLL **{card['test_nll']:.3f}**" in status


# Through the server, Gradio's own checks answer first for values outside a component's choices or range; the
# tab's checks answer the rest (wrong types, fractional layers, a std with no shipped flow).
BAD_2D = [
    (("moon", 0.05, "spline"), "moon is not in the list of choices"),
    (("ring", 0.05, "glow"), "glow is not in the list of choices"),
    (("ring", 0.0001, "spline"), "0.0001 is less than minimum value 0.005"),
    (("ring", "abc", "spline"), "Component std must be a number between 0.005 and 0.5, not 'abc'"),
    (("ring", 0.02, "spline"), "No pretrained spline flow for ring with std 0.02"),
]


@pytest.mark.parametrize("args, message", BAD_2D)
def test_load_pretrained_bad_values(client, args, message):
    with pytest.raises(AppError, match=re.escape(message)):
        client.predict(*args, api_name="/flows_load_pretrained")


BAD_TRAIN = [
    (("ring", 0.05, "spline", 40, 500, 1e-3, 0), "40 is greater than maximum value 16"),
    (("ring", 0.05, "spline", 4, 10, 1e-3, 0), "10 is less than minimum value 50"),
    (("ring", 0.05, "spline", 4.5, 500, 1e-3, 0), "Layers must be a whole number between 2 and 16; got 4.5"),
    (("ring", 0.05, "spline", 4, 500, 1e-3, -3), "-3 is less than minimum value 0"),
    (("banana", 0.05, "nice", 4, 500, "fast", 0), "Learning rate must be a number between"),
]


@pytest.mark.parametrize("args, message", BAD_TRAIN)
def test_train_live_bad_values(client, args, message):
    with pytest.raises(AppError, match=re.escape(message)):
        client.predict(*args, api_name="/flows_train_live")  # refused before any training starts


@pytest.mark.parametrize("args, message", [(("gamma",), "gamma is not in the list of choices"),
                                           (("beta", 5, 1e-2, 0), "5 is less than minimum value 20"),
                                           (("beta", 100, "x", 0), "Learning rate must be a number")])
def test_1d_bad_values(client, args, message):
    api = "/flows_load_pretrained_1d" if len(args) == 1 else "/flows_train_live_1d"
    with pytest.raises(AppError, match=re.escape(message)):
        client.predict(*args, api_name=api)


@pytest.fixture(scope="module")
def tab() -> FlowsTab:
    """The endpoints object in this process, to reach the tab's own checks behind Gradio's."""
    return FlowsTab(FlowModels.load())


@pytest.mark.parametrize("call, message", [
    (lambda t: t.load_pretrained("moon", 0.05, "spline"), "Target must be one of ring, grid"),
    (lambda t: t.load_pretrained("ring", 0.05, "glow"), "Flow must be one of nice, realnvp, spline; got 'glow'"),
    (lambda t: t.load_pretrained("ring", float("nan"), "spline"), "Component std must be a finite number"),
    (lambda t: t.load_pretrained("ring", 2.0, "spline"), "Component std must be between 0.005 and 0.5; got 2"),
    (lambda t: next(t.train_live("ring", 0.05, "spline", 40, 500, 1e-3, 0)), "Layers must be between 2 and 16"),
    (lambda t: next(t.train_live("ring", 0.05, "spline", 4, 10, 1e-3, 0)), "Steps must be between 50 and 5000"),
    (lambda t: next(t.train_live("ring", 0.05, "spline", 4, 500, 0.5, 0)), "Learning rate must be between"),
    (lambda t: next(t.train_live("ring", 0.05, "spline", 4, 500, 1e-3, -3)), "Seed must be between 0"),
    (lambda t: next(t.train_live("ring", 0.05, "spline", True, 500, 1e-3, 0)), "Layers must be a number"),
    (lambda t: t.load_pretrained_1d("gamma"), "1-D target must be one of uniform, beta, normal"),
    (lambda t: next(t.train_live_1d("beta", 5000, 1e-2, 0)), "Steps must be between 20 and 3000"),
    (lambda t: t.default_std("moon"), "Target must be one of"),
])
def test_endpoints_check_their_inputs(tab, call, message):
    with pytest.raises(gr.Error, match=re.escape(message)):
        call(tab)


def test_every_target_and_flow_the_tab_offers_has_a_shipped_flow(tab):
    """Each (target, flow type) of the menus loads at the std the target menu sets; ring and grid use std 0.05."""
    from gen_core.ui.flows import FLOWS_2D, TARGETS_1D_NAMES, TARGETS_2D

    for target in TARGETS_2D:
        std = tab.default_std(target)["value"]
        name, s = tab._target(target, std)
        for kind in FLOWS_2D:
            entry = tab.m.get(name, s, kind)
            assert entry is not None, (target, std, kind)
            assert entry.folder == f"flow-{target}-{kind}"
            metrics = entry.metrics
            assert {"test_nll", "test_nll_se", "true_entropy", "true_entropy_se", "gap", "gap_se"} <= set(metrics)
            assert abs(metrics["gap"] - (metrics["test_nll"] - metrics["true_entropy"])) < 1e-5
    for target in ("ring", "grid"):
        for kind in FLOWS_2D:
            config = json.loads((PRETRAINED / f"flow-{target}-{kind}" / "config.json").read_text())
            assert config["std"] == 0.05, (target, kind)
    assert all(tab.m.get(name, None, "monotone1d") is not None for name in TARGETS_1D_NAMES)


def test_default_std_follows_the_target(tab):
    assert tab.default_std("grid")["value"] == 0.05 and tab.default_std("grid")["interactive"] is True
    assert tab.default_std("banana")["interactive"] is False  # no component std to set


# --- browser ---------------------------------------------------------------------------------------------------------

PLOT = "#flows-density .js-plotly-plot"


def _wait_until(check, timeout: float = 120.0, every: float = 0.5):
    """Poll ``check()`` from Python until it returns a truthy value (a busy page can starve in-page polling)."""
    deadline = time.time() + timeout
    while True:
        value = check()
        if value or time.time() > deadline:
            return value
        time.sleep(every)


def test_browser_live_training_updates_the_heatmap_and_stop_ends_it(page):
    page.set_default_timeout(120_000)  # the CI machine is shared: a busy browser can take a while to draw
    page.get_by_role("tab", name="Normalizing Flows").click()
    page.wait_for_selector(PLOT)
    z_of_model = f"() => JSON.stringify(document.querySelector('{PLOT}').data[1].z)"
    model_title = f"() => document.querySelector('{PLOT}').layout.annotations[1].text"
    before = page.evaluate(z_of_model)
    assert "at step" not in page.evaluate(model_title)  # the pretrained flow is on show
    page.locator("#flows-train").dispatch_event("click")  # a busy page may never look "stable" to a click
    # A streamed update from the live run: the model panel is retitled with the step and its heatmap changes.
    assert _wait_until(lambda: re.search(r"at step [1-9]", page.evaluate(model_title))), "no live update"
    assert page.evaluate(z_of_model) != before
    assert re.search(r"Training… step \d+/1500", page.inner_text("#flows-status"))
    page.locator("#flows-stop").dispatch_event("click")
    stopped = _wait_until(lambda: (text := page.inner_text("#flows-status")).startswith("Stopped.") and text)
    assert stopped, page.inner_text("#flows-status")
    step = int(re.search(r"Stopped\. step (\d+)/1500", stopped).group(1))
    assert 0 < step < 1500
    time.sleep(2.0)
    assert page.inner_text("#flows-status") == stopped  # the run has ended: no update after its final state
    assert "Error" not in page.inner_text("#flows-density") + stopped
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "flows_tab_live.png"), full_page=True)


def test_stop_1d_ends_the_sessions_1d_run(client):
    job = client.submit("beta", 3000, 1e-2, 0, api_name="/flows_train_live_1d")
    deadline = time.time() + 60
    while len(job.outputs()) < 1 and time.time() < deadline:
        time.sleep(0.1)
    client.predict(api_name="/flows_stop_1d")
    panel, status, _ = job.result(timeout=60)
    step = int(re.search(r"^\*\*Stopped\.\*\* step (\d+)/3000", status).group(1))
    assert 0 <= step < 3000 and "live monotone flow, step" in _figure(panel)["layout"]["title"]["text"]


def test_browser_1d_live_training_and_stop(page):
    page.set_default_timeout(120_000)
    page.get_by_role("tab", name="Normalizing Flows").click()
    page.wait_for_selector("#flows-panel-1d .js-plotly-plot")
    assert "Pretrained flow-beta-monotone1d" in page.inner_text("#flows-status-1d")
    steps = page.locator("#flows-steps-1d input[type=number]")
    steps.fill("3000")
    steps.press("Enter")
    page.locator("#flows-train-1d").dispatch_event("click")
    assert _wait_until(lambda: re.search(r"Training… step \d+/3000", page.inner_text("#flows-status-1d"))), \
        page.inner_text("#flows-status-1d")
    page.locator("#flows-stop-1d").dispatch_event("click")
    stopped = _wait_until(lambda: (text := page.inner_text("#flows-status-1d")).startswith("Stopped.") and text)
    assert stopped, page.inner_text("#flows-status-1d")
    assert 0 <= int(re.search(r"Stopped\. step (\d+)/3000", stopped).group(1)) < 3000
    assert "live monotone flow, step" in page.evaluate(
        "() => document.querySelector('#flows-panel-1d .js-plotly-plot').layout.title.text")
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#flows-panel-1d").screenshot(path=str(ARTIFACTS / "flows_tab_1d_stopped.png"))


def test_a_gap_that_rounds_to_zero_has_no_minus_sign():
    from gen_core.ui.flows import _fmt_gap
    assert "gap ≈ KL(p‖q) **0.000** nats" in _fmt_gap(-0.4814, -0.4811)
    assert "gap ≈ KL(p‖q) **-0.012** nats" in _fmt_gap(-0.493, -0.481)     # a real negative estimate stays negative
    assert "gap ≈ KL(p‖q) **0.029** nats" in _fmt_gap(-1.045, -1.074, 0.003)
