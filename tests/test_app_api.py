"""Every public endpoint of the Latent Explorer through gradio_client against the launched app, good and bad values."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError
from PIL import Image

from gen_core import cards
from gen_core.cli import main
from gen_core.data.fashion_mnist import load_fashion_mnist
from gen_core.metrics.likelihood import evaluate_vae
from gen_core.models import load_pretrained
from gen_core.ui.latent_explorer import LIVE_EVAL_N
from tests.conftest import is_hidden_download, stop_after_outputs, unpack_download

N_SLIDERS = 16


def load(path: str) -> np.ndarray:
    return np.asarray(Image.open(path).convert("L"))


def test_api_lists_the_public_endpoints(client):
    names = set(client.view_api(return_format="dict", print_info=False)["named_endpoints"])
    assert {"/decode", "/prior_mean", "/random_sample", "/encode_test_image", "/interpolate", "/decode_point",
            "/latent_map", "/train_live", "/stop_live"} <= names


def test_decode_changes_with_the_slider(client):
    a = load(client.predict(*([0.0] * N_SLIDERS), api_name="/decode"))
    b = load(client.predict(*([2.5] + [0.0] * (N_SLIDERS - 1)), api_name="/decode"))
    assert a.shape == b.shape == (224, 224)
    assert np.abs(a.astype(int) - b.astype(int)).mean() > 2  # the most informative dim visibly changes the image


def test_prior_mean_and_random_sample(client):
    out = client.predict(api_name="/prior_mean")
    assert list(out[:N_SLIDERS]) == [0.0] * N_SLIDERS and load(out[-1]).shape == (224, 224)
    s1 = client.predict(7, api_name="/random_sample")
    s2 = client.predict(7, api_name="/random_sample")
    s3 = client.predict(8, api_name="/random_sample")
    assert list(s1[:N_SLIDERS]) == list(s2[:N_SLIDERS]) != list(s3[:N_SLIDERS])
    assert all(-3 <= v <= 3 for v in s1[:N_SLIDERS])


def test_encode_test_image(client):
    out = client.predict(3, api_name="/encode_test_image")
    values, decoded, pair, caption = out[:N_SLIDERS], out[N_SLIDERS], out[N_SLIDERS + 1], out[N_SLIDERS + 2]
    assert any(v != 0 for v in values)
    assert load(decoded).shape == (224, 224)
    assert load(pair).shape[1] > 2 * load(pair).shape[0] - 10  # two images side by side
    assert "Test image 3" in caption


def test_interpolate_and_map(client):
    strip = load(client.predict(0, 1, 6, api_name="/interpolate"))
    assert strip.shape[1] > 5 * strip.shape[0]
    point = load(client.predict(1.0, -1.0, api_name="/decode_point"))
    assert point.shape == (224, 224)
    fig = client.predict(1.0, -1.0, api_name="/latent_map")
    assert fig is not None


def test_live_training_streams_and_finishes(client):
    job = client.submit(40, 4, 1.0, 0.001, 0, api_name="/train_live")
    outputs = job.result(timeout=240)
    curves, recons, status, download = outputs
    assert status.startswith("Done: 40 steps")
    assert len(job.outputs()) >= 3  # several streamed updates, not one final answer
    assert load(recons).shape[0] > 0
    # the first frame hides a previous run's download; the last offers this run's VAE, which loads and re-scores
    assert is_hidden_download(job.outputs()[0][3])
    folder = unpack_download(download, "vae-fmnist-4d-live")
    vae = load_pretrained(folder)
    assert vae.latent_dim == 4 and vae.config.beta == 1.0
    card = cards.card_metrics(folder)
    again = evaluate_vae(vae, load_fashion_mnist("test").float_images(slice(0, LIVE_EVAL_N)), iwae_k=0)
    assert card["n_images"] == LIVE_EVAL_N and abs(again["elbo"] - card["elbo"]) < 1e-3
    text = (folder / "README.md").read_text()
    assert "Latent Explorer tab" in text and "| seed | 0 |" in text and "Steps run: 40" in text
    # the check command the card gives reproduces it
    command = re.search(r"`python -m gen_core (eval FOLDER [^`]*--check)`", text).group(1).split()
    assert main([command[0], str(folder), *command[2:]]) == 0


@pytest.mark.parametrize("args, api, message", [
    ([5.0] + [0.0] * (N_SLIDERS - 1), "/decode", "greater than maximum"),
    (["abc"] + [0.0] * (N_SLIDERS - 1), "/decode", "must be a number"),
    ([None] + [0.0] * (N_SLIDERS - 1), "/decode", "needs a value"),
    ([-1], "/encode_test_image", "less than minimum"),
    ([10_000], "/encode_test_image", "greater than maximum"),
    (["seven"], "/encode_test_image", "must be a number"),
    ([None], "/encode_test_image", "must be a number between 0 and 9999"),
    (["x"], "/random_sample", "must be a number"),
    ([-5], "/random_sample", "less than minimum"),
    ([0, 1, 99], "/interpolate", "greater than maximum"),
    ([0, 20000, 5], "/interpolate", "between 0 and 9999"),
    ([9.0, 0.0], "/decode_point", "greater than maximum"),
    ([0.0, "q"], "/latent_map", "must be a number"),
    ([5, 4, 1.0, 0.001, 0], "/train_live", "less than minimum"),
    ([40, 4, 1.0, 5.0, 0], "/train_live", "Learning rate must be between"),
    ([40, 4, 1.0, "fast", 0], "/train_live", "must be a number"),
])
def test_bad_values_give_a_clear_error(client, args, api, message):
    with pytest.raises(AppError, match=message):
        client.predict(*args, api_name=api)


def test_app_still_works_after_bad_values(client):
    assert load(client.predict(*([0.0] * N_SLIDERS), api_name="/decode")).shape == (224, 224)


# --- live panel: step 0 before Start, seeded runs, Stop ------------------------------------------------------------

@pytest.fixture(scope="module")
def explorer():
    from gen_core.ui.latent_explorer import ExplorerModels, LatentExplorer
    return LatentExplorer(ExplorerModels.load())


def test_live_preview_shows_the_untrained_vae_of_the_controls(explorer):
    curves, recons, status = explorer.preview(600, 8, 1.0, 1e-3, 0, session={})
    assert status.startswith("Step 0 of 600: the untrained VAE (8 latent dims, beta 1, seed 0)")
    traces = {t.name: t for t in curves.data}
    assert set(traces) == {"-ELBO", "KL", "reconstruction"} and all(list(t.x) == [0] for t in traces.values())
    assert traces["-ELBO"].y[0] == pytest.approx(traces["reconstruction"].y[0] + traces["KL"].y[0], rel=1e-5)
    assert curves.layout.xaxis.range[1] == 600
    assert recons.shape[1] > 3 * recons.shape[0]                    # 8 test images over their reconstructions
    bottom = recons[recons.shape[0] // 2 + 10:]
    assert 60 < bottom.mean() < 200                                  # an untrained decoder: grey, not a blank row
    again = explorer.preview(600, 8, 1.0, 1e-3, 0, session={})
    assert np.array_equal(again[1], recons)                          # the same seed: the same untrained weights
    assert not np.array_equal(explorer.preview(600, 8, 1.0, 1e-3, 1, session={})[1], recons)


def test_live_preview_leaves_a_running_or_half_typed_panel_alone(explorer):
    import gradio as gr
    skip = type(gr.skip())
    session: dict = {}
    assert all(isinstance(x, skip) for x in explorer.preview(600, "abc", 1.0, 1e-3, 0, session=session))
    run = explorer.train_live(40, 4, 1.0, 1e-3, 0, session=session)
    next(run)
    assert all(isinstance(x, skip) for x in explorer.preview(600, 8, 1.0, 1e-3, 0, session=session))
    final = list(run)[-1]
    assert final[2].startswith("Done: 40 steps")
    assert not isinstance(explorer.preview(600, 8, 1.0, 1e-3, 0, session=session)[0], skip)


def test_two_visitors_training_one_seed_at_once_get_the_same_run(client, app_url):
    """Two sessions start the same settings at the same time, so both runs train side by side in the app's threads
    (the live-training queue takes two): with private training noise and seeded builds under one lock they are the
    same run. (Before 2026-12-07 the reparameterisation noise came from torch's shared global RNG and the two
    curves differed from the first logged step.)"""
    other = Client(app_url, verbose=False)
    jobs = [c.submit(100, 4, 1.0, 1e-3, 5, api_name="/train_live") for c in (client, other)]
    finals = [job.result(timeout=240) for job in jobs]
    assert all(f[2].startswith("Done: 100 steps") for f in finals)
    curves = [[trace["y"] for trace in json.loads(f[0]["plot"])["data"]] for f in finals]
    assert curves[0] == curves[1] and len(curves[0][0]) == 5
    assert np.array_equal(load(finals[0][1]), load(finals[1][1]))


def test_stop_ends_the_live_run_with_its_final_state(client):
    job = client.submit(3000, 8, 1.0, 1e-3, 0, api_name="/train_live")
    final = stop_after_outputs(client, job, "/stop_live", n=2, timeout=120)
    status = final[2]
    assert status.startswith("Stopped: "), status
    assert final[3]["visible"] and final[3]["value"].endswith("vae-fmnist-8d-live.zip")  # a stopped run is offered
    assert 0 < int(re.search(r"Stopped: (\d+) steps", status).group(1)) < 3000
