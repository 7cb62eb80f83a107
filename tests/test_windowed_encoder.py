"""The windowed conv64 encoder (gen_core.metrics.windowed) computes exactly what the full encoder computes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gen_core.data.dsprites import DSprites
from gen_core.metrics.beta_vae import encoder_mean_fn
from gen_core.metrics.windowed import GRID, WindowedConv64Mean, ink_windows
from gen_core.models.vae import VAE, VAEConfig


@pytest.fixture(scope="module")
def vae() -> VAE:
    torch.manual_seed(0)
    model = VAE(VAEConfig(latent_dim=10, architecture="conv64")).eval()
    with torch.no_grad():                       # biases well away from 0, so that blank units are not all 0
        for m in model.encoder.net:
            if isinstance(m, torch.nn.Conv2d):
                m.bias.normal_(0.0, 0.3)
    return model


@pytest.fixture(scope="module")
def windowed(vae: VAE) -> WindowedConv64Mean:
    w = WindowedConv64Mean.for_model(vae)
    assert w is not None
    return w


def _eager(model: VAE, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.encode(x)[0]


def _edge_cases() -> torch.Tensor:
    """Blank, full, single pixels at the corners and edges, and blobs that touch each border."""
    images = [torch.zeros(64, 64), torch.ones(64, 64)]
    for r, c in [(0, 0), (0, 63), (63, 0), (63, 63), (0, 31), (31, 0), (63, 30), (30, 63), (7, 12), (50, 2)]:
        img = torch.zeros(64, 64)
        img[r, c] = 1.0
        images.append(img)
    rng = np.random.RandomState(0)
    for _ in range(40):
        img = torch.zeros(64, 64)
        h, w = rng.randint(1, 40, size=2)
        r, c = rng.randint(0, 64 - h + 1), rng.randint(0, 64 - w + 1)
        img[r:r + h, c:c + w] = torch.from_numpy((rng.rand(h, w) > 0.3).astype(np.float32) * rng.rand())
        images.append(img)
    return torch.stack(images)[:, None]


def test_windowed_means_equal_the_full_encoder_on_dsprites_and_edge_cases(vae, windowed):
    images, _ = DSprites().sample(700, 3)
    corners = DSprites().render(np.array([[s, 5, o, px, py] for s in range(3) for o in (0, 13)
                                          for px in (0, 31) for py in (0, 31)]))  # the largest sprites, at the corners
    x = torch.cat([images, corners, _edge_cases()])
    torch.testing.assert_close(windowed(x), _eager(vae, x), atol=1e-5, rtol=1e-5)


def test_windowed_means_on_two_threads_match_one(vae, windowed):
    x = torch.cat([DSprites().sample(300, 4)[0], _edge_cases()])
    one = windowed(x)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        two = windowed(x)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
    torch.testing.assert_close(two, one, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(one, _eager(vae, x), atol=1e-5, rtol=1e-5)


def test_ink_windows_are_the_receptive_fields_of_third_layer_units():
    # unit o3 of the third layer sees input rows 8 o3 - 3 ... 8 o3 + 10 (kernels 4, 4, 2; strides 2; padding 1, 1, 0)
    x = torch.zeros(64, 1, 64, 64)
    for r in range(64):
        x[r, 0, r, 63 - r] = 1.0
    ay, by, ax, bx = ink_windows(x)
    for r in range(64):
        units = [o for o in range(GRID) if 8 * o - 3 <= r <= 8 * o + 10]
        assert (ay[r], by[r]) == (min(units), max(units) + 1), r
        cols = [o for o in range(GRID) if 8 * o - 3 <= 63 - r <= 8 * o + 10]
        assert (ax[r], bx[r]) == (min(cols), max(cols) + 1), r
    empty = ink_windows(torch.zeros(2, 1, 64, 64))
    assert all((w == 0).all() for w in empty)


def test_a_unit_outside_the_window_equals_the_blank_image_unit(vae):
    # the premise of the method, checked on the real layers: third-layer units outside an image's window take the
    # all-black image's values, and some inside it do not
    net = vae.encoder.net
    images, _ = DSprites().sample(50, 5)
    with torch.no_grad():
        h = net[:6](images)
        blank = net[:6](torch.zeros(1, 1, 64, 64))
    ay, by, ax, bx = ink_windows(images)
    for i in range(len(images)):
        inside = torch.zeros(GRID, GRID, dtype=torch.bool)
        inside[ay[i]:by[i], ax[i]:bx[i]] = True
        diff = (h[i] - blank[0]).abs().amax(0)          # (8, 8)
        assert diff[~inside].max() < 1e-6            # float rounding of a batch of 50 against a batch of 1
        assert diff[inside].max() > 1e-3


def test_windowed_encoder_rejects_negative_pixels_or_hands_them_to_the_fallback(vae):
    x = torch.zeros(3, 1, 64, 64)
    x[1, 0, 5, 5] = -1.0
    plain = WindowedConv64Mean.for_model(vae)
    with pytest.raises(ValueError, match="pixels >= 0"):
        plain(x)
    with_fallback = WindowedConv64Mean.for_model(vae, fallback=lambda t: _eager(vae, t))
    torch.testing.assert_close(with_fallback(x), _eager(vae, x))
    with pytest.raises(ValueError, match=r"\(N, 1, 64, 64\)"):
        plain(torch.zeros(2, 64, 64))


def test_windowed_encoder_applies_only_to_the_conv64_stack():
    assert WindowedConv64Mean.for_model(VAE(VAEConfig(latent_dim=4))) is None          # conv28
    model = VAE(VAEConfig(latent_dim=4, architecture="conv64"))
    model.encoder.net[2] = torch.nn.Conv2d(32, 32, 3, stride=2, padding=1)            # another kernel
    assert WindowedConv64Mean.for_model(model) is None


def test_encoder_mean_fn_gives_the_same_means_with_the_windowed_path(vae):
    images, _ = DSprites().sample(200, 6)
    represent = encoder_mean_fn(vae)
    first = represent(images)                      # eager; checks the frozen and windowed encoders
    again = represent(images)                      # windowed
    negative = represent(images - 0.5)             # a pixel < 0: the frozen full encoder
    torch.testing.assert_close(first, _eager(vae, images), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(again, first, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(negative, _eager(vae, images - 0.5), atol=1e-5, rtol=1e-5)
