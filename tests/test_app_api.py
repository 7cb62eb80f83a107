"""Every public endpoint of the Latent Explorer through gradio_client against the launched app, good and bad values."""

from __future__ import annotations

import numpy as np
import pytest
from gradio_client.exceptions import AppError
from PIL import Image

N_SLIDERS = 16


def load(path: str) -> np.ndarray:
    return np.asarray(Image.open(path).convert("L"))


def test_api_lists_the_public_endpoints(client):
    names = set(client.view_api(return_format="dict", print_info=False)["named_endpoints"])
    assert {"/decode", "/prior_mean", "/random_sample", "/encode_test_image", "/interpolate", "/decode_point",
            "/latent_map", "/train_live"} <= names


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
    curves, recons, status = outputs
    assert status.startswith("Done: 40 steps")
    assert len(job.outputs()) >= 3  # several streamed updates, not one final answer
    assert load(recons).shape[0] > 0


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
