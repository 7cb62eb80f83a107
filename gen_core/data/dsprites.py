"""dSprites (Matthey, Higgins, Hassabis & Lerchner 2017), generated exactly instead of downloaded.

737,280 binary 64x64 images of one white sprite on black, one image per combination of five factors:

=============  ====  ==========================================================
factor         size  values (the official ``latents_values``)
=============  ====  ==========================================================
shape          3     1 square, 2 ellipse, 3 heart
scale          6     linspace(0.5, 1, 6)
orientation    40    linspace(0, 2 pi, 40): the first and last give the same image
pos_x, pos_y   32    linspace(0, 1, 32)
=============  ====  ==========================================================

The flat index of an image is the mixed-radix number of its factor indices (shape most significant), as in the
official ``.npz``: ``index = (((shape * 6 + scale) * 40 + orientation) * 32 + pos_x) * 32 + pos_y``.

How the official images were drawn, and how this module reproduces them
--------------------------------------------------------------------------
The authors drew the sprites as vector shapes with LOVE2D (OpenGL) straight into the 64x64 frame, without
antialiasing (google-deepmind/dsprites-dataset issues #2, #3). So a pixel is white exactly when its *centre* lies
inside the shape. The constants below were reverse-engineered by fitting renders against the 320 official frames
in ``shared/data/dsprites_official.gif`` (sweeps of every factor); pixel coordinates put pixel (row i, column j)
at the square [j, j+1] x [i, i+1], so its centre is (j + 0.5, i + 0.5), with y pointing down:

- position: the sprite's centre is at ``16 + 32 * pos`` pixels (canvas coordinate 0.25 + 0.5 pos), so pos_x
  moves the sprite by 32/31 pixels per step and pos = 0 -> 1 is an exact 32-pixel shift;
- rotation: about that centre, counter-clockwise on screen by the orientation angle;
- scale multiplies the sprite's outline about its centre;
- square: side 0.3 of the canvas (19.2 pixels) at scale 1;
- ellipse: LOVE2D draws ellipses as polygons; a 64-gon with semi-axes 12.78 x 7.22 pixels at scale 1;
- heart: the classic heart curve x = 16 sin^3 t, y = 13 cos t - 5 cos 2t - 2 cos 3t - cos 4t sampled at 180
  points (every 2 degrees), scaled by 0.6 px (x) and 0.662 px (y) per unit and shifted 1.44 px up (its point
  downward at orientation 0).

With these the renderer differs from the official frames by 0.04 pixels per frame on average (14 pixels in all
320 frames, at most 2 in one; tested in ``tests/test_dsprites.py``). Because the position step is 32/31 pixels,
a change of position is *not* an exact shift of the image: the sprite is sampled at a different sub-pixel
offset, which changes its outline by a pixel or two, exactly as in the official data.

Rendering is exact and fast: for each of the 720 (shape, scale, orientation) sprites this module caches, on a
grid of rows 1/31 pixel apart (every row offset that any position can produce), the intervals of x where that
row lies inside the sprite. Drawing an image turns each of the 30 rows that can hold the sprite into column
ranges and copies precomputed 64-pixel rows; a batch of 64 images takes well under a millisecond.

    >>> data = DSprites()
    >>> images, factors = data.sample(64, seed=0)      # (64, 1, 64, 64) float32 in {0, 1}; (64, 5) int64
    >>> bool(torch.equal(data.images(data.factors_to_index(factors)), images))
    True
"""

from __future__ import annotations

import math
from typing import Union

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "FACTOR_NAMES",
    "FACTOR_SIZES",
    "FACTOR_VALUES",
    "SHAPE_NAMES",
    "SCALES",
    "ORIENTATIONS",
    "POSITIONS",
    "IMAGE_SIZE",
    "NUM_IMAGES",
    "DSprites",
]

