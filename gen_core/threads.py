"""torch's intra-op thread count, set for a block of work, the interpreter's thread switch interval, and seeding
torch's global RNG without another thread reseeding it halfway through."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import torch

_SEED_LOCK = threading.RLock()


@contextmanager
def seeded(seed: int, restore: bool = False) -> Iterator[None]:
    """Seed torch's global RNG with ``seed`` and run the block while no other thread can reseed it through here.

    torch has one global RNG per process. The dashboard builds models (initial weights are global-RNG draws) and
    scores them with seeded posterior draws in many threads at once; every such block holds this lock, so one
    visitor's seed cannot land in the middle of another's block and a seed gives the same weights and numbers
    every time. ``restore=True`` also puts the RNG's state back afterwards (``torch.random.fork_rng``), for code
    whose caller must not see its RNG move. Training noise does not come from here: see
    ``TrainConfig.private_noise``.
    """
    with _SEED_LOCK, ExitStack() as stack:
        if restore:
            stack.enter_context(torch.random.fork_rng())
        torch.manual_seed(seed)
        yield


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
