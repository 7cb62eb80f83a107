"""Unpaired image domains for CycleGAN, built from Fashion-MNIST (lecture notes 004, "Paired vs. unpaired examples").

Two domain pairs:

- ``"sketch"``: sketch <-> garment. Domain A holds the *edge maps* (computed here by :func:`sobel_edges`) of one
  half of the 60,000 training images; domain B holds the garments of the *other* half. No training garment
  appears in A as its own edge map, so training never sees a pair. The test set keeps the true pairs
  (a test image and its own edge map), used only for evaluation (per-pixel L1 / SSIM against the true partner).
- ``"shoes"``: sneaker (class 7) <-> ankle boot (class 9), chosen by the labels; there are no pairs at all.

The split is a seeded permutation, so a pair is the same on every machine:

    >>> pair = load_domain_pair("sketch")                                # doctest: +SKIP
    >>> pair.train_a.shape, pair.train_b.shape, pair.test_paired          # doctest: +SKIP
    (torch.Size([30000, 1, 28, 28]), torch.Size([30000, 1, 28, 28]), True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from gen_core.data.fashion_mnist import CLASS_NAMES, FashionMNIST, load_fashion_mnist

__all__ = ["PAIRS", "PairName", "SNEAKER", "ANKLE_BOOT", "EDGE_THRESHOLD", "SPLIT_SEED", "sobel_magnitude",
           "sobel_edges", "split_halves", "DomainPair", "load_domain_pair", "UnpairedBatches",
           "UnpairedSamplers", "toy_domains", "prepare_image"]

PairName = Literal["sketch", "shoes"]
PAIRS: tuple[str, ...] = ("sketch", "shoes")
SNEAKER, ANKLE_BOOT = 7, 9
EDGE_THRESHOLD = 0.75   # Sobel magnitude of a [0, 1] image; a clean 0 -> 1 step gives 4, so 0.75 keeps the
                        # outline and strong folds (steps of ~0.2 grey levels) and drops faint fabric texture
SPLIT_SEED = 2017       # the permutation that splits the training set into the A half and the B half

_SOBEL_X = torch.tensor([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])


def sobel_magnitude(images: Tensor) -> Tensor:
    """Gradient magnitude ``sqrt(Gx^2 + Gy^2)`` with the 3x3 Sobel kernels, zero padding, (B, 1, H, W) -> same.

    ``Gx = [[1, 0, -1], [2, 0, -2], [1, 0, -1]] * I`` (cross-correlation), ``Gy`` its transpose. Zero padding
    makes an object touching the border get an outline there too.
    """
    if images.ndim != 4 or images.shape[1] != 1:
        raise ValueError(f"images must have shape (B, 1, H, W), got {tuple(images.shape)}")
    x = images.float()
    kx = _SOBEL_X.to(x.device).view(1, 1, 3, 3)
    ky = _SOBEL_X.t().contiguous().to(x.device).view(1, 1, 3, 3)
    gx = F.conv2d(x, kx, padding=1)
    gy = F.conv2d(x, ky, padding=1)
    return torch.sqrt(gx * gx + gy * gy)


def sobel_edges(images: Tensor, threshold: float = EDGE_THRESHOLD) -> Tensor:
    """Binary edge map ("sketch") of images in [0, 1]: 1.0 where the Sobel magnitude exceeds ``threshold``.

    (B, 1, H, W) float in [0, 1] or uint8 in [0, 255] -> (B, 1, H, W) float32 in {0, 1}.
    """
    if not threshold > 0:        # NaN too
        raise ValueError(f"threshold must be positive, got {threshold}")
    x = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
    return (sobel_magnitude(x) > threshold).float()


def split_halves(n: int, seed: int = SPLIT_SEED) -> tuple[Tensor, Tensor]:
    """Two disjoint index sets covering ``range(n)``: a seeded random permutation cut in half (sorted halves)."""
    if n < 2:
        raise ValueError(f"need at least 2 examples to split, got {n}")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm[: n // 2].sort().values, perm[n // 2:].sort().values


@dataclass(frozen=True)
class DomainPair:
    """Two unpaired image domains A and B: training images (uint8, (N, 1, 28, 28)), test images, labels, indices.

    ``train_a_index`` / ``train_b_index`` are the Fashion-MNIST training indices each training image came from
    (for ``"sketch"`` A's are edge maps of those images). ``test_paired``: ``test_a[i]`` and ``test_b[i]`` are true
    partners (an image's edge map and the image), for evaluation only.
    """

    name: str
    a_name: str
    b_name: str
    train_a: Tensor
    train_b: Tensor
    train_a_labels: Tensor
    train_b_labels: Tensor
    train_a_index: Tensor
    train_b_index: Tensor
    test_a: Tensor
    test_b: Tensor
    test_a_labels: Tensor
    test_b_labels: Tensor
    test_paired: bool
    threshold: float = EDGE_THRESHOLD  # the Sobel threshold of the sketch pair's edge maps


def _to_uint8(x: Tensor) -> Tensor:
    return (x * 255.0).round().clamp(0, 255).to(torch.uint8)


_PAIR_CACHE: dict[tuple[str, float, int], DomainPair] = {}


def load_domain_pair(name: str, threshold: float = EDGE_THRESHOLD, seed: int = SPLIT_SEED) -> DomainPair:
    """Build (and cache per process) the domain pair ``"sketch"`` or ``"shoes"`` from Fashion-MNIST."""
    if name not in PAIRS:
        raise ValueError(f"unknown domain pair {name!r}; choose one of {', '.join(PAIRS)}")
    key = (name, float(threshold), int(seed))
    if key in _PAIR_CACHE:
        return _PAIR_CACHE[key]
    train, test = load_fashion_mnist("train"), load_fashion_mnist("test")
    if name == "sketch":
        idx_a, idx_b = split_halves(len(train), seed)
        edges_train = _to_uint8(sobel_edges(train.images[idx_a], threshold))
        edges_test = _to_uint8(sobel_edges(test.images, threshold))
        pair = DomainPair(
            name="sketch", a_name="sketch", b_name="garment",
            train_a=edges_train, train_b=train.images[idx_b],
            train_a_labels=train.labels[idx_a], train_b_labels=train.labels[idx_b],
            train_a_index=idx_a, train_b_index=idx_b,
            test_a=edges_test, test_b=test.images, test_a_labels=test.labels, test_b_labels=test.labels,
            test_paired=True, threshold=float(threshold))
    else:
        idx_a = torch.nonzero(train.labels == SNEAKER)[:, 0]
        idx_b = torch.nonzero(train.labels == ANKLE_BOOT)[:, 0]
        ta = torch.nonzero(test.labels == SNEAKER)[:, 0]
        tb = torch.nonzero(test.labels == ANKLE_BOOT)[:, 0]
        pair = DomainPair(
            name="shoes", a_name=CLASS_NAMES[SNEAKER].lower(), b_name=CLASS_NAMES[ANKLE_BOOT].lower(),
            train_a=train.images[idx_a], train_b=train.images[idx_b],
            train_a_labels=train.labels[idx_a], train_b_labels=train.labels[idx_b],
            train_a_index=idx_a, train_b_index=idx_b,
            test_a=test.images[ta], test_b=test.images[tb],
            test_a_labels=test.labels[ta], test_b_labels=test.labels[tb], test_paired=False)
    _PAIR_CACHE[key] = pair
    return pair


def _test_source_rows(name: str, direction: str, n: int) -> tuple[FashionMNIST, Tensor]:
    """The Fashion-MNIST test set and the rows of it that are the first ``n`` test images of a pair's source
    domain (checked arguments)."""
    if name not in PAIRS:
        raise ValueError(f"unknown domain pair {name!r}; choose one of {', '.join(PAIRS)}")
    if direction not in ("a2b", "b2a"):
        raise ValueError(f"direction must be 'a2b' or 'b2a', got {direction!r}")
    test = load_fashion_mnist("test")
    if name == "sketch":
        return test, torch.arange(min(n, len(test.labels)))
    label = SNEAKER if direction == "a2b" else ANKLE_BOOT
    return test, torch.nonzero(test.labels == label)[:n, 0]


def test_sources(name: str, direction: str, n: int, threshold: float = EDGE_THRESHOLD) -> Tensor:
    """The first ``n`` test images of a pair's source domain (``direction`` "a2b": domain A, "b2a": domain B), as
    uint8 (n, 1, 28, 28), equal to ``load_domain_pair(name).test_a[:n]`` (or ``test_b``) but without building the
    training domains (the sketch pair's 30,000 training edge maps take seconds to compute)."""
    test, rows = _test_source_rows(name, direction, n)
    images = test.images[rows]
    return _to_uint8(sobel_edges(images, threshold)) if name == "sketch" and direction == "a2b" else images


def test_source_labels(name: str, direction: str, n: int) -> Tensor:
    """The Fashion-MNIST classes (int64, (n,)) of the images ``test_sources(name, direction, n)`` returns; for the
    sketch pair, the class of the garment each test sketch was computed from."""
    test, rows = _test_source_rows(name, direction, n)
    return test.labels[rows]


class UnpairedBatches:
    """A ``BatchSource`` for the shared loop: ``(x_a, x_b)`` batches drawn from two independent permutations.

    uint8 images are scaled to [0, 1]. Each domain runs its own seeded epochs without replacement, so which A image
    meets which B image in a batch is random: the model is never shown a pair. Its state goes into checkpoints.
    """

    def __init__(self, a: Tensor, b: Tensor, batch_size: int, seed: int, device: torch.device) -> None:
        if batch_size < 1 or batch_size > min(a.shape[0], b.shape[0]):
            raise ValueError(f"batch_size must be between 1 and {min(a.shape[0], b.shape[0])}, got {batch_size}")
        self.a, self.b = a.to(device), b.to(device)
        self.batch_size = batch_size
        self.gen_a = torch.Generator().manual_seed(seed)
        self.gen_b = torch.Generator().manual_seed(seed + 104_729)
        self._perm_a = self._perm_b = torch.empty(0, dtype=torch.long)
        self._pos_a = self._pos_b = 0

    @staticmethod
    def _scale(x: Tensor) -> Tensor:
        return x.float().div_(255.0) if x.dtype == torch.uint8 else x

    def next_batch(self) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        """The next (x_a, x_b) pair of batches, (B, 1, 28, 28) each, in [0, 1]."""
        bs = self.batch_size
        if self._pos_a + bs > self._perm_a.numel():
            self._perm_a, self._pos_a = torch.randperm(self.a.shape[0], generator=self.gen_a), 0
        if self._pos_b + bs > self._perm_b.numel():
            self._perm_b, self._pos_b = torch.randperm(self.b.shape[0], generator=self.gen_b), 0
        ia = self._perm_a[self._pos_a:self._pos_a + bs].to(self.a.device)
        ib = self._perm_b[self._pos_b:self._pos_b + bs].to(self.b.device)
        self._pos_a += bs
        self._pos_b += bs
        return self._scale(self.a[ia]), self._scale(self.b[ib])

    def get_state(self) -> dict[str, Tensor]:
        """Permutation generators, permutations and positions of both domains."""
        return {"gen_a": self.gen_a.get_state(), "gen_b": self.gen_b.get_state(),
                "perm_a": self._perm_a.clone(), "perm_b": self._perm_b.clone(),
                "pos": torch.tensor([self._pos_a, self._pos_b])}

    def set_state(self, state: dict[str, Tensor]) -> None:
        """Restore :meth:`get_state`."""
        self.gen_a.set_state(state["gen_a"])
        self.gen_b.set_state(state["gen_b"])
        self._perm_a, self._perm_b = state["perm_a"].clone(), state["perm_b"].clone()
        self._pos_a, self._pos_b = int(state["pos"][0]), int(state["pos"][1])


class UnpairedSamplers:
    """A ``BatchSource`` of ``(x_a, x_b)`` point batches drawn afresh from two 2-D distributions with
    ``sample(n, generator)`` (the toy CycleGAN); each domain has its own seeded generator."""

    def __init__(self, target_a: Any, target_b: Any, batch_size: int, seed: int, device: torch.device) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.target_a, self.target_b, self.batch_size, self.device = target_a, target_b, batch_size, device
        self.gen_a = torch.Generator().manual_seed(seed)
        self.gen_b = torch.Generator().manual_seed(seed + 104_729)

    def next_batch(self) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        """Fresh (x_a, x_b), (B, 2) each."""
        return (self.target_a.sample(self.batch_size, generator=self.gen_a).to(self.device),
                self.target_b.sample(self.batch_size, generator=self.gen_b).to(self.device))

    def get_state(self) -> dict[str, Tensor]:
        """Both generators' states."""
        return {"gen_a": self.gen_a.get_state(), "gen_b": self.gen_b.get_state()}

    def set_state(self, state: dict[str, Tensor]) -> None:
        """Restore :meth:`get_state`."""
        self.gen_a.set_state(state["gen_a"])
        self.gen_b.set_state(state["gen_b"])


def toy_domains() -> tuple[Any, Any]:
    """The toy CycleGAN's two point clouds: domain A = a ring of 8 Gaussians (radius 1.5), domain B = a 3 x 3 grid
    of Gaussians (spacing 1.5), both with std 0.1, from :mod:`gen_core.data.toy2d`."""
    from gen_core.data.toy2d import Grid, Ring

    return Ring(n_modes=8, radius=1.5, std=0.1), Grid(n=3, spacing=1.5, std=0.1)


def prepare_image(image: Any, binarize: bool = False) -> Tensor:
    """Any uploaded or drawn picture -> a Fashion-MNIST-style (1, 1, 28, 28) tensor in [0, 1].

    Accepts a PIL image or a NumPy array (H, W), (H, W, 3) or (H, W, 4) of any size and mode (RGBA, grayscale,
    palette, 16-bit...). Transparent pixels count as background; the picture is converted to grey levels, cropped
    to a centred square, shrunk to 28 x 28 by area averaging, and inverted when its border is brighter than its
    middle (dark strokes on white paper become white on black, as in Fashion-MNIST). ``binarize``: threshold at
    0.15 (for the sketch domain, whose images are binary edge maps). Raises ValueError for anything else.
    """
    import numpy as np
    from PIL import Image

    if isinstance(image, np.ndarray):
        arr = image
        if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 3, 4)) or arr.size == 0:
            raise ValueError(f"an image array must be (H, W), (H, W, 3) or (H, W, 4), got shape {arr.shape}")
        if arr.dtype != np.uint8:
            a = arr.astype(np.float64)
            a = a / 255.0 if a.max() > 1.0 else a
            arr = (np.clip(a, 0, 1) * 255).round().astype(np.uint8)
        image = Image.fromarray(arr[..., 0] if arr.ndim == 3 and arr.shape[2] == 1 else arr)
    if not isinstance(image, Image.Image):
        raise ValueError(f"expected a picture (PIL image or NumPy array), got {type(image).__name__}")
    if image.width < 1 or image.height < 1:
        raise ValueError("the picture is empty")
    if image.mode in ("P", "PA", "LA", "RGBA", "La") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        alpha = np.asarray(rgba)[..., 3].astype(np.float64) / 255.0
        grey = np.asarray(rgba.convert("L")).astype(np.float64) / 255.0
        # Transparent pixels take the colour of the background the opaque strokes sit on: the opposite of the
        # strokes' mean grey level (dark strokes on transparent -> white paper).
        if alpha.max() > 0:
            stroke = (grey * alpha).sum() / alpha.sum()
            paper = 1.0 if stroke < 0.5 else 0.0
        else:
            paper = 0.0
        grey = alpha * grey + (1 - alpha) * paper
    else:
        grey = np.asarray(image.convert("L")).astype(np.float64) / 255.0
    h, w = grey.shape
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = Image.fromarray((grey[top:top + side, left:left + side] * 255).round().astype(np.uint8))
    small = np.asarray(square.resize((28, 28), Image.Resampling.BOX)).astype(np.float32) / 255.0
    border = np.concatenate([small[0], small[-1], small[:, 0], small[:, -1]]).mean()
    if border > 0.5:
        small = 1.0 - small
    out = torch.from_numpy(small.copy()).view(1, 1, 28, 28)
    return (out > 0.15).float() if binarize else out
