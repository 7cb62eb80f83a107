"""Flows tab: bend a Gaussian into a 2-D target density with NICE, RealNVP or a spline flow, layer by layer, and
see the 1-D change of variables with the missing |f'(x)| factor.

Every number and array comes from gen_core (``metrics.density``, the models, the shared training loop) and every
figure from ``gen_core.viz.flows``; this module validates inputs, calls them and wires Gradio events. A live
training run is its own generator call (nothing is shared between sessions but the read-only pretrained flows)
and streams an update about every 0.4 s.

Stop sets the run's ``threading.Event``, which the shared loop checks between steps (``train(..., cancel=...)``);
the run then sends its final state ("Stopped at step N", with its test NLL and gap) and ends. The event lives in
the session's ``gr.State``, so a Stop reaches only its own session's run. Stop does not use Gradio's
``cancels=[event]``: in Gradio 6.31 cancelling a generator that is streaming sub-second updates marks its outputs
with an "Error" badge about half the time (a client-side race, reproduced with a 20-line app), and a cancelled
run cannot show where it stopped.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import torch

from gen_core import cards
from gen_core.data.toy2d import TARGETS, TARGETS_1D
from gen_core.hub import WeightsError, config_from_dict, read_card_metadata, read_config
from gen_core.metrics.density import (
    EVAL_SEED,
    MIXTURE_TARGETS,
    DensityGrid,
    build_target,
    cached_true_entropy,
    density_grid,
    evaluating,
    film_strip,
    flow_1d_panel,
    held_out,
    nll_stats,
    snapshot,
)
from gen_core.models import Flow, FlowConfig, load_pretrained
from gen_core.threads import seeded
from gen_core.train import TrainConfig, train
from gen_core.train.loop import SamplerBatches, pick_device
from gen_core.ui.common import (PRETRAINED_DIR, Number, Pace, RunDownload, Slider, choice, integer, number,
                                register_run, stop_run)
from gen_core.viz.flows import film_strip as film_strip_figure, flow_1d_figure, flow_dashboard

TARGETS_2D = list(TARGETS)
TARGETS_1D_NAMES = list(TARGETS_1D)
FLOWS_2D = ["nice", "realnvp", "spline"]
FLOW_LABELS = {"nice": "NICE (additive)", "realnvp": "RealNVP (affine + batch norm)",
               "spline": "Spline flow (rational-quadratic)"}
# Component std the shipped flows were trained with (the ring's default in toy2d is the GAN benchmark's 0.01).
DEFAULT_STD = {"ring": 0.05, "grid": 0.05, "two_moons": 0.1, "spirals": 0.1}
STD_RANGE = (0.005, 0.5)
LAYERS_RANGE = (2, 16)
STEPS_RANGE = (50, 5000)
LR_RANGE = (1e-5, 1e-2)
SEED_MAX = 2**31 - 1
LIVE_BATCH = 256         # training batch of the live runs
LIVE_HIDDEN = 64         # coupling-MLP width of the live runs (as the shipped flows)
LIVE_TEST_N = 2000       # held-out samples of the live test NLL (SE ~ 0.02 nats)
UPDATE_S = 0.4           # seconds between streamed updates, at least; and at least twice the time an update takes,
                         # so that drawing never takes more than a third of the run on a busy CPU
FILM_EVERY_S = 5.0       # the film strip (the heaviest figure to draw) is refreshed at most this often
RESOLUTION = 80          # heatmap grid (80 x 80 cells)
N_SAMPLES = 600          # model samples in the live samples panel (each is an SVG node the browser redraws)
FILM_SAMPLES = 250       # samples pushed through the live film strip
N_SAMPLES_PRETRAINED = 1500  # a pretrained flow is drawn once, so it can show more
STEPS_1D = (20, 3000)
LAYERS_1D = 2            # monotone 1-D flows: 2 layers of 16 tanh units
UNITS_1D = 16

EXPLAINER = r"""
A normalizing flow is an invertible map $f$ from data $x$ to a latent $z = f(x)$ with $z \sim \mathcal N(0, I)$.
The change of variables gives the exact density

