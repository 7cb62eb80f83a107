"""The More VAEs tab's "Discrete latents" and "Flow prior & ELBO surgery" panels, end to end on the real app
(fixtures in conftest.py): every public endpoint through gradio_client with good and bad values, the panels' own
input checks in-process (NaN, wrong types), a browser that opens both sub-tabs and sees their plots and images,
and unit tests of the helpers and figures. Tests that need a pretrained folder skip, naming it, while it is
missing or still training."""

from __future__ import annotations

import base64
import json
import math
import re
import threading
import urllib.request
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
import torch
from gradio_client.exceptions import AppError
from PIL import Image

from gen_core.data.fashion_mnist import CLASS_NAMES
from gen_core.theory.gumbel import gumbel_panel
from gen_core.ui import discrete as ds
from gen_core.ui import surgery as sg
from gen_core.ui.discrete import DiscretePanel, Pretrained, folder_note
from gen_core.ui.surgery import SurgeryPanel, card_terms
from gen_core.viz import latent_models as vz
from tests.conftest import ARTIFACTS

DTYPES = {"f4": np.float32, "f8": np.float64, "i1": np.int8, "i2": np.int16, "i4": np.int32, "u1": np.uint8,
          "u2": np.uint16, "u4": np.uint32, "i8": np.int64}


def _missing(*folders: tuple[str, bool]) -> str | None:
    notes = [n for f, need in folders if (n := folder_note(f, need))]
    return " ".join(notes) or None


VQ_MISSING = _missing((ds.VQ_FOLDER, True))
DVAE_MISSING = _missing((ds.DVAE_FOLDER, True))
SURGERY_MISSING = _missing(*sg.PRIORS.values())
needs_vq = pytest.mark.skipif(VQ_MISSING is not None, reason=f"needs pretrained/{ds.VQ_FOLDER}: {VQ_MISSING}")
needs_dvae = pytest.mark.skipif(DVAE_MISSING is not None, reason=f"needs pretrained/{ds.DVAE_FOLDER}: {DVAE_MISSING}")
needs_surgery = pytest.mark.skipif(SURGERY_MISSING is not None,
                                   reason=f"needs both 2-D VAEs in pretrained/: {SURGERY_MISSING}")


def _figure(value: dict) -> dict:
    assert value["type"] == "plotly"
    return json.loads(value["plot"])


def _array(v) -> np.ndarray:
    """A plotly JSON array: a list, or {dtype, bdata, shape} (how plotly sends numpy arrays)."""
    if isinstance(v, dict):
        a = np.frombuffer(base64.b64decode(v["bdata"]), dtype=DTYPES[v["dtype"]])
        return a.reshape([int(s) for s in v["shape"].split(",")]) if "shape" in v else a
    return np.asarray(v)


def _image(path: str) -> np.ndarray:
    return np.asarray(Image.open(path))


@pytest.fixture(scope="module")
def store() -> Pretrained:
    return Pretrained()


# ----------------------------------------------------------------------------------------------------------------
# API: both panels


def test_api_lists_the_panels_endpoints(client):
    names = set(client.view_api(return_format="dict", print_info=False)["named_endpoints"])
    assert {"/discrete_vq_show", "/discrete_vq_usage", "/discrete_dvae_show", "/discrete_random",
            "/surgery_terms", "/surgery_density", "/surgery_samples"} <= names


def test_random_index_is_a_valid_test_image(client):
    index, seed = client.predict(7, api_name="/discrete_random")
    assert 0 <= index < ds.N_TEST and seed == 8
    assert client.predict(7, api_name="/discrete_random")[0] == index     # seeded


