"""dSprites is generated exactly: its factor grid, indexing, geometry, and pixel agreement with official frames."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch

import gen_core.data.dsprites as dsprites
from gen_core.data.dsprites import FACTOR_NAMES, FACTOR_SIZES, FACTOR_VALUES, NUM_IMAGES, DSprites

ROOT = Path(__file__).resolve().parents[1]
OFFICIAL_GIF = Path(os.environ.get("GEN_CORE_DSPRITES_GIF", ROOT.parent / "shared" / "data" / "dsprites_official.gif"))

# What the 320 frames of the official GIF show, found by matching renders against them: per shape, runs in which
# one factor sweeps (from, to, in steps of 1) while the others keep their current values. Every run starts at
# scale 0, orientation 0, position (0, 0). Heart: frames 0-191, ellipse: 192-255, square: 256-319.
SCALE_RUNS = (("scale", 0, 5), ("scale", 5, 0), ("scale", 0, 5), ("orientation", 0, 39))
GIF_RUNS = (
    ("heart", SCALE_RUNS + (("pos_y", 0, 31), ("pos_x", 0, 31), ("pos_y", 31, 0), ("pos_x", 31, 0), ("scale", 5, 0))),
    ("ellipse", SCALE_RUNS + (("scale", 5, 0),)),
    ("square", SCALE_RUNS + (("scale", 5, 0),)),
)


def gif_factors() -> np.ndarray:
    """(320, 5) factor indices of the official GIF's frames, from GIF_RUNS."""
    frames = []
    for shape, runs in GIF_RUNS:
        state = dict(shape=dsprites.SHAPE_NAMES.index(shape), scale=0, orientation=0, pos_x=0, pos_y=0)
        for factor, start, stop in runs:
            step = 1 if stop >= start else -1
            for value in range(start, stop + step, step):
                state[factor] = value
                frames.append([state[name] for name in FACTOR_NAMES])
    return np.array(frames)


@pytest.fixture(scope="module")
def data() -> DSprites:
    return DSprites()


def all_sprites(pos_x: int, pos_y: int) -> np.ndarray:
    """(720, 5): every (shape, scale, orientation) at one position."""
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in FACTOR_SIZES[:3]], indexing="ij"), -1).reshape(-1, 3)
    return np.concatenate([grid, np.tile([pos_x, pos_y], (len(grid), 1))], axis=1)


