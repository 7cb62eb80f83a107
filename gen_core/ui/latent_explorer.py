"""Latent Explorer tab: VAE sliders, encode a test image, interpolation, 2-D latent map, live VAE training.

All numbers and images come from gen_core (models, metrics, viz); this module only validates inputs, calls
them, and wires Gradio events. Each browser session's live training run is its own generator call: nothing a
run creates is shared, and the Stop button cancels it between steps.
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

from gen_core import cards
from gen_core.data.fashion_mnist import CLASS_NAMES, load_fashion_mnist
from gen_core.metrics.likelihood import evaluate_vae, kl_per_dim
from gen_core.models import VAE, VAEConfig, load_pretrained
from gen_core.threads import seeded
from gen_core.train import TrainConfig, train
from gen_core.train.loop import TensorBatches
from gen_core.ui import conditional
from gen_core.ui.common import (PRETRAINED_DIR, Number, RunDownload, Slider, integer, number, register_run,
                                run_is_going, stop_run)
from gen_core.viz import image_strip, latent_map, loss_curves, tile_images, to_uint8

SLIDER_MODEL = "vae-fmnist-16"
MAP_MODEL = "vae-fmnist-2d"
SLIDER_RANGE = 3.0       # sliders span [-3, 3] prior standard deviations
MAP_RANGE = 4.0
SCALE = 8                # 28 px -> 224 px on screen
N_TEST = 10_000
LIVE_MAX_STEPS = 3000
LIVE_SHOW = 8            # test images reconstructed during live training
LIVE_KEY = "explorer_live"
LIVE_SERIES = (("loss", "-ELBO"), ("kl", "KL"), ("recon", "reconstruction"))   # (metric, curve name)
LIVE_TITLE = "Live training (training batches)"
LIVE_DEFAULTS = (600, 8, 1.0, 1e-3, 0)   # steps, latent dims, beta, lr, seed: the controls' start
LIVE_EVAL_N = 2000       # test images a finished live run is scored on for its download's card

EXPLAINER = r"""
A VAE compresses each image $x$ into a Gaussian $q(z\mid x)=\mathcal N(\mu(x),\operatorname{diag}\sigma^2(x))$
over a few latent numbers $z$, and a decoder turns any $z$ back into an image. Training maximises the evidence
lower bound

$$\mathrm{ELBO}(x)=\mathbb E_{q(z\mid x)}\big[\log p(x\mid z)\big]-\mathrm{KL}\big(q(z\mid x)\,\|\,\mathcal N(0,I)\big)\le\log p(x),$$

