"""AVB panel of the "More VAEs" tab: adversarial variational Bayes (lecture notes 002), where a discriminator's logit
stands in for the KL term, shown against the analytic KL of the Gaussian encoder it estimates.

The shipped model (``pretrained/avb-fmnist``) brings its training curve and held-out numbers in its model card
(``gen_core.cli_avb`` wrote them); its reconstructions, samples and per-image KL comparison come from
:func:`gen_core.models.avb.avb_snapshot`; a live run trains a small AVB through the shared loop with
:class:`gen_core.models.avb.AVBTask`. Figures come from :mod:`gen_core.viz.avb`. This module validates inputs
(``gr.Error`` sentences), calls gen_core and wires Gradio events; no math here. Live runs are per browser session
(``gr.State`` + :func:`gen_core.ui.common.register_run`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import torch

from gen_core import cards
from gen_core.data.fashion_mnist import DataFileError, load_fashion_mnist
from gen_core.hub import WeightsError, read_card_metadata
from gen_core.models.avb import CRITICS, AVB, AVBConfig, AVBOptim, avb_metrics, avb_snapshot, avb_task
from gen_core.threads import seeded
from gen_core.train import TrainConfig, train
from gen_core.train.loop import TensorBatches
from gen_core.ui.common import (LATEX, PRETRAINED_DIR, Number, Pace, RunDownload, Slider, choice, integer,
                                register_run, run_is_going, stop_run)
from gen_core.viz import tile_images
from gen_core.viz.avb import kl_per_image_figure, kl_tracking_figure

PRETRAINED_NAME = "avb-fmnist"
SESSION_KEY = "avb_live"
SEED_MAX = 2**31 - 1
N_SHOWN = 8                            # test images reconstructed, and prior draws decoded
LIVE_STEPS = (20, 5000)
CRITIC_STEPS = (1, 5)
LATENT_CHOICES = ["2", "4", "8"]
CRITIC_LABELS = {"quadratic": "quadratic in z (holds T*)", "inner_product": "inner product (paper)",
                 "concat": "MLP on [x, z]"}
UPDATE_S = 1.0                         # seconds between streamed updates of a live run, at least
LIVE_DEFAULTS = ("2", "quadratic", 2, 600, 0)  # latent dim, critic, T updates, steps, seed: the controls' start
LIVE_BATCH = 128                       # Fashion-MNIST images per live training batch
LIVE_EVAL_N = 1000                     # test images of the held-out numbers at the end of a live run
IMAGE_SCALE = 2

EXPLAINER = r"""
### Adversarial Variational Bayes: a discriminator estimates the KL term
The ELBO needs the density of the encoder only in its KL term,
$\mathcal L = \mathbb E_{q(z\mid x)}\big[\log p(x\mid z) - \log \tfrac{q(z\mid x)}{p(z)}\big]$. AVB (lecture notes 002;
Mescheder et al. 2017) replaces the log-ratio by a discriminator $T(x, z)$ trained with the logistic loss to tell
pairs $(x, z \sim q(z\mid x))$ from pairs $(x, z \sim p(z))$:
$$\max_T\ \mathbb E_{\pi(x)}\mathbb E_{q(z\mid x)} \log \sigma(T(x,z)) + \mathbb E_{\pi(x)}\mathbb E_{p(z)} \log\big(1 - \sigma(T(x,z))\big).$$
Its optimum is $T^*(x,z) = \log q(z\mid x) - \log p(z)$, so $\mathrm{KL}(q(z\mid x)\,\|\,p(z)) \approx \mathbb E_{q} T(x,z)$,
the discriminator's logit $\log \tfrac{D}{1-D}$. The encoder and decoder maximise
$\mathbb E_{q}\big[\log p(x\mid z) - T(x,z)\big]$ with $T$ held fixed, alternating with $T$'s updates like a GAN.
AVB is meant for encoders without a density; here the encoder is Gaussian *on purpose*, so that the analytic
$\mathrm{KL} = \tfrac12\sum(\mu^2 + \sigma^2 - \log\sigma^2 - 1)$ can be drawn beside the estimate (training never uses it).
"""

READING = r"""
**Reading the curves.** The estimate is only as good as $T$ is close to $T^*$, and the logistic loss learns $T^*$
well only where the two classes overlap. As the posterior $q(z\mid x)$ becomes much narrower than the prior, few prior
draws land near it, $T$ cannot pin down where (and how sharply) $q(z\mid x)$ sits, and its logit falls short of the
true log-ratio. The encoder is trained *against* $T$, so it drifts to where $T$ underestimates: the analytic KL
climbs above the estimate, and the ELBO that AVB reports is higher than the model's true ELBO. Mescheder et al.
add "adaptive contrast" for this reason (it needs the mean and variance of $q$, which would make the comparison
here trivial).
"""


@dataclass
class PretrainedAVB:
    """The shipped AVB with what its card holds: held-out metrics, the training run and the KL history."""

    model: AVB
    metrics: dict[str, float]
    training: dict[str, Any]
    history: list[list[float]]           # rows [step, kl_estimate, kl_analytic]

    @classmethod
    def load(cls, folder: Path = PRETRAINED_DIR / PRETRAINED_NAME) -> PretrainedAVB | None:
        """The evaluated model in ``folder``, or None when it is missing or still training (no held-out metrics)."""
        if not (folder / "config.json").is_file():
            return None
        meta = read_card_metadata(folder)
        if "gen_core_metrics" not in meta:
            return None
        model = AVB.from_pretrained(folder)
        return cls(model, dict(meta["gen_core_metrics"]), dict(meta.get("gen_core_training", {})),
                   [list(map(float, row)) for row in meta.get("gen_core_kl_history", [])])

    def curve(self) -> Any:
        """The training curve of estimated vs analytic KL from the card."""
        steps, est, ana = (list(col) for col in zip(*self.history)) if self.history else ([], [], [])
        return kl_tracking_figure(steps, est, ana, title=f"{PRETRAINED_NAME}: KL term during training "
                                                         f"(batch means every {int(self.training.get('log_every', 50))} steps)")

    def numbers(self) -> str:
        """The card's held-out numbers as a Markdown table."""
        m, t = self.metrics, self.training
        rows = [
            ("ELBO with the analytic KL (the model's true ELBO)", "elbo"),
            ("ELBO with AVB's estimate (what training maximised)", "elbo_avb"),
            ("analytic KL(q(z\\|x) ‖ N(0, I))", "kl_analytic"),
            ("AVB's estimate E_q T(x, z)", "kl_estimate"),
            ("gap: estimate − analytic", "kl_gap"),
            ("reconstruction −E_q log p(x\\|z)", "recon_nll"),
            (f"IWAE bound on log p(x), K = {int(m.get('iwae_k', 0))}", "iwae_log_likelihood"),
        ]
        lines = ["| held-out (Fashion-MNIST test set) | nats per image |", "|---|---|"]
        lines += [f"| {label} | **{m[key]:.2f}** |" for label, key in rows if key in m]
        lines.append(f"| T's accuracy on held-out posterior vs prior pairs | **{100 * m.get('d_accuracy', 0):.1f}%** |")
        lines.append(f"\n`pretrained/{PRETRAINED_NAME}`: {int(t.get('steps', 0)):,} steps in "
                     f"{float(t.get('wall_time_s', 0)) / 60:.1f} min on one CPU core; latent dim "
                     f"{self.model.config.latent_dim}, `{self.model.config.critic}` discriminator; "
                     f"{int(m.get('n_images', 0)):,} test images. Command: `{t.get('command', '')}`")
        return "\n".join(lines)


