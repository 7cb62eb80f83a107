"""beta-VAE tab: does beta > 1 disentangle dSprites? Traversals, per-dim KL, latent x factor mutual information,
the four metrics of the shipped beta sweep beside the published numbers, rate-distortion, and live training.

Every number comes from gen_core (the CLI computed the sweep's metrics into the model cards with
``gen_core.metrics.beta_vae``; live runs call the same functions) and every figure from ``gen_core.viz``. This
module validates inputs, calls them and wires Gradio events. Lecture notes 000 A.3.2 and 001.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import torch

from gen_core.data.dsprites import (FACTOR_SIZES, FACTOR_VALUES, ORIENTATIONS, SCALES, SHAPE_NAMES, DSprites,
                                   DSpritesBatches)
from gen_core import cards
from gen_core.cards import SEEDS_KEY
from gen_core.hub import WeightsError, read_card_metadata
from gen_core.metrics.beta_vae import (ACTIVE_VARIANCE, held_out_images, latent_factor_report, latent_response,
                                      mig_estimate)
from gen_core.metrics.likelihood import evaluate_vae
from gen_core.models import VAE, VAEConfig, load_pretrained
from gen_core.threads import seeded
from gen_core.train import TrainConfig, train
from gen_core.train.loop import pick_device
from gen_core.ui.common import (LATEX, PRETRAINED_DIR, Number, Pace, Slider, choice, integer, number, register_run,
                                RunDownload, run_is_going, stop_run)
from gen_core.viz import bar_chart, loss_curves, tile_images
from gen_core.viz.beta_vae import (latent_response_figure, mutual_info_heatmap, rate_distortion_figure,
                                   seed_spread_figure, traversal_figure)

SWEEP_GLOBS = ("beta-vae-dsprites-b*", "beta-tcvae-dsprites-b*",   # the beta-VAE sweep, the beta-TCVAEs and the
               "annealed-vae-dsprites-c*")                          # AnnealedVAEs (by final capacity C)
DEFAULT_BETA = "4"  # the tab opens on beta = 4, the value the lecture notes and the papers discuss
TRAVERSAL_VALUES = torch.linspace(-3.0, 3.0, 9)
PAD = 2
IMAGE_SCALE = 3                       # the input / reconstruction pair: 64 px -> 192 px
LIVE_STEPS = (50, 20_000)
LIVE_LR = (1e-5, 1e-2)
BETA_RANGE = (0.0, 32.0)
GAMMA_RANGE = (0.0, 2000.0)            # AnnealedVAE's gamma (Burgess et al.: 1000 on dSprites)
CAPACITY_RANGE = (0.0, 50.0)           # AnnealedVAE's final capacity C, nats (Burgess et al.: 25)
LIVE_OBJECTIVES = {"β-VAE": "beta_vae", "β-TCVAE": "beta_tcvae", "AnnealedVAE": "annealed_vae"}
LOSS_NAMES = {"beta_vae": "loss (recon + β·KL)", "beta_tcvae": "loss (recon + KL + (β−1)·TC)",
              "annealed_vae": "loss (recon + γ·|KL − C|)"}
SEED_MAX = 2**31 - 1
UPDATE_S = 1.0                         # seconds between streamed updates, at least
MIG_EVERY_S = 10.0                     # the live MIG estimate (2,000 encoded images) at most this often
LIVE_MIG_N = 2000
MIG_SERIES = "MIG (2,000 points)"
LIVE_KEY = "beta_vae_live"
N_LIVE_OUTPUTS = 6                     # curves, MIG, per-dim KL, reconstructions, traversals, status
LIVE_EVAL_N = 2000                     # held-out images a finished live run's ELBO terms are measured on
LIVE_DEFAULTS = (4.0, 1500, 5e-4, 0, "β-VAE", 25.0)  # β, steps, lr, seed, objective, capacity: the controls' start
FACTOR_LABELS = ("shape", "scale", "orientation", "x position", "y position")
RESPONSE_TICKS = [np.degrees(v).tolist() if v is ORIENTATIONS else v.tolist() for v in FACTOR_VALUES]  # orientation in °
RESPONSE_FACTORS = ("shape (1 square, 2 ellipse, 3 heart)", "scale", "orientation (°)", "x position", "y position")
RESPONSE_N = 5000                      # held-out images behind the response curves (~0.3 s to encode, once a model)
ACTIVE_KL = 0.1                        # nats: a dim with less mean KL is collapsed (as the status line counts)

# EVALUATION.md: FactorVAE score / MIG of disentanglement_lib's study (300k steps), and the beta-VAE score of
# Higgins et al. on their 2D shapes.
PUBLISHED = [
    ["published: VAE (Locatello et al. 2019)", "1", "300k", "", "0.63", "0.10", "", "", ""],
    ["published: beta-VAE", "", "300k", "", "0.63", "0.21", "", "", ""],
    ["published: beta-TCVAE", "", "300k", "", "0.62", "0.45", "", "", ""],
    ["published: FactorVAE (paper / rerun)", "", "300k", "", "0.82 / 0.83", "0.15 / 0.40", "", "", ""],
    ["published: beta-VAE score (Higgins et al.)", "4", "", "99.2% (VAE 61.6%)", "", "", "", "", ""],
]
PUBLISHED_BETA_VAE = (0.63, 0.21)   # FactorVAE score and MIG of the published β-VAE after 300k steps (EVALUATION.md)
TABLE_HEADERS = ["model", "β", "steps", "β-VAE score", "FactorVAE score", "MIG", "DCI disent.", "ELBO (nats)",
                 "other seeds: FactorVAE / MIG"]
TABLE_WIDTHS = ["21%", "10%", "9%", "8%", "8%", "6%", "7%", "7%", "24%"]   # the whole table fits a laptop screen

EXPLAINER = r"""
A β-VAE maximises $\mathbb E_{q(z\mid x)}[\log p(x\mid z)] - \beta\,\mathrm{KL}(q(z\mid x)\,\|\,\mathcal N(0, I))$.
With $\beta > 1$ each nat of information a latent carries costs more, so the model keeps fewer, more economical
dims and pushes them towards the factorised prior: the hope is that each dim then tracks one factor of
variation (shape, scale, orientation, position). The price is reconstruction (the rate-distortion plot), and
nothing in the objective refers to the true factors: the lecture notes (000 A.3.2, 001) say it works
"empirically, with no guarantee", and Locatello et al. (2019) proved that unsupervised disentanglement is
impossible without inductive biases. The metrics below check the claim on this sweep; every model is scored on
its encoder mean with the disentanglement_lib protocol.

