"""GAN Lab tab: train a 2-D GAN live with any loss of the lecture notes, watch it cover or collapse the modes,
compare two configurations side by side, read the theory, and load pretrained 2-D GANs.

All numbers, heatmaps, arrows and manifolds come from gen_core (``models.gan``, ``metrics.modes``, the shared
training loop via ``train.adversarial``) and all figures from ``viz.gan``; this module validates inputs, drives
the loop in chunks and wires Gradio events. Each live run is its own model, data stream and noise generator, kept
in the browser session's ``gr.State`` (per-session isolation).

Live runs train in a background thread (:class:`LiveDriver`) and the page *pulls* frames: a ``gr.Timer`` asks for
the next frame every ``POLL_S`` seconds, and Gradio drops a tick while the previous one is pending, so a page that
draws slowly gets fewer frames instead of a backlog that freezes it (a streamed generator pushed 10 updates a
second whether or not the browser could draw them: on a 2-core machine the page fell minutes behind and Stop was
answered only after it had drawn them all). For API clients ``/gan_train_live`` and ``/gan_train_ab`` still stream,
from the same driver.

Stop is cooperative: it sets the run's ``threading.Event``, kept in the session's ``gr.State``, which the shared loop
checks between steps (``train(..., cancel=...)``); the next frame then shows the final state ("Stopped at step N",
the modes counter) and the timer switches itself off. A run whose page stopped asking for frames for ``ORPHAN_S``
seconds is stopped the same way.
"""

from __future__ import annotations

import copy
import math
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import torch

from gen_core import cards, losses
from gen_core.data.fashion_mnist import CLASS_NAMES
from gen_core.data.toy2d import make_target
from gen_core.hub import read_card_metadata, read_config
from gen_core.models.gan import DCGAN
from gen_core.metrics.modes import N_SAMPLES, mode_report
from gen_core.models import load_pretrained
from gen_core.models.gan import GAN2D, GAN2DConfig, data_scale_for, gaussian_pair_theory, generator_loss_curves
from gen_core.train.adversarial import SCHEMES, AdversarialConfig, adversarial_task
from gen_core.threads import one_thread, seeded
from gen_core.train.loop import Event, SamplerBatches, TrainConfig, train
from gen_core.ui.common import (PRETRAINED_DIR, Number, Slider, choice, hide_download, integer, number, offer_download,
                              register_run, stop_run)
from gen_core.viz import image_strip, tile_images
from gen_core.viz.gan import (GANHistory, Snapshot, gan_curves, generator_loss_figure, live_panels,
                              optimal_discriminator_figure, snapshot_timeline)

TARGETS = ["ring", "grid", "two_moons"]
LOSSES = list(losses.GAN_LOSSES)
NORMALIZATIONS = ["none", "spectral"]
MAX_STEPS = 20_000
BATCH_SIZE = 256
CHUNK = 10                 # the loop reports every CHUNK generator steps
POLL_S = 0.1               # a frame this often: the page's timer asks (never before it has drawn the last one), and
                           # the streaming API endpoints send one
WORK_S = 0.1               # training between two publications of the weights to the drawn copy (each one
                           # evaluates 2,500 samples, ~3 ms): 10 points a second on the curves
ORPHAN_S = 120.0           # a live run is stopped when its page has not asked for a frame for this long
MAX_LIVE = 2               # live trainings at once on this machine (each keeps one core busy)
DEFAULT_PRETRAINED = "gan-ring-lsgan-256"   # shown first: the ring's best configuration, 8/8 on 5 of 5 seeds
SHOWN = 300                # samples drawn in the scatter (the metrics use all 2,500)
ARROWS = 80                # fakes that carry a gradient arrow
TIMELINE = 8               # snapshots kept in the timeline
TIMELINE_POINTS = 200      # generated samples drawn per snapshot


HEAT_LABELS = {
    "minimax": "D(x) = sigmoid(logit)", "non_saturating": "D(x) = sigmoid(logit)", "lsgan": "LSGAN score D(x)",
    "hinge": "hinge critic D(x)", "wgan_clip": "Wasserstein critic D(x)", "wgan_gp": "Wasserstein critic D(x)",
}

EXPLAINER = r"""
A generator $G$ turns Gaussian noise $z$ into points; a discriminator (critic) $D$ scores points as real or fake.
They play $\min_G \max_D\; \mathbb E_{\text{data}} \log D(x) + \mathbb E_z \log(1 - D(G(z)))$ (lecture notes 000 3.3,
001). Pick a target, a loss and an update scheme and press **Start**: the left panel shows real (blue) and generated
(orange) samples, with arrows where the generator's loss pushes the fakes; the middle panel the critic over the
plane; the right panel the generator's manifold (a grid of $z$ pushed through $G$). *Modes captured* and
*% high quality* follow the VEEGAN / PacGAN protocol: 2,500 samples; a sample is high quality within 3 std of its
nearest mode; a mode is captured if at least one high-quality sample is nearest to it. Watch modes drop and come
back in the timeline: that is mode collapse and mode hopping.
"""

THEORY = r"""
For a fixed generator the best discriminator is $D^*(x)=\dfrac{p_{\text{data}}(x)}{p_{\text{data}}(x)+p_g(x)}$, and
at $D^*$ the game's value is $V(G,D^*) = 2\,\mathrm{JSD}(p_{\text{data}}\,\|\,p_g) - 2\log 2$, with
$\mathrm{JSD}=\tfrac12\mathrm{KL}(p\|m)+\tfrac12\mathrm{KL}(q\|m)$, $m=\tfrac{p+q}2$ (notes 000, 002, 003). Move the
sliders: both sides are computed independently by quadrature and agree to 6 decimals.
"""


# --------------------------------------------------------------------------------------------------------------------
# A live run: the shared loop driven in chunks, and everything the tab draws about it
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LiveSettings:
    """Everything that defines one live 2-D GAN run."""

    target: str = "ring"
    loss: str = "non_saturating"
    scheme: str = "alternating"
    n_critic: int = 1
    lr_g: float = 1e-3
    lr_d: float = 1e-3
    hidden: int = 128
    depth: int = 3
    normalization: str = "none"
    seed: int = 0
    steps: int = 3000
    batch_size: int = BATCH_SIZE
    lr_schedule: str = "constant"