def _test_images(seed: int, n: int = N_SHOWN) -> torch.Tensor:
    """``n`` Fashion-MNIST test images chosen by ``seed``, grey levels in [0, 1]."""
    test = load_fashion_mnist("test")
    idx = torch.randperm(len(test), generator=torch.Generator().manual_seed(seed))[:n]
    return test.float_images(idx)


def _snapshot_outputs(model: AVB, images: torch.Tensor, seed: int) -> tuple[Any, Any, str]:
    """Image grid, per-image figure and sentence for the snapshot of ``model`` on ``images``."""
    snap = avb_snapshot(model, images, n_samples=N_SHOWN, seed=seed)
    grid = tile_images(torch.cat([snap.images, snap.binary, snap.recon, snap.samples]), ncol=N_SHOWN,
                       scale=IMAGE_SCALE)
    est, ana = snap.kl_estimate.tolist(), snap.kl_analytic.tolist()
    cells = " | ".join(f"{i + 1}: {e:.1f} / {a:.1f}" for i, (e, a) in enumerate(zip(est, ana)))
    text = ("Rows: test images, their binarisation (what the model sees), reconstructions "
            "$\\mathbb E[x \\mid z = \\mu(x)]$, and decoded prior draws $z \\sim \\mathcal N(0, I)$. "
            f"Per image, estimate / analytic KL (nats, 64 posterior draws): {cells}")
    return grid, kl_per_image_figure(est, ana), text


