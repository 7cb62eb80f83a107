"""Shared pytest set-up: no analytics, no network for the Hub, small thread counts, shared fixtures."""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import pytest
import torch

torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(scope="session")
def fmnist_test():
    """The real Fashion-MNIST test split (from the Debian package or $GEN_CORE_DATA_DIR)."""
    from gen_core.data.fashion_mnist import load_fashion_mnist

    return load_fashion_mnist("test")