$$\log p_X(x) = \log p_Z\big(f(x)\big) + \log\Big|\det \frac{\partial f}{\partial x}(x)\Big|,$$

and $p_Z(f(x))$ alone is wrong: it forgets how $f$ stretches volume (lecture notes 001, Ryu, SNU ch. 5). Stacking
layers $f = f_K \circ \dots \circ f_1$ adds their log-determinants, and sampling runs the inverse,
$x = f^{-1}(z)$. A coupling layer keeps half of the coordinates, $x_A$, and transforms the other half given them:
NICE adds $t(x_A)$ (volume preserving), RealNVP scales and shifts, $z_B = e^{s(x_A)} \odot x_B + t(x_A)$ with
$\log|\det| = \sum s(x_A)$, and the spline flow bends $x_B$ with monotone rational-quadratic splines. Training
maximises $\log p_X$ on samples. Because each target's density is known exactly, the test NLL minus the target's
true entropy $H(p)$ equals $\mathrm{KL}(p_{\text{data}} \,\|\, p_{\text{model}}) \ge 0$: the gap you watch shrink.
"""

FILM_CAPTION = (
    "**Film strip.** Left to right: samples z ~ N(0, I) (orange dots) and a square grid, pushed through the inverse "
    "of one coupling block at a time until they become data (blue). Behind each stage: that block's "
    "log|det J| (forward direction) over the stage's plane. Red: the block squeezes the samples and raises the "
    "density there; blue: it spreads them out. NICE's additive couplings preserve volume: only its diagonal "
    "scaling (the first step on the way to the data) has a non-zero log|det J|, one constant colour; every later "
    "stage is white."
)

LATEX = [{"left": "$$", "right": "$$", "display": True}, {"left": "$", "right": "$", "display": False}]


# --------------------------------------------------------------------------------------------------------------------
# Pretrained flows
# --------------------------------------------------------------------------------------------------------------------


class PretrainedFlow:
    """One shipped flow: its config and card are read at start-up, its weights on first use (then only read, in
    eval mode). Loading all ~20 flow folders eagerly cost ~1.5 s of the dashboard's cold start."""

    def __init__(self, path: Path, config: FlowConfig, metrics: dict[str, float], training: dict[str, Any]) -> None:
        self.path = path
        self.folder = path.name
        self.config = config
        self.metrics = metrics
        self.training = training
        self._model: Flow | None = None
        self._lock = threading.Lock()

    @property
    def model(self) -> Flow:
        """The flow in eval mode, loaded from its folder on first use."""
        with self._lock:
            if self._model is None:
                try:
                    model = load_pretrained(self.path)
                except WeightsError as err:
                    raise gr.Error(f"The shipped flow {self.folder} could not be loaded: {err}") from err
                if not isinstance(model, Flow):
                    raise gr.Error(f"{self.folder} does not hold a flow.")
                self._model = model.eval()
            return self._model

    @property
    def key(self) -> tuple[str, float | None, str]:
        """(target, std, flow type): how the tab finds it."""
        c = self.config
        return c.target or "", _std_key(c.std), c.flow


def _std_key(std: float | None) -> float | None:
    """Stds compared to 4 decimals (0.05 from the UI equals 0.05 from config.json)."""
    return None if std is None else round(float(std), 4)