class AVBPanel:
    """Event handlers of the panel (one instance per app; read-only after construction)."""

    def __init__(self, shipped: PretrainedAVB | None) -> None:
        self.shipped = shipped

    def samples(self, seed: Any) -> list[Any]:
        """Reconstructions of test images chosen by ``seed``, prior samples, and per-image KL estimate vs analytic."""
        seed = integer(seed, "Seed", 0, SEED_MAX)
        if self.shipped is None:
            raise gr.Error(f"No pretrained AVB is installed (pretrained/{PRETRAINED_NAME}). Train one with "
                           "`python -m gen_core train avb --latent-dim 2 --steps 8000 --out "
                           f"pretrained/{PRETRAINED_NAME}`, or use the live training below.")
        return list(_snapshot_outputs(self.shipped.model, _test_images(seed), seed))

    def train_live(self, latent_dim: Any, critic: Any, critic_steps: Any, steps: Any, seed: Any,
                   session: dict[str, Any] | None = None) -> Iterator[list[Any]]:
        """Train a fresh small AVB on Fashion-MNIST, streaming the estimated vs analytic KL curves, the images of a
        snapshot, a status line and the download button; ends with held-out numbers on 1,000 test images and the
        trained model offered as a Hub-format folder in a zip (:meth:`LiveAVB.export`), the first frame hiding the
        previous run's."""
        run = LiveAVB(latent_dim, critic, critic_steps, steps, seed)
        held_out = load_fashion_mnist("test").float_images(slice(0, LIVE_EVAL_N))
        cfg = TrainConfig(steps=run.steps, batch_size=LIVE_BATCH, seed=run.seed, log_every=10, device="cpu",
                          private_noise=True)
        stop = register_run(session, SESSION_KEY)
        t0 = time.perf_counter()
        download = RunDownload()

        def frame(step: int, head: str) -> list[Any]:
            return [*run.frame(step, f"{head} step {step} / {run.steps}", time.perf_counter() - t0), download.frame()]

        try:
            yield frame(0, "Starting…")
            pace = Pace(UPDATE_S)
            for ev in train(run.model, run.train_images, cfg, cancel=stop,
                            task_factory=avb_task(AVBOptim(critic_steps=run.n_critic))):
                if ev.kind == "step":
                    run.record(ev.step, ev.metrics)
                    if ev.step < run.steps and pace.due():
                        yield pace.timed(frame, ev.step, "Training…")
                elif ev.kind == "diverged":
                    yield [gr.skip(), gr.skip(), f"**Stopped:** {ev.message}", gr.skip()]
                    return
                elif ev.kind in ("done", "cancelled"):
                    m = avb_metrics(run.model, held_out)
                    fig, grid, status, _ = frame(ev.step, "**Done.**" if ev.kind == "done" else "**Stopped.**")
                    archive = run.export(ev.step, time.perf_counter() - t0, m)
                    yield [fig, grid, status + (f"\n\nHeld-out ({LIVE_EVAL_N:,} test images): analytic KL "
                                                f"**{m['kl_analytic']:.2f}**, estimate **{m['kl_estimate']:.2f}**, gap "
                                                f"**{m['kl_gap']:+.2f}** nats · ELBO **{m['elbo']:.1f}** "
                                                f"(AVB's own: {m['elbo_avb']:.1f}) · T's accuracy "
                                                f"{100 * m['d_accuracy']:.1f}%"), download.offer(archive)]
        finally:
            stop.set()                 # over: a preview may draw on the panels again

    def preview(self, latent_dim: Any, critic: Any, critic_steps: Any, steps: Any, seed: Any,
                session: dict[str, Any] | None = None) -> list[Any]:
        """Step 0 of the run these controls would start, in the live outputs' order: T's estimate and the analytic
        KL of the untrained model on its first training batch, its snapshot images and a status line. Leaves the
        panels alone (``gr.skip``) while this session's run is going or a value is rejected (Train names it)."""
        if run_is_going(session, SESSION_KEY):
            return [gr.skip()] * 3
        try:
            run = LiveAVB(latent_dim, critic, critic_steps, steps, seed)
        except gr.Error:
            return [gr.skip()] * 3
        with torch.no_grad():
            batch = TensorBatches(run.train_images, LIVE_BATCH, run.seed, torch.device("cpu"),
                                  transform=run.model.preprocess).next_batch()
            run.record(0, {k: float(v.mean()) for k, v in run.model.terms(batch).items()})
        fig, grid, status = run.frame(0, f"Step 0 of {run.steps}: the untrained model (seed {run.seed}) on its "
                                         "first training batch")
        return [fig, grid, status + ". Press **Train AVB**."]

    def stop(self, session: dict[str, Any] | None) -> None:
        """Stop this session's live run between two steps (it then sends its final state)."""
        stop_run(session, SESSION_KEY)