@dataclass
class LiveRun:
    """One 2-D GAN trained by :func:`gen_core.train.loop.train` with the task of ``adversarial_task`` (the
    hand-written backward of :mod:`gen_core.train.mlp_gan` for every loss but WGAN-GP and spectral norm, autograd's
    :class:`AdversarialTask` for those), advanced a few generator steps at a time (``advance``) and evaluated on a
    fixed set of 2,500 latent draws (``evaluate``).

    Evaluation and drawing use ``view``, a copy of the model that :meth:`publish` refreshes (under ``view_lock``)
    between chunks of training, so a frame can be drawn in another thread while the training goes on.
    """

    settings: LiveSettings
    chunk: int = CHUNK
    cancel: threading.Event | None = None                               # set by Stop; checked between steps
    model: GAN2D = field(init=False)
    history: GANHistory = field(init=False, default_factory=GANHistory)
    snapshots: list[Snapshot] = field(init=False, default_factory=list)
    step: int = field(init=False, default=0)
    done: bool = field(init=False, default=False)
    stopped: bool = field(init=False, default=False)                    # ended by ``cancel`` before its last step
    message: str = field(init=False, default="")
    first_full_step: int | None = field(init=False, default=None)      # first evaluation with every mode captured
    first_full_seconds: float | None = field(init=False, default=None)
    view_step: int = field(init=False, default=0)                       # the generator step ``view`` holds
    view_done: bool = field(init=False, default=False)                  # ``done`` when ``view`` was published

    def __post_init__(self) -> None:
        s = self.settings
        self.target = make_target(s.target)
        with seeded(s.seed):
            self.model = GAN2D(GAN2DConfig(hidden=s.hidden, depth=s.depth, loss=s.loss,  # type: ignore[arg-type]
                                           normalization=s.normalization, target=s.target,  # type: ignore[arg-type]
                                           data_scale=data_scale_for(self.target.bounds)))
        self.source = SamplerBatches(self.target, s.batch_size, s.seed, torch.device("cpu"))
        adv = AdversarialConfig(scheme=s.scheme, n_critic=s.n_critic, lr_g=s.lr_g, lr_d=s.lr_d,  # type: ignore[arg-type]
                                lr_schedule=s.lr_schedule)  # type: ignore[arg-type]
        cfg = TrainConfig(steps=s.steps, batch_size=s.batch_size, seed=s.seed, log_every=self.chunk, device="cpu")
        self._events: Iterator[Event] = train(self.model, self.source, cfg, cancel=self.cancel,
                                              task_factory=adversarial_task(adv, self.source))
        self.eval_z = torch.randn(N_SAMPLES, self.model.latent_dim, generator=torch.Generator().manual_seed(s.seed + 1))
        self.real = self.target.sample(SHOWN, generator=torch.Generator().manual_seed(s.seed + 2))
        self.centres = self.target.mode_centres
        self.started = time.perf_counter()
        self.view = copy.deepcopy(self.model).eval().requires_grad_(False)
        self.view_lock = threading.Lock()
        self.fake = self.view.generate(self.eval_z).detach()
        self.report = mode_report(self.fake, self.centres, self.target.std)

    @torch.no_grad()
    def publish(self) -> None:
        """Copy the trained weights (and the step reached) into ``view`` and evaluate it, so the curves get a point
        per chunk of training however rarely frames are drawn."""
        with self.view_lock:
            for dst, src in zip(self.view.state_dict().values(), self.model.state_dict().values()):
                dst.copy_(src)
            self.view_step = self.step
            self.view_done = self.done      # before evaluate(): the last step always gets its timeline snapshot
            self.evaluate()

    def advance(self, seconds: float, until_step: int | None = None, publish: bool = True) -> None:
        """Run the loop for about ``seconds`` (or until ``until_step`` generator steps), then :meth:`publish`
        (unless ``publish`` is False: the background driver publishes after B has caught up with A)."""
        t0 = time.perf_counter()
        while not self.done:
            if until_step is not None and self.step >= until_step:
                break
            if until_step is None and time.perf_counter() - t0 >= seconds:
                break
            ev = next(self._events, None)
            if ev is None:
                self.done = True
                break
            if ev.kind in ("done", "cancelled", "diverged"):
                self._events.close()    # runs the loop's clean-up now rather than at garbage collection
            if ev.kind == "step":
                self.step = ev.step
                self.history.steps.append(ev.step)
                self.history.d_loss.append(ev.metrics["d_loss"])
                self.history.g_loss.append(ev.metrics["g_loss"])
            elif ev.kind == "diverged":
                self.done, self.message = True, ev.message
            elif ev.kind in ("done", "cancelled"):
                self.done, self.stopped = True, ev.kind == "cancelled"
        if publish:
            self.publish()

    @torch.no_grad()
    def evaluate(self) -> None:
        """Generate the fixed 2,500 latent draws from ``view``, score modes / high quality, and keep a timeline
        snapshot when the number of modes changed or an eighth of the run has passed; at most ``TIMELINE`` are kept,
        spread over the run (called by :meth:`publish`)."""
        self.fake = self.view.generate(self.eval_z)
        self.report = mode_report(self.fake, self.centres, self.target.std)
        h, step = self.history, self.view_step
        if not h.eval_steps or h.eval_steps[-1] != step:  # a run's end is published again at the same step
            h.eval_steps.append(step)
            h.modes.append(self.report.modes)
            h.high_quality_pct.append(self.report.high_quality_pct)
        if self.first_full_step is None and self.report.modes == self.report.n_modes:
            self.first_full_step, self.first_full_seconds = step, time.perf_counter() - self.started
        last = self.snapshots[-1] if self.snapshots else None
        if last is not None and last.step == step:
            return
        if last is None or last.modes != self.report.modes or step - last.step >= self.settings.steps / TIMELINE \
                or self.view_done:
            self.snapshots.append(Snapshot(step, self.fake[:TIMELINE_POINTS].numpy().copy(), self.report.modes,
                                           self.report.n_modes, self.report.high_quality_pct,
                                           np.array([c > 0 for c in self.report.counts])))
            if len(self.snapshots) > TIMELINE:
                # keep the first and the newest and thin the middle where snapshots crowd: evaluations come every
                # ~10 steps and the mode count flickers, so dropping the oldest would leave only the last steps
                shots = self.snapshots
                crowded = min(range(1, len(shots) - 1), key=lambda i: shots[i + 1].step - shots[i - 1].step)
                del shots[crowded]

    def panels(self, title: str = "") -> Any:
        """The three live panels of ``view`` (the last published step)."""
        return model_panels(self.view, self.target, self.real, self.fake, self.report, title)

    def counter(self) -> str:
        """The modes counter shown beside the plots."""
        r = self.report
        return (f"**Modes captured: {r.modes} / {r.n_modes}** · high quality {r.high_quality_pct:.1f}% · "
                f"step {self.view_step}")