@dataclass
class FlowModels:
    """The pretrained flows in ``pretrained/flow-*`` (config.json names the target, std and flow type)."""

    flows: dict[tuple[str, float | None, str], PretrainedFlow]

    @classmethod
    def load(cls, root: Path = PRETRAINED_DIR) -> FlowModels:
        """Index every ``flow-*`` folder (config and card now, weights on first use); the held-out metrics come
        from the card metadata the CLI wrote."""
        flows: dict[tuple[str, float | None, str], PretrainedFlow] = {}
        for folder in sorted(root.glob("flow-*")):
            if not (folder / "config.json").is_file():
                continue
            config = config_from_dict(FlowConfig, read_config(folder))
            if config.target is None:
                raise WeightsError(f"{folder} is not a flow trained on a registered target (config.target is unset)")
            data = read_card_metadata(folder)
            entry = PretrainedFlow(folder, config, dict(data.get("gen_core_metrics", {})),
                                   dict(data.get("gen_core_training", {})))
            flows[entry.key] = entry
        return cls(flows)

    def get(self, target: str, std: float | None, flow: str) -> PretrainedFlow | None:
        """The shipped flow for this (target, std, flow type), or None."""
        return self.flows.get((target, _std_key(std), flow))

    def entropy(self, target: str, std: float | None) -> float:
        """The target's true entropy H(p): from a shipped flow's card when one was trained on this (target, std),
        which the CLI computed with the same function and seed, else ``cached_true_entropy`` (once per process)."""
        for (name, s, _), entry in self.flows.items():
            if name == target and s == _std_key(std) and "true_entropy" in entry.metrics:
                return float(entry.metrics["true_entropy"])
        return cached_true_entropy(target, std)[0]

    def stds(self, target: str, flow: str) -> list[float]:
        """Stds with a shipped ``flow`` for a mixture ``target``."""
        return sorted(k[1] for k in self.flows if k[0] == target and k[2] == flow and k[1] is not None)


@functools.lru_cache(maxsize=32)
def _target_grid(name: str, std: float | None) -> DensityGrid:
    """The target's density on the heatmap grid (computed once per target and std, then only read)."""
    target = build_target(name, std)
    return density_grid(target, target.bounds, RESOLUTION)


# --------------------------------------------------------------------------------------------------------------------
# The tab's endpoints
# --------------------------------------------------------------------------------------------------------------------


def export_live(model: Flow, name: str, title: str, settings: dict[str, Any], steps: int, wall_time_s: float,
                test_nll: float, entropy: float, test_nll_se: float) -> Path:
    """A live run's flow as a zip of a Hub-format folder (:func:`gen_core.cards.export_live_run`) whose card states
    the run's settings and the last test NLL the tab measured (``LIVE_TEST_N`` held-out samples)."""
    metrics = {"test_nll": test_nll, "test_nll_se": test_nll_se, "true_entropy": entropy, "gap": test_nll - entropy,
               "n_test": float(LIVE_TEST_N)}
    note = (f"Test NLL on {LIVE_TEST_N:,} fresh samples of the target (seed {EVAL_SEED}), as the tab's curve shows it; "
            f"`python -m gen_core eval FOLDER --n {LIVE_TEST_N} --check` recomputes them from the weights, and without "
            "`--n` on the 100,000 the shipped cards use. `gap` = test NLL - H(p) estimates KL(p || q), nats.")
    return cards.export_live_run(model, name, title, "Normalizing Flows tab", settings, steps, wall_time_s, metrics,
                                 note, "flow")


def _fmt_gap(nll: float, entropy: float, nll_se: float | None = None) -> str:
    """The status line's test NLL, true entropy and their gap; a gap that rounds to zero reads 0.000, not -0.000
    (a KL is >= 0: a slightly negative estimate is the NLL's sampling noise)."""
    se = f" ± {nll_se:.3f}" if nll_se is not None else ""
    gap = round(nll - entropy, 3) or 0.0          # -0.0 is falsy: no minus sign on a zero
    return (f"test NLL **{nll:.3f}**{se} nats · true entropy H(p) **{entropy:.3f}** · "
            f"gap ≈ KL(p‖q) **{gap:.3f}** nats")