class LiveAVB:
    """The model, settings and KL curves of one live AVB run, and its panels at any step."""

    def __init__(self, latent_dim: Any, critic: Any, critic_steps: Any, steps: Any, seed: Any) -> None:
        self.k = int(choice(str(latent_dim), "Latent dimension", LATENT_CHOICES))
        self.kind = choice(critic, "Discriminator", list(CRITICS))
        self.n_critic = integer(critic_steps, "T updates per encoder/decoder update", *CRITIC_STEPS)
        self.steps = integer(steps, "Steps", *LIVE_STEPS)
        self.seed = integer(seed, "Seed", 0, SEED_MAX)
        try:
            self.train_images = load_fashion_mnist("train").images
            self.shown = _test_images(0)
        except DataFileError as err:
            raise gr.Error(f"Fashion-MNIST is not installed here, so there is nothing to train on ({err}).") from err
        with seeded(self.seed):       # the initial weights depend on the seed only
            self.model = AVB(AVBConfig(latent_dim=self.k, hidden=128, critic=self.kind, critic_hidden=128,
                                       critic_features=32))
        self.history: tuple[list[float], list[float], list[float]] = ([], [], [])

    def record(self, step: int, metrics: dict[str, Any]) -> None:
        """Add one logged step's T estimate and analytic KL (batch means) to the curves."""
        for series, value in zip(self.history, (step, metrics["kl_estimate"], metrics["kl_analytic"])):
            series.append(float(value))

    def export(self, steps: int, wall_time_s: float, metrics: dict[str, float]) -> Path:
        """The run's AVB as a zip of a Hub-format folder (:func:`gen_core.cards.export_live_run`) whose card states
        the settings and ``metrics``, the held-out numbers (:func:`gen_core.models.avb.avb_metrics`) on the first
        ``LIVE_EVAL_N`` test images."""
        settings = {"latent dims": self.k, "discriminator T": CRITIC_LABELS[self.kind],
                    "T updates per step": self.n_critic, "batch": LIVE_BATCH, "seed": self.seed,
                    "steps asked": self.steps}
        note = (f"Held-out numbers on the first {LIVE_EVAL_N:,} Fashion-MNIST test images, nats per image "
                "(gen_core.models.avb.avb_metrics: binarised and sampled with fixed seeds); `elbo` uses the analytic "
                f"KL of the Gaussian encoder, `elbo_avb` T's estimate of it. `python -m gen_core eval FOLDER --n "
                f"{LIVE_EVAL_N} --check` recomputes them from the weights; without `--n` it scores all 10,000 as the "
                "shipped card does.")
        return cards.export_live_run(self.model, f"avb-fmnist-{self.k}d-{self.kind}-live",
                                     f"gen_core AVB trained live: {self.k} latent dims, {CRITIC_LABELS[self.kind]}, "
                                     f"{steps} steps (Fashion-MNIST)", "More VAEs tab, AVB", settings, steps,
                                     wall_time_s, metrics, note, "avb")

    def frame(self, step: int, head: str, elapsed: float | None = None) -> list[Any]:
        """[KL curves, snapshot images, status] at ``step``; the status starts with ``head`` and, after
        ``elapsed`` seconds of training, gives the pace."""
        grid, _, _ = _snapshot_outputs(self.model, self.shown, seed=0)
        fig = kl_tracking_figure(*self.history, title=f"Live AVB (latent {self.k}, {CRITIC_LABELS[self.kind]}): "
                                                      f"step {step}", x_max=self.steps if step == 0 else None)
        h = self.history
        last = f" · estimate **{h[1][-1]:.2f}** vs analytic **{h[2][-1]:.2f}** nats" if h[0] else ""
        pace = f" · {step / max(elapsed, 1e-9):.1f} steps/s" if elapsed is not None else ""
        return [fig, grid, f"{head}{last}{pace}"]