The **β-TCVAE** (Chen et al. 2018), where shipped, splits the averaged KL into the information the code keeps
about the image, the total correlation $\mathrm{KL}(q(z)\,\|\,\prod_d q(z_d))$ between its dims, and each dim's
distance from the prior, and puts β on the total correlation alone: it asks for independent dims without taxing
the information, so it should lose less reconstruction for the same push towards disentanglement.
"""


RD_TEXT = r"""
**Reading the rate-distortion plot.** The rate is the KL term, the nats of information the code keeps about the
image; the distortion is the reconstruction term $-\mathbb E_q \log p(x\mid z)$. The ELBO is minus their sum, so
β = 1 sits where the sum is smallest; a larger β buys a smaller rate (fewer, more independent active dims) with
more distortion. Whether the dims it keeps line up with the true factors is what the mutual-information heatmap
and the metrics answer.
"""

RESPONSE_TEXT = """
**Reading the response curves.** Each line is one active latent dim: the mean of its encoder mean over the
held-out images that share a factor value. A dim that codes a factor *monotonically* rises or falls across that
panel; one that is flat ignores the factor. Watch for **folds**: a dim that falls and rises again over x (or y)
codes the distance from the centre rather than the position, so the position is spread over two dims (one
monotone, one folded). The heatmap counts both as knowing x, and the FactorVAE score is content with that, but
MIG scores only the gap between a factor's best and second-best dim, which a fold keeps small.
"""


OBJECTIVE_NAMES = {"beta_vae": ("", "β"), "beta_tcvae": ("β-TCVAE", "β"), "annealed_vae": ("AnnealedVAE", "γ")}


def objective_text(objective: str, beta: float, selector: bool = False) -> str:
    """A model's objective and weight in words: "β-TCVAE β = 4", "β = 8"; for the selector, where β is understood,
    "4 (β-TCVAE)", "γ 1000 (AnnealedVAE)", "4"."""
    name, symbol = OBJECTIVE_NAMES.get(objective, (objective, "β"))
    if not selector:
        return f"{name} {symbol} = {beta:g}".strip()
    value = f"{beta:g}" if symbol == "β" else f"{symbol} {beta:g}"
    return f"{value} ({name})" if name else value


@dataclass
class SweepModel:
    """One shipped beta-VAE with the metrics its card holds."""

    folder: str
    beta: float
    model: VAE
    metrics: dict[str, Any]
    training: dict[str, Any]
    kl: list[float]                    # mean KL per latent dim, nats
    mutual_info: np.ndarray            # (D, F) nats
    order: list[int]                   # latent dims, largest KL first
    objective: str = "beta_vae"        # "beta_tcvae": beta weighs only the total correlation; "annealed_vae": gamma
    seed_runs: list[dict[str, Any]] = field(default_factory=list)   # other seeds of its command, from its card

    @property
    def label(self) -> str:
        """The selector's label: the beta, the objective when it is not the plain beta-VAE, and how the weight got
        there when it did not stay put: the run it continued ("4 (after β = 8)", a beta schedule over two runs) or
        the beta it decayed from within one run ("4 (from β = 16)")."""
        if self.objective == "annealed_vae":      # named by its final capacity; gamma is in the title
            return f"C = {self.model.config.capacity_max:g} (AnnealedVAE)"
        label = objective_text(self.objective, self.beta, selector=True)
        changed = self.training.get("init_config", {})
        if changed:
            start = objective_text(changed.get("objective", self.objective), float(changed.get("beta", self.beta)))
            return f"{label} (after {start})"
        if self.decayed:
            return f"{label} (from β = {self.model.config.beta_start:g})"
        return label

    @property
    def title(self) -> str:
        """How the figures name the model: "β = 4 (after β = 8)", "AnnealedVAE, C = 25 nats, γ = 1000"."""
        if self.objective == "annealed_vae":
            return f"AnnealedVAE, C = {self.model.config.capacity_max:g} nats, γ = {self.beta:g}"
        return f"β = {self.label}"

    @property
    def scored_seeds(self) -> list[tuple[int, float, float]]:
        """(seed, FactorVAE score, MIG) of the other seeds of this model's command that its card lists with both."""
        return [(int(r["seed"]), r["metrics"]["factor_vae"], r["metrics"]["mig"]) for r in self.seed_runs
                if {"factor_vae", "mig"} <= set(r.get("metrics", {}))]

    @property
    def other_seeds(self) -> str:
        """FactorVAE score / MIG of the other seeds of this model's command that its card lists:
        "0.667 / 0.097 (seed 1), 0.498 / 0.060 (seed 2)"."""
        return ", ".join(f"{fv:.3f} / {mig:.3f} (seed {seed})" for seed, fv, mig in self.scored_seeds)

    @property
    def on_sweep(self) -> bool:
        """A plain beta-VAE trained with one set of settings from scratch: a point of the sweep's line."""
        return self.objective == "beta_vae" and not self.training.get("init_config") and not self.decayed

    @property
    def decayed(self) -> bool:
        """Whether its KL weight fell from a larger beta within the run (``kl_schedule="decay"``)."""
        return self.model.config.kl_schedule == "decay"