def export_live(run: LiveRun, tag: str = "") -> Path:
    """A finished live run's generator and critic (the published ``view``) as a zip of a Hub-format folder
    (:func:`gen_core.cards.export_live_run`) whose card states the run's settings and the last mode metrics the tab
    measured; ``tag`` ("A" or "B" for an A/B pair) goes into the folder's name and the title. The caller holds
    ``run.view_lock`` (a frame does: :meth:`LiveDriver.frame`); the run has ended, so nothing waits on it."""
    s, r, step = run.settings, run.report, run.view_step
    metrics = {"modes": float(r.modes), "n_modes": float(r.n_modes), "high_quality_pct": float(r.high_quality_pct),
               "n_samples": float(N_SAMPLES)}
    settings = {"target": s.target, "loss": s.loss, "update scheme": s.scheme, "n_critic": s.n_critic,
                "generator lr": s.lr_g, "discriminator lr": s.lr_d, "width": s.hidden, "depth": s.depth,
                "spectral norm": s.normalization, "batch": s.batch_size, "seed": s.seed, "steps asked": s.steps}
    note = (f"Modes captured and % high quality (EVALUATION.md protocol) of {N_SAMPLES:,} samples from the fixed "
            f"latent draws of seed {s.seed + 1}, as the tab's counter shows them at step {step}; the shipped cards "
            "average 5 sampling seeds (`python -m gen_core eval FOLDER`).")
    name = f"gan-{s.target}-{s.loss}{f'-{tag}' if tag else ''}-live"
    title = f"{run_title(s, f'step {step}', f'{tag}: ' if tag else '')} on the {s.target}"
    where = "GAN Lab tab, A/B runs" if tag else "GAN Lab tab"
    return cards.export_live_run(run.view, name, title, where, settings, step, time.perf_counter() - run.started,
                                 metrics, note, "gan")


def run_title(s: LiveSettings, when: str, prefix: str = "") -> str:
    """A run's panel title: "A: hinge · n_critic (n_critic 5) · step 300"."""
    n_critic = f" (n_critic {s.n_critic})" if s.scheme == "n_critic" else ""
    return f"{prefix}{s.loss} · {s.scheme}{n_critic} · {when}"


def model_panels(model: GAN2D, target: Any, real: torch.Tensor, fake: torch.Tensor, report: Any, title: str) -> Any:
    """Critic heatmap, gradient arrows and manifold of ``model`` drawn with :func:`gen_core.viz.gan.live_panels`."""
    was_training = model.training
    model.eval()
    heat = model.critic_grid(target.bounds, 60)
    arrows_at = fake[:ARROWS]
    arrows = model.fake_gradients(arrows_at)
    manifold = model.manifold_lines()
    model.train(was_training)
    label = HEAT_LABELS.get(model.config.loss, "f-GAN critic V(x) (before the output activation)")
    return live_panels(real.numpy(), fake[:SHOWN].numpy(), target.mode_centres.numpy(),
                       np.array([c > 0 for c in report.counts]), target.bounds, tuple(a.numpy() for a in heat),
                       label, arrows_at.numpy(), arrows.numpy(), manifold.numpy(), title=title)


_SLOTS = threading.BoundedSemaphore(MAX_LIVE)


class LiveDriver:
    """Trains one live run, or an A/B pair (B kept at A's generator step), in a background thread that publishes
    each run's weights to its ``view`` and evaluates it between chunks; :meth:`frame` draws the views meanwhile,
    so drawing a frame does not hold up the training, and the curves are as fine with a slow page as a fast one.

    At most ``MAX_LIVE`` drivers train at once (a clear ``gr.Error`` otherwise); a driver stops itself when nobody
    asked for a frame for ``ORPHAN_S`` seconds (the page was closed), and frees its slot when its thread ends.
    """

    def __init__(self, runs: Sequence[LiveRun], cancel: threading.Event) -> None:
        if not _SLOTS.acquire(timeout=3.0):      # a run that was just stopped may need a moment to end
            raise gr.Error(f"{MAX_LIVE} live GAN trainings are already running on this machine. Stop one, or wait "
                           "for one to finish, then press Start again.")
        self.runs, self.cancel = list(runs), cancel
        self.started = self.last_frame = time.perf_counter()
        self.frames = 0
        self.shown_snapshot = -1
        self.orphaned = False
        self._thread = threading.Thread(target=self._work, name="gan-live", daemon=True)
        self._thread.start()

    @property
    def done(self) -> bool:
        """True once every run has ended (finished, stopped or diverged) and published its last weights."""
        return all(r.view_done for r in self.runs)

    def _work(self) -> None:
        try:
            with one_thread():
                while not all(r.done for r in self.runs):
                    if time.perf_counter() - self.last_frame > ORPHAN_S and not self.cancel.is_set():
                        self.orphaned = True
                        self.cancel.set()
                    self._advance()
                    for r in self.runs:
                        r.publish()
        except Exception as err:  # noqa: BLE001 - shown on the page instead of dying silently in a thread
            for r in self.runs:
                if not r.done:
                    r.done, r.message = True, f"Training stopped by an error: {err}"
                r.publish()
        finally:
            _SLOTS.release()

    def _advance(self) -> None:
        a, *others = self.runs
        a.advance(WORK_S, publish=False)
        for b in others:
            b.advance(0.0, until_step=a.step, publish=False)   # B catches up to A's generator step
            if a.done and not b.done:
                b.advance(WORK_S, publish=False)

    @contextmanager
    def frame(self) -> Iterator[list[LiveRun]]:
        """Yield the runs to draw, their views, evaluations and curves held still meanwhile."""
        self.last_frame = time.perf_counter()
        self.frames += 1
        with ExitStack() as stack, one_thread():
            for r in self.runs:
                stack.enter_context(r.view_lock)
            yield self.runs

    def join(self, timeout: float = 10.0) -> None:
        """Wait for the background thread to end (after ``cancel`` or the last step)."""
        self._thread.join(timeout)

    def rates(self) -> tuple[float, float]:
        """(generator steps per second of wall time, frames per second) since the start."""
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        return self.runs[0].view_step / elapsed, self.frames / elapsed


# --------------------------------------------------------------------------------------------------------------------
# The tab's endpoints
# --------------------------------------------------------------------------------------------------------------------


def pretrained_gan_names() -> list[str]:
    """Folders in ``pretrained/`` that hold a 2-D GAN (config model_type ``gan2d``), sorted."""
    names = []
    if PRETRAINED_DIR.is_dir():
        for folder in sorted(PRETRAINED_DIR.iterdir()):
            try:
                if folder.is_dir() and read_config(folder)["model_type"] == "gan2d":
                    names.append(folder.name)
            except Exception:  # noqa: BLE001 - a folder that is not a gen_core model is simply not listed
                continue
    return names