def test_factor_grid_matches_official_metadata(data):
    assert FACTOR_NAMES == ("shape", "scale", "orientation", "pos_x", "pos_y")
    assert FACTOR_SIZES == (3, 6, 40, 32, 32)
    assert len(data) == NUM_IMAGES == 737280 == math.prod(FACTOR_SIZES)
    assert data.num_factors == 5 and tuple(data.factor_sizes) == FACTOR_SIZES
    np.testing.assert_array_equal(FACTOR_VALUES[0], [1, 2, 3])
    np.testing.assert_allclose(FACTOR_VALUES[1], [0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    assert FACTOR_VALUES[2][0] == 0 and FACTOR_VALUES[2][-1] == pytest.approx(2 * np.pi)  # endpoint included
    np.testing.assert_allclose(np.diff(FACTOR_VALUES[2]), 2 * np.pi / 39)
    for positions in FACTOR_VALUES[3:]:
        np.testing.assert_allclose(positions, np.arange(32) / 31)


def test_index_factor_round_trip(data):
    rng = np.random.RandomState(0)
    indices = np.concatenate([[0, 1, 32, NUM_IMAGES - 1], rng.randint(NUM_IMAGES, size=1000)])
    factors = data.index_to_factors(indices)
    assert factors.shape == (len(indices), 5) and (factors < np.array(FACTOR_SIZES)).all()
    np.testing.assert_array_equal(data.factors_to_index(factors), indices)
    # the official .npz order: shape most significant, pos_y least
    np.testing.assert_array_equal(factors[:4], [[0, 0, 0, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 1, 0], [2, 5, 39, 31, 31]])
    np.testing.assert_array_equal(data.factor_values_of(factors[3:4]), [[3, 1.0, 2 * np.pi, 1.0, 1.0]])


def test_images_are_binary_nonempty_and_never_clipped(data):
    """Every sprite at the four extreme positions: binary, non-empty, clear of the border, and moving it from
    position 0 to 31 (exactly 32 pixels) is an exact shift, so no part of it ever leaves the frame."""
    corner = data.render(all_sprites(0, 0))  # (720, 1, 64, 64)
    assert corner.dtype == torch.float32 and corner.shape == (720, 1, 64, 64)
    assert set(corner.unique().tolist()) == {0.0, 1.0}
    assert (corner.sum(dim=(1, 2, 3)) > 0).all()
    for pos_x, pos_y, shift in ((31, 0, (0, 32)), (0, 31, (32, 0)), (31, 31, (32, 32))):
        moved = data.render(all_sprites(pos_x, pos_y))
        assert torch.equal(moved, torch.roll(corner, shifts=shift, dims=(2, 3)))
        for image in (corner, moved):
            border = image[..., [0, -1], :].sum() + image[..., :, [0, -1]].sum()
            assert border == 0


def centroids(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Row and column centroids (in pixels) of images (..., 64, 64)."""
    area, index = images.sum(dim=(-2, -1)), torch.arange(64.0)
    return (images.sum(-1) * index).sum(-1) / area, (images.sum(-2) * index).sum(-1) / area


@pytest.mark.parametrize("moved", ["pos_x", "pos_y"])
def test_changing_one_position_moves_the_sprite_along_that_axis_only(data, moved):
    """Each step of pos_x moves every sprite right by 32/31 pixels and not at all down (pos_y: down, not right).
    The move is a shift of the vector shape, so the pixels are re-sampled at a new sub-pixel offset, exactly as in
    the official data: rows thinner than a pixel can gain or lose their pixel, hence a tolerance of about half a pixel.
    (A move by 31 steps, 32 pixels, is an exact shift: see test_images_are_binary_nonempty_and_never_clipped.)"""
    sprites = all_sprites(0, 0)[:, :3]
    steps = np.arange(32)
    factors = np.zeros((720, 32, 5), dtype=np.int64)
    factors[..., :3] = sprites[:, None]
    factors[..., 3 if moved == "pos_x" else 4] = steps
    factors[..., 4 if moved == "pos_x" else 3] = 7
    images = data.render(factors.reshape(-1, 5)).view(720, 32, 64, 64)
    rows, columns = centroids(images)  # (720, 32) each
    along, across = (columns, rows) if moved == "pos_x" else (rows, columns)
    assert (along - along[:, :1] - torch.from_numpy(steps) * 32 / 31).abs().max() <= 0.6
    assert (across - across[:, :1]).abs().max() <= 0.6


def test_first_and_last_orientation_give_the_same_image(data):
    grid = np.stack(np.meshgrid(np.arange(3), np.arange(6), np.arange(0, 32, 3), np.arange(0, 32, 3),
                                indexing="ij"), -1).reshape(-1, 4)
    first = np.insert(grid, 2, 0, axis=1)
    last = np.insert(grid, 2, 39, axis=1)
    assert torch.equal(data.render(first), data.render(last))
    assert not torch.equal(data.render(np.insert(grid, 2, 5, axis=1)), data.render(first))


def test_rendering_and_sampling_are_deterministic(data):
    images, factors = data.sample(256, seed=3)
    assert images.shape == (256, 1, 64, 64) and factors.shape == (256, 5) and factors.dtype == np.int64
    again, factors_again = DSprites().sample(256, seed=3)
    assert torch.equal(images, again) and np.array_equal(factors, factors_again)
    assert torch.equal(data.images(data.factors_to_index(factors)), images)
    assert not np.array_equal(data.sample_factors(256, np.random.RandomState(4)), factors)
    # numpy Generators and torch Generators are accepted too, and are reproducible
    for make in (np.random.default_rng, lambda s: torch.Generator().manual_seed(s)):
        np.testing.assert_array_equal(data.sample_factors(10, make(5)), data.sample_factors(10, make(5)))
    image, factor = data[12345]
    assert torch.equal(image, data.images([12345])[0]) and data.factors_to_index(factor[None])[0] == 12345


def test_materialize_packs_every_image(data, monkeypatch):
    monkeypatch.setattr(dsprites, "NUM_IMAGES", 1000)  # the real call packs all 737,280 images (377 MB)
    packed = data.materialize(chunk=300)
    assert packed.shape == (1000, 64, 8) and packed.dtype == np.uint8
    unpacked = torch.from_numpy(np.unpackbits(packed, axis=-1)).float()
    assert torch.equal(unpacked, data.images(np.arange(1000))[:, 0])


def test_bad_factors_raise(data):
    with pytest.raises(ValueError, match="out of range"):
        data.render(np.array([[0, 0, 40, 0, 0]]))
    with pytest.raises(ValueError, match="integer"):
        data.render(np.zeros((1, 5)))
    with pytest.raises(ValueError, match="shape"):
        data.render(np.zeros((1, 4), dtype=int))
    with pytest.raises(IndexError):
        data.index_to_factors([NUM_IMAGES])


@pytest.mark.skipif(not OFFICIAL_GIF.exists(), reason=f"official dSprites frames not found at {OFFICIAL_GIF}")
def test_renders_match_the_official_frames(data):
    """The renderer reproduces the 320 official frames to 0.05 differing pixels per frame on average."""
    from PIL import Image, ImageSequence

    with Image.open(OFFICIAL_GIF) as gif:
        official = np.stack([np.array(frame.convert("L")) > 127 for frame in ImageSequence.Iterator(gif)])
    factors = gif_factors()
    assert official.shape == (320, 64, 64) and len(factors) == 320
    # frames that GIF_RUNS says show the same factors are the same picture (a check of the matching itself)
    _, first = np.unique(factors, axis=0, return_inverse=True)
    for group in np.unique(first):
        frames = official[first.ravel() == group]
        assert (frames == frames[0]).all()
    rendered = data.render(factors)[:, 0].numpy() > 0.5
    differing = (rendered != official).reshape(320, -1).sum(axis=1)
    assert differing.mean() < 0.1, differing.mean()  # measured: 14 pixels in all 320 frames, 0.044 per frame
    assert differing.max() <= 2


def test_batches_for_the_training_loop_are_seeded_and_resumable():
    from gen_core.data.dsprites import DSpritesBatches

    a, b = DSpritesBatches(16, seed=3), DSpritesBatches(16, seed=3)
    first = a.next_batch()
    assert first.shape == (16, 1, 64, 64) and set(first.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(first, b.next_batch())
    state = a.get_state()
    nxt = a.next_batch()
    b.set_state(state)
    assert torch.equal(nxt, b.next_batch())
    assert not torch.equal(DSpritesBatches(16, seed=4).next_batch(), first)


def test_shared_loop_trains_a_conv64_beta_vae_on_dsprites():
    from gen_core.data.dsprites import DSpritesBatches
    from gen_core.models import VAE, VAEConfig
    from gen_core.train import TrainConfig, train

    torch.manual_seed(0)
    model = VAE(VAEConfig(latent_dim=10, architecture="conv64", beta=4.0))
    events = list(train(model, DSpritesBatches(8, seed=0), TrainConfig(steps=6, batch_size=8, lr=1e-3, log_every=3)))
    steps = [e for e in events if e.kind == "step"]
    assert events[-1].kind == "done" and len(steps) == 2
    assert steps[-1].metrics["loss"] < steps[0].metrics["loss"]