@dataclass
class BetaSweep:
    """The shipped beta sweep, loaded once and then only read."""

    models: dict[str, SweepModel]

    @classmethod
    def load(cls, root: Path = PRETRAINED_DIR) -> BetaSweep:
        """Load every evaluated folder that ``SWEEP_GLOBS`` matches (per-dim KL, MI and
        metrics from its card), the beta-VAEs first, each family by beta. A folder whose card holds no held-out
        metrics is a training run still in progress (its checkpoint may be half written) and is left out."""
        models: dict[str, SweepModel] = {}
        for folder in (f for pattern in SWEEP_GLOBS for f in sorted(root.glob(pattern))):
            meta = read_card_metadata(folder) if (folder / "config.json").is_file() else {}
            metrics = dict(meta.get("gen_core_metrics", {}))
            if not {"mig", "kl_per_dim", "mutual_info"} <= set(metrics):
                continue
            model = load_pretrained(folder)
            if not isinstance(model, VAE) or model.config.architecture != "conv64":
                raise WeightsError(f"{folder} is not a 64x64 dSprites VAE (architecture 'conv64')")
            kl = [float(v) for v in metrics["kl_per_dim"]]
            entry = SweepModel(folder.name, float(model.config.beta), model.eval(), metrics,
                               dict(meta.get("gen_core_training", {})), kl,
                               np.asarray(metrics["mutual_info"], dtype=float),
                               sorted(range(len(kl)), key=lambda d: -kl[d]), model.config.objective,
                               list(meta.get(SEEDS_KEY, [])))
            models[entry.label] = entry
        return cls(dict(sorted(models.items(), key=lambda kv: (kv[1].objective != "beta_vae", kv[1].beta))))

    @property
    def labels(self) -> list[str]:
        return list(self.models)

    def table(self) -> list[list[str]]:
        """The metrics table: one row per shipped model, then the published anchors."""
        rows = []
        for m in self.models.values():
            mt = m.metrics

            preset = "" if mt.get("preset") == "disentanglement_lib" else f" ({mt.get('preset')} preset)"
            steps = f"{int(m.training.get('steps', 0)):,}"
            if m.training.get("init_steps"):          # a continued run: the first part's steps, then this one's
                steps = f"{int(m.training['init_steps']):,} + {steps}"
            rows.append([f"gen_core {m.folder}{preset}", m.label, steps,
                         f"{100 * mt['beta_vae']:.1f}%", f"{mt['factor_vae']:.3f}", f"{mt['mig']:.3f}",
                         f"{mt['dci_disentanglement']:.3f}", f"{mt['elbo']:.1f}", m.other_seeds])
        return rows + PUBLISHED

    def seed_spread(self) -> Any:
        """FactorVAE score and MIG over β for every seed of the sweep's commands (the shipped run and the others its
        card records), with the published β-VAE's scores as reference lines."""
        runs = []
        for m in self.models.values():
            if not m.on_sweep:
                continue
            runs.append((m.beta, int(m.training.get("seed", 0)), m.metrics["factor_vae"], m.metrics["mig"]))
            runs += [(m.beta, *scored) for scored in m.scored_seeds]
        return seed_spread_figure(runs, published=PUBLISHED_BETA_VAE)

    def rate_distortion(self, current: str | None) -> Any:
        """Rate-distortion figure over the shipped models: the beta-VAE sweep as a line; beta-TCVAEs and runs
        continued from another beta as points."""
        sweep = [m for m in self.models.values() if m.on_sweep]
        others = [(m.title, m.metrics["kl"], m.metrics["recon_nll"]) for m in self.models.values() if not m.on_sweep]
        selected = self.models.get(current) if current is not None else None
        highlight = None if selected is None else (selected.beta if selected.on_sweep else selected.title)
        return rate_distortion_figure([m.beta for m in sweep], [m.metrics["kl"] for m in sweep],
                                      [m.metrics["recon_nll"] for m in sweep], current=highlight, others=others,
                                      steps=[int(m.training.get("steps", 0)) for m in sweep])


def dim_labels(kl: list[float], order: list[int]) -> list[str]:
    """Row labels of traversals and heatmaps: ``z3 · 2.31 nats``."""
    return [f"z{d} · {kl[d]:.2f} nats" for d in order]


def factor_image(shape: Any, scale: Any, orientation: Any, x: Any, y: Any) -> tuple[torch.Tensor, str]:
    """The dSprites image of the chosen factor indices (validated) and a sentence naming its factor values."""
    s = SHAPE_NAMES.index(choice(shape, "Shape", list(SHAPE_NAMES)))
    f = [s, integer(scale, "Scale index", 0, FACTOR_SIZES[1] - 1),
         integer(orientation, "Orientation index", 0, FACTOR_SIZES[2] - 1),
         integer(x, "x position index", 0, FACTOR_SIZES[3] - 1), integer(y, "y position index", 0, FACTOR_SIZES[4] - 1)]
    image = DSprites().render(np.array([f]))
    text = (f"{SHAPE_NAMES[s]}, scale {SCALES[f[1]]:.2f}, orientation {np.degrees(ORIENTATIONS[f[2]]):.0f}°, "
            f"x {f[3]}/31, y {f[4]}/31")
    return image, text