class GANLab:
    """The GAN tab's endpoints. Every public method validates its inputs and raises ``gr.Error`` on bad ones."""

    def __init__(self) -> None:
        self.pretrained = pretrained_gan_names()
        self._cache: dict[str, GAN2D] = {}
        self._lock = threading.Lock()

    # -- validation ------------------------------------------------------------------------------------------
    @staticmethod
    def settings(target: Any, loss: Any, scheme: Any, n_critic: Any, lr_g: Any, lr_d: Any, width: Any, depth: Any,
                 normalization: Any, seed: Any, steps: Any) -> LiveSettings:
        """Check every control and build the run's settings (a ``gr.Error`` sentence for any bad value)."""
        return LiveSettings(
            target=choice(target, "Target", TARGETS), loss=choice(loss, "Loss", LOSSES),
            scheme=choice(scheme, "Update scheme", list(SCHEMES)), n_critic=integer(n_critic, "n_critic", 1, 10),
            lr_g=number(lr_g, "Generator learning rate", 1e-5, 1e-2),
            lr_d=number(lr_d, "Discriminator learning rate", 1e-5, 1e-2),
            hidden=integer(width, "Width", 8, 512), depth=integer(depth, "Depth", 1, 6),
            normalization=choice(normalization, "Spectral norm", NORMALIZATIONS),
            seed=integer(seed, "Seed", 0, 2**31 - 1), steps=integer(steps, "Steps", 50, MAX_STEPS))

    # -- live training ---------------------------------------------------------------------------------------
    def start_live(self, target: Any, loss: Any, scheme: Any, n_critic: Any, lr_g: Any, lr_d: Any, width: Any,
                   depth: Any, normalization: Any, seed: Any, steps: Any,
                   session: dict[str, Any] | None = None) -> list[Any]:
        """Check the controls, start a 2-D GAN training in the background and return its first frame (panels,
        curves, timeline, status, modes counter, the download button: hidden until the run ends) and the frame
        timer, switched on."""
        s = self.settings(target, loss, scheme, n_critic, lr_g, lr_d, width, depth, normalization, seed, steps)
        return self._start({} if session is None else session, "live", "stop_live", [s], self._live_frame)

    def preview(self, target: Any, loss: Any, scheme: Any, n_critic: Any, lr_g: Any, lr_d: Any, width: Any,
                depth: Any, normalization: Any, seed: Any, steps: Any,
                session: dict[str, Any] | None = None) -> list[Any]:
        """Step 0 of the run these controls would start (the untrained generator against the target), in the live
        outputs' order: panels, curves and timeline (empty figures: a finished run's would no longer match the
        panels), status and modes counter. Leaves them alone (``gr.skip``) while this session's live run is going."""
        runs = self._step0(session, "live", lambda: [self.settings(target, loss, scheme, n_critic, lr_g, lr_d, width,
                                                                   depth, normalization, seed, steps)])
        if runs is None:
            return [gr.skip()] * 5
        (run,), s = runs, runs[0].settings
        with one_thread():
            panels = run.panels(run_title(s, "step 0 (untrained)"))
            curves = gan_curves({"run": run.history}, run.report.n_modes, x_max=s.steps)
            timeline = snapshot_timeline([], run.centres.numpy(), run.target.bounds)
        return [panels, curves, timeline,
                f"Step 0 of {s.steps}: the untrained generator of seed {s.seed}. Press **Start training**.",
                run.counter()]

    @staticmethod
    def _step0(session: dict[str, Any] | None, key: str, settings: Any) -> list[LiveRun] | None:
        """The untrained runs of ``settings()`` for a preview, or None when this session's ``key`` run is going or
        ``settings()`` rejects a value (half typed: Start names what is wrong)."""
        if session and isinstance(session.get(key), LiveDriver):
            return None
        try:
            chosen = settings()
        except gr.Error:
            return None
        with one_thread():
            return [LiveRun(s) for s in chosen]

    def poll_live(self, session: dict[str, Any] | None = None) -> list[Any]:
        """The next frame of this session's live run (the timer's tick); switches the timer off after the last.
        The last frame offers the trained GAN for download (:func:`export_live`)."""
        return self._poll(session, "live", self._live_frame, 6)

    def _start(self, session: dict[str, Any], key: str, stop_key: str, settings: Sequence[LiveSettings],
               frame: Any) -> list[Any]:
        """Build the runs, start their driver under ``session[key]`` (after ending this session's previous one) and
        return its first frame and the timer."""
        stop = register_run(session, stop_key)     # sets the previous run's stop event
        previous = session.pop(key, None)
        if isinstance(previous, LiveDriver):
            previous.join()                          # let it end and free its slot
        with one_thread():
            runs = [LiveRun(s, cancel=stop) for s in settings]
        driver = session[key] = LiveDriver(runs, stop)
        outputs, done = frame(driver)
        return [*outputs, gr.Timer(active=not done)]

    @staticmethod
    def _poll(session: dict[str, Any] | None, key: str, frame: Any, n_outputs: int) -> list[Any]:
        """A timer tick: the next frame of ``session[key]``, dropping the driver and the timer after its last."""
        driver = session.get(key) if session else None
        if not isinstance(driver, LiveDriver):
            return [gr.skip()] * n_outputs + [gr.Timer(active=False)]
        outputs, done = frame(driver)
        if done:
            session.pop(key, None)
        return [*outputs, gr.Timer(active=not done)]

    @staticmethod
    def _stream(first: list[Any], session: dict[str, Any], key: str, frame: Any) -> Iterator[list[Any]]:
        """The streaming endpoints: ``first`` (without its timer), then a frame every ``POLL_S`` until the end."""
        driver: LiveDriver = session[key]
        try:
            yield first[:-1]
            done = driver.done
            while not done:
                time.sleep(POLL_S)
                outputs, done = frame(driver)
                yield outputs
        finally:
            driver.cancel.set()         # the client went away (or the run ended): nothing left to train
            if session.get(key) is driver:
                session.pop(key)

    @staticmethod
    def _live_frame(driver: LiveDriver) -> tuple[list[Any], bool]:
        """Panels, curves, timeline (only when it gained a snapshot: the heaviest figure to draw), status, counter
        and download button (hidden on the first frame, the run's export on the last) of a one-run driver, and
        whether the run had ended when the frame was taken."""
        with driver.frame() as (run,):
            done, s = run.view_done, run.settings
            figures = [run.panels(run_title(s, f"step {run.view_step}")),
                       gan_curves({"run": run.history.consistent()}, run.report.n_modes)]
            newest = run.snapshots[-1].step if run.snapshots else -1
            figures.append(snapshot_timeline(run.snapshots, run.centres.numpy(), run.target.bounds)
                           if newest != driver.shown_snapshot or done else gr.skip())
            driver.shown_snapshot = newest
            steps_per_s, frames_per_s = driver.rates()
            status = f"step {run.view_step}/{s.steps} · {steps_per_s:.0f} steps/s · {frames_per_s:.1f} updates/s"
            if done:
                elapsed = time.perf_counter() - driver.started
                head = (f"**Stopped** at step {run.view_step}/{s.steps} after" if run.stopped
                        else f"Done: {run.view_step} steps in")
                status = run.message or (f"{head} {elapsed:.0f} s"
                                         + (f"; first {run.report.n_modes}/{run.report.n_modes} modes at step "
                                            f"{run.first_full_step}" if run.first_full_step else "") + ".")
                if driver.orphaned:
                    status += f" (stopped because the page asked for no update for {ORPHAN_S:.0f} s)"
            if done and not run.message:
                download = offer_download(export_live(run))
            else:                        # the run's first frame hides the previous run's download
                download = hide_download() if driver.frames == 1 else gr.skip()
            return [*figures, status, run.counter(), download], done

    def train_live(self, target: Any, loss: Any, scheme: Any, n_critic: Any, lr_g: Any, lr_d: Any, width: Any,
                   depth: Any, normalization: Any, seed: Any, steps: Any,
                   session: dict[str, Any] | None = None) -> Iterator[list[Any]]:
        """The streaming form of :meth:`start_live` for API clients: a frame every ``POLL_S`` seconds until the
        run ends (Stop: :meth:`stop`)."""
        session = {} if session is None else session
        first = self.start_live(target, loss, scheme, n_critic, lr_g, lr_d, width, depth, normalization, seed, steps,
                                session=session)
        yield from self._stream(first, session, "live", self._live_frame)

    def start_ab(self, target: Any, seed: Any, steps: Any, width: Any, depth: Any,
                 loss_a: Any, scheme_a: Any, n_critic_a: Any, lr_g_a: Any, lr_d_a: Any, norm_a: Any,
                 loss_b: Any, scheme_b: Any, n_critic_b: Any, lr_g_b: Any, lr_d_b: Any, norm_b: Any,
                 session: dict[str, Any] | None = None) -> list[Any]:
        """Start configurations A and B side by side from the same seed on the same data stream, kept at the same
        generator step; returns the first frame (A panels, B panels, overlaid curves, status, the two download
        buttons) and the timer."""
        try:
            pair = self._ab_settings(target, seed, steps, width, depth, loss_a, scheme_a, n_critic_a, lr_g_a, lr_d_a,
                                     norm_a, loss_b, scheme_b, n_critic_b, lr_g_b, lr_d_b, norm_b)
        except gr.Error as err:
            raise gr.Error(f"A/B: {err.message}") from err
        return self._start({} if session is None else session, "ab", "stop_ab", pair, self._ab_frame)

    def _ab_settings(self, target: Any, seed: Any, steps: Any, width: Any, depth: Any,
                     loss_a: Any, scheme_a: Any, n_critic_a: Any, lr_g_a: Any, lr_d_a: Any, norm_a: Any,
                     loss_b: Any, scheme_b: Any, n_critic_b: Any, lr_g_b: Any, lr_d_b: Any,
                     norm_b: Any) -> list[LiveSettings]:
        """Configurations A and B, checked, with the shared controls in both."""
        return [self.settings(target, loss_a, scheme_a, n_critic_a, lr_g_a, lr_d_a, width, depth, norm_a, seed, steps),
                self.settings(target, loss_b, scheme_b, n_critic_b, lr_g_b, lr_d_b, width, depth, norm_b, seed, steps)]

    def preview_ab(self, target: Any, seed: Any, steps: Any, width: Any, depth: Any,
                   loss_a: Any, scheme_a: Any, n_critic_a: Any, lr_g_a: Any, lr_d_a: Any, norm_a: Any,
                   loss_b: Any, scheme_b: Any, n_critic_b: Any, lr_g_b: Any, lr_d_b: Any, norm_b: Any,
                   session: dict[str, Any] | None = None) -> list[Any]:
        """Step 0 of the A/B run these controls would start, in the A/B outputs' order: A's and B's panels (the
        same untrained generator, each critic drawn for its loss), empty overlaid curves and a status. Leaves them
        alone (``gr.skip``) while this session's A/B run is going or a value is half typed."""
        runs = self._step0(session, "ab", lambda: self._ab_settings(
            target, seed, steps, width, depth, loss_a, scheme_a, n_critic_a, lr_g_a, lr_d_a, norm_a,
            loss_b, scheme_b, n_critic_b, lr_g_b, lr_d_b, norm_b))
        if runs is None:
            return [gr.skip()] * 4
        a, b = runs
        sa, sb = a.settings, b.settings
        with one_thread():
            figures = [a.panels(run_title(sa, "step 0 (untrained)", "A: ")),
                       b.panels(run_title(sb, "step 0 (untrained)", "B: ")),
                       gan_curves({"A": a.history, "B": b.history}, a.report.n_modes, title="A vs B",
                                  x_max=sa.steps)]
        return [*figures, f"Step 0 of {sa.steps}: A and B start from the same untrained generator (seed {sa.seed}) "
                          f"and read the same batches. Press **Start A/B**."]

    def poll_ab(self, session: dict[str, Any] | None = None) -> list[Any]:
        """The next frame of this session's A/B run (the timer's tick); switches the timer off after the last,
        which offers both trained GANs for download."""
        return self._poll(session, "ab", self._ab_frame, 6)

    @staticmethod
    def _ab_frame(driver: LiveDriver) -> tuple[list[Any], bool]:
        """Both runs' panels, their overlaid curves, a status line and the two download buttons (hidden on the
        first frame; on the last, each run's export unless it diverged); and whether both had ended."""
        with driver.frame() as (a, b):
            sa, sb = a.settings, b.settings
            finished = a.view_done and b.view_done
            figures = [a.panels(run_title(sa, f"step {a.view_step}", "A: ")),
                       b.panels(run_title(sb, f"step {b.view_step}", "B: ")),
                       gan_curves({"A": a.history.consistent(), "B": b.history.consistent()}, a.report.n_modes, title="A vs B")]
            status = (f"step {max(a.view_step, b.view_step)}/{sa.steps} · A: {a.counter().replace('**', '')} · "
                      f"B: {b.counter().replace('**', '')}")
            if finished:
                head = "**Stopped** after" if a.stopped or b.stopped else "Done in"
                status = f"{head} {time.perf_counter() - driver.started:.0f} s. " + status
                messages = " ".join(m for m in (a.message, b.message) if m)
                if messages:
                    status += f" {messages}"
                downloads = [hide_download() if run.message else offer_download(export_live(run, tag))
                             for run, tag in ((a, "A"), (b, "B"))]
            else:                        # the pair's first frame hides the previous pair's downloads
                downloads = [hide_download() if driver.frames == 1 else gr.skip() for _ in "AB"]
            return [*figures, status, *downloads], finished

    def train_ab(self, target: Any, seed: Any, steps: Any, width: Any, depth: Any,
                 loss_a: Any, scheme_a: Any, n_critic_a: Any, lr_g_a: Any, lr_d_a: Any, norm_a: Any,
                 loss_b: Any, scheme_b: Any, n_critic_b: Any, lr_g_b: Any, lr_d_b: Any, norm_b: Any,
                 session: dict[str, Any] | None = None) -> Iterator[list[Any]]:
        """The streaming form of :meth:`start_ab` for API clients (Stop: :meth:`stop_ab`)."""
        session = {} if session is None else session
        first = self.start_ab(target, seed, steps, width, depth, loss_a, scheme_a, n_critic_a, lr_g_a, lr_d_a,
                              norm_a, loss_b, scheme_b, n_critic_b, lr_g_b, lr_d_b, norm_b, session=session)
        yield from self._stream(first, session, "ab", self._ab_frame)

    def stop(self, session: dict[str, Any] | None) -> None:
        """Stop this session's live run between two steps (it then sends its final state)."""
        stop_run(session, "stop_live")

    def stop_ab(self, session: dict[str, Any] | None) -> None:
        """Stop this session's A/B run between two steps."""
        stop_run(session, "stop_ab")

    # -- pretrained ------------------------------------------------------------------------------------------
    def _load(self, name: str) -> GAN2D:
        with self._lock:
            if name not in self._cache:
                self._cache[name] = load_pretrained(PRETRAINED_DIR / name)  # type: ignore[assignment]
            return self._cache[name]

    def show_pretrained(self, name: Any, seed: Any) -> list[Any]:
        """A pretrained 2-D GAN's panels and its mode metrics on 2,500 fresh samples (seeded)."""
        if not self.pretrained:
            raise gr.Error("No pretrained 2-D GANs are installed in pretrained/.")
        name = choice(name, "Pretrained GAN", self.pretrained)
        seed = integer(seed, "Seed", 0, 2**31 - 1)
        model = self._load(name)
        target = make_target(model.config.target, **({"std": model.config.target_std} if model.config.target_std else {}))
        with torch.no_grad():
            fake = model.generate(torch.randn(N_SAMPLES, model.latent_dim, generator=torch.Generator().manual_seed(seed)))
        report = mode_report(fake, target.mode_centres, target.std)
        real = target.sample(SHOWN, generator=torch.Generator().manual_seed(seed + 2))
        card = (PRETRAINED_DIR / name / "README.md")
        summary = _card_summary(card)
        text = (f"**{name}** ({model.config.loss}, {model.config.target}): **{report.modes} / {report.n_modes} modes**, "
                f"{report.high_quality_pct:.1f}% high quality on 2,500 samples drawn with seed {seed}.\n\n{summary}")
        return [model_panels(model, target, real, fake, report, f"{name} · {model.config.loss}"), text]

    # -- explainers ------------------------------------------------------------------------------------------
    def optimal_d(self, mu_data: Any, s_data: Any, mu_g: Any, s_g: Any) -> list[Any]:
        """D* between two 1-D Gaussians, with JSD and the game's value computed two ways."""
        th = gaussian_pair_theory(number(mu_data, "p_data mean", -4, 4), number(s_data, "p_data std", 0.1, 3),
                                  number(mu_g, "p_g mean", -4, 4), number(s_g, "p_g std", 0.1, 3))
        fig = optimal_discriminator_figure(th.x.numpy(), th.p_data.numpy(), th.p_g.numpy(), th.d_star.numpy(),
                                           "p_data, p_g and the optimal discriminator D*")
        text = (f"JSD(p_data ‖ p_g) = **{th.jsd:.6f}** nats (log 2 = {math.log(2):.6f} is the maximum)  \n"
                f"V(G, D*) = E_data log D* + E_g log(1 − D*) = **{th.value:.6f}**  \n"
                f"2·JSD − 2 log 2 = **{th.value_from_jsd:.6f}**")
        return [fig, text]

    def generator_losses(self) -> Any:
        """Saturating vs non-saturating generator loss and gradient against D(G(z))."""
        d = torch.linspace(0.002, 0.998, 300)
        curves = generator_loss_curves(d)
        return generator_loss_figure(d.numpy(), {k: (v[0].numpy(), v[1].numpy()) for k, v in curves.items()})


