"""The command line's view of a training run: a progress bar over the events of :func:`gen_core.train.train`."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence

from tqdm import tqdm

from gen_core.train.loop import Event


def follow_run(events: Iterable[Event], total: int, desc: str, keys: Sequence[str], digits: int = 4,
               mininterval: float = 0.1, on_event: Callable[[Event], None] | None = None) -> tuple[int, float] | None:
    """Drive a training run to its end behind a tqdm bar of ``total`` steps that shows the step metrics named in
    ``keys`` (``digits`` significant figures). ``on_event`` sees every event first (a CLI that keeps its own
    history, say). Returns ``(steps, wall seconds)`` of the finished run, or None when it diverged: the loop's
    message is printed to stderr and the last good checkpoint stays where the loop wrote it."""
    ended, result = False, None
    with tqdm(total=total, desc=desc, unit="step", dynamic_ncols=True, mininterval=mininterval) as bar:
        for ev in events:                      # to the end: the loop's own clean-up runs after its last event
            if on_event is not None:
                on_event(ev)
            if ev.kind == "start":
                bar.update(ev.step)
            elif ev.kind == "step":
                bar.update(ev.step - bar.n)
                bar.set_postfix({k: f"{v:.{digits}g}" for k, v in ev.metrics.items() if k in keys})
            elif ev.kind == "diverged":
                print(ev.message, file=sys.stderr)
                ended = True
            elif ev.kind == "done":
                ended, result = True, (ev.step, ev.metrics["wall_time_s"])
    if not ended:
        raise RuntimeError("the training run ended without a 'done' or 'diverged' event; this is a bug in gen_core")
    return result