LIVE_TRAVERSED = factor_image("heart", 3, 0, 16, 16)   # the image the live panel traverses: a centred heart


class BetaVAETab:
    """Event handlers of the tab (one instance per app; read-only after construction)."""

    def __init__(self, sweep: BetaSweep) -> None:
        self.sweep = sweep
        self.load_inputs: list[Any] = []    # what the page load shows (set by build_tab)
        self.load_outputs: list[Any] = []
        self.live_inputs: list[Any] = []    # the live panel's controls and outputs (preview on page load)
        self.live_outputs: list[Any] = []
        self._responses: dict[str, list[np.ndarray]] = {}   # per shipped model, computed on first view
        self._responses_lock = threading.Lock()

    def _response(self, entry: SweepModel) -> list[np.ndarray]:
        """The model's mean code per factor value on held-out images (computed once per model, then shared)."""
        with self._responses_lock:
            if entry.folder not in self._responses:
                self._responses[entry.folder] = latent_response(entry.model, RESPONSE_N)
            return self._responses[entry.folder]

    def _model(self, beta: Any) -> SweepModel:
        if not self.sweep.models:
            raise gr.Error("No pretrained β-VAEs are installed in pretrained/ (beta-vae-dsprites-b*). "
                           "Train one with `python -m gen_core train vae --dataset dsprites ...`.")
        return self.sweep.models[choice(beta, "β", self.sweep.labels)]

    def show(self, beta: Any, shape: Any, scale: Any, orientation: Any, x: Any, y: Any) -> list[Any]:
        """Traversal grid of the chosen image, input vs reconstruction, per-dim KL, MI heatmap, rate-distortion, the
        status line and the response curves (mean code per factor value)."""
        entry = self._model(beta)
        image, described = factor_image(shape, scale, orientation, x, y)
        with torch.no_grad():
            cells = entry.model.traverse(image, TRAVERSAL_VALUES, entry.order)
            recon = entry.model.decode(entry.model.encode(image)[0])
        labels = dim_labels(entry.kl, entry.order)
        grid = tile_images(cells, ncol=len(TRAVERSAL_VALUES), pad=PAD)
        traversal = traversal_figure(grid, labels, TRAVERSAL_VALUES.tolist(), cell=64, pad=PAD,
                                     title=f"{entry.title}: traversals of {described}")
        pair = tile_images(torch.cat([image, recon]), ncol=2, scale=IMAGE_SCALE, pad=PAD)
        kl = bar_chart([f"z{d}" for d in entry.order], [entry.kl[d] for d in entry.order],
                       title=f"{entry.title}: mean KL per latent dim<br>(≈ 0: collapsed, unused)", y_title="nats")
        heat = mutual_info_heatmap(entry.mutual_info[entry.order], labels, FACTOR_LABELS)
        active = [d for d in entry.order if entry.kl[d] > ACTIVE_KL]
        mt = entry.metrics
        status = (f"`{entry.folder}` · {len(active)} of {len(entry.kl)} dims active (KL > {ACTIVE_KL:g} nats) · "
                  f"FactorVAE score {mt['factor_vae']:.3f} · MIG {mt['mig']:.3f} · ELBO {mt['elbo']:.1f} nats")
        response = latent_response_figure(self._response(entry), active, [f"z{d}" for d in active], RESPONSE_FACTORS,
                                          RESPONSE_TICKS, title=f"{entry.title}: mean code of each active dim "
                                                                "per factor value (held-out images)")
        return [traversal, pair, kl, heat, self.sweep.rate_distortion(entry.label), status, response]

    def random_factors(self, seed: Any) -> list[Any]:
        """Factor indices of a random dSprites image (for the sliders)."""
        rng = np.random.default_rng(integer(seed, "Seed", 0, SEED_MAX))
        f = [int(rng.integers(n)) for n in FACTOR_SIZES]
        return [SHAPE_NAMES[f[0]], *f[1:], integer(seed, "Seed", 0, SEED_MAX) + 1]

    # -- live training --------------------------------------------------------------------------------------------
    def train_live(self, beta: Any, steps: Any, lr: Any, seed: Any, objective: Any = "β-VAE",
                   capacity: Any = 25.0, session: dict[str, Any] | None = None) -> Iterator[list[Any]]:
        """Train a fresh beta-VAE, beta-TCVAE or AnnealedVAE (``beta`` is then its gamma, and the capacity rises
        from 0 to ``capacity`` nats over the run) on dSprites, streaming loss curves, a cheap MIG, per-dim KL and
        reconstructions; the first frame hides the previous run's download and the last offers the trained model as a
        Hub-format folder in a zip (:meth:`LiveBetaRun.export`)."""
        run = LiveBetaRun(beta, steps, lr, seed, objective, capacity)
        stop = register_run(session, LIVE_KEY)
        download = RunDownload()

        try:
            data = DSpritesBatches(run.cfg.batch_size, run.cfg.seed, pick_device(run.cfg.device))
            pace = Pace(UPDATE_S)
            t0 = time.perf_counter()

            def status(step: int, head: str) -> str:
                elapsed = time.perf_counter() - t0
                return f"{head} step {step}/{run.cfg.steps} · {run.summary} · {step / max(elapsed, 1e-9):.1f} " \
                       f"steps/s · {elapsed:.0f} s"

            for ev in train(run.model, data, run.cfg, cancel=stop):
                if ev.kind == "step":
                    run.record(ev.step, ev.metrics)
                    if ev.step < run.cfg.steps and pace.due():
                        yield [*pace.timed(lambda: run.frame(ev.step, False, lambda: status(ev.step, "Training…"))),
                               download.frame()]
                elif ev.kind == "diverged":
                    yield [gr.skip()] * (N_LIVE_OUTPUTS - 1) + [ev.message, download.frame()]
                    return
                elif ev.kind in ("done", "cancelled"):
                    head = "**Stopped.**" if stop.is_set() else "**Done.**"
                    frame = run.frame(ev.step, True, lambda: status(ev.step, head))
                    yield [*frame, download.offer(run.export(ev.step, time.perf_counter() - t0))]
        finally:
            stop.set()                 # over: a preview may draw on the panels again

    def preview(self, beta: Any, steps: Any, lr: Any, seed: Any, objective: Any = "β-VAE", capacity: Any = 25.0,
                session: dict[str, Any] | None = None) -> list[Any]:
        """Step 0 of the run these controls would start, in the live outputs' order: the untrained model's loss
        terms on its first training batch, MIG, per-dim KL and reconstructions. Leaves the panels alone
        (``gr.skip``) while this session's live run is going or a value is rejected (Train names what is wrong)."""
        if run_is_going(session, LIVE_KEY):
            return [gr.skip()] * N_LIVE_OUTPUTS
        try:
            run = LiveBetaRun(beta, steps, lr, seed, objective, capacity)
        except gr.Error:
            return [gr.skip()] * N_LIVE_OUTPUTS
        return run.step0()

    def stop(self, session: dict[str, Any] | None) -> None:
        """Stop this session's live run between two steps (it then sends its final state)."""
        stop_run(session, LIVE_KEY)

    def warm_up(self) -> None:
        """Compute the live panels' step-0 preview of the default settings (seed 0: ~1.5 s on one core), so that
        the first visitor's page load finds it cached (see ``gen_core.ui.warm_up_in_background``)."""
        self.preview(*LIVE_DEFAULTS)