def build_panel() -> None:
    """Lay out the "AVB" sub-tab in the current ``gr.Tabs`` context and wire its events."""
    try:
        shipped = PretrainedAVB.load()
    except WeightsError as err:  # a damaged folder: say so, keep the live run
        shipped, damaged = None, str(err)
    else:
        damaged = ""
    panel = AVBPanel(shipped)
    with gr.Tab("AVB", id="avb"):
        gr.Markdown(EXPLAINER, latex_delimiters=LATEX)
        gr.Markdown("#### The shipped model")
        if shipped is None:
            gr.Markdown(f"**No pretrained AVB is installed** (`pretrained/{PRETRAINED_NAME}` is missing"
                        + (f": {damaged}" if damaged else ", or still training") + "). Train it with "
                        f"`python -m gen_core train avb --latent-dim 2 --steps 8000 --out pretrained/{PRETRAINED_NAME}`; "
                        "the live training below works without it.", elem_id="avb-missing")
        else:
            with gr.Row():
                gr.Plot(shipped.curve(), label="Estimated vs analytic KL during training", elem_id="avb-curve")
                gr.Markdown(shipped.numbers(), elem_id="avb-numbers")
            gr.Markdown(READING, latex_delimiters=LATEX)
            grid, fig, text = panel.samples(0)
            with gr.Row():
                seed = Number(value=0, precision=0, minimum=0, maximum=SEED_MAX, label="Seed (test images, draws)",
                              elem_id="avb-seed", scale=1)
                again = gr.Button("Other images", elem_id="avb-resample", scale=1)
            with gr.Row():
                images = gr.Image(grid, label="inputs · binarised · reconstructions · prior samples", format="png",
                                  interactive=False, elem_id="avb-images")
                per_image = gr.Plot(fig, label="Per image", elem_id="avb-per-image")
            caption = gr.Markdown(text, latex_delimiters=LATEX, elem_id="avb-images-text")
            again.click(panel.samples, seed, [images, per_image, caption], api_name="avb_samples")
            seed.submit(panel.samples, seed, [images, per_image, caption], api_name=False)

        gr.Markdown("#### Train an AVB live\nA small AVB (128-unit MLPs) on Fashion-MNIST batches of 128, one CPU "
                    "thread; the curves are batch means every 10 steps. Try the MLP discriminator, or a single T "
                    "update per step, and watch the gap open.")
        session = gr.State({})
        with gr.Row():
            latent = gr.Radio(LATENT_CHOICES, value=LIVE_DEFAULTS[0], label="Latent dimension", elem_id="avb-latent")
            critic = gr.Dropdown([(label, key) for key, label in CRITIC_LABELS.items()], value=LIVE_DEFAULTS[1],
                                 label="Discriminator T(x, z)", elem_id="avb-critic")
            n_critic = Slider(*CRITIC_STEPS, value=LIVE_DEFAULTS[2], step=1,
                              label="T updates per encoder/decoder update", elem_id="avb-critic-steps")
            steps = Number(value=LIVE_DEFAULTS[3], precision=0, minimum=LIVE_STEPS[0], maximum=LIVE_STEPS[1],
                           label="Steps", elem_id="avb-steps")
            live_seed = Number(value=LIVE_DEFAULTS[4], precision=0, minimum=0, maximum=SEED_MAX, label="Seed",
                               elem_id="avb-live-seed")
        with gr.Row():
            start = gr.Button("Train AVB", variant="primary", elem_id="avb-train")
            stop = gr.Button("Stop", variant="stop", elem_id="avb-stop")
        step0 = panel.preview(*LIVE_DEFAULTS)
        if not isinstance(step0[2], str):            # skipped: no Fashion-MNIST here (Train then says so)
            step0 = [None, None, "Press **Train AVB** to start a live run."]
        status = gr.Markdown(step0[2], elem_id="avb-live-status")
        download = gr.DownloadButton("Download the trained AVB (Hub-format folder, .zip)", visible=False,
                                     elem_id="avb-download")
        with gr.Row():
            live_plot = gr.Plot(step0[0], label="Live: estimated vs analytic KL", elem_id="avb-live-plot")
            live_images = gr.Image(step0[1], label="inputs · binarised · reconstructions · prior samples",
                                   format="png", interactive=False, elem_id="avb-live-images")
        live_inputs = [latent, critic, n_critic, steps, live_seed, session]
        live_outputs = [live_plot, live_images, status]
        start.click(panel.train_live, live_inputs, [*live_outputs, download], api_name="avb_train",
                    concurrency_limit=2)
        for control in (latent, critic, n_critic, steps, live_seed):
            control.change(panel.preview, live_inputs, live_outputs, api_name=False, show_progress="hidden",
                           trigger_mode="always_last")
        stop.click(panel.stop, session, None, api_name="avb_stop", queue=False)
