"""torch's intra-op thread count, set for a block of work, and the interpreter's thread switch interval."""

from __future__ import annotations

import sys
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


SWITCH_INTERVAL_S = 0.001  # Python's default is 0.005


def quick_thread_switches(interval: float = SWITCH_INTERVAL_S) -> None:
    """Make a thread that holds the interpreter (building a plotly figure, say) hand it over after ``interval``
    seconds instead of Python's default 5 ms.

    The dashboard trains in background threads whose steps are many short torch calls, each of which needs the
    interpreter back when its kernel returns; with the default interval a frame being drawn in another thread makes
    each of them wait up to 5 ms. Process-wide; ``app.py`` and the benchmarks that time the tabs call it.
    """
    if not interval > 0:
        raise ValueError(f"the switch interval must be a positive number of seconds, got {interval!r}")
    sys.setswitchinterval(interval)