class LiveBetaRun:
    """The model, settings and histories of one live run of the β-VAE tab, and its panels at any step."""

    def __init__(self, beta: Any, steps: Any, lr: Any, seed: Any, objective: Any, capacity: Any) -> None:
        kind = LIVE_OBJECTIVES[choice(objective, "Objective", list(LIVE_OBJECTIVES))]
        annealed = kind == "annealed_vae"
        b = number(beta, "γ" if annealed else "β", *(GAMMA_RANGE if annealed else BETA_RANGE))
        c_max = number(capacity, "Capacity C", *CAPACITY_RANGE)
        self.cfg = TrainConfig(steps=integer(steps, "Steps", *LIVE_STEPS), batch_size=64,
                               lr=number(lr, "Learning rate", *LIVE_LR), seed=integer(seed, "Seed", 0, SEED_MAX),
                               log_every=10, device="auto", private_noise=True)
        with seeded(self.cfg.seed):               # the initial weights depend on the seed only
            self.model = VAE(VAEConfig(latent_dim=10, architecture="conv64", beta=b, objective=kind,
                                       capacity_max=c_max, capacity_steps=self.cfg.steps))
        self.annealed = annealed
        self.shown, _ = DSprites().sample(6, 4321)
        self.history: dict[str, tuple[list[float], list[float]]] = {"reconstruction": ([], []), "KL": ([], []),
                                                                    LOSS_NAMES[kind]: ([], [])}
        self.keys = [("recon", "reconstruction"), ("kl", "KL"), ("loss", LOSS_NAMES[kind])]
        if annealed:
            self.history["capacity C"] = ([], [])
            self.keys.append(("capacity", "capacity C"))
        self.label = {"beta_vae": f"β = {b:g}", "beta_tcvae": f"β-TCVAE, β = {b:g}",
                      "annealed_vae": f"AnnealedVAE, γ = {b:g}, C → {c_max:g} nats"}[kind]
        self.migs: dict[str, tuple[list[float], list[float]]] = {MIG_SERIES: ([], [])}
        self.last_mig = -MIG_EVERY_S
        self.active = 0

    def record(self, step: int, metrics: dict[str, Any]) -> None:
        """Add one logged step's loss terms to the curves."""
        for key, name in self.keys:
            self.history[name][0].append(step)
            self.history[name][1].append(float(metrics[key]))

    @property
    def summary(self) -> str:
        """The last MIG estimate and active-dim count, for a status line."""
        return (f"MIG {self.migs[MIG_SERIES][1][-1]:.3f} · {self.active} of 10 dims active "
                f"(Var<sub>x</sub> μ<sub>d</sub> > {ACTIVE_VARIANCE:g})")

    def frame(self, step: int, final: bool, status: Any, measured: LiveMeasures | None = None) -> list[Any]:
        """Curves, MIG, per-dim KL, reconstructions, traversals and ``status()`` at ``step``; the MIG is
        re-estimated at the end and at most every ``MIG_EVERY_S`` seconds. ``measured``: the model's
        :class:`LiveMeasures` when already known."""
        model = self.model
        if final or time.perf_counter() - self.last_mig >= MIG_EVERY_S:
            self.migs[MIG_SERIES][0].append(step)
            self.migs[MIG_SERIES][1].append(mig_estimate(model, LIVE_MIG_N, seed=self.cfg.seed))
            self.last_mig = time.perf_counter()
        m = measured if measured is not None else LiveMeasures.of(model, self.shown)
        kl_dims, self.active = m.kl_per_dim, m.active
        span = self.cfg.steps if step == 0 else None            # a preview's axis spans the run to come
        curves = loss_curves(self.history, title=f"{self.label}: training loss terms", y_title="nats per image",
                             log_y=self.annealed, x_max=span)   # gamma |KL - C| dwarfs the KL and C it compares
        mig_fig = loss_curves(self.migs, title="MIG estimate (higher: one dim per factor)", y_title="MIG", x_max=span)
        kl = bar_chart([f"z{d}" for d in range(10)], kl_dims, y_title="nats",
                       title=f"mean KL per latent dim · {sum(kl_dims):.1f} nats in all<br>{self.active} of 10 dims "
                             f"move with the image (Var<sub>x</sub> μ<sub>d</sub> > {ACTIVE_VARIANCE:g})")
        traversal = traversal_figure(m.traversal, dim_labels(kl_dims, m.order), TRAVERSAL_VALUES.tolist(), cell=64,
                                     pad=PAD, title=f"{self.label}, step {step}: traversals of {LIVE_TRAVERSED[1]}")
        return [curves, mig_fig, kl, m.reconstructions, traversal, status()]

    def export(self, steps: int, wall_time_s: float) -> Path:
        """The run's model as a zip of a Hub-format folder (:func:`gen_core.cards.export_live_run`) whose card states
        the settings, the held-out ELBO terms on ``LIVE_EVAL_N`` fixed dSprites images, the last MIG estimate of the
        curve and the count of active dims."""
        images, _ = held_out_images(LIVE_EVAL_N)
        metrics = evaluate_vae(self.model, images, iwae_k=0)
        metrics.update({"mig_estimate": self.migs[MIG_SERIES][1][-1], "mig_n": float(LIVE_MIG_N),
                        "active_dims": float(self.active)})
        c = self.model.config
        settings = {"objective": c.objective, "beta" if not self.annealed else "gamma": c.beta,
                    **({"capacity C (nats)": c.capacity_max} if self.annealed else {}), "batch": self.cfg.batch_size,
                    "learning rate": self.cfg.lr, "seed": self.cfg.seed, "steps asked": self.cfg.steps}
        note = (f"ELBO, KL and reconstruction NLL (nats per image) on {LIVE_EVAL_N:,} dSprites images drawn with "
                f"the fixed seed of the shipped cards; `mig_estimate` is the curve's last MIG on {LIVE_MIG_N:,} "
                f"points (noisier and biased upwards); `active_dims` counts dims with Var_x mu_d > "
                f"{ACTIVE_VARIANCE:g}. "
                f"`python -m gen_core eval FOLDER --n {LIVE_EVAL_N} --metrics-preset smoke --check` recomputes the "
                "ELBO terms from the weights; `eval FOLDER` alone scores it with the full disentanglement_lib protocol "
                "(FactorVAE score, MIG, DCI, β-VAE score).")
        name = f"{c.objective.replace('_', '-')}-dsprites-{'g' if self.annealed else 'b'}{c.beta:g}-live"
        objective = next(k for k, v in LIVE_OBJECTIVES.items() if v == c.objective)
        params = f"γ = {c.beta:g}, C → {c.capacity_max:g} nats" if self.annealed else f"β = {c.beta:g}"
        return cards.export_live_run(self.model, name, f"gen_core {objective} ({params}) trained live on dSprites, "
                                     f"{steps} steps",
                                     "β-VAE tab", settings, steps, wall_time_s, metrics, note, "dsprites")

    def step0(self) -> list[Any]:
        """The panels before the first step: the loss terms of the untrained model on its first training batch,
        and its MIG, per-dim KL, reconstructions and traversals (the same for every β and objective of a seed:
        cached)."""
        with torch.no_grad():
            batch = DSpritesBatches(self.cfg.batch_size, self.cfg.seed).next_batch()
            self.record(0, {k: float(v) for k, v in self.model(batch, step=0).items()})
        with _STEP0_LOCK:
            if self.cfg.seed not in _STEP0:
                if len(_STEP0) >= STEP0_CACHED:
                    _STEP0.clear()
                _STEP0[self.cfg.seed] = (mig_estimate(self.model, LIVE_MIG_N, seed=self.cfg.seed),
                                         LiveMeasures.of(self.model, self.shown))
            mig, measured = _STEP0[self.cfg.seed]
        self.migs[MIG_SERIES] = ([0], [mig])
        self.last_mig = time.perf_counter()
        return self.frame(0, False, lambda: f"Step 0 of {self.cfg.steps}: the untrained model ({self.label}, "
                                            f"seed {self.cfg.seed}) · {self.summary}. Press **Train**.", measured)