FACTOR_NAMES = ("shape", "scale", "orientation", "pos_x", "pos_y")
FACTOR_SIZES = (3, 6, 40, 32, 32)
SHAPE_NAMES = ("square", "ellipse", "heart")
SCALES = np.linspace(0.5, 1.0, 6)
ORIENTATIONS = np.linspace(0.0, 2.0 * np.pi, 40)
POSITIONS = np.linspace(0.0, 1.0, 32)
FACTOR_VALUES = (np.array([1.0, 2.0, 3.0]), SCALES, ORIENTATIONS, POSITIONS, POSITIONS)
IMAGE_SIZE = 64
NUM_IMAGES = math.prod(FACTOR_SIZES)  # 737,280

Seed = Union[int, np.random.RandomState, np.random.Generator, torch.Generator, None]

# ---- geometry of the official renderer (pixel units at scale 1; fitted to the official frames) -------------------
SQUARE_HALF_SIDE = 9.6 - 1e-3  # 0.15 of the canvas; the official frames leave out pixel centres 2e-4 px inside it
ELLIPSE_SEMI_AXES = (12.78, 7.22)
ELLIPSE_SEGMENTS = 64
HEART_SCALE = (0.6, 0.662)  # pixels per unit of the heart curve, (x, y); 0.6 * 32 = 19.2 px wide, as the square
HEART_SHIFT_UP = 1.44
HEART_SEGMENTS = 180

# Pixel centres lie on a grid 1/31 pixel apart relative to any sprite centre: with centre = 16 + 32 k / 31 and
# pixel centre j + 1/2, (j + 1/2 - centre) * 31 = 31 j - 32 k - 480.5. An image is drawn in a WINDOW x WINDOW
# block of pixels starting at pixel k + 1 (rows and columns), which holds every sprite (all lie within 13.6 px of
# their centre). Its row t (column u) has the code q = 31 t - k - 449, the offset (q - 1/2) / 31 pixels.
_SUB = 31
_WINDOW = 30
_OFFSET = 480  # row/column code q = 31 t - k - 449 lies in [-480, 450] for t < WINDOW, k < 32; stored at q + 480
_NUM_CODES = 31 * (_WINDOW - 1) - 449 + _OFFSET + 1  # 931


def _sprite_outline(shape: int, scale: float, angle: float) -> np.ndarray:
    """Vertices (V, 2) of a sprite's outline in pixels, relative to its centre (x right, y down)."""
    if shape == 0:
        h = SQUARE_HALF_SIDE
        outline = np.array([[-h, -h], [h, -h], [h, h], [-h, h]])
    elif shape == 1:
        t = 2.0 * np.pi * np.arange(ELLIPSE_SEGMENTS) / ELLIPSE_SEGMENTS
        outline = np.stack([ELLIPSE_SEMI_AXES[0] * np.cos(t), ELLIPSE_SEMI_AXES[1] * np.sin(t)], axis=1)
    else:
        t = 2.0 * np.pi * np.arange(HEART_SEGMENTS) / HEART_SEGMENTS
        x = 16.0 * np.sin(t) ** 3
        y = 13.0 * np.cos(t) - 5.0 * np.cos(2 * t) - 2.0 * np.cos(3 * t) - np.cos(4 * t)
        outline = np.stack([HEART_SCALE[0] * x, -HEART_SCALE[1] * y - HEART_SHIFT_UP], axis=1)
    c, s = math.cos(angle), math.sin(angle)
    rotation = np.array([[c, -s], [s, c]])  # counter-clockwise on screen, where y points down
    return scale * outline @ rotation