# --------------------------------------------------------------------------------------------------------------------
# Image GANs on Fashion-MNIST
# --------------------------------------------------------------------------------------------------------------------

IMAGE_GANS = {"DCGAN": "dcgan-fmnist", "class-conditional DCGAN": "cdcgan-fmnist"}
GRID = 8                  # samples per side of the grid
IMAGE_SCALE = 3           # 28 px -> 84 px


def _card_metadata(folder: Path) -> dict[str, Any]:
    """The ``gen_core_metrics`` / ``gen_core_training`` metadata that the CLI wrote into a model card."""
    data = read_card_metadata(folder)
    return {"metrics": data.get("gen_core_metrics", {}), "training": data.get("gen_core_training", {})}


@dataclass
class ImageGANs:
    """The pretrained Fashion-MNIST GANs (whichever are installed), loaded once and then only read."""

    models: dict[str, DCGAN]
    metrics: dict[str, dict[str, Any]]

    @classmethod
    def load(cls) -> ImageGANs:
        models, metrics = {}, {}
        for label, folder in IMAGE_GANS.items():
            path = PRETRAINED_DIR / folder
            if (path / "model.safetensors").is_file():
                models[label] = load_pretrained(path)  # type: ignore[assignment]
                metrics[label] = _card_metadata(path)
        return cls(models, metrics)

    def _model(self, name: Any) -> DCGAN:
        if not self.models:
            raise gr.Error("No pretrained Fashion-MNIST GANs are installed in pretrained/.")
        return self.models[choice(name, "Model", list(self.models))]

    def _labels(self, model: DCGAN, class_name: Any, n: int) -> torch.Tensor | None:
        if not model.conditional:
            return None
        if class_name == "all classes":
            return torch.arange(n) % model.config.n_classes
        k = CLASS_NAMES.index(choice(class_name, "Class", ["all classes", *CLASS_NAMES]))
        return torch.full((n,), k, dtype=torch.long)

    def sample_grid(self, name: Any, class_name: Any, seed: Any) -> np.ndarray:
        """An 8 x 8 grid of samples (one class, or a row per class cycle for the conditional model)."""
        model = self._model(name)
        gen = torch.Generator().manual_seed(integer(seed, "Seed", 0, 2**31 - 1))
        n = GRID * GRID
        labels = self._labels(model, class_name, n)
        with torch.no_grad():
            images = model.generate(torch.randn(n, model.latent_dim, generator=gen), labels)
        return tile_images(images, ncol=GRID, scale=IMAGE_SCALE)

    def interpolate(self, name: Any, class_name: Any, seed_a: Any, seed_b: Any, steps: Any) -> np.ndarray:
        """Images along the straight line between two latent draws (same class for the conditional model)."""
        model = self._model(name)
        za = torch.randn(model.latent_dim, generator=torch.Generator().manual_seed(integer(seed_a, "Seed A", 0, 2**31 - 1)))
        zb = torch.randn(model.latent_dim, generator=torch.Generator().manual_seed(integer(seed_b, "Seed B", 0, 2**31 - 1)))
        n = integer(steps, "Steps", 2, 16)
        y = None
        if model.conditional:
            y = self._labels(model, "T-shirt/top" if class_name == "all classes" else class_name, 1)[0]  # type: ignore[index]
        return image_strip(model.interpolate(za, zb, n, y), scale=IMAGE_SCALE)

    def fid_table(self) -> str:
        """FID-FMNIST of each installed GAN beside the VAE's and the train-vs-test floor, from the model cards."""
        if not self.metrics:
            return "No pretrained Fashion-MNIST GANs are installed."
        rows = ["| model | FID-FMNIST ↓ | precision | recall | density | coverage | steps | training |",
                "|---|---|---|---|---|---|---|---|"]
        floor = vae = None
        for label, meta in self.metrics.items():
            m, t = meta.get("metrics", {}), meta.get("training", {})
            floor = m.get("fid_floor_train_test", floor)
            vae = m.get("vae_fid_fmnist", vae)
            extra = f" (label agreement {100 * m['label_agreement']:.1f}%)" if "label_agreement" in m else ""
            rows.append(f"| {label}{extra} | **{m.get('fid_fmnist', float('nan')):.2f}** | {m.get('precision', 0):.3f} | "
                        f"{m.get('recall', 0):.3f} | {m.get('density', 0):.3f} | {m.get('coverage', 0):.3f} | "
                        f"{t.get('steps', '?')} | {t.get('wall_time_s', 0) / 60:.0f} min CPU |")
        if vae is not None:
            rows.append(f"| VAE (pretrained/vae-fmnist-16, decoder means) | {vae:.2f} | | | | | | |")
        if floor is not None:
            rows.append(f"| floor: 10,000 training vs test images | {floor:.2f} | | | | | | |")
        return ("FID-FMNIST uses the features of gen_core's own Fashion-MNIST classifier "
                "(pretrained/fmnist-classifier), 10,000 samples against the 10,000 test images: comparable across "
                "these rows, never with Inception-FID. Precision / recall / density / coverage: Naeem et al. 2020, "
                "k = 5.\n\n" + "\n".join(rows))


