"""torch's intra-op thread count, set for a block of work."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def one_thread() -> Iterator[None]:
    """Run the enclosed torch work on one intra-op thread, then restore the previous count.

    Small ops (the 2-D GAN nets, one image's translation, a batch of 64 dSprites images) gain nothing from a
    second OpenMP thread on a shared 2-vCPU machine: it mostly waits at barriers. torch's count is process-wide.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