@dataclass(frozen=True)
class LiveMeasures:
    """What a live frame shows of the model as it is: per-dim KL on 2,000 fixed images, how many dims are active
    (Var_x of their mean > ``ACTIVE_VARIANCE``: the count that a KL spent on an image-independent shift does not
    fool), the reconstructions of the shown images (top row: inputs) and the traversals of ``LIVE_TRAVERSED``
    (rows: dims by KL, ``order``)."""

    kl_per_dim: list[float]
    active: int
    reconstructions: np.ndarray
    traversal: np.ndarray
    order: list[int]

    @classmethod
    @torch.no_grad()
    def of(cls, model: VAE, shown: torch.Tensor) -> LiveMeasures:
        """Measure ``model`` (left in the train/eval mode it was in)."""
        was_training = model.training
        model.eval()
        try:
            report = latent_factor_report(model, n=2000, engine="eager")   # a new model each frame: no tracing
            active = sum(v > ACTIVE_VARIANCE for v in report["code_variance"])
            recon = model.decode(model.encode(shown.to(next(model.parameters()).device))[0]).cpu()
            kl = report["kl_per_dim"]
            order = sorted(range(len(kl)), key=lambda d: -kl[d])
            cells = model.traverse(LIVE_TRAVERSED[0], TRAVERSAL_VALUES, order).cpu()
            return cls(kl, active, tile_images(torch.cat([shown, recon]), ncol=len(shown), scale=2, pad=PAD),
                       tile_images(cells, ncol=len(TRAVERSAL_VALUES), pad=PAD), order)
        finally:
            model.train(was_training)