def _card_summary(card: Path) -> str:
    """The 'Training' section of a model card (command, steps, wall time), or a note that it is missing."""
    if not card.is_file():
        return "(no model card)"
    text = card.read_text(encoding="utf-8")
    lines = [ln for ln in text.splitlines() if ln.startswith(("- Command:", "- Steps:", "- Wall time:"))]
    return "\n".join(lines) if lines else "(the model card has no training section)"


# --------------------------------------------------------------------------------------------------------------------
# Layout
# --------------------------------------------------------------------------------------------------------------------


def _config_controls(prefix: str, loss: str, scheme: str, n_critic: int, lr: float, norm: str) -> list[Any]:
    """Loss, update scheme, n_critic, two learning rates and spectral norm for one configuration."""
    with gr.Row():
        c_loss = gr.Dropdown(LOSSES, value=loss, label=f"{prefix}loss")
        c_scheme = gr.Radio(list(SCHEMES), value=scheme, label=f"{prefix}update scheme")
        c_ncritic = Slider(1, 10, value=n_critic, step=1, label=f"{prefix}n_critic (critic steps per G step)")
    with gr.Row():
        c_lrg = Number(value=lr, label=f"{prefix}generator lr", minimum=1e-5, maximum=1e-2)
        c_lrd = Number(value=lr, label=f"{prefix}discriminator lr", minimum=1e-5, maximum=1e-2)
        c_norm = gr.Radio(NORMALIZATIONS, value=norm, label=f"{prefix}spectral norm on the critic")
    return [c_loss, c_scheme, c_ncritic, c_lrg, c_lrd, c_norm]


