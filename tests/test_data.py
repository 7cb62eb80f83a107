"""Fashion-MNIST from its IDX files: real data, and clear errors for missing, truncated or corrupt files."""

from __future__ import annotations

import gzip
import shutil

import pytest
import torch

from gen_core.data import fashion_mnist as fm


def test_real_splits(fmnist_test):
    train = fm.load_fashion_mnist("train")
    assert train.images.shape == (60_000, 1, 28, 28) and train.images.dtype == torch.uint8
    assert fmnist_test.images.shape == (10_000, 1, 28, 28)
    assert torch.bincount(train.labels).tolist() == [6000] * 10
    assert torch.bincount(fmnist_test.labels).tolist() == [1000] * 10
    x = fmnist_test.float_images(slice(0, 5))
    assert x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1 and x.max() > 0.9
    assert len(fm.CLASS_NAMES) == 10


def copy_files(tmp_path):
    src = fm.find_data_dir()
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                 "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(src / name, tmp_path / name)
    return tmp_path


def test_env_var_and_missing_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GEN_CORE_DATA_DIR", str(copy_files(tmp_path)))
    assert fm.find_data_dir() == tmp_path
    with pytest.raises(fm.DataFileError, match="apt-get install -y dataset-fashion-mnist"):
        fm.load_fashion_mnist("test", data_dir=tmp_path / "empty")


def test_truncated_file(tmp_path):
    copy_files(tmp_path)
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[:-1000]))
    with pytest.raises(fm.DataFileError, match="truncated"):
        fm.load_fashion_mnist("test", data_dir=tmp_path)
    path.write_bytes(path.read_bytes()[:5000])  # cut inside the gzip stream
    with pytest.raises(fm.DataFileError, match="not a readable gzip"):
        fm.load_fashion_mnist("test", data_dir=tmp_path)


def test_wrong_magic_and_shape(tmp_path):
    copy_files(tmp_path)
    imgs, labels = tmp_path / "t10k-images-idx3-ubyte.gz", tmp_path / "t10k-labels-idx1-ubyte.gz"
    imgs.write_bytes(labels.read_bytes())  # a labels file where images belong
    with pytest.raises(fm.DataFileError, match="magic number"):
        fm.load_fashion_mnist("test", data_dir=tmp_path)
    raw = bytearray(gzip.decompress((fm.find_data_dir() / "t10k-images-idx3-ubyte.gz").read_bytes()))
    raw[11] = 27  # declare 28 x 27 images
    imgs.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(fm.DataFileError, match="declares shape"):
        fm.load_fashion_mnist("test", data_dir=tmp_path)


def test_bad_split():
    with pytest.raises(ValueError, match="split"):
        fm.load_fashion_mnist("valid")