def _row_intervals(outline: np.ndarray, rows_y: np.ndarray, max_intervals: int) -> np.ndarray:
    """Where each horizontal line y = rows_y[r] lies inside the polygon (even-odd rule).

    Returns (R, max_intervals, 2) pairs [x_in, x_out) of x; unused pairs are (inf, inf), i.e. empty.
    """
    x0, y0 = outline[:, 0], outline[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    y = rows_y[:, None]  # (R, 1) against (V,) edges
    crosses = (y0 > y) != (y1 > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.where(crosses, x0 + (y - y0) * (x1 - x0) / (y1 - y0), np.inf)
    counts = np.isfinite(x).sum(axis=1)
    if (counts % 2).any() or counts.max() > 2 * max_intervals:
        raise RuntimeError("a sprite outline crosses a row an odd number of times, or too often")
    x = np.sort(x, axis=1)
    if x.shape[1] < 2 * max_intervals:
        x = np.concatenate([x, np.full((len(x), 2 * max_intervals - x.shape[1]), np.inf)], axis=1)
    x = x[:, : 2 * max_intervals]
    return x.reshape(len(rows_y), max_intervals, 2)


def _build_sprite_table() -> Tensor:
    """Integer column bounds of every (sprite, row code): column code p is inside iff lo_i <= p < hi_i, i = 1, 2.

    Returns (720 * _NUM_CODES, 4) int32 rows (lo_1, lo_2, hi_1, hi_2); row sprite * _NUM_CODES + q + _OFFSET
    holds row code q. A row code q (a column code p) stands for the offset (q - 1/2) / 31 pixels between a pixel
    centre and the sprite centre, along y (x).
    """
    max_intervals = 2  # a row meets a heart at most twice (the two lobes); squares and ellipses once
    codes = np.arange(_NUM_CODES) - _OFFSET
    rows_y = (codes - 0.5) / _SUB
    num_sprites = FACTOR_SIZES[0] * FACTOR_SIZES[1] * FACTOR_SIZES[2]
    lo = np.zeros((num_sprites, _NUM_CODES, max_intervals), dtype=np.int32)  # 10 MB in all with hi
    hi = np.zeros_like(lo)
    sprite = 0
    for shape in range(FACTOR_SIZES[0]):
        for scale in SCALES:
            for angle in ORIENTATIONS:
                intervals = _row_intervals(_sprite_outline(shape, scale, angle), rows_y, max_intervals)
                # x_in <= (p - 1/2) / 31 < x_out  <=>  ceil(31 x_in + 1/2) <= p < ceil(31 x_out + 1/2)
                bounds = np.ceil(_SUB * np.where(np.isfinite(intervals), intervals, 0.0) + 0.5)
                lo[sprite], hi[sprite] = bounds[..., 0], bounds[..., 1]
                sprite += 1
    return torch.from_numpy(np.concatenate([lo, hi], axis=-1).reshape(-1, 2 * max_intervals))


_SPRITE_TABLE: Tensor | None = None


def _sprite_table() -> Tensor:
    """The sprite table, built on first use (1-4 s) and then kept for the process."""
    global _SPRITE_TABLE
    if _SPRITE_TABLE is None:
        _SPRITE_TABLE = _build_sprite_table()
    return _SPRITE_TABLE


_ROW_TABLE: Tensor | None = None


def _row_table() -> Tensor:
    """(65 * 65, 64) uint8 image rows: entry a * 65 + b is 1 on the columns a <= j < b."""
    global _ROW_TABLE
    if _ROW_TABLE is None:
        edge, column = torch.arange(IMAGE_SIZE + 1), torch.arange(IMAGE_SIZE)
        rows = (column >= edge[:, None, None]) & (column < edge[None, :, None])  # (65, 65, 64)
        _ROW_TABLE = rows.reshape(-1, IMAGE_SIZE).to(torch.uint8)
    return _ROW_TABLE


def _draw(factors: np.ndarray) -> Tensor:
    """Images (n, 64, 64) uint8 in {0, 1} of valid factor indices (n, 5).

    Each of the WINDOW image rows that can hold the sprite looks up its (at most two) column intervals in the
    sprite table, turns them into image-column ranges and copies the matching precomputed rows into the image.
    """
    bounds = _sprite_table()  # (720 * _NUM_CODES, 4): lo_1, lo_2, hi_1, hi_2
    f = torch.from_numpy(factors)
    n = len(f)
    sprite = (f[:, 0] * FACTOR_SIZES[1] + f[:, 1]) * FACTOR_SIZES[2] + f[:, 2]  # (n,)
    kx, ky = f[:, 3:4], f[:, 4:5]  # (n, 1)
    t = torch.arange(_WINDOW)
    code = sprite[:, None] * _NUM_CODES + (_SUB * t - ky - 449 + _OFFSET)  # (n, W): table row of image row ky+1+t
    b = bounds.index_select(0, code.reshape(-1)).view(n, _WINDOW, 4)  # column-code bounds
    # the pixel in window column u (image column kx + 1 + u) has column code p = 31 u - kx - 449, so
    # lo <= p < hi  <=>  ceil((lo + kx + 449) / 31) <= u < ceil((hi + kx + 449) / 31)
    columns = torch.div(b + (kx + 449 + _SUB - 1)[:, :, None], _SUB, rounding_mode="floor") + 1 + kx[:, :, None]
    start, stop = columns[..., :2], torch.maximum(columns[..., 2:], columns[..., :2])  # (n, W, 2) image columns
    entry = start * (IMAGE_SIZE + 1) + stop
    table = _row_table()
    rows = table.index_select(0, entry[..., 0].reshape(-1))  # (n * W, 64)
    rows |= table.index_select(0, entry[..., 1].reshape(-1))
    images = torch.zeros(n * IMAGE_SIZE, IMAGE_SIZE, dtype=torch.uint8)
    image_row = (torch.arange(n)[:, None] * IMAGE_SIZE + ky + 1 + t).reshape(-1)  # (n * W,)
    images.index_copy_(0, image_row, rows)
    return images.view(n, IMAGE_SIZE, IMAGE_SIZE)


def _as_rng(seed: Seed) -> np.random.RandomState | np.random.Generator:
    """A numpy random source from an int seed, a numpy RandomState / Generator, or a torch.Generator (which
    then seeds a RandomState); None draws fresh entropy."""
    if isinstance(seed, (np.random.RandomState, np.random.Generator)):
        return seed
    if isinstance(seed, torch.Generator):
        seed = int(torch.randint(2**31 - 1, (1,), generator=seed))
    return np.random.RandomState(seed)


def _randint(rng: np.random.RandomState | np.random.Generator, high: int, size: int) -> np.ndarray:
    if isinstance(rng, np.random.Generator):
        return rng.integers(0, high, size=size)
    return rng.randint(0, high, size=size)


class DSprites:
    """The dSprites dataset, rendered on demand (nothing is stored but a 10 MB sprite table).

    It is also a *ground truth* for the disentanglement metrics (``gen_core.metrics.disentanglement``):
    ``num_factors``, ``factor_sizes``, ``sample_factors(n, rng)`` and ``sample_observations_from_factors``.

    Args:
        device: where ``render`` puts its images.
    """

    factor_names = FACTOR_NAMES
    factor_sizes = FACTOR_SIZES
    factor_values = FACTOR_VALUES
    observation_shape = (1, IMAGE_SIZE, IMAGE_SIZE)
    deterministic = True  # one image per factor combination: the metrics may encode each image only once

    def __init__(self, device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)
        self._bases = np.array([math.prod(FACTOR_SIZES[i + 1:]) for i in range(len(FACTOR_SIZES))], dtype=np.int64)

    def __len__(self) -> int:
        return NUM_IMAGES

    def __getitem__(self, index: int) -> tuple[Tensor, np.ndarray]:
        """Image (1, 64, 64) and factor indices (5,) of one flat index."""
        factors = self.index_to_factors(np.array([index]))
        return self.render(factors)[0], factors[0]

    @property
    def num_factors(self) -> int:
        return len(FACTOR_SIZES)

    # ---- indexing ---------------------------------------------------------------------------------------------
    def index_to_factors(self, indices: np.ndarray | Tensor | int) -> np.ndarray:
        """Flat indices (n,) -> factor indices (n, 5) int64."""
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        if indices.size and (indices.min() < 0 or indices.max() >= NUM_IMAGES):
            raise IndexError(f"dSprites indices must lie in [0, {NUM_IMAGES}), got [{indices.min()}, {indices.max()}]")
        return (indices[:, None] // self._bases) % np.array(FACTOR_SIZES)

    def factors_to_index(self, factors: np.ndarray | Tensor) -> np.ndarray:
        """Factor indices (n, 5) -> flat indices (n,) int64."""
        factors = self._check_factors(factors)
        return factors @ self._bases

    def factor_values_of(self, factors: np.ndarray | Tensor) -> np.ndarray:
        """Factor indices (n, 5) -> the official factor values (n, 5) float64 (shape 1-3, scale, radians, pos)."""
        factors = self._check_factors(factors)
        return np.stack([FACTOR_VALUES[i][factors[:, i]] for i in range(len(FACTOR_SIZES))], axis=1)

    @staticmethod
    def _check_factors(factors: np.ndarray | Tensor) -> np.ndarray:
        if isinstance(factors, Tensor):
            factors = factors.cpu().numpy()
        factors = np.asarray(factors)
        if factors.ndim != 2 or factors.shape[1] != len(FACTOR_SIZES):
            raise ValueError(f"factors must have shape (n, {len(FACTOR_SIZES)}), got {factors.shape}")
        if not np.issubdtype(factors.dtype, np.integer):
            raise ValueError(f"factors must be integer indices, got dtype {factors.dtype}")
        if factors.size and ((factors < 0).any() or (factors >= np.array(FACTOR_SIZES)).any()):
            raise ValueError(f"factor indices out of range; sizes are {FACTOR_SIZES}")
        return factors.astype(np.int64)

    # ---- rendering --------------------------------------------------------------------------------------------
    def render(self, factors: np.ndarray | Tensor) -> Tensor:
        """Draw the images of factor indices (n, 5): (n, 1, 64, 64) float32 in {0, 1}."""
        return _draw(self._check_factors(factors)).unsqueeze(1).to(self.device, torch.float32)

    def images(self, indices: np.ndarray | Tensor | int) -> Tensor:
        """Images (n, 1, 64, 64) float32 of flat indices (n,)."""
        return self.render(self.index_to_factors(indices))

    def materialize(self, chunk: int = 16384) -> np.ndarray:
        """The whole dataset as bits packed along x: (737280, 64, 8) uint8, 377 MB (unpacked it would be 3 GB).

        ``np.unpackbits(packed[i], axis=-1)`` gives image i as (64, 64) uint8.
        """
        packed = np.empty((NUM_IMAGES, IMAGE_SIZE, IMAGE_SIZE // 8), dtype=np.uint8)
        for start in range(0, NUM_IMAGES, chunk):
            stop = min(start + chunk, NUM_IMAGES)
            images = _draw(self.index_to_factors(np.arange(start, stop))).numpy()
            packed[start:stop] = np.packbits(images, axis=-1)
        return packed

    # ---- sampling (also the ground-truth interface of the disentanglement metrics) -----------------------------
    def sample_factors(self, n: int, rng: Seed = None) -> np.ndarray:
        """n factor-index vectors drawn uniformly: (n, 5) int64."""
        rng = _as_rng(rng)
        return np.stack([_randint(rng, size, n) for size in FACTOR_SIZES], axis=1).astype(np.int64)

    def sample_observations_from_factors(self, factors: np.ndarray | Tensor, rng: Seed = None) -> Tensor:
        """Images of the given factors (the data are deterministic, so ``rng`` is unused): (n, 1, 64, 64)."""
        return self.render(factors)

    def sample(self, n: int, seed: Seed = None) -> tuple[Tensor, np.ndarray]:
        """n uniformly drawn images and their factor indices: ((n, 1, 64, 64) float32, (n, 5) int64)."""
        factors = self.sample_factors(n, seed)
        return self.render(factors), factors


class DSpritesBatches:
    """Training batches for the shared loop (a ``gen_core.train.BatchSource``): images drawn uniformly and
    independently over the 737,280 factor combinations, as disentanglement_lib trains, rendered on demand.

    The random state is one ``torch.Generator``, so checkpoints resume the exact batch sequence.
    """

    def __init__(self, batch_size: int, seed: int, device: torch.device | str = "cpu", rank: int = 0) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.data = DSprites(device=device)
        self.batch_size = batch_size
        self.gen = torch.Generator().manual_seed(seed + rank)

    def next_batch(self) -> Tensor:
        """(batch_size, 1, 64, 64) binary images."""
        return self.data.render(self.data.sample_factors(self.batch_size, self.gen))

    def get_state(self) -> dict[str, Tensor]:
        return {"gen": self.gen.get_state()}

    def set_state(self, state: dict[str, Tensor]) -> None:
        self.gen.set_state(state["gen"])