LATEX = [{"left": "$$", "right": "$$", "display": True}, {"left": "$", "right": "$", "display": False}]


def build_tab() -> GANLab:
    """Lay out the GAN Lab tab inside the current ``gr.Blocks`` and wire its events."""
    lab = GANLab()
    with gr.Tab("GAN Lab", id="gan-lab"):
        gr.Markdown("## GAN Lab: train a GAN live and watch it cover or collapse the modes")
        gr.Markdown(EXPLAINER, latex_delimiters=LATEX)
        with gr.Row():
            target = gr.Radio(TARGETS, value="ring", label="Target", elem_id="gan-target")
            width = Slider(8, 512, value=128, step=8, label="Width (hidden units)")
            depth = Slider(1, 6, value=3, step=1, label="Depth (hidden layers)")
            seed = Number(value=0, precision=0, label="Seed", minimum=0)
            steps = Slider(50, MAX_STEPS, value=3000, step=50, label="Generator steps", elem_id="gan-steps")
        controls = _config_controls("", "non_saturating", "alternating", 1, 1e-3, "none")
        with gr.Row():
            start = gr.Button("Start training", variant="primary", elem_id="gan-start")
            stop = gr.Button("Stop", variant="stop", elem_id="gan-stop")
        step0 = lab.preview("ring", "non_saturating", "alternating", 1, 1e-3, 1e-3, 128, 3, "none", 0, 3000)
        with gr.Row():
            status = gr.Markdown(step0[3], elem_id="gan-status")
            counter = gr.Markdown(step0[4], elem_id="gan-modes")
        download = gr.DownloadButton("Download the trained GAN (Hub-format folder, .zip)", visible=False,
                                     elem_id="gan-download")
        live = gr.Plot(step0[0], label="Live panels", elem_id="gan-live")
        curves = gr.Plot(step0[1], label="Curves", elem_id="gan-curves")
        timeline = gr.Plot(step0[2], label="Timeline", elem_id="gan-timeline")
        session = gr.State({})  # this browser session's live runs and stop events (see LiveDriver, register_run)
        frames = gr.Timer(POLL_S, active=False)  # pulls frames of the background run (see the module docstring)
        live_inputs = [target, *controls[:5], width, depth, controls[5], seed, steps, session]
        preview_outputs = [live, curves, timeline, status, counter]
        live_outputs = [*preview_outputs, download]
        # step 0 of the configured run, when the page opens and whenever what it starts from changes
        for control in (target, width, depth, seed, controls[0], controls[5]):
            control.change(lab.preview, live_inputs, preview_outputs, api_name=False, show_progress="hidden")
        start.click(lab.start_live, live_inputs, [*live_outputs, frames], api_name="gan_start_live",
                    concurrency_limit=4, concurrency_id="gan-frames", show_progress="hidden")
        frames.tick(lab.poll_live, session, [*live_outputs, frames], api_name=False, concurrency_limit=4,
                    concurrency_id="gan-frames", show_progress="hidden")
        stop.click(lab.stop, session, None, api_name="gan_stop", queue=False)
        # the streaming endpoint for API clients (gradio_client): the same driver, a frame every POLL_S
        api_live = gr.Button(visible=False)
        api_live.click(lab.train_live, live_inputs, live_outputs, api_name="gan_train_live", concurrency_limit=MAX_LIVE,
                       concurrency_id="gan-training", show_progress="hidden")

        gr.Markdown("### A/B: two configurations, same seed, same data\nBoth runs start from the same seed and "
                    "read the same stream of real batches; B is kept at A's generator step, and their curves are "
                    "overlaid (A in blue, B in green). Width, depth, target, seed and steps are shared (above).")
        with gr.Row():
            with gr.Column():
                gr.Markdown("**Configuration A**")
                controls_a = _config_controls("A: ", "non_saturating", "alternating", 1, 1e-3, "none")
            with gr.Column():
                gr.Markdown("**Configuration B**")
                controls_b = _config_controls("B: ", "minimax", "alternating", 1, 1e-3, "none")
        with gr.Row():
            ab_start = gr.Button("Start A/B", variant="primary", elem_id="gan-ab-start")
            ab_stop = gr.Button("Stop A/B", variant="stop", elem_id="gan-ab-stop")
        ab0 = lab.preview_ab("ring", 0, 3000, 128, 3, "non_saturating", "alternating", 1, 1e-3, 1e-3, "none",
                             "minimax", "alternating", 1, 1e-3, 1e-3, "none")
        ab_status = gr.Markdown(ab0[3], elem_id="gan-ab-status")
        with gr.Row():
            download_a = gr.DownloadButton("Download A (Hub-format folder, .zip)", visible=False,
                                           elem_id="gan-download-a")
            download_b = gr.DownloadButton("Download B (Hub-format folder, .zip)", visible=False,
                                           elem_id="gan-download-b")
        live_a = gr.Plot(ab0[0], label="A", elem_id="gan-live-a")
        live_b = gr.Plot(ab0[1], label="B", elem_id="gan-live-b")
        ab_curves = gr.Plot(ab0[2], label="A vs B", elem_id="gan-ab-curves")
        ab_frames = gr.Timer(POLL_S, active=False)
        ab_inputs = [target, seed, steps, width, depth, *controls_a, *controls_b, session]
        ab_outputs = [live_a, live_b, ab_curves, ab_status]
        ab_live_outputs = [*ab_outputs, download_a, download_b]
        for control in (target, width, depth, seed, controls_a[0], controls_a[5], controls_b[0], controls_b[5]):
            control.change(lab.preview_ab, ab_inputs, ab_outputs, api_name=False, show_progress="hidden")
        ab_start.click(lab.start_ab, ab_inputs, [*ab_live_outputs, ab_frames], api_name="gan_start_ab",
                       concurrency_limit=4, concurrency_id="gan-frames", show_progress="hidden")
        ab_frames.tick(lab.poll_ab, session, [*ab_live_outputs, ab_frames], api_name=False, concurrency_limit=4,
                       concurrency_id="gan-frames", show_progress="hidden")
        api_ab = gr.Button(visible=False)
        api_ab.click(lab.train_ab, ab_inputs, ab_live_outputs, api_name="gan_train_ab", concurrency_limit=MAX_LIVE,
                     concurrency_id="gan-training", show_progress="hidden")
        ab_stop.click(lab.stop_ab, session, None, api_name="gan_stop_ab", queue=False)

        gr.Markdown("### Pretrained 2-D GANs\nTrained by `python -m gen_core train gan` (command, steps and wall time "
                    "in each model card): the best configuration and a collapsing baseline on the ring and the grid.")
        with gr.Row():
            default = DEFAULT_PRETRAINED if DEFAULT_PRETRAINED in lab.pretrained else (lab.pretrained or [None])[0]
            pre_name = gr.Dropdown(lab.pretrained, value=default,
                                   label="Pretrained GAN", elem_id="gan-pretrained")
            pre_seed = Number(value=0, precision=0, label="Sample seed", minimum=0)
            pre_btn = gr.Button("Show", elem_id="gan-pretrained-show")
        first = lab.show_pretrained(default, 0) if lab.pretrained else [None, "No pretrained 2-D GANs installed."]
        pre_text = gr.Markdown(first[1], elem_id="gan-pretrained-text")
        pre_plot = gr.Plot(first[0], label="Pretrained GAN", elem_id="gan-pretrained-plot")
        pre_btn.click(lab.show_pretrained, [pre_name, pre_seed], [pre_plot, pre_text], api_name="gan_show_pretrained")
        pre_name.change(lab.show_pretrained, [pre_name, pre_seed], [pre_plot, pre_text], api_name=False)

        gr.Markdown("### Theory: the optimal discriminator")
        gr.Markdown(THEORY, latex_delimiters=LATEX)
        with gr.Row():
            with gr.Column(scale=1):
                mu_d = Slider(-4, 4, value=0.0, step=0.1, label="p_data mean")
                s_d = Slider(0.1, 3, value=1.0, step=0.05, label="p_data std")
                mu_g = Slider(-4, 4, value=1.5, step=0.1, label="p_g mean")
                s_g = Slider(0.1, 3, value=0.7, step=0.05, label="p_g std")
                fig0, text0 = lab.optimal_d(0.0, 1.0, 1.5, 0.7)
                theory_text = gr.Markdown(text0, elem_id="gan-theory-text")
            with gr.Column(scale=2):
                theory_plot = gr.Plot(fig0, label="Optimal discriminator", elem_id="gan-theory-plot")
        for k, sl in enumerate((mu_d, s_d, mu_g, s_g)):
            sl.input(lab.optimal_d, [mu_d, s_d, mu_g, s_g], [theory_plot, theory_text],
                     api_name="gan_optimal_d" if k == 0 else False, show_progress="hidden", trigger_mode="always_last")
        gr.Markdown("### Theory: saturating vs non-saturating generator loss\nEarly in training the discriminator "
                    "rejects the fakes, D(G(z)) ≈ 0. There the minimax loss log(1 − D) is flat and its gradient "
                    "−D vanishes, while −log D has gradient −(1 − D) ≈ −1 (notes 000 3.3.3, B.2.1).")
        ns_plot = gr.Plot(lab.generator_losses(), label="Generator losses", elem_id="gan-ns-plot")
        ns_btn = gr.Button("Redraw", visible=False)
        ns_btn.click(lab.generator_losses, None, ns_plot, api_name="gan_generator_losses")

        images = ImageGANs.load()
        gr.Markdown("### Image GANs on Fashion-MNIST\nA DCGAN and a class-conditional DCGAN G(z, y), trained by "
                    "`python -m gen_core train dcgan` (notes 000 B.3; Radford et al. 2016).")
        if images.models:
            names = list(images.models)
            with gr.Row():
                img_model = gr.Dropdown(names, value=names[-1], label="Model", elem_id="gan-img-model")
                img_class = gr.Dropdown(["all classes", *CLASS_NAMES], value="all classes",
                                        label="Class (conditional model)", elem_id="gan-img-class")
                img_seed = Number(value=0, precision=0, label="Seed", minimum=0)
                img_btn = gr.Button("Sample", elem_id="gan-img-sample")
            grid_img = gr.Image(images.sample_grid(names[-1], "all classes", 0), format="png", label="Samples",
                                interactive=False, elem_id="gan-img-grid", height=420)
            with gr.Row():
                seed_a = Number(value=1, precision=0, label="Seed A", minimum=0)
                seed_b = Number(value=2, precision=0, label="Seed B", minimum=0)
                n_interp = Slider(2, 16, value=10, step=1, label="Steps")
                interp_btn = gr.Button("Interpolate", elem_id="gan-img-interp")
            strip_img = gr.Image(images.interpolate(names[-1], "all classes", 1, 2, 10), format="png",
                                 label="Latent interpolation z = (1 - t) z_A + t z_B", interactive=False)
            for trigger in (img_btn.click, img_class.change, img_model.change):
                trigger(images.sample_grid, [img_model, img_class, img_seed], grid_img,
                        api_name="gan_image_samples" if trigger == img_btn.click else False)
            interp_btn.click(images.interpolate, [img_model, img_class, seed_a, seed_b, n_interp], strip_img,
                             api_name="gan_image_interpolate")
        gr.Markdown(images.fid_table(), elem_id="gan-fid-table")
    return lab