@pytest.mark.parametrize("args, api, message", [
    ((10_000,), "/discrete_vq_show", "Test image index must be between 0 and 9999: value 10000 is greater"),
    ((-1,), "/discrete_vq_show", "Test image index must be between 0 and 9999: value -1 is less"),
    ((-3,), "/discrete_random", "Seed of the random pick must be between 0 and"),
    ((5, 0, 0.0, 0), "/discrete_dvae_show", "Temperature τ must be between 0.05 and 5: value 0 is less than minimum"),
    ((5, 0, -1.0, 0), "/discrete_dvae_show", "Temperature τ must be between 0.05 and 5: value -1 is less"),
    ((5, 0, 50.0, 0), "/discrete_dvae_show", "Temperature τ must be between 0.05 and 5: value 50 is greater"),
    ((5, 0, 0.5, -2), "/discrete_dvae_show", "Noise seed must be between 0 and"),
    ((12_345, 0, 0.5, 0), "/discrete_dvae_show", "Test image index must be between 0 and 9999"),
    ((5, 25, 0.5, 0), "/discrete_dvae_show", "Latent index i must be between 0 and"),
    ((10_001,), "/discrete_top_latent", "Test image index must be between 0 and 9999"),
    ((1, True), "/surgery_density", "Half-width of the latent square must be between 2 and 8: value 1 is less"),
    ((-1,), "/surgery_samples", "Seed must be between 0 and"),
])
def test_bad_values_are_clear_errors(client, args, api, message):
    with pytest.raises(AppError, match=re.escape(message)):
        client.predict(*args, api_name=api)