a reconstruction term minus a KL term that keeps codes close to the prior, so that every slider position decodes
to a plausible garment. Sliders are ordered by how many nats of information each dim carries (its mean KL on
the test set); dims near 0 nats are unused and barely change the image.
"""


@dataclass
class ExplorerModels:
    """Pretrained VAEs and the test data the tab shows, loaded once at start-up and then only read."""

    vae: VAE
    vae2d: VAE
    test_images: torch.Tensor                        # (N, 1, 28, 28) float in [0, 1]
    test_labels: np.ndarray
    order: list[int]                                 # latent dims of `vae`, most informative first
    dim_kl: list[float]
    _map_codes: np.ndarray | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def load(cls) -> ExplorerModels:
        """Load both pretrained VAEs from ``pretrained/`` and the Fashion-MNIST test split."""
        vae = load_pretrained(PRETRAINED_DIR / SLIDER_MODEL)
        vae2d = load_pretrained(PRETRAINED_DIR / MAP_MODEL)
        test = load_fashion_mnist("test")
        images = test.float_images()
        kl = kl_per_dim(vae, images[:2000])
        order = torch.argsort(kl, descending=True).tolist()
        return cls(vae, vae2d, images, test.labels.numpy(), order, [float(kl[d]) for d in order])

    def map_codes(self) -> np.ndarray:
        """Posterior means of the whole test set under the 2-D VAE (computed on first use, then cached)."""
        with self._lock:
            if self._map_codes is None:
                with torch.no_grad():
                    self._map_codes = torch.cat([self.vae2d.encode(self.test_images[i:i + 2000])[0]
                                                 for i in range(0, N_TEST, 2000)]).numpy()
            return self._map_codes


class LatentExplorer:
    """The tab's endpoints. Every public method validates its inputs and raises ``gr.Error`` on bad ones."""

    def __init__(self, models: ExplorerModels) -> None:
        self.m = models
        self.n_sliders = models.vae.latent_dim

    # -- sliders ---------------------------------------------------------------------------------------------
    def _z_from_sliders(self, values: tuple[Any, ...]) -> torch.Tensor:
        if len(values) != self.n_sliders:
            raise gr.Error(f"Expected {self.n_sliders} slider values, got {len(values)}.")
        z = torch.zeros(1, self.n_sliders)
        for rank, value in enumerate(values):
            z[0, self.m.order[rank]] = number(value, f"Slider {rank + 1}", -SLIDER_RANGE, SLIDER_RANGE)
        return z

    def _sliders_from_z(self, z: torch.Tensor) -> list[float]:
        return [round(float(z[0, d].clamp(-SLIDER_RANGE, SLIDER_RANGE)), 2) for d in self.m.order]

    def decode(self, *values: Any) -> np.ndarray:
        """Decode the slider values (most informative dim first) into a 224 x 224 image."""
        z = self._z_from_sliders(values)
        with torch.no_grad():
            return to_uint8(self.m.vae.decode(z)[0], SCALE)

    def prior_mean(self) -> list[Any]:
        """All sliders to 0 (the prior mean) and its decoded image."""
        z = torch.zeros(1, self.n_sliders)
        return [*self._sliders_from_z(z), self.decode(*self._sliders_from_z(z))]

    def random_sample(self, seed: Any) -> list[Any]:
        """Sliders set to a draw z ~ N(0, I) (clipped to the slider range) and its decoded image."""
        gen = torch.Generator().manual_seed(integer(seed, "Seed", 0, 2**31 - 1))
        z = torch.randn(1, self.n_sliders, generator=gen)
        values = self._sliders_from_z(z)
        return [*values, self.decode(*values)]

    def encode_test_image(self, index: Any) -> list[Any]:
        """Encode test image ``index``: sliders jump to its posterior mean; original and reconstruction side by side."""
        i = integer(index, "Test image index", 0, N_TEST - 1)
        mu, pair = self._encode(i)
        values = self._sliders_from_z(mu)
        return [*values, self.decode(*values), pair, self.pair_caption(i)]

    def _encode(self, i: int) -> tuple[torch.Tensor, np.ndarray]:
        """Posterior mean of test image ``i`` and the image of it beside its reconstruction."""
        x = self.m.test_images[i:i + 1]
        with torch.no_grad():
            mu, _ = self.m.vae.encode(x)
            recon = self.m.vae.decode(mu)
        return mu, image_strip(torch.cat([x, recon]), scale=SCALE // 2)

    def reconstruction_pair(self, index: int) -> np.ndarray:
        """Test image ``index`` beside its reconstruction from the posterior mean (what the page opens with)."""
        return self._encode(integer(index, "Test image index", 0, N_TEST - 1))[1]

    def pair_caption(self, i: int) -> str:
        """The caption under the original | reconstruction pair of test image ``i``."""
        return f"Test image {i}: {CLASS_NAMES[int(self.m.test_labels[i])]}. Left: original; right: reconstruction."

    def gallery_indices(self, per_class: int = 2) -> list[int]:
        """The first ``per_class`` test images of every class, in class order."""
        return [int(i) for c in range(len(CLASS_NAMES))
                for i in np.flatnonzero(self.m.test_labels == c)[:per_class]]

    def gallery(self) -> list[tuple[np.ndarray, str]]:
        """(image, caption) pairs for the test-image gallery."""
        return [(to_uint8(self.m.test_images[i], 3), f"{i}: {CLASS_NAMES[int(self.m.test_labels[i])]}")
                for i in self.gallery_indices()]

    def encode_gallery_pick(self, evt: gr.SelectData) -> list[Any]:
        """Encode the gallery image the user clicked; also shows its index in the index box."""
        index = self.gallery_indices()[integer(evt.index, "Gallery position", 0, len(self.gallery_indices()) - 1)]
        return [index, *self.encode_test_image(index)]

    def interpolate(self, index_a: Any, index_b: Any, steps: Any) -> np.ndarray:
        """Decoded straight line between the posterior means of two test images."""
        a = integer(index_a, "First image index", 0, N_TEST - 1)
        b = integer(index_b, "Second image index", 0, N_TEST - 1)
        n = integer(steps, "Steps", 2, 16)
        strip = self.m.vae.interpolate(self.m.test_images[a:a + 1], self.m.test_images[b:b + 1], n)
        return image_strip(strip, scale=4)

    # -- 2-D latent map --------------------------------------------------------------------------------------
    def latent_map(self, z1: Any, z2: Any) -> Any:
        """Test-set encodings of the 2-D VAE coloured by class, with the chosen point marked."""
        point = (number(z1, "z1", -MAP_RANGE, MAP_RANGE), number(z2, "z2", -MAP_RANGE, MAP_RANGE))
        return latent_map(self.m.map_codes(), self.m.test_labels, CLASS_NAMES, point=point, extent=MAP_RANGE)

    def decode_point(self, z1: Any, z2: Any) -> np.ndarray:
        """Decode one point of the 2-D latent."""
        z = torch.tensor([[number(z1, "z1", -MAP_RANGE, MAP_RANGE), number(z2, "z2", -MAP_RANGE, MAP_RANGE)]])
        with torch.no_grad():
            return to_uint8(self.m.vae2d.decode(z)[0], SCALE)

    def manifold(self) -> np.ndarray:
        """The decoded manifold: a 15 x 15 grid over the same square as the map."""
        return tile_images(self.m.vae2d.decode_grid(n=15, extent=MAP_RANGE), ncol=15, pad=0)

    # -- live training ---------------------------------------------------------------------------------------
    def _live_run(self, steps: Any, latent_dim: Any, beta: Any, lr: Any, seed: Any) -> tuple[VAE, TrainConfig]:
        """The untrained model and settings of the live run these controls describe (values checked)."""
        cfg = TrainConfig(steps=integer(steps, "Steps", 20, LIVE_MAX_STEPS), batch_size=64,
                          lr=number(lr, "Learning rate", 1e-5, 1e-2), seed=integer(seed, "Seed", 0, 2**31 - 1),
                          log_every=20, sample_every=100, device="auto", private_noise=True)
        config = VAEConfig(latent_dim=integer(latent_dim, "Latent dims", 1, 32), channels=16, hidden=128,
                           beta=number(beta, "beta", 0.0, 16.0))
        with seeded(cfg.seed):               # the initial weights depend on the seed only
            return VAE(config), cfg

    def _recon_grid(self, reconstructions: torch.Tensor) -> np.ndarray:
        """Test images (top row) over ``reconstructions`` of them (bottom row)."""
        return tile_images(torch.cat([self.m.test_images[:LIVE_SHOW], reconstructions.cpu()]), ncol=LIVE_SHOW,
                           scale=3)

    def train_live(self, steps: Any, latent_dim: Any, beta: Any, lr: Any, seed: Any,
                   session: dict[str, Any] | None = None) -> Iterator[list[Any]]:
        """Train a small VAE from scratch, streaming curves, reconstructions, a status line and the download button
        (hidden on the first frame; the last frame offers the trained VAE as a Hub-format folder in a zip,
        :func:`export_live`)."""
        model, cfg = self._live_run(steps, latent_dim, beta, lr, seed)
        shown = self.m.test_images[:LIVE_SHOW]
        history: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for _, name in LIVE_SERIES}
        recon_img = self._recon_grid(torch.zeros_like(shown))

        def sample_fn(m: VAE) -> torch.Tensor:
            device = next(m.parameters()).device
            return m.decode(m.encode(shown.to(device))[0])

        download = RunDownload()
        stop = register_run(session, LIVE_KEY)
        t0 = time.perf_counter()
        try:
            for ev in train(model, load_fashion_mnist("train").images, cfg, sample_fn=sample_fn, cancel=stop):
                if ev.kind == "step":
                    for key, name in LIVE_SERIES:
                        history[name][0].append(ev.step)
                        history[name][1].append(ev.metrics[key])
                    status = (f"step {ev.step}/{cfg.steps} · -ELBO {ev.metrics['loss']:.1f} · KL "
                              f"{ev.metrics['kl']:.1f} nats · {ev.metrics['steps_per_s']:.0f} steps/s")
                    yield [loss_curves(history, LIVE_TITLE), recon_img, status, download.frame()]
                elif ev.kind == "samples":
                    recon_img = self._recon_grid(ev.images)
                    yield [loss_curves(history, LIVE_TITLE), recon_img,
                           f"step {ev.step}/{cfg.steps} · reconstructions updated", download.frame()]
                elif ev.kind == "diverged":
                    yield [loss_curves(history), recon_img, ev.message, download.frame()]
                    return
                elif ev.kind in ("done", "cancelled"):
                    with torch.no_grad():
                        recon_img = self._recon_grid(sample_fn(model.eval()))
                    head = "Stopped" if ev.kind == "cancelled" else "Done"
                    wall = time.perf_counter() - t0
                    archive = export_live(model, cfg, ev.step, wall, self.m.test_images)
                    yield [loss_curves(history, LIVE_TITLE), recon_img,
                           f"{head}: {ev.step} steps in {wall:.0f} s. Top row: test images; "
                           f"bottom row: their reconstructions.", download.offer(archive)]
        finally:
            stop.set()                 # over: a preview may draw on the panels again

    def preview(self, steps: Any, latent_dim: Any, beta: Any, lr: Any, seed: Any,
                session: dict[str, Any] | None = None) -> list[Any]:
        """Step 0 of the run these controls would start, in the live outputs' order: the untrained model's loss
        terms on its first training batch, its reconstructions, a status line. Leaves the panels alone
        (``gr.skip``) while this session's run is going or a value is rejected (Start names what is wrong)."""
        if run_is_going(session, LIVE_KEY):
            return [gr.skip()] * 3
        try:
            model, cfg = self._live_run(steps, latent_dim, beta, lr, seed)
        except gr.Error:
            return [gr.skip()] * 3
        model.eval()
        with torch.no_grad():
            batches = TensorBatches(load_fashion_mnist("train").images, cfg.batch_size, cfg.seed,
                                    torch.device("cpu"), transform=model.preprocess)
            terms = model(batches.next_batch(), step=0)
            recon = model.decode(model.encode(self.m.test_images[:LIVE_SHOW])[0])
        history = {name: ([0], [float(terms[key])]) for key, name in LIVE_SERIES}
        return [loss_curves(history, f"Step 0 of {cfg.steps} (untrained, first training batch)", x_max=cfg.steps),
                self._recon_grid(recon),
                f"Step 0 of {cfg.steps}: the untrained VAE ({model.latent_dim} latent dims, "
                f"beta {model.config.beta:g}, "
                f"seed {cfg.seed}) · -ELBO {float(terms['loss']):.1f} · KL {float(terms['kl']):.2f} nats. "
                f"Press **Start training**."]

    def stop(self, session: dict[str, Any] | None) -> None:
        """Stop this session's live run between two steps (it then sends its final state)."""
        stop_run(session, LIVE_KEY)


