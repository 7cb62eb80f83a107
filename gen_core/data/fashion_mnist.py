"""Fashion-MNIST read from its four IDX ``.gz`` files (Xiao et al. 2017).

The files come from Debian's ``dataset-fashion-mnist`` package (``/usr/share/datasets/fashion-mnist/``) or from
the folder named by ``$GEN_CORE_DATA_DIR``. Each file is checked (exact size and IDX magic number) before any
pixel is used, so a truncated or corrupt download raises a clear error instead of yielding garbage images.
"""

from __future__ import annotations

import gzip
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor

CLASS_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
DEFAULT_DIRS = ("/usr/share/datasets/fashion-mnist",)
INSTALL_HINT = (
    "Install them with `apt-get install -y dataset-fashion-mnist` (files land in /usr/share/datasets/fashion-mnist/)"
    " or point $GEN_CORE_DATA_DIR at a folder holding the four IDX .gz files."
)
# split -> (images file, labels file, number of examples)
_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", 60_000),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", 10_000),
}
_IMAGE_MAGIC, _LABEL_MAGIC = 2051, 2049  # IDX: 0x0803 = ubyte, 3 dims; 0x0801 = ubyte, 1 dim


class DataFileError(RuntimeError):
    """A dataset file is missing, truncated or not in the expected format."""


def find_data_dir() -> Path:
    """Return the folder holding the Fashion-MNIST files: ``$GEN_CORE_DATA_DIR``, then the Debian location."""
    candidates = [os.environ["GEN_CORE_DATA_DIR"]] if os.environ.get("GEN_CORE_DATA_DIR") else []
    candidates += list(DEFAULT_DIRS)
    for folder in candidates:
        if all((Path(folder) / name).is_file() for name in _FILES["train"][:2] + _FILES["test"][:2]):
            return Path(folder)
    raise DataFileError(f"Fashion-MNIST files not found in {', '.join(candidates)}. {INSTALL_HINT}")


def read_idx(path: Path, magic: int, shape: tuple[int, ...]) -> np.ndarray:
    """Read one gzipped IDX file, checking its magic number, header dims and exact payload size.

    >>> read_idx(Path("t10k-labels-idx1-ubyte.gz"), 2049, (10000,))  # doctest: +SKIP
    """
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise DataFileError(f"{path} is not a readable gzip file ({err}); it is probably truncated. {INSTALL_HINT}")
    header_len = 4 + 4 * len(shape)
    if len(raw) < header_len:
        raise DataFileError(f"{path} is too short to hold an IDX header ({len(raw)} bytes). {INSTALL_HINT}")
    got_magic, *dims = struct.unpack(f">{1 + len(shape)}I", raw[:header_len])
    if got_magic != magic:
        raise DataFileError(f"{path} has IDX magic number {got_magic}, expected {magic}: wrong or corrupt file.")
    if tuple(dims) != shape:
        raise DataFileError(f"{path} declares shape {tuple(dims)}, expected {shape}: wrong or corrupt file.")
    expected = header_len + int(np.prod(shape))
    if len(raw) != expected:
        raise DataFileError(
            f"{path} holds {len(raw)} bytes after decompression, expected {expected}: the file is truncated "
            f"or corrupt. {INSTALL_HINT}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header_len).reshape(shape)


@dataclass(frozen=True)
class FashionMNIST:
    """One split of Fashion-MNIST held as uint8 tensors.

    ``images``: (N, 1, 28, 28) uint8; ``labels``: (N,) int64. Use :meth:`float_images` for values in [0, 1].
    """

    images: Tensor
    labels: Tensor
    split: str

    def __len__(self) -> int:
        return self.images.shape[0]

    def float_images(self, index: Tensor | slice | None = None) -> Tensor:
        """Images in [0, 1], float32, shape (N, 1, 28, 28)."""
        imgs = self.images if index is None else self.images[index]
        return imgs.float().div_(255.0)


_CACHE: dict[tuple[str, str], FashionMNIST] = {}


def load_fashion_mnist(split: Literal["train", "test"] = "train", data_dir: str | Path | None = None) -> FashionMNIST:
    """Load a split of Fashion-MNIST (60,000 train or 10,000 test images), cached per process.

    >>> ds = load_fashion_mnist("test")
    >>> ds.images.shape
    torch.Size([10000, 1, 28, 28])
    """
    if split not in _FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    folder = Path(data_dir) if data_dir is not None else find_data_dir()
    key = (str(folder.resolve()), split)
    if key not in _CACHE:
        img_name, lbl_name, n = _FILES[split]
        for name in (img_name, lbl_name):
            if not (folder / name).is_file():
                raise DataFileError(f"{folder / name} is missing. {INSTALL_HINT}")
        images = read_idx(folder / img_name, _IMAGE_MAGIC, (n, 28, 28))
        labels = read_idx(folder / lbl_name, _LABEL_MAGIC, (n,))
        if labels.max() >= len(CLASS_NAMES):
            raise DataFileError(f"{folder / lbl_name} holds label {labels.max()}; Fashion-MNIST has 10 classes.")
        _CACHE[key] = FashionMNIST(
            images=torch.from_numpy(images.copy()).unsqueeze(1),
            labels=torch.from_numpy(labels.astype(np.int64)),
            split=split,
        )
    return _CACHE[key]