def _raw_call(app_url: str, api: str, body: str) -> str:
    """POST a hand-written JSON body (gradio_client refuses to send NaN) and return the event stream's text."""
    req = urllib.request.Request(f"{app_url}gradio_api/call/{api}", data=body.encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    event = json.loads(urllib.request.urlopen(req, timeout=30).read())["event_id"]
    return urllib.request.urlopen(f"{app_url}gradio_api/call/{api}/{event}", timeout=60).read().decode()


@pytest.mark.parametrize("api, body, message", [
    ("discrete_dvae_show", "[5, 0, NaN, 0]", "Temperature τ must be a number between 0.05 and 5, not nan."),
    ("discrete_vq_show", "[NaN]", "Test image index must be a number between 0 and 9999, not nan."),
    ("surgery_density", "[Infinity, true]",
     "Half-width of the latent square must be a number between 2 and 8, not inf."),
])
def test_nan_and_infinity_through_the_api_are_clear_errors(app_url, api, body, message):
    text = _raw_call(app_url, api, '{"data": ' + body + "}")
    assert "event: error" in text and json.loads(text.split("data: ", 1)[1].splitlines()[0])["error"] == message


@pytest.mark.parametrize("call, message", [
    (lambda p: p.vq_show(float("nan")), "Test image index must be a finite number"),
    (lambda p: p.vq_show("3"), "Test image index must be a number between 0 and 9999, not str '3'"),
    (lambda p: p.vq_show(2.5), "Test image index must be a whole number"),
    (lambda p: p.dvae_show(0, 0, float("inf"), 0), "Temperature τ must be a finite number"),
    (lambda p: p.dvae_show(0, 0, 0.0, 0), "Temperature τ must be between 0.05 and 5; got 0"),
    (lambda p: p.dvae_show(0, True, 0.5, 0), "Latent index must be a number"),
    (lambda p: p.dvae_show(0, 999, 0.5, 0), "Latent index must be between 0 and"),
    (lambda p: p.random_index(None), "Seed of the random pick must be a number"),
])
def test_discrete_endpoints_check_their_inputs(store, call, message):
    with pytest.raises(gr.Error, match=re.escape(message)):
        call(DiscretePanel(store))


@pytest.mark.parametrize("call, message", [
    (lambda p: p.density(float("nan"), True), "Half-width of the latent square must be a finite number"),
    (lambda p: p.density(9, True), "Half-width of the latent square must be between 2 and 8; got 9"),
    (lambda p: p.density(4, "yes"), "Show the encodings must be true or false, not 'yes'"),
    (lambda p: p.samples(1.5), "Seed must be a whole number"),
])
def test_surgery_endpoints_check_their_inputs(store, call, message):
    with pytest.raises(gr.Error, match=re.escape(message)):
        call(SurgeryPanel(store))


# ----------------------------------------------------------------------------------------------------------------
# API: VQ-VAE


@needs_vq
def test_vq_show_draws_the_images_code_grid(client, store, fmnist_test):
    pair, codes, status = client.predict(5, api_name="/discrete_vq_show")
    img = _image(pair)
    assert img.shape[0] == 28 * ds.PAIR_SCALE + 2 * 2 * ds.PAIR_SCALE and img.shape[1] > 2 * img.shape[0] - 40
    heat = _figure(codes)["data"][0]
    grid = _array(heat["z"]).reshape(7, 7)
    model, _ = store.model(ds.VQ_FOLDER)
    expected = model.encode(fmnist_test.float_images()[5:6])[0].numpy()
    np.testing.assert_array_equal(grid, expected)                      # the grid is the model's own encoding
    assert heat["zmax"] == model.config.codebook_size - 1
    assert "Test image 5" in status and CLASS_NAMES[int(fmnist_test.labels[5])] in status


@needs_vq
def test_vq_usage_counts_every_position_of_the_test_set(client, store):
    fig, text = client.predict(api_name="/discrete_vq_usage")
    fig = _figure(fig)
    bars = _array(fig["data"][0]["y"]).astype(np.int64)
    k = store.model(ds.VQ_FOLDER)[0].config.codebook_size
    assert bars.size == k and bars.sum() == ds.N_TEST * 49 and np.all(np.diff(bars) <= 0)   # sorted, all positions
    used = int((bars > 0).sum())
    dead = [t for t in fig["data"] if t.get("name", "").startswith("dead code")]
    assert (len(_array(dead[0]["x"])) if dead else 0) == k - used
    assert f"{used} of {k} codes" in text and f"{100 * used / k:.1f}%" in text
    card = store.metrics(ds.VQ_FOLDER)
    assert used == int(card["codes_used"]), "the panel's count of the saved weights differs from the model card's"


# ----------------------------------------------------------------------------------------------------------------
# API: dVAE


@needs_dvae
def test_dvae_panel_compares_q_with_its_samples(client):
    cat, kl, pair, samples, status = client.predict(5, 3, 0.5, 0, api_name="/discrete_dvae_show")
    traces = _figure(cat)["data"]
    bars = {t["name"]: _array(t["y"]) for t in traces if t["type"] == "bar"}
    q = bars["q(z<sub>i</sub> = k | x)"]
    assert abs(q.sum() - 1) < 1e-5
    gumbel_max = bars["Gumbel-max frequency (20,000 draws)"]
    assert np.abs(gumbel_max - q).max() < 0.02                         # Gumbel-max is an exact categorical sample
    heat = next(t for t in traces if t["type"] == "heatmap")
    rows = _array(heat["z"]).reshape(ds.N_DECODED, -1)
    np.testing.assert_allclose(rows.sum(1), 1.0, atol=1e-5)            # relaxed samples lie on the simplex
    assert len(_array(_figure(kl)["data"][0]["y"])) == 20
    assert _image(pair).shape[0] == (28 + 4) * ds.PAIR_SCALE                 # original | decoded mode
    grid = _image(samples)
    assert grid.shape[0] == 2 * (28 + 2) * ds.SAMPLE_SCALE + 2 * ds.SAMPLE_SCALE   # two rows: relaxed, one-hot
    assert "Latent z3" in status and "τ = 0.5" in status


@needs_dvae
def test_top_latent_is_the_one_with_the_largest_kl(client):
    latent = client.predict(5, api_name="/discrete_top_latent")
    kl = _array(_figure(client.predict(5, latent, 0.5, 0, api_name="/discrete_dvae_show")[1])["data"][0]["y"])
    assert latent == int(np.argmax(kl))


@needs_dvae
def test_temperature_moves_the_relaxed_samples_to_the_corners(client):
    def largest_weight(tau: float) -> float:
        traces = _figure(client.predict(5, 3, tau, 0, api_name="/discrete_dvae_show")[0])["data"]
        heat = next(t for t in traces if t["type"] == "heatmap")
        return float(_array(heat["z"]).reshape(ds.N_DECODED, -1).max(1).mean())
    cold, hot = largest_weight(0.05), largest_weight(5.0)
    assert cold > 0.9 and hot < 0.5


# ----------------------------------------------------------------------------------------------------------------
# API: ELBO surgery


@needs_surgery
def test_surgery_terms_add_up_and_the_flow_prior_closes_the_gap(client):
    fig, table, note = client.predict(api_name="/surgery_terms")
    fig = _figure(fig)
    values: dict[str, dict[str, float]] = {}
    for t in fig["data"]:
        axis = t.get("yaxis", "y")
        key = vz.SURGERY_TERMS[int(axis[1:] or 1) - 1][0]
        values.setdefault(t["name"], {})[key] = float(_array(t["y"])[0])
        assert float(_array(t["error_y"]["array"])[0]) > 0               # every bar has its standard error
    assert set(values) == set(sg.PRIORS)
    for v in values.values():                                            # ELBO = recon - I_q - KL(q_agg || p)
        assert abs(v["recon"] - v["mutual_info"] - v["marginal_kl"] - v["elbo"]) < 1e-3
        assert 0 < v["mutual_info"] <= math.log(2000) + 1e-6
    gauss, flow = (values[label] for label in sg.PRIORS)
    assert flow["marginal_kl"] < gauss["marginal_kl"], "the flow prior should fit q_agg better than N(0, I)"
    mc, exact = (float(x) for x in re.search(r"\| ([\d.]+) \(([\d.]+)\) \|", table).groups())
    assert abs(mc - exact) < 0.1                                         # Monte Carlo KL against the closed form
    assert note == ""


@needs_surgery
def test_surgery_density_shows_q_agg_and_normalised_priors(client):
    fig = _figure(client.predict(8, True, api_name="/surgery_density"))
    heats = [t for t in fig["data"] if t["type"] == "heatmap"]
    assert len(heats) == 6 and sum(t["type"] == "scattergl" for t in fig["data"]) == 2
    for row in range(2):
        xs, ys = _array(heats[3 * row]["x"]), _array(heats[3 * row]["y"])
        assert xs[0] == -8 and xs[-1] == 8 and len(ys) == sg.GRID_N
        cell = (xs[1] - xs[0]) * (ys[1] - ys[0])
        log_q, log_p = (_array(heats[3 * row + c]["z"]).astype(np.float64) for c in (0, 1))
        assert abs(np.exp(log_p).sum() * cell - 1) < 0.03                 # each prior integrates to 1
        assert 0.5 < np.exp(log_q).sum() * cell < 1.03                   # q_agg is a density too (mass inside)
    no_codes = _figure(client.predict(4, False, api_name="/surgery_density"))
    assert not any(t["type"] == "scattergl" for t in no_codes["data"])


@needs_surgery
def test_surgery_samples_decode_each_prior(client):
    g0, f0, status = client.predict(3, api_name="/surgery_samples")
    g1, f1, _ = client.predict(4, api_name="/surgery_samples")
    a, b = _image(g0), _image(f0)
    assert a.shape == b.shape and a.shape[1] == (8 * 30 + 2) * 2
    assert np.abs(a.astype(int) - _image(g1).astype(int)).mean() > 1    # another seed, other samples
    assert not np.array_equal(b, _image(f1)) and "seed 3" in status


# ----------------------------------------------------------------------------------------------------------------
# Browser


def _see_images(page, *selectors: str) -> None:
    """Scroll each (lazily loading) image into view and wait until it has decoded, so screenshots show it."""
    for sel in selectors:
        page.locator(sel).scroll_into_view_if_needed()
        page.wait_for_function("(s) => { const i = document.querySelector(s); return i && i.complete && "
                               "i.naturalWidth > 0; }", arg=sel, timeout=30_000)
    page.evaluate("() => window.scrollTo(0, 0)")


@pytest.mark.skipif(VQ_MISSING is not None or DVAE_MISSING is not None,
                    reason=f"needs pretrained/{ds.VQ_FOLDER} and pretrained/{ds.DVAE_FOLDER}")
def test_browser_discrete_panel(page, store):
    page.get_by_role("tab", name="More VAEs").click(timeout=120_000)
    page.get_by_role("tab", name="Discrete latents").click()
    for sel in ("#discrete-vq-codes .js-plotly-plot", "#discrete-vq-pair img", "#discrete-vq-usage .js-plotly-plot",
                "#discrete-dvae-categorical .js-plotly-plot", "#discrete-dvae-samples img",
                "#discrete-dvae-kl .js-plotly-plot"):
        page.wait_for_selector(sel, state="attached", timeout=90_000)
    page.wait_for_function("() => document.querySelector('#discrete-vq-usage .gtitle')?.textContent"
                           ".startsWith('Codebook usage')", timeout=90_000)
    assert "Test image 0" in page.inner_text("#discrete-vq-status")
    top = DiscretePanel(store).top_latent(0)
    page.locator("#discrete-top-latent").click()                        # the slider moves, the panel redraws
    page.wait_for_function("(t) => (document.querySelector('#discrete-dvae-categorical .infolayer')?.textContent ?? '')"
                           ".replace(/\\u200b/g, '').includes(t)", arg=f"latent z{top}:", timeout=30_000)
    assert page.input_value("#discrete-latent input[type=number]") == str(top)
    _see_images(page, "#discrete-vq-pair img", "#discrete-dvae-pair img", "#discrete-dvae-samples img")
    page.wait_for_timeout(800)
    page.screenshot(path=str(ARTIFACTS / "more_vaes_discrete.png"), full_page=True)


@needs_surgery
def test_browser_surgery_panel(page):
    page.get_by_role("tab", name="More VAEs").click(timeout=120_000)
    page.get_by_role("tab", name="Flow prior & ELBO surgery").click()
    for sel in ("#surgery-terms .js-plotly-plot", "#surgery-density .js-plotly-plot", "#surgery-samples-gaussian img",
                "#surgery-samples-flow img"):
        page.wait_for_selector(sel, state="attached", timeout=90_000)   # images load lazily below the fold
    page.wait_for_function("() => document.querySelectorAll('#surgery-density .hm image').length >= 6",
                           timeout=60_000)
    assert "KL(q_agg ‖ p)" in page.inner_text("#surgery-table")
    _see_images(page, "#surgery-samples-gaussian img", "#surgery-samples-flow img")
    page.wait_for_timeout(800)
    page.screenshot(path=str(ARTIFACTS / "more_vaes_surgery.png"), full_page=True)


# ----------------------------------------------------------------------------------------------------------------
# Helpers and figures


def test_folder_note_tells_missing_training_and_ready_apart(tmp_path: Path):
    assert "not installed yet" in folder_note("nothing", root=tmp_path, command="python -m gen_core train x")
    assert "python -m gen_core train x" in folder_note("nothing", root=tmp_path, command="python -m gen_core train x")
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "vae"}')
    (folder / "model.safetensors").write_bytes(b"")
    (folder / "README.md").write_text("---\nlibrary_name: gen_core\n---\n\n# m\n")
    assert "still being trained" in folder_note("m", root=tmp_path)
    assert folder_note("m", need_metrics=False, root=tmp_path) is None
    (folder / "README.md").write_text("---\nlibrary_name: gen_core\ngen_core_metrics:\n  elbo: -1.0\n---\n\n# m\n")
    assert folder_note("m", root=tmp_path) is None


