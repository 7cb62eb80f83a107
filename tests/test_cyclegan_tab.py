"""The CycleGAN tab, end to end on the real app (fixtures in conftest.py).

API (gradio_client): translate a picked example and uploads of odd sizes and modes (RGBA, grayscale, palette), a
non-image file gets a clear sentence; the gallery; the held-out scores and the per-class panel agree with the model
cards; the toy run streams and Stop ends it.
Browser (Playwright + Chromium): pick an example, translate it, see the three outputs and the per-class panel; screenshot.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import gradio as gr
import numpy as np
import PIL.Image
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from gen_core import cards
from gen_core.data.domains import prepare_image
from gen_core.metrics.translation import evaluate_toy_cyclegan
from gen_core.models import load_pretrained
from gen_core.ui.cyclegan import EXPLAINER, PAIR_LABELS, CycleGANModels, CycleGANTab, explainer
from tests.conftest import is_hidden_download, stop_after_outputs, unpack_download

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
HAS_MODELS = all((ROOT / "pretrained" / f"cyclegan-{p}" / "model.safetensors").is_file() for p in ("sketch", "shoes"))
needs_models = pytest.mark.skipif(not HAS_MODELS, reason="pretrained/cyclegan-* not trained yet")


def _image(value) -> np.ndarray:
    """An image output of gradio_client (a file path) as an array."""
    path = value["path"] if isinstance(value, dict) else value
    return np.asarray(PIL.Image.open(path))


def _figure(value: dict) -> dict:
    assert value["type"] == "plotly"
    return json.loads(value["plot"])


# --- gen_core's picture preparation (what every upload goes through) --------------------------------------------------

def test_prepare_image_modes_and_sizes():
    rng = np.random.default_rng(0)
    grey = PIL.Image.fromarray((rng.random((517, 300)) * 255).astype(np.uint8), "L")
    assert prepare_image(grey).shape == (1, 1, 28, 28)
    rgb = PIL.Image.new("RGB", (1000, 1000), (255, 255, 255))
    x = prepare_image(rgb)
    assert float(x.max()) == 0.0                                      # white paper -> black background
    pal = rgb.convert("P")
    assert prepare_image(pal).shape == (1, 1, 28, 28)
    rgba = np.zeros((280, 280, 4), np.uint8)
    rgba[100:180, 130:150] = (0, 0, 0, 255)                            # a dark stroke on transparent canvas
    y = prepare_image(rgba)
    assert y[0, 0, 14, 14] > 0.9 and y[0, 0, 2, 2] == 0.0              # becomes a white stroke on black
    assert set(prepare_image(rgba, binarize=True).unique().tolist()) <= {0.0, 1.0}
    # An 8x upscaled Fashion-MNIST image comes back exactly.
    small = (rng.random((28, 28)) * 255).astype(np.uint8)
    small[0, :] = small[-1, :] = small[:, 0] = small[:, -1] = 0
    big = np.kron(small, np.ones((8, 8), np.uint8))
    assert np.array_equal((prepare_image(big)[0, 0].numpy() * 255).round().astype(np.uint8), small)
    with pytest.raises(ValueError):
        prepare_image("not a picture")
    with pytest.raises(ValueError):
        prepare_image(np.zeros((4, 4, 7)))


@pytest.fixture(scope="module")
def tab() -> CycleGANTab:
    return CycleGANTab(CycleGANModels.load())


@needs_models
@pytest.mark.parametrize("call, message", [
    (lambda t: t.translate_image("horses", "a2b", PIL.Image.new("L", (28, 28))), "Domain pair must be one of"),
    (lambda t: t.translate_image("shoes", "up", PIL.Image.new("L", (28, 28))), "Direction must be one of a2b, b2a"),
    (lambda t: t.translate_image("shoes", "a2b", None), "Pick a test image"),
    (lambda t: t.translate_drawing("sketch", "a2b", None), "Draw something"),
    (lambda t: t.pick_example("shoes", "a2b", 99), "Example index must be between 0 and 11"),
    (lambda t: t.quality("horses"), "Domain pair must be one of"),
    (lambda t: next(t.toy_train(50, 500, 0, {})), "Cycle weight λ must be between 0 and 20"),
    (lambda t: next(t.toy_train(10, 5, 0, {})), "Steps must be between 100 and 4000"),
])
def test_endpoints_check_their_inputs(tab, call, message):
    with pytest.raises(gr.Error, match=re.escape(message)):
        call(tab)


def test_toy_preview_is_the_first_frame_of_the_run_it_would_start():
    tab = CycleGANTab(CycleGANModels({}, None))          # the toy needs no pretrained model
    fig, curve, status = tab.toy_preview(10.0, 1500, 3)
    first = next(tab.toy_train(10.0, 1500, 3, {}))
    assert status.startswith("Untrained") and "Step 0 of 1500" in status and "seed 3" in status
    assert first[2].startswith("Training…") and status.split("Step", 1)[1] == first[2].split("Step", 1)[1]
    assert fig.to_json() == first[0].to_json()             # same seed: the same untrained G and F, the same points
    assert list(curve.layout.xaxis.range) == [-30, 1500]    # no step yet: the axis spans the run to come
    with pytest.raises(gr.Error, match="Seed must be"):
        tab.toy_preview(10.0, 1500, -1)


def test_toy_run_ends_with_a_download_that_scores_what_the_status_showed():
    tab = CycleGANTab(CycleGANModels({}, None))
    frames = list(tab.toy_train(2.5, 100, 1, {}))
    assert is_hidden_download(frames[0][3])                     # the previous run's is hidden
    status = frames[-1][2]
    assert status.startswith("**Done.**")
    folder = unpack_download(frames[-1][3], "cyclegan-toy-lambda2.5-live")
    model = load_pretrained(folder)
    assert model.config.lambda_cycle == 2.5
    card = cards.card_metrics(folder)
    shown = float(re.search(r"held-out ring points = \*\*([\d.]+)\*\*", status).group(1))
    assert abs(card["cycle_l1_a"] - shown) < 6e-4 and card == pytest.approx(evaluate_toy_cyclegan(model), abs=1e-6)
    assert 0 <= card["modes_b"] <= card["n_modes_b"] == 9 and "CycleGAN tab, toy" in (folder / "README.md").read_text()


@needs_models
def test_warm_up_computes_the_opening_gallery_and_a_per_class_panel_that_agrees_with_the_card():
    fresh = CycleGANTab(CycleGANModels.load())
    assert not fresh._galleries and not fresh._quality
    fresh.warm_up()
    assert list(fresh._galleries) == [("sketch", "a2b")] and list(fresh._quality) == ["sketch"]
    assert fresh.gallery("sketch", "a2b") is fresh._galleries[("sketch", "a2b")]
    text, fig = fresh.quality("sketch")
    assert fresh.quality("sketch") is fresh._quality["sketch"]
    card = cards.card_metrics(ROOT / "pretrained" / "cyclegan-sketch")
    # the confusion counts the card's own test images: its diagonal share is the card's label preservation
    assert f"{card['label_preservation']:.1%} called the expected class (2,000 test images)" in fig.layout.title.text
    heat, bars = fig.data[0], {t.name: t for t in fig.data[1:]}
    assert np.allclose(np.asarray(heat.z).sum(1), 100.0)
    nn = bars["nearest-neighbour baseline"].x
    real = bars["classifier on real images of the class"].x
    assert len(nn) == len(real) == 10 and all(0 <= v <= 100 for v in [*nn, *real])
    assert f"{100 * card['label_preservation']:.4g}%" in text and "✗ missed" in text and "✓ met" in text


@needs_models
def test_explainer_lists_each_shipped_models_own_settings(tab):
    """The identity weight and the rest are read from each model's config, so the text follows what ships."""
    text = explainer(tab.m.models)
    for pair, model in tab.m.models.items():
        line = next(ln for ln in text.splitlines() if ln.startswith(f"- **{PAIR_LABELS[pair]}**"))
        assert f"\\lambda_{{\\rm id}} = {model.config.lambda_identity:g}$" in line
        assert f"{model.config.channels}-filter generators with {model.config.n_res_blocks} residual blocks" in line
    assert explainer({}) == EXPLAINER                     # no models, no list