_STEP0: dict[int, tuple[float, LiveMeasures]] = {}   # seed -> the untrained model's MIG and measures
_STEP0_LOCK = threading.Lock()
STEP0_CACHED = 16


def build_tab(sweep: BetaSweep) -> BetaVAETab:
    """Lay out the β-VAE tab inside the current ``gr.Tabs`` and wire its events."""
    tab = BetaVAETab(sweep)
    labels = sweep.labels
    with gr.Tab("β-VAE disentanglement", id="beta-vae"):
        gr.Markdown("## Does β > 1 disentangle? A β-VAE sweep on dSprites\n" + EXPLAINER, latex_delimiters=LATEX)
        with gr.Row():
            with gr.Column(scale=1, min_width=280):
                first = DEFAULT_BETA if DEFAULT_BETA in labels else (labels[-1] if labels else None)
                beta = gr.Radio(labels, value=first, label="β (shipped sweep)", elem_id="bvae-beta")
                shape = gr.Dropdown(list(SHAPE_NAMES), value="heart", label="Shape", elem_id="bvae-shape")
                scale = Slider(0, FACTOR_SIZES[1] - 1, value=5, step=1, label="Scale index (0.5 → 1.0)")
                orientation = Slider(0, FACTOR_SIZES[2] - 1, value=0, step=1,
                                     label=f"Orientation index (0 → {np.degrees(ORIENTATIONS[-1]):.0f}°)")
                pos_x = Slider(0, FACTOR_SIZES[3] - 1, value=16, step=1, label="x position index")
                pos_y = Slider(0, FACTOR_SIZES[4] - 1, value=16, step=1, label="y position index")
                with gr.Row():
                    seed = Number(value=0, precision=0, minimum=0, maximum=SEED_MAX, label="Seed", scale=1)
                    rand = gr.Button("Random image", scale=1)
                pair = gr.Image(label="input | reconstruction", elem_id="bvae-pair", interactive=False,
                                format="png", height=210)
                status = gr.Markdown(elem_id="bvae-status")
            with gr.Column(scale=2):
                traversal = gr.Plot(label="Latent traversals", elem_id="bvae-traversal")
        with gr.Row():
            kl = gr.Plot(label="KL per dim", elem_id="bvae-kl")
            heat = gr.Plot(label="Latent x factor mutual information", elem_id="bvae-mi")
        response = gr.Plot(label="Response curves", elem_id="bvae-response")
        gr.Markdown(RESPONSE_TEXT)
        with gr.Row():
            rd = gr.Plot(label="Rate-distortion", elem_id="bvae-rd")
            gr.Markdown(RD_TEXT, latex_delimiters=LATEX)
        gr.Markdown("### Metrics across the sweep, beside the published numbers\nShipped models: trained here on "
                    "a CPU for the steps in the table (**the papers train 300k**), all with one seed, schedule and "
                    "bfloat16 autocast, at a higher learning rate with a cosine decay (the model cards give the "
                    "exact commands and wall times), then scored with the "
                    "disentanglement_lib protocol on the encoder mean (the cards also list DCI completeness and "
                    "informativeness, KL and reconstruction error). Published: 300k training steps (EVALUATION.md); "
                    "the β-VAE score of Higgins et al. is on their own 2D-shapes set. One seed per row; the last column "
                    "gives FactorVAE score and MIG of other seeds of the same command where they were trained (not "
                    "shipped; each card has their full rows). The seed moves the disentanglement metrics far more "
                    "than the ELBO, so read the differences between rows with that spread in mind: β = 4 beats β = 1 "
                    "on both at seed 0, the shipped pair, and loses to it on both at seeds 2 and 3.\n\n"
                    "**4 (after β = 8)** is a β schedule: the β = 8 model trained on at β = 4 (both parts' steps in "
                    "the table). It keeps β = 8's single x dim where β = 4 from scratch folds x and y over two dims "
                    "each, yet its β = 4 loss on held-out images (recon + 4·KL) is slightly *higher* than the "
                    "from-scratch run's: the objective does not prefer the disentangled code, and where training "
                    "starts decides which one it finds. It inherits its start's luck: from the other two β = 8 seeds the "
                    "same schedule kept their weaker codes (docs/beta_vae.md, *Is it the schedule or the seed?*).")
        gr.Dataframe(value=sweep.table(), headers=TABLE_HEADERS, interactive=False, elem_id="bvae-table", wrap=True,
                     column_widths=TABLE_WIDTHS)
        if sweep.models:
            gr.Markdown("**Every seed, not only the shipped one.** Each dot is one run of a sweep command (the "
                        "shipped seed and the others its card records), the line joins the medians per β. At the "
                        "shipped seed β = 4 scores above β = 1 on both; at seeds 2 and 3 it scores below, and "
                        "the medians of three seeds put β = 1 ahead. Two runs reach the published MIG, each at one "
                        "seed in three: β = 8 (seed 0, 0.234) and β = 16 (seed 2, 0.314, the cleanest code here: x, "
                        "y and scale in one dim each); the same β = 16 command at seed 1 scores 0.019.")
            gr.Plot(sweep.seed_spread(), label="Scores of every seed", elem_id="bvae-seeds")
        gr.Markdown("### Train a β-VAE live\nThe disentanglement_lib network on fresh dSprites batches of 64 "
                    "(7-10 steps/s on one CPU core in float32, benchmarks/bench_beta_vae.py). "
                    "The MIG here uses "
                    "2,000 points instead of 10,000, so it is noisier and biased upwards; it shows the trend. "
                    "Three objectives: **β-VAE**, recon + β·KL; **β-TCVAE** (Chen et al. 2018), recon + KL + "
                    "(β − 1)·TC, where only the total correlation of the aggregate posterior gets the extra weight; "
                    "**AnnealedVAE** (Burgess et al. 2018), recon + γ·|KL − C|, where the capacity C rises linearly "
                    "from 0 to its final value over the run, so the code admits information a little at a time and "
                    "the factor that buys the most reconstruction should enter first (they use γ = 1000 and "
                    "C = 25 nats over 100,000 steps; the loss curves show C beside the KL). Watch the count of "
                    "dims that *move with the image* (Var<sub>x</sub> μ<sub>d</sub> > 0.01, Burda et al. 2016): "
                    "at this panel's learning rate the AnnealedVAE's KL follows C while that count stays at 0 "
                    "(γ = 1000 or 100, C → 25 over 800 steps; likewise three 40,000-50,000-step CLI runs at lr 4e-4 "
                    "and 1e-4, stopped once it was plain), because a KL can be paid "
                    "for with the same shifted, widened posterior for every image, which carries no information: "
                    "KL = I(x; z) + KL(q(z) ‖ p(z)), and only the first term codes anything (docs/beta_vae.md). "
                    "The traversal grid at the bottom decodes a centred heart with one dim moved at a time, rows "
                    "ordered by the dim's KL: a disentangled dim moves one factor (x, y, scale, rotation).")
        with gr.Row():
            objective = gr.Radio(list(LIVE_OBJECTIVES), value=LIVE_DEFAULTS[4], label="Objective",
                                 elem_id="bvae-objective")
            live_beta = Number(value=LIVE_DEFAULTS[0], minimum=BETA_RANGE[0], maximum=GAMMA_RANGE[1],
                               label="β (γ for AnnealedVAE)", elem_id="bvae-live-beta")
            capacity = Number(value=LIVE_DEFAULTS[5], minimum=CAPACITY_RANGE[0], maximum=CAPACITY_RANGE[1],
                              label="AnnealedVAE: final capacity C (nats)", elem_id="bvae-capacity")
        with gr.Row():
            steps = Number(value=LIVE_DEFAULTS[1], precision=0, minimum=LIVE_STEPS[0], maximum=LIVE_STEPS[1],
                           label="Steps", elem_id="bvae-steps")
            lr = Number(value=LIVE_DEFAULTS[2], minimum=LIVE_LR[0], maximum=LIVE_LR[1], label="Learning rate")
            live_seed = Number(value=LIVE_DEFAULTS[3], precision=0, minimum=0, maximum=SEED_MAX, label="Seed")
            train_btn = gr.Button("Train", variant="primary", elem_id="bvae-train")
            stop_btn = gr.Button("Stop", variant="stop", elem_id="bvae-stop")
        live_status = gr.Markdown(elem_id="bvae-live-status")
        live_download = gr.DownloadButton("Download the trained model (Hub-format folder, .zip)", visible=False,
                                          elem_id="bvae-download")
        with gr.Row():
            curves = gr.Plot(label="Loss terms", elem_id="bvae-curves")
            mig_plot = gr.Plot(label="MIG", elem_id="bvae-mig")
        with gr.Row():
            live_kl = gr.Plot(label="KL per dim (live)")
            recons = gr.Image(label="inputs (top) and reconstructions (bottom)", interactive=False,
                              elem_id="bvae-recons", format="png")
        live_traversal = gr.Plot(label="Latent traversals (live): rows are dims by KL, columns -3 ... 3",
                                 elem_id="bvae-live-traversal")

        session = gr.State({})
        inputs = [beta, shape, scale, orientation, pos_x, pos_y]
        outputs = [traversal, pair, kl, heat, rd, status, response]
        beta.change(tab.show, inputs, outputs, api_name="bvae_show")
        shape.change(tab.show, inputs, outputs, api_name=False)
        for component in (scale, orientation, pos_x, pos_y):
            component.release(tab.show, inputs, outputs, api_name=False)
        rand.click(tab.random_factors, seed, [shape, scale, orientation, pos_x, pos_y, seed],
                   api_name="bvae_random").then(tab.show, inputs, outputs, api_name=False)
        live_inputs = [live_beta, steps, lr, live_seed, objective, capacity, session]
        live_outputs = [curves, mig_plot, live_kl, recons, live_traversal, live_status]
        train_btn.click(tab.train_live, live_inputs, [*live_outputs, live_download], api_name="bvae_train")
        for control in (objective, live_beta, capacity, steps, lr, live_seed):
            control.change(tab.preview, live_inputs, live_outputs, api_name=False, show_progress="hidden",
                           trigger_mode="always_last")
        stop_btn.click(tab.stop, session, None, api_name="bvae_stop", queue=False)
        tab.load_inputs, tab.load_outputs = inputs, outputs
        tab.live_inputs, tab.live_outputs = live_inputs, live_outputs
    return tab
