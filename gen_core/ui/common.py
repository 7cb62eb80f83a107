"""What every tab shares: input validation that ends in a ``gr.Error`` sentence, and where weights live."""

from __future__ import annotations

import math
import os
import shutil
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import gradio as gr

LATEX = [{"left": "$$", "right": "$$", "display": True}, {"left": "$", "right": "$", "display": False}]  # gr.Markdown
PRETRAINED_DIR = Path(os.environ.get("GEN_CORE_PRETRAINED", Path(__file__).resolve().parents[2] / "pretrained"))


MAX_EXPORTS = 32        # live-run downloads kept on disk (each in its own temporary folder)
_exports: deque[Path] = deque()
_exports_lock = threading.Lock()


def offer_download(archive: Path, keep: int = MAX_EXPORTS) -> Any:
    """The update that shows a live run's export (a zip from :func:`gen_core.hub.export_zip`) on its download
    button. The oldest exports beyond ``keep`` are deleted, so a long-running Space does not fill its disk (Gradio
    serves each from its own cache copy, made when the button was updated)."""
    with _exports_lock:
        _exports.append(archive.parent)
        while len(_exports) > keep:
            shutil.rmtree(_exports.popleft(), ignore_errors=True)
    return gr.DownloadButton(value=str(archive), visible=True)


def hide_download() -> Any:
    """The update that hides a download button (a new run starts: the previous run's file no longer applies)."""
    return gr.DownloadButton(value=None, visible=False)


class RunDownload:
    """A live run's download button across its frames: :meth:`frame` hides the previous run's export on the run's
    first frame and leaves the button alone after; :meth:`offer` shows this run's export (:func:`offer_download`)."""

    def __init__(self) -> None:
        self.frames = 0

    def frame(self) -> Any:
        """The button's update on an ordinary frame."""
        self.frames += 1
        return hide_download() if self.frames == 1 else gr.skip()

    def offer(self, archive: Path) -> Any:
        """The button's update on the run's last frame: the export ``archive``."""
        self.frames += 1
        return offer_download(archive)


def number(value: Any, name: str, lo: float, hi: float) -> float:
    """A finite number in [lo, hi], or a ``gr.Error`` that says what was wrong and what is allowed."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise gr.Error(f"{name} must be a number between {lo:g} and {hi:g}, not {type(value).__name__} {value!r}.")
    if not math.isfinite(value):
        raise gr.Error(f"{name} must be a finite number between {lo:g} and {hi:g}, not {value}.")
    if not lo <= value <= hi:
        raise gr.Error(f"{name} must be between {lo:g} and {hi:g}; got {value:g}.")
    return float(value)


def integer(value: Any, name: str, lo: int, hi: int) -> int:
    """An integer in [lo, hi] (a float with no fractional part is accepted), else a ``gr.Error``."""
    x = number(value, name, lo, hi)
    if x != int(x):
        raise gr.Error(f"{name} must be a whole number between {lo} and {hi}; got {x:g}.")
    return int(x)


def choice(value: Any, name: str, options: list[str]) -> str:
    """One of ``options``, else a ``gr.Error`` listing them."""
    if value not in options:
        raise gr.Error(f"{name} must be one of {', '.join(options)}; got {value!r}.")
    return value


def register_run(session: dict[str, Any] | None, key: str) -> threading.Event:
    """A fresh stop event for a new live run, kept in the browser session's ``gr.State`` dict under ``key``.

    A run this session started earlier under the same key is stopped first (one live run per panel and session);
    other sessions never see the event, so Stop reaches only its own session's run. The shared training loop
    checks the event between steps (``train(..., cancel=event)``) and ends with a ``cancelled`` event.
    """
    event = threading.Event()
    if session is not None:
        previous = session.get(key)
        if isinstance(previous, threading.Event):
            previous.set()
        session[key] = event
    return event


def run_is_going(session: dict[str, Any] | None, key: str) -> bool:
    """Whether the session's live run under ``key`` is still going: registered (:func:`register_run`) and its
    stop event not yet set (a run sets its own event when it ends, so a step-0 preview may draw again)."""
    event = session.get(key) if session is not None else None
    return isinstance(event, threading.Event) and not event.is_set()


def stop_run(session: dict[str, Any] | None, key: str) -> None:
    """Set the stop event of the session's live run under ``key`` (nothing to do when none is running)."""
    event = session.get(key) if session is not None else None
    if isinstance(event, threading.Event):
        event.set()


class Pace:
    """When a live run streams its next update: ``every`` seconds after the last one, and never sooner than twice
    the time the last update took to draw, so a slow CPU trains more between updates instead of only drawing."""

    def __init__(self, every: float) -> None:
        self.every = every
        self.last = 0.0
        self.cost = 0.0

    def due(self) -> bool:
        """True when the next update should be drawn."""
        return time.perf_counter() - self.last >= max(self.every, 2.0 * self.cost)

    def timed(self, render: Any, *args: Any) -> Any:
        """Call ``render(*args)`` and remember how long it took."""
        start = time.perf_counter()
        out = render(*args)
        self.last = time.perf_counter()
        self.cost = self.last - start
        return out


def _check_payload(payload: Any, label: str | None, lo: float | None, hi: float | None) -> None:
    if payload is None:
        return
    span = f" between {lo:g} and {hi:g}" if lo is not None and hi is not None else ""
    if isinstance(payload, bool) or not isinstance(payload, (int, float)) or not math.isfinite(payload):
        raise gr.Error(f"{label or 'This field'} must be a number{span}, not {payload!r}.")
    if lo is not None and payload < lo:
        raise gr.Error(f"{label or 'This field'} must be{span}: value {payload:g} is less than minimum value {lo:g}.")
    if hi is not None and payload > hi:
        raise gr.Error(f"{label or 'This field'} must be{span}: value {payload:g} is greater than maximum value {hi:g}.")


class Number(gr.Number):
    """``gr.Number`` whose preprocessing turns a non-numeric payload (e.g. text sent through the API) into a
    ``gr.Error`` sentence naming the field, instead of an unexplained server error."""

    is_template = True  # use gr.Number's front end

    def preprocess(self, payload: Any) -> float | int | None:
        _check_payload(payload, self.label, self.minimum, self.maximum)
        return super().preprocess(payload)


class Slider(gr.Slider):
    """``gr.Slider`` with the same payload check as :class:`Number`."""

    is_template = True  # use gr.Slider's front end

    def preprocess(self, payload: Any) -> float:
        _check_payload(payload, self.label, self.minimum, self.maximum)
        if payload is None:
            raise gr.Error(f"{self.label or 'This slider'} needs a value between {self.minimum:g} and {self.maximum:g}.")
        return super().preprocess(payload)