@needs_models
def test_gallery_is_computed_once_per_pair_and_direction(tab):
    first = tab.gallery("shoes", "b2a")
    assert tab.gallery("shoes", "b2a") is first
    assert tab.gallery("shoes", "a2b") is not first and ("shoes", "b2a") in tab._galleries


@needs_models
def test_translate_returns_three_outputs_and_cycle_error(tab):
    pick = tab.pick_example("shoes", "a2b", 0)
    y, back, heat, status = tab.translate_image("shoes", "a2b", pick)
    assert y.shape == back.shape == (224, 224)
    assert heat.data[0].type == "heatmap"
    assert re.search(r"cycle error .* = \*\*0\.\d{3}\*\*", status) and "classifier calls" in status
    assert "|F(G(x)) - x|" in heat.layout.title.text
    _, _, heat_b, _ = tab.translate_image("shoes", "b2a", tab.pick_example("shoes", "b2a", 0))
    assert "|G(F(y)) - y|" in heat_b.layout.title.text      # the round trip of the direction shown


@needs_models
def test_show_example_translates_the_pick_and_names_its_true_class(tab):
    picture, y, back, heat, status = tab.show_example("sketch", "a2b", 1)
    assert np.array_equal(picture, tab.pick_example("sketch", "a2b", 1))
    y2, back2, _, status2 = tab.translate_image("sketch", "a2b", picture)
    assert np.array_equal(y, y2) and np.array_equal(back, back2) and status.endswith(status2)
    assert "Test sketch #1 is the edge map of test image #1, a **Pullover**" in status   # test label 2
    assert tab.show_example("sketch", "b2a", 0)[4].startswith("Test garment #0, an **Ankle boot**.")
    assert "a faithful translation is an Ankle boot too" in tab.show_example("sketch", "a2b", 0)[4]
    assert tab.show_example("shoes", "b2a", 4)[4].startswith("Test ankle boot #4.")
    with pytest.raises(gr.Error, match="Example index must be between 0 and 11"):
        tab.show_example("sketch", "a2b", 12)