class FlowsTab:
    """The Flows tab's endpoints. Every public method validates its inputs and raises ``gr.Error`` on bad ones."""

    def __init__(self, models: FlowModels) -> None:
        self.m = models
        # (function, outputs) that fills the tab when a page opens; set by build_tab, wired by build_app.
        self.page_load: tuple[Callable[[], list[Any]], list[Any]] | None = None

    # -- inputs ----------------------------------------------------------------------------------------------------
    def _target(self, target: Any, std: Any) -> tuple[str, float | None]:
        name = choice(target, "Target", TARGETS_2D)
        value = number(std, "Component std", *STD_RANGE)  # checked for every target, used by the mixtures only
        return name, (value if name in MIXTURE_TARGETS else None)

    def default_std(self, target: Any) -> dict[str, Any]:
        """The std field for a target: its shipped value, editable only for the Gaussian mixtures."""
        name = choice(target, "Target", TARGETS_2D)
        mixture = name in MIXTURE_TARGETS
        return gr.update(value=DEFAULT_STD.get(name, 0.05), interactive=mixture,
                         label="Component std" if mixture else "Component std (mixtures only)")

    # -- 2-D: pretrained -------------------------------------------------------------------------------------------
    def load_pretrained(self, target: Any, std: Any, flow: Any) -> list[Any]:
        """The shipped flow for (target, std, flow): density heatmaps, its test NLL against H(p), the film strip."""
        name, s = self._target(target, std)
        kind = choice(flow, "Flow", FLOWS_2D)
        entry = self.m.get(name, s, kind)
        if entry is None:
            shipped = self.m.stds(name, kind)
            have = f" (shipped: std {', '.join(f'{v:g}' for v in shipped)})" if shipped else ""
            raise gr.Error(f"No pretrained {kind} flow for {name}" + (f" with std {s:g}" if s is not None else "")
                           + f"{have}. Press Train live to fit one.")
        tgt = build_target(name, s)
        model = entry.model
        with evaluating(model):
            grid = density_grid(model, tgt.bounds, RESOLUTION)
            gen = torch.Generator().manual_seed(EVAL_SEED)
            samples = model.sample(N_SAMPLES_PRETRAINED, generator=gen).numpy()
        mt = entry.metrics
        if not {"test_nll", "test_nll_se", "true_entropy"} <= set(mt):
            raise gr.Error(f"The card of {entry.folder} holds no held-out metrics; re-create it with "
                           f"`python -m gen_core train flow ...`.")
        steps = int(entry.training.get("steps", 0))
        dash = flow_dashboard(
            _target_grid(name, s), grid, samples, tgt.bounds, [steps], [mt["test_nll"]], mt["true_entropy"],
            [mt["test_nll_se"]], title=f"{name}{f' (std {s:g})' if s is not None else ''}: pretrained "
            f"{FLOW_LABELS[kind]}", model_label=f"{kind} flow q(x), {model.config.n_layers} layers",
            nll_title="test NLL (100,000 held-out samples)")
        film = film_strip_figure(film_strip(model, data_bounds=tgt.bounds),
                                 title=f"{FLOW_LABELS[kind]}: from the Gaussian to the data, block by block")
        status = (f"Pretrained `{entry.folder}` ({model.config.n_layers} layers, {steps} training steps): "
                  f"{_fmt_gap(mt['test_nll'], mt['true_entropy'], mt['test_nll_se'])}.")
        return [dash, film, status]

    # -- 2-D: live training ----------------------------------------------------------------------------------------
    def train_live(self, target: Any, std: Any, flow: Any, layers: Any, steps: Any, lr: Any, seed: Any,
                   session: dict[str, Any] | None = None) -> Iterator[list[Any]]:
        """Train a fresh flow on the target, streaming heatmaps, the test-NLL curve, the film strip and a status;
        the last frame also offers the trained flow as a Hub-format folder in a zip (``export_live``), the first
        hides the previous run's.

        ``session`` is the browser session's ``gr.State`` dict; the run registers its stop event there (stopping
        the session's previous 2-D run, if any) so that :meth:`stop` ends it.
        """
        name, s = self._target(target, std)
        kind = choice(flow, "Flow", FLOWS_2D)
        cfg = TrainConfig(steps=integer(steps, "Steps", *STEPS_RANGE), batch_size=LIVE_BATCH,
                          lr=number(lr, "Learning rate", *LR_RANGE), seed=integer(seed, "Seed", 0, SEED_MAX),
                          log_every=5, device="auto")
        n_layers = integer(layers, "Layers", *LAYERS_RANGE)
        tgt = build_target(name, s)
        with seeded(cfg.seed):       # the initial weights depend on the seed only
            model = Flow(FlowConfig(flow=kind, n_layers=n_layers, hidden=LIVE_HIDDEN, target=name, std=s))
        test_x = held_out(tgt, LIVE_TEST_N, EVAL_SEED)
        entropy = self.m.entropy(name, s)
        tgrid = _target_grid(name, s)
        title = f"{name}{f' (std {s:g})' if s is not None else ''}: live {FLOW_LABELS[kind]}, {n_layers} layers"
        steps_seen: list[int] = []
        nlls: list[float] = []
        last_se = 0.0                    # the standard error of the last test NLL (for the download's card)
        t0 = time.perf_counter()
        last_film = -FILM_EVERY_S

        def render(step: int, final: bool) -> list[Any]:
            nonlocal last_film, last_se
            snap = snapshot(model, test_x, tgt.bounds, RESOLUTION, n_samples=N_SAMPLES, seed=EVAL_SEED)
            steps_seen.append(step)
            nlls.append(snap.test_nll)
            last_se = snap.test_nll_se
            dash = flow_dashboard(tgrid, snap.density, snap.samples, tgt.bounds, steps_seen, nlls, entropy,
                                  title=title, model_label=f"flow q(x) at step {step}",
                                  nll_title=f"test NLL ({LIVE_TEST_N:,} held-out samples)")
            film: Any = gr.skip()
            if final or time.perf_counter() - last_film >= FILM_EVERY_S:
                film = film_strip_figure(film_strip(model, n_samples=FILM_SAMPLES, data_bounds=tgt.bounds),
                                         title=f"Step {step}: from the Gaussian to the data, block by block")
                last_film = time.perf_counter()
            elapsed = time.perf_counter() - t0
            head = ("**Stopped.**" if stop.is_set() else "**Done.**") if final else "Training…"
            status = (f"{head} step {step}/{cfg.steps} · {_fmt_gap(snap.test_nll, entropy, snap.test_nll_se)} · "
                      f"{step / max(elapsed, 1e-9):.0f} steps/s · {elapsed:.0f} s")
            return [dash, film, status]

        stop = register_run(session, "stop_2d")
        data = SamplerBatches(tgt, cfg.batch_size, cfg.seed, pick_device(cfg.device))
        pace, download = Pace(UPDATE_S), RunDownload()
        yield [*pace.timed(render, 0, False), download.frame()]
        for ev in train(model, data, cfg, cancel=stop):
            if ev.kind == "step" and ev.step < cfg.steps and pace.due():
                yield [*pace.timed(render, ev.step, False), download.frame()]
            elif ev.kind == "diverged":
                yield [gr.skip(), gr.skip(), ev.message, download.frame()]
                return
            elif ev.kind in ("done", "cancelled"):
                frame = render(ev.step, True)
                settings = {"target": name, "component std": s, "flow": FLOW_LABELS[kind], "layers": n_layers,
                            "hidden units": LIVE_HIDDEN, "batch": cfg.batch_size, "learning rate": cfg.lr,
                            "seed": cfg.seed, "steps asked": cfg.steps}
                archive = export_live(model, f"flow-{name}-{kind}-live", title, settings, ev.step,
                                      time.perf_counter() - t0, nlls[-1], entropy, last_se)
                yield [*frame, download.offer(archive)]

    def stop(self, session: dict[str, Any] | None) -> None:
        """Stop this session's live 2-D run between two steps (it then sends its final state)."""
        stop_run(session, "stop_2d")

    def stop_1d(self, session: dict[str, Any] | None) -> None:
        """Stop this session's live 1-D run between two steps."""
        stop_run(session, "stop_1d")

    # -- 1-D -------------------------------------------------------------------------------------------------------
    def load_pretrained_1d(self, target: Any) -> list[Any]:
        """The shipped monotone 1-D flow for a 1-D target: histograms, f(x), and right vs wrong densities."""
        name = choice(target, "1-D target", TARGETS_1D_NAMES)
        entry = self.m.get(name, None, "monotone1d")
        if entry is None:
            raise gr.Error(f"No pretrained 1-D flow for {name}. Press Train 1-D flow to fit one.")
        tgt = build_target(name)
        panel = flow_1d_panel(entry.model, tgt)
        fig = flow_1d_figure(panel, title=f"{name}: pretrained monotone flow ({entry.folder})")
        mt = entry.metrics
        numbers = _fmt_gap(mt["test_nll"], mt["true_entropy"], mt["test_nll_se"]) + " · " if mt else ""
        return [fig, f"Pretrained `{entry.folder}`: {numbers}{_mass_sentence(panel.right_mass, panel.wrong_mass)}"]

    def train_live_1d(self, target: Any, steps: Any, lr: Any, seed: Any,
                      session: dict[str, Any] | None = None) -> Iterator[list[Any]]:
        """Train a monotone 1-D flow on a 1-D target, streaming the 1-D panel, a status and the download button
        (hidden on the first frame; the last offers the flow as a Hub-format zip, ``export_live``; Stop:
        :meth:`stop_1d`)."""
        name = choice(target, "1-D target", TARGETS_1D_NAMES)
        cfg = TrainConfig(steps=integer(steps, "Steps", *STEPS_1D), batch_size=LIVE_BATCH,
                          lr=number(lr, "Learning rate", *LR_RANGE), seed=integer(seed, "Seed", 0, SEED_MAX),
                          log_every=5, device="auto")
        tgt = build_target(name)
        with seeded(cfg.seed):
            model = Flow(FlowConfig(flow="monotone1d", dim=1, n_layers=LAYERS_1D, hidden=UNITS_1D, target=name))
        test_x = held_out(tgt, LIVE_TEST_N, EVAL_SEED)
        entropy = self.m.entropy(name, None)
        t0 = time.perf_counter()

        last: dict[str, float] = {}      # the last test NLL and its standard error (for the download's card)

        def render(step: int, final: bool) -> list[Any]:
            panel = flow_1d_panel(model, tgt)
            with evaluating(model):
                nll, se = nll_stats(model, test_x)
            last.update(nll=nll, se=se)
            head = ("**Stopped.**" if stop.is_set() else "**Done.**") if final else "Training…"
            status = (f"{head} step {step}/{cfg.steps} · {_fmt_gap(nll, entropy, se)} · "
                      f"{_mass_sentence(panel.right_mass, panel.wrong_mass)} · {time.perf_counter() - t0:.0f} s")
            return [flow_1d_figure(panel, title=f"{name}: live monotone flow, step {step}"), status]

        stop = register_run(session, "stop_1d")
        data = SamplerBatches(tgt, cfg.batch_size, cfg.seed, pick_device(cfg.device))
        pace, download = Pace(UPDATE_S), RunDownload()
        yield [*pace.timed(render, 0, False), download.frame()]
        for ev in train(model, data, cfg, cancel=stop):
            if ev.kind == "step" and ev.step < cfg.steps and pace.due():
                yield [*pace.timed(render, ev.step, False), download.frame()]
            elif ev.kind == "diverged":
                yield [gr.skip(), ev.message, download.frame()]
                return
            elif ev.kind in ("done", "cancelled"):
                frame = render(ev.step, True)
                settings = {"target": name, "flow": "monotone 1-D", "layers": LAYERS_1D, "hidden units": UNITS_1D,
                            "batch": cfg.batch_size, "learning rate": cfg.lr, "seed": cfg.seed,
                            "steps asked": cfg.steps}
                archive = export_live(model, f"flow-{name}-monotone1d-live", f"{name}: live monotone 1-D flow",
                                      settings, ev.step, time.perf_counter() - t0, last["nll"], entropy, last["se"])
                yield [*frame, download.offer(archive)]


