"""The Latent Explorer in a real browser (Debian Chromium via Playwright), as a person would use it."""

from __future__ import annotations

from conftest import ARTIFACTS


def decoded_src(page) -> str:
    return page.locator("#decoded img").get_attribute("src") or ""


def test_slider_moves_the_image(page):
    before = decoded_src(page)
    page.locator("#slider-0 input[type=range]").fill("2.5")
    page.wait_for_function("(b) => document.querySelector('#decoded img')?.src !== b", arg=before, timeout=30_000)
    after = decoded_src(page)
    assert after and after != before
    page.locator("#slider-0 input[type=range]").fill("-2.5")
    page.wait_for_function("(b) => document.querySelector('#decoded img')?.src !== b", arg=after, timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "latent_explorer_slider.png"), full_page=True)


def test_encode_test_image_moves_the_sliders(page):
    # the page opens with test image 0 beside its reconstruction, before anything is clicked
    assert page.locator("#recon-pair img").get_attribute("src")
    assert "Test image 0: Ankle boot. Left: original" in page.inner_text("body")
    page.locator("#encode").click()
    page.wait_for_function(
        "() => document.querySelector('#slider-0 input[type=range]').value !== '0'", timeout=30_000)


def test_live_training_starts_and_stops(page):
    status = page.locator("#train-status")
    # before Start: step 0 of the run the controls describe, redrawn when a control changes
    assert status.inner_text().startswith("Step 0 of 600: the untrained VAE (8 latent dims, beta 1, seed 0)")
    page.wait_for_selector("#train-curves .js-plotly-plot .scatterlayer .point", timeout=30_000)
    page.locator("#train-seed input").fill("3")
    page.locator("#train-seed input").press("Enter")
    page.wait_for_function("() => document.querySelector('#train-status').innerText.includes('seed 3)')",
                           timeout=30_000)
    page.locator("#train-start").click()
    page.wait_for_function("() => /step \\d+\\/600/.test(document.querySelector('#train-status').innerText)",
                           timeout=90_000)
    page.wait_for_selector("#train-curves .js-plotly-plot", timeout=30_000)  # the curves plot is drawn
    page.locator("#train-stop").click()
    page.wait_for_timeout(3000)
    stopped_text = status.inner_text()
    page.wait_for_timeout(3000)
    assert status.inner_text() == stopped_text, "training kept streaming after Stop"
    assert stopped_text.startswith("Stopped: "), stopped_text
    page.screenshot(path=str(ARTIFACTS / "latent_explorer_training.png"), full_page=True)


def test_gallery_click_encodes_that_image(page):
    page.locator("#test-gallery .thumbnail-item").nth(4).click()  # third class (Pullover), first example
    page.wait_for_function("() => document.body.innerText.includes('Pullover. Left: original')", timeout=30_000)
    assert page.locator("#slider-0 input[type=range]").input_value() != "0"