# --- API (gradio_client) -----------------------------------------------------------------------------------------------

@needs_models
def test_api_pick_example_and_translate(client, tmp_path):
    picked = client.predict("sketch", "a2b", 2, api_name="/cyclegan_pick_example")
    y, back, heat, status = client.predict("sketch", "a2b", handle_file(picked["path"] if isinstance(picked, dict)
                                                                         else picked),
                                           api_name="/cyclegan_translate_image")
    assert _image(y).shape[:2] == (224, 224) and _image(back).shape[:2] == (224, 224)
    assert _figure(heat)["data"][0]["type"] == "heatmap"
    assert "sketch → garment" in status


@needs_models
def test_api_show_example_fills_input_and_outputs(client):
    picture, y, back, heat, status = client.predict("shoes", "a2b", 5, api_name="/cyclegan_show_example")
    assert _image(picture).shape[:2] == _image(y).shape[:2] == _image(back).shape[:2] == (224, 224)
    assert _figure(heat)["data"][0]["type"] == "heatmap"
    assert status.startswith("Test sneaker #5.") and "classifier calls" in status
    with pytest.raises(Exception, match="Example index must be between 0 and 11"):
        client.predict("shoes", "a2b", -1, api_name="/cyclegan_show_example")


@needs_models
@pytest.mark.parametrize("mode, size", [("RGBA", (640, 480)), ("L", (13, 97)), ("P", (300, 300)), ("RGB", (28, 28)),
                                        ("LA", (64, 64))])
def test_api_uploads_of_any_mode_and_size(client, tmp_path, mode, size):
    arr = (np.random.default_rng(1).random((size[1], size[0], 3)) * 255).astype(np.uint8)
    img = (PIL.Image.fromarray(np.dstack([arr, arr[..., :1]]), "RGBA") if mode == "RGBA"
           else PIL.Image.fromarray(arr, "RGB").convert(mode))
    path = tmp_path / f"upload_{mode}.png"
    img.save(path)
    y, back, heat, status = client.predict("shoes", "b2a", handle_file(str(path)), api_name="/cyclegan_translate_image")
    assert _image(y).shape[:2] == (224, 224) and "cycle error" in status