def export_live(model: VAE, cfg: TrainConfig, steps: int, wall_time_s: float, test_images: torch.Tensor) -> Path:
    """A finished live run's VAE as a zip of a Hub-format folder (:func:`gen_core.cards.export_live_run`) whose card
    states the run's settings and its held-out ELBO, KL and reconstruction terms on the first ``LIVE_EVAL_N`` test
    images (:func:`gen_core.metrics.likelihood.evaluate_vae`, no IWAE bound)."""
    metrics = evaluate_vae(model, test_images[:LIVE_EVAL_N], iwae_k=0)
    c = model.config
    settings = {"latent dims": c.latent_dim, "beta": c.beta, "batch": cfg.batch_size, "learning rate": cfg.lr,
                "seed": cfg.seed, "steps asked": cfg.steps}
    note = (f"Held-out terms on the first {LIVE_EVAL_N:,} Fashion-MNIST test images, nats per image "
            f"(gen_core.metrics.likelihood.evaluate_vae, seeded posterior samples, no IWAE bound): `python -m gen_core "
            f"eval FOLDER --n {LIVE_EVAL_N} --iwae-k 0 --check` recomputes them from the weights; the shipped cards "
            "use all 10,000 and K = 1000 (`eval FOLDER` without the options).")
    title = f"gen_core VAE trained live: {c.latent_dim} latent dims, beta {c.beta:g}, {steps} steps (Fashion-MNIST)"
    return cards.export_live_run(model, f"vae-fmnist-{c.latent_dim}d-live", title, "Latent Explorer tab", settings,
                                 steps, wall_time_s, metrics, note, "vae")