def test_pretrained_cache_computes_each_key_once_across_threads(tmp_path: Path):
    store, calls = Pretrained(tmp_path), []

    def slow() -> int:
        calls.append(1)
        threading.Event().wait(0.05)
        return 42
    threads = [threading.Thread(target=lambda: store.cached("k", slow)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.cached("k", slow) == 42 and len(calls) == 1
    model, note = store.model("missing")
    assert model is None and "not installed" in note


def test_panels_without_models_show_notes_not_errors(tmp_path: Path):
    empty = Pretrained(tmp_path)
    pair, fig, status = DiscretePanel(empty).vq_show(0)
    assert pair.shape == (28 * ds.PAIR_SCALE + 4 * ds.PAIR_SCALE, 28 * ds.PAIR_SCALE + 4 * ds.PAIR_SCALE)
    assert "not installed" in status and fig.layout.annotations
    assert "not installed" in DiscretePanel(empty).vq_usage()[1]
    assert "not installed" in DiscretePanel(empty).dvae_show(0, 0, 0.5, 0)[4]
    assert "vqvae-fmnist" in DiscretePanel(empty).notes() and "dvae-fmnist" in DiscretePanel(empty).notes()
    surgery = SurgeryPanel(empty)
    assert "vae-fmnist-2d-flowprior" in surgery.notes() and "not installed" in surgery.terms()[2]
    assert surgery.samples(0)[:2] == [None, None]


def test_card_terms_reads_the_surgery_keys():
    full = {f"surgery_{f}{s}": 1.0 for f in sg.FIELDS for s in ("", "_se")} | {"surgery_n_images": 2000.0, "elbo": 3}
    terms = card_terms(full)
    assert terms is not None and terms["recon"] == 1.0 and terms["n_images"] == 2000 and "elbo_se" in terms
    del full["surgery_marginal_kl_se"]
    assert card_terms(full) is None and card_terms({}) is None


def test_training_steps_from_metadata_or_card_body(tmp_path: Path):
    assert sg.training_steps(tmp_path) == "–"
    body = "## Training\n\n- Steps: 15000 (batch 128)\n"
    (tmp_path / "README.md").write_text("---\nlibrary_name: gen_core\n---\n\n" + body)
    assert sg.training_steps(tmp_path) == "15,000"
    (tmp_path / "README.md").write_text("---\ngen_core_training:\n  steps: 4000\n---\n\n- Steps: 15000\n")
    assert sg.training_steps(tmp_path) == "4,000"


def test_codebook_usage_figure_sorts_and_marks_dead_codes():
    counts = np.array([0, 5, 0, 9, 1])
    fig = vz.codebook_usage_figure(counts, 0.6, 2.3, 10)
    assert list(fig.data[0].y) == [9, 5, 1, 0, 0] and list(fig.data[0].customdata) == [3, 1, 4, 0, 2]
    assert list(fig.data[1].x) == [4, 5] and "dead code" in fig.data[1].name
    assert "3 of 5 codes used (60.0%)" in fig.layout.title.text
    assert len(vz.codebook_usage_figure(np.array([2, 3]), 1.0, 2.0, 1).data) == 2   # no dead-code trace


def test_code_grid_and_categorical_figures():
    fig = vz.code_grid_figure(np.arange(49).reshape(7, 7), 512)
    assert fig.data[0].zmax == 511 and fig.layout.yaxis.autorange == "reversed"
    with pytest.raises(ValueError, match="grid of indices"):
        vz.code_grid_figure(np.arange(7), 512)
    panel = gumbel_panel([0.1, 0.2, 0.7], 0.5, n=50)
    traces = vz.categorical_figure(panel, 2, n_show=5).data
    assert [t.type for t in traces].count("bar") == 4 and traces[4].z.shape == (5, 3)
    np.testing.assert_allclose(traces[1].y, panel.relaxed.mean(0), atol=1e-6)   # mean of the drawn samples
    kl = vz.latent_kl_figure(np.array([0.1, 2.0, 0.3]), 1)
    assert kl.data[0].marker.color[1] != kl.data[0].marker.color[0]


def test_surgery_figures():
    t = {"recon": -250.0, "mutual_info": 5.0, "marginal_kl": 0.5, "elbo": -255.5, "recon_se": 1.0,
         "mutual_info_se": 0.1, "marginal_kl_se": 0.05, "elbo_se": 1.0}
    fig = vz.surgery_bars_figure({"a": t, "b": t})
    assert len(fig.data) == 8 and {tr.yaxis for tr in fig.data} == {"y", "y2", "y3", "y4"}
    with pytest.raises(ValueError):
        vz.surgery_bars_figure({})
    xs = np.linspace(-2, 2, 5)
    grid = (xs, xs, np.zeros((5, 5)), -np.ones((5, 5)))
    fig = vz.aggregate_posterior_figure({"a": grid}, {"a": np.zeros((3, 2))})
    heats = [tr for tr in fig.data if tr.type == "heatmap"]
    assert len(heats) == 3 and np.allclose(heats[2].z, 1.0) and heats[2].coloraxis == "coloraxis2"
    assert not any(tr.type == "scattergl" for tr in vz.aggregate_posterior_figure({"a": grid}).data)


def test_discrete_panel_in_process_matches_the_model(store, fmnist_test):
    """With a dVAE installed: the endpoint's q is the model's softmax and the decoded rows have the right size."""
    if DVAE_MISSING:
        pytest.skip(f"needs pretrained/{ds.DVAE_FOLDER}: {DVAE_MISSING}")
    cat, _, _, samples, _ = DiscretePanel(store).dvae_show(9, 1, 1.0, 3)
    model, _ = store.model(ds.DVAE_FOLDER)
    with torch.no_grad():
        q = torch.softmax(model.encode(fmnist_test.float_images()[9:10])[0, 1], -1).numpy()
    np.testing.assert_allclose(cat.data[0].y, q, atol=1e-6)
    assert samples.shape[1] == ds.N_DECODED * (28 + 2) * ds.SAMPLE_SCALE + 2 * ds.SAMPLE_SCALE