@needs_models
def test_api_non_image_upload_is_a_clear_error(client, tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("this is not a picture")
    with pytest.raises(AppError, match="not an image gen_core can read"):
        client.predict("shoes", "a2b", handle_file(str(bad)), api_name="/cyclegan_translate_image")


@needs_models
def test_api_gallery_has_random_and_worst(client):
    items, note = client.predict("shoes", "a2b", api_name="/cyclegan_gallery")
    captions = [it["caption"] for it in items]
    assert len(items) == 12 and sum(c.startswith("WORST") for c in captions) == 4
    worst = [float(c.rsplit(" ", 1)[1]) for c in captions if c.startswith("WORST")]
    assert worst == sorted(worst, reverse=True) and "worst round trips" in note


@needs_models
def test_api_quality_of_the_shoes_pair_rows_equal_the_card_target_rates(client):
    text, fig = client.predict("shoes", api_name="/cyclegan_quality")
    card = cards.card_metrics(ROOT / "pretrained" / "cyclegan-shoes")
    data = _figure(fig)["data"]
    translation = next(t for t in data if t.get("name") == "CycleGAN translation")
    # rows are drawn bottom-up: [ankle boot -> sneaker, sneaker -> ankle boot]
    assert translation["x"] == pytest.approx([100 * card["target_rate_b2a"], 100 * card["target_rate_a2b"]], abs=1e-9)
    assert "≥ 90% ✓ met" in text and "pretrained/cyclegan-shoes" in text
    with pytest.raises(AppError, match="'horses'.* not in the list of choices"):   # the radio's own check
        client.predict("horses", api_name="/cyclegan_quality")


def test_api_toy_streams_and_stop_ends_it(client):
    job = client.submit(10.0, 4000, 0, api_name="/cyclegan_toy_train")
    final = stop_after_outputs(client, job, "/cyclegan_toy_stop", n=2, timeout=120)
    assert final[2].startswith("**Stopped.**"), final[2]
    step = int(re.search(r"Step (\d+) of 4000", final[2]).group(1))
    assert 0 < step < 4000
    assert _figure(final[0])["data"][1]["name"] == "G(x)"


# --- Browser -----------------------------------------------------------------------------------------------------------

def _wait_for_three_outputs(page) -> str:
    """Wait for the translation, the round trip and the cycle-error heatmap; returns the status text."""
    page.wait_for_selector("#cg-output img")
    page.wait_for_selector("#cg-roundtrip img")
    page.wait_for_selector("#cg-heatmap .js-plotly-plot")
    deadline = time.time() + 60
    while "cycle error" not in page.inner_text("#cg-status") and time.time() < deadline:
        time.sleep(0.3)
    return page.inner_text("#cg-status")


@needs_models
def test_browser_pick_example_translate_and_see_three_outputs(page):
    page.set_default_timeout(120_000)
    page.get_by_role("tab", name="CycleGAN").click()
    page.wait_for_selector("#cg-examples img")
    assert "Test sketch #0 " in _wait_for_three_outputs(page)     # the tab opens on test sketch #0, translated
    page.locator("#cg-examples img").nth(1).click()                  # a pick translates at once
    deadline = time.time() + 60
    while "Test sketch #1 " not in page.inner_text("#cg-status") and time.time() < deadline:
        time.sleep(0.3)
    status = _wait_for_three_outputs(page)
    assert "Test sketch #1 " in status and "sketch → garment" in status, status
    page.locator("#cg-translate").dispatch_event("click")           # the button translates the input box again
    deadline = time.time() + 60
    while "Test sketch #1 " in page.inner_text("#cg-status") and time.time() < deadline:
        time.sleep(0.3)
    assert "sketch → garment" in _wait_for_three_outputs(page)
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#cg-status").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "cyclegan_tab.png"), full_page=True)
    page.wait_for_selector("#cg-gallery img")                        # the sketches' test translations, shown
    sketch_note = page.inner_text("#cg-gallery-note")
    assert "worst round trips" in sketch_note, sketch_note
    page.wait_for_selector("#cg-per-class .js-plotly-plot")          # held-out scores and the per-class panel
    assert "pretrained/cyclegan-sketch" in page.inner_text("#cg-scores")
    page.locator("#cg-pair label").nth(1).click()                    # the other pair: its test #0, translated,
    deadline = time.time() + 60                                       # and its own gallery
    while "Test sneaker #0." not in page.inner_text("#cg-status") and time.time() < deadline:
        time.sleep(0.3)
    assert "sneaker → ankle boot" in _wait_for_three_outputs(page)
    deadline = time.time() + 60
    while page.inner_text("#cg-gallery-note") in (sketch_note, "") and time.time() < deadline:
        time.sleep(0.3)
    assert "worst round trips" in page.inner_text("#cg-gallery-note")
    page.wait_for_selector("#cg-gallery img")
    deadline = time.time() + 60
    while "pretrained/cyclegan-shoes" not in page.inner_text("#cg-scores") and time.time() < deadline:
        time.sleep(0.3)
    assert "Sneaker → Ankle boot" in page.inner_text("#cg-per-class")


@needs_models
def test_browser_draw_a_sketch_and_translate_it(page):
    page.set_default_timeout(120_000)
    page.get_by_role("tab", name="CycleGAN").click()
    page.locator("#cg-sketch button[aria-label='Brush']").first.click()   # the sketchpad starts with no tool
    canvas = page.locator("#cg-sketch canvas").last
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    assert box and box["width"] > 50, box
    # a T-shirt outline in dark strokes (shoulders, sleeves, sides, hem) inside the square drawing area, which is
    # centred in the wider canvas element
    cx, cy, r = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, 0.4 * min(box["width"], box["height"])
    outline = [(-0.3, -0.8), (0.3, -0.8), (0.9, -0.4), (0.7, -0.1), (0.45, -0.3), (0.45, 0.85), (-0.45, 0.85),
               (-0.45, -0.3), (-0.7, -0.1), (-0.9, -0.4), (-0.3, -0.8)]
    page.mouse.move(cx + outline[0][0] * r, cy + outline[0][1] * r)
    page.mouse.down()
    for fx, fy in outline[1:]:
        page.mouse.move(cx + fx * r, cy + fy * r, steps=8)
    page.mouse.up()
    page.locator("#cg-translate-drawing").click()
    status = _wait_for_three_outputs(page)
    assert "sketch → garment" in status and "cycle error" in status, status
    assert not page.locator("#cg-status .error, .toast-body.error").count()
    page.locator("#cg-sketch").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "cyclegan_drawing.png"), full_page=False)