def build_tab(models: ExplorerModels) -> tuple[LatentExplorer, list[gr.components.Component]]:
    """Lay out the Latent Explorer tab inside the current ``gr.Blocks`` and wire its events.

    Returns the endpoints object and the components to fill when the page loads (see :func:`on_load_outputs`).
    """
    ex = LatentExplorer(models)
    with gr.Tab("Latent Explorer", id="latent-explorer"):
        gr.Markdown("## Latent Explorer: move through a VAE's latent space")
        gr.Markdown(EXPLAINER, latex_delimiters=[{"left": "$$", "right": "$$", "display": True},
                                                 {"left": "$", "right": "$", "display": False}])
        half = (models.vae.latent_dim + 1) // 2
        with gr.Row():
            with gr.Column(scale=3):
                gr.Markdown("Most informative dims first (left column, top to bottom).")
                sliders = []
                with gr.Row():
                    for part in (range(half), range(half, models.vae.latent_dim)):
                        with gr.Column(min_width=200):
                            sliders += [Slider(-SLIDER_RANGE, SLIDER_RANGE, value=0.0, step=0.05,
                                               label=f"z{models.order[r]} · {models.dim_kl[r]:.2f} nats",
                                               elem_id=f"slider-{r}") for r in part]
            with gr.Column(scale=2):
                image = gr.Image(value=ex.decode(*([0.0] * ex.n_sliders)), format="png", label="Decoded image",
                                 elem_id="decoded", interactive=False, height=240, width=240)
                with gr.Row():
                    prior_btn = gr.Button("Prior mean", elem_id="prior-mean")
                    sample_btn = gr.Button("Random sample", elem_id="random-sample")
                seed = Number(value=0, precision=0, label="Sample seed", minimum=0)
                index = Number(value=0, precision=0, label="Test image index (0-9999)", minimum=0, maximum=9999)
                encode_btn = gr.Button("Encode test image", variant="primary", elem_id="encode")
                pair = gr.Image(value=ex.reconstruction_pair(0), format="png", label="Original | reconstruction",
                                interactive=False, height=160, elem_id="recon-pair")
                caption = gr.Markdown(ex.pair_caption(0) + " Encode it to move the sliders to its code.")
        gallery = gr.Gallery(value=ex.gallery(), label="Or click a test image to encode it", columns=10,
                             height=200, allow_preview=False, interactive=False, elem_id="test-gallery")
        for s in sliders:
            s.input(ex.decode, sliders, image, api_name="decode" if s is sliders[0] else False,
                    show_progress="hidden", trigger_mode="always_last", queue=False)  # sub-ms work: skip the queue
        prior_btn.click(ex.prior_mean, None, [*sliders, image], api_name="prior_mean")
        sample_btn.click(ex.random_sample, seed, [*sliders, image], api_name="random_sample")
        encode_btn.click(ex.encode_test_image, index, [*sliders, image, pair, caption], api_name="encode_test_image")
        gallery.select(ex.encode_gallery_pick, None, [index, *sliders, image, pair, caption], api_name=False)

        gr.Markdown("### Interpolation between two test images")
        with gr.Row():
            ia = Number(value=0, precision=0, label="From test image")
            ib = Number(value=1, precision=0, label="To test image")
            n_steps = Slider(2, 16, value=10, step=1, label="Steps")
            interp_btn = gr.Button("Interpolate", elem_id="interpolate")
        strip = gr.Image(format="png", label="Decoded path between the posterior means", interactive=False)
        interp_btn.click(ex.interpolate, [ia, ib, n_steps], strip, api_name="interpolate")

        gr.Markdown("### 2-D latent map\nA second VAE with only two latent dims: every test image is a point "
                    "(its posterior mean), coloured by class. Move z1 and z2 to decode any point; the manifold on "
                    "the right decodes a grid over the same square.")
        with gr.Row():
            with gr.Column(scale=3):
                map_plot = gr.Plot(label="Latent map", elem_id="latent-map")
            with gr.Column(scale=2):
                z1 = Slider(-MAP_RANGE, MAP_RANGE, value=0.0, step=0.05, label="z1", elem_id="z1")
                z2 = Slider(-MAP_RANGE, MAP_RANGE, value=0.0, step=0.05, label="z2", elem_id="z2")
                point_img = gr.Image(format="png", label="Decoded point", interactive=False, height=200)
            with gr.Column(scale=3):
                manifold = gr.Image(format="png", label="Decoded manifold",
                                    interactive=False, height=440, width=440)
        for s in (z1, z2):
            s.input(ex.decode_point, [z1, z2], point_img, api_name="decode_point" if s is z1 else False,
                    show_progress="hidden", trigger_mode="always_last", queue=False)
            s.release(ex.latent_map, [z1, z2], map_plot, api_name="latent_map" if s is z1 else False,
                      show_progress="hidden")

        conditional.build_section(models.test_images, models.test_labels)

        gr.Markdown("### Live training\nTrain a small VAE (8 latent dims by default) from scratch on the 60,000 "
                    "training images. Your run is yours alone; Stop cancels it.")
        with gr.Row():
            live_steps = Slider(20, LIVE_MAX_STEPS, value=LIVE_DEFAULTS[0], step=20, label="Steps")
            live_dim = Slider(1, 32, value=LIVE_DEFAULTS[1], step=1, label="Latent dims")
            live_beta = Slider(0.0, 16.0, value=LIVE_DEFAULTS[2], step=0.5, label="beta (KL weight)")
            live_lr = Number(value=LIVE_DEFAULTS[3], label="Learning rate")
            live_seed = Number(value=LIVE_DEFAULTS[4], precision=0, label="Seed", elem_id="train-seed")
        with gr.Row():
            start_btn = gr.Button("Start training", variant="primary", elem_id="train-start")
            stop_btn = gr.Button("Stop", variant="stop", elem_id="train-stop")
        step0 = ex.preview(*LIVE_DEFAULTS)
        status = gr.Markdown(step0[2], elem_id="train-status")
        download = gr.DownloadButton("Download the trained VAE (Hub-format folder, .zip)", visible=False,
                                     elem_id="train-download")
        with gr.Row():
            curves = gr.Plot(step0[0], label="Loss curves", elem_id="train-curves")
            recons = gr.Image(step0[1], format="png", label="Test images (top) and reconstructions (bottom)",
                              interactive=False, elem_id="train-recons", height=260)
        session = gr.State({})
        live_inputs = [live_steps, live_dim, live_beta, live_lr, live_seed, session]
        live_outputs = [curves, recons, status]
        start_btn.click(ex.train_live, live_inputs, [*live_outputs, download], api_name="train_live",
                        concurrency_limit=2,
                        concurrency_id="live-training")
        stop_btn.click(ex.stop, session, None, api_name="stop_live", queue=False)
        for control in (live_steps, live_dim, live_beta, live_lr, live_seed):
            control.change(ex.preview, live_inputs, live_outputs, api_name=False, show_progress="hidden",
                           trigger_mode="always_last")
        ex.live_inputs, ex.live_outputs = live_inputs, live_outputs

    return ex, [map_plot, point_img, manifold, strip]


def on_load_outputs(ex: LatentExplorer) -> list[Any]:
    """Values that fill the map, the decoded point and the manifold when the page opens."""
    return [ex.latent_map(0.0, 0.0), ex.decode_point(0.0, 0.0), ex.manifold(), ex.interpolate(0, 1, 10)]