def _mass_sentence(right: float, wrong: float) -> str:
    return f"∫ p_Z(f(x))·|f'(x)| dx = **{right:.3f}** (a density) but ∫ p_Z(f(x)) dx = **{wrong:.3f}**"


# --------------------------------------------------------------------------------------------------------------------
# Layout and events
# --------------------------------------------------------------------------------------------------------------------


class _FirstView:
    """A view computed once in a background thread, then read by every page load."""

    def __init__(self, compute: Callable[[], list[Any] | None], empty: list[Any]) -> None:
        self._compute = compute
        self._empty = empty
        self._value: list[Any] | None = None
        self._done = False
        self._lock = threading.Lock()
        threading.Thread(target=self.get, name="flows-first-view", daemon=True).start()

    def get(self) -> list[Any]:
        """The view (computed on the first call; later calls wait for it, then read it); ``empty`` if none."""
        with self._lock:
            if not self._done:
                try:
                    self._value = self._compute()
                except Exception:  # the page still opens; the log says why its first view is empty
                    logging.getLogger(__name__).exception("the Flows tab's first view failed")
                self._done = True
            return self._empty if self._value is None else self._value


def build_tab(models: FlowModels) -> FlowsTab:
    """Lay out the Flows tab inside the current ``gr.Blocks`` and wire its events; returns the endpoints object.

    The default pretrained flows are drawn once, in a background thread started here, and every page load shows
    them: ``tab.page_load`` is the (function, outputs) pair that ``build_app`` hands to ``demo.load``, so the
    server starts listening without waiting for them.
    """
    tab = FlowsTab(models)
    first_2d = _FirstView(lambda: tab.load_pretrained("ring", DEFAULT_STD["ring"], "spline")
                          if models.get("ring", DEFAULT_STD["ring"], "spline") is not None else None,
                          [None, None, ""])
    first_1d = _FirstView(lambda: tab.load_pretrained_1d("beta")
                          if models.get("beta", None, "monotone1d") is not None else None, [None, ""])
    with gr.Tab("Normalizing Flows", id="flows"):
        gr.Markdown("## Normalizing flows: bend a Gaussian into a target density")
        gr.Markdown(EXPLAINER, latex_delimiters=LATEX)
        gr.Markdown("### 2-D densities\nPick a target and a flow: the pretrained flow loads at once. "
                    "Train live to watch a fresh flow learn; your run is yours alone and Stop cancels it. The ring and "
                    "the grid ship with component std 0.05; for the GAN benchmark's sharper ring set the std to 0.01 "
                    "and load its spline flow.")
        with gr.Row():
            target = gr.Dropdown(TARGETS_2D, value="ring", label="Target", elem_id="flows-target")
            std = Number(value=DEFAULT_STD["ring"], label="Component std", minimum=STD_RANGE[0], maximum=STD_RANGE[1],
                         step=0.005, elem_id="flows-std")
            flow = gr.Dropdown([(FLOW_LABELS[k], k) for k in FLOWS_2D], value="spline", label="Flow",
                               elem_id="flows-type")
            layers = Slider(*LAYERS_RANGE, value=8, step=1, label="Layers (live training)", elem_id="flows-layers")
        with gr.Row():
            steps = Slider(*STEPS_RANGE, value=1500, step=50, label="Steps (live training)", elem_id="flows-steps")
            lr = Number(value=2e-3, label="Learning rate", minimum=LR_RANGE[0], maximum=LR_RANGE[1],
                        elem_id="flows-lr")
            seed = Number(value=0, precision=0, label="Seed", minimum=0, elem_id="flows-seed")
        with gr.Row():
            load_btn = gr.Button("Load pretrained", elem_id="flows-load")
            train_btn = gr.Button("Train live", variant="primary", elem_id="flows-train")
            stop_btn = gr.Button("Stop", variant="stop", elem_id="flows-stop")
        status = gr.Markdown("", elem_id="flows-status")
        download = gr.DownloadButton("Download the trained flow (Hub-format folder, .zip)", visible=False,
                                     elem_id="flows-download")
        density = gr.Plot(None, label="Target, learned density, samples, test NLL",
                          elem_id="flows-density")
        gr.Markdown(
            "**Reading the curve.** The test NLL is $-\\frac1n\\sum_i \\log q(x_i)$ on fresh samples of the target "
            "that training never sees. Its floor is the target's true entropy $H(p) = -\\mathbb E_p \\log p(x)$ "
            "(dashed), and the distance between them is $\\mathrm{KL}(p\\,\\|\\,q)$ in nats. Sharp mixtures "
            "(small std) have low entropy and are hard: the flow must tear the Gaussian into separate modes while "
            "staying invertible, so thin bridges of density remain between them. A RealNVP coupling is affine in the "
            "coordinate it moves, so it can split a mode only by shearing it along the other coordinate: on the ring "
            "and the grid it stays 1 to 3 nats away, while the spline flow bends each coordinate with a monotone "
            "spline and gets within 0.05 nats. NICE only shifts: on targets that are mirror-symmetric in each "
            "coordinate (ring, grid) every conditional mean it could shift is 0, the identity is a stationary point, "
            "and it stays at the best single Gaussian. Compare them with the Flow menu.", latex_delimiters=LATEX)
        film = gr.Plot(None, label="Film strip", elem_id="flows-film")
        gr.Markdown(FILM_CAPTION)

        session = gr.State({})  # this browser session's stop events (see gen_core.ui.common.register_run)
        outputs_2d = [density, film, status]
        target.change(tab.default_std, target, std, api_name=False, show_progress="hidden").then(
            tab.load_pretrained, [target, std, flow], outputs_2d, api_name=False)
        flow.change(tab.load_pretrained, [target, std, flow], outputs_2d, api_name=False)
        load_btn.click(tab.load_pretrained, [target, std, flow], outputs_2d, api_name="flows_load_pretrained")
        train_btn.click(tab.train_live, [target, std, flow, layers, steps, lr, seed, session], [*outputs_2d, download],
                        api_name="flows_train_live", concurrency_limit=2, concurrency_id="flows-training")
        stop_btn.click(tab.stop, session, None, api_name="flows_stop", queue=False)

        gr.Markdown("### 1-D flows: the factor |f′(x)| you cannot drop\nA monotone flow $z = f(x)$ maps samples of "
                    "a 1-D target to $\\mathcal N(0, 1)$. The right density $p_Z(f(x))\\,|f'(x)|$ matches the target "
                    "and integrates to 1; the tempting $p_Z(f(x))$ does neither.", latex_delimiters=LATEX)
        with gr.Row():
            target_1d = gr.Dropdown(TARGETS_1D_NAMES, value="beta", label="1-D target", elem_id="flows-target-1d")
            steps_1d = Slider(*STEPS_1D, value=400, step=10, label="Steps", elem_id="flows-steps-1d")
            lr_1d = Number(value=1e-2, label="Learning rate", minimum=LR_RANGE[0], maximum=LR_RANGE[1],
                           elem_id="flows-lr-1d")
            seed_1d = Number(value=0, precision=0, label="Seed", minimum=0, elem_id="flows-seed-1d")
        with gr.Row():
            load_1d = gr.Button("Load pretrained 1-D flow", elem_id="flows-load-1d")
            train_1d = gr.Button("Train 1-D flow", variant="primary", elem_id="flows-train-1d")
            stop_1d = gr.Button("Stop", variant="stop", elem_id="flows-stop-1d")
        status_1d = gr.Markdown("", elem_id="flows-status-1d")
        download_1d = gr.DownloadButton("Download the trained 1-D flow (Hub-format folder, .zip)", visible=False,
                                        elem_id="flows-download-1d")
        panel = gr.Plot(None, label="1-D flow", elem_id="flows-panel-1d")
        target_1d.change(tab.load_pretrained_1d, target_1d, [panel, status_1d], api_name=False)
        load_1d.click(tab.load_pretrained_1d, target_1d, [panel, status_1d], api_name="flows_load_pretrained_1d")
        train_1d.click(tab.train_live_1d, [target_1d, steps_1d, lr_1d, seed_1d, session],
                       [panel, status_1d, download_1d],
                       api_name="flows_train_live_1d", concurrency_limit=2, concurrency_id="flows-training")
        stop_1d.click(tab.stop_1d, session, None, api_name="flows_stop_1d", queue=False)
    tab.page_load = (lambda: [*first_2d.get(), *first_1d.get()], [density, film, status, panel, status_1d])
    return tab
