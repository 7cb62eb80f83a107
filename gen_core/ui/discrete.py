"""The "Discrete latents" panel of the More VAEs tab (lecture notes 002): a VQ-VAE's code grid and codebook usage,
and a Gumbel-softmax dVAE's categorical posterior against its relaxed samples at a chosen temperature.

Every number comes from gen_core (:mod:`gen_core.models.discrete`, :mod:`gen_core.metrics.latent_models`,
:mod:`gen_core.theory.gumbel`) and every figure from :mod:`gen_core.viz.latent_models`; this module validates
inputs (``gr.Error`` sentences naming the field), calls them and wires Gradio events.

Nothing is loaded when the app starts: the weights (``pretrained/vqvae-fmnist``, ``pretrained/dvae-fmnist``) are
read on the first request that needs them and the test-set codebook usage is counted once, on first use, then
cached (:class:`Pretrained`). A folder that is missing, or whose model card has no held-out metrics yet (a
training run still in progress), is reported as a note on the panel; the rest of the panel keeps working.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import gradio as gr
import numpy as np
import torch
import torch.nn.functional as F

from gen_core import losses
from gen_core.data.fashion_mnist import CLASS_NAMES, load_fashion_mnist
from gen_core.hub import WeightsError, read_card_metadata, read_config
from gen_core.metrics.latent_models import vqvae_test_usage
from gen_core.models import load_pretrained
from gen_core.models.discrete import (DVAE, VQVAE, DVAEConfig, codebook_perplexity, codebook_usage,
                                     kl_categorical_uniform)
from gen_core.theory import gumbel as gb
from gen_core.ui.common import LATEX, PRETRAINED_DIR, Number, Slider, integer, number
from gen_core.viz import image_strip, message_figure, tile_images
from gen_core.viz.latent_models import categorical_figure, code_grid_figure, codebook_usage_figure, latent_kl_figure

T = TypeVar("T")

VQ_FOLDER = "vqvae-fmnist"
DVAE_FOLDER = "dvae-fmnist"
TRAIN_COMMANDS = {
    VQ_FOLDER: "python -m gen_core train vqvae --codebook-size 512 --code-dim 16 --steps 6000 --threads 1 "
               "--out pretrained/vqvae-fmnist",
    DVAE_FOLDER: "python -m gen_core train dvae --n-latents 20 --n-categories 10 --steps 8000 --threads 1 "
                 "--out pretrained/dvae-fmnist",
}
N_TEST = 10_000
SEED_MAX = 2**31 - 1
TAU_RANGE = (0.05, 5.0)
N_RELAXED = 600          # relaxed samples of one latent (the bars and the sample rows)
N_DECODED = 8            # decoded samples of all latents at the chosen tau
PAIR_SCALE = 6           # 28 px -> 168 px
SAMPLE_SCALE = 3

INTRO = r"""
## Discrete latent variables: a VQ-VAE and a Gumbel-softmax dVAE
Both models describe an image by discrete codes instead of a Gaussian vector (lecture notes 002). Pick a
Fashion-MNIST test image; every number below is computed on held-out data by gen_core's tested code.
"""

VQ_TEXT = r"""
### VQ-VAE: nearest-codebook posterior, straight-through gradients
The encoder maps $x$ to a $7\times7$ grid of vectors $z_e$; the posterior is deterministic, the nearest of the $K$
codebook vectors at every position, $z_q = e_k,\ k = \arg\min_j \lVert z_e - e_j\rVert$. The argmin has no gradient,
so the decoder's gradient is copied onto $z_e$ (**straight-through**: $z_q = z_e + \mathrm{sg}[e_k - z_e]$). The
training loss (van den Oord et al. 2017; the notes omit the last two terms) is
$$\mathcal L = -\log p(x\mid z_q) + \lVert \mathrm{sg}[z_e] - e\rVert^2 + \beta_c\,\lVert z_e - \mathrm{sg}[e]\rVert^2,
\qquad \beta_c = 0.25 .$$
The codebook term moves the codes towards the encoder outputs, the commitment term keeps the encoder near its codes.
With a uniform prior over the $K$ codes the KL term is the constant $49\log K$. A code that no image selects is
**dead**; the histogram counts, over all $49$ positions of the $10{,}000$ test images, how often each code is chosen,
with the share of codes in use and the perplexity $\exp H(p)$ of the frequencies (the effective number of codes).
"""

DVAE_TEXT = r"""
### dVAE: categorical latents and the Gumbel-softmax relaxation
The dVAE describes an image by $N$ categorical latents of $K$ categories with a uniform prior; the encoder gives
$q(z_i\mid x) = \pi_i = \mathrm{softmax}(\text{logits}_i)$ and
$\mathrm{KL}(q\,\|\,\mathcal U) = \sum_k \pi_k\log\pi_k + \log K$ per latent. A categorical sample has no
reparameterisation gradient, so training uses the **Gumbel-softmax** relaxation (Jang et al. 2016; Maddison et al.
2016):
$$y_k = \frac{\exp\big((\log\pi_k + g_k)/\tau\big)}{\sum_j \exp\big((\log\pi_j + g_j)/\tau\big)},\qquad
g_k = -\log(-\log u_k),\ u_k \sim U(0, 1).$$
Its argmax is an exact sample of $\mathrm{Categorical}(\pi)$ at every $\tau$ (**Gumbel-max**), so the argmax
frequencies match $q$; the relaxed point $y$ itself is near a corner of the simplex for small $\tau$ and near the
centre $(1/K, \dots, 1/K)$ for large $\tau$, so the *mean* of the relaxed samples is pulled towards uniform as $\tau$
grows. The model was trained with $\tau_t = \max(0.5, e^{-rt})$; the images decode relaxed samples at the chosen
$\tau$ (top row) and the one-hot Gumbel-max sample of the same noise (bottom row).
"""


def folder_note(name: str, need_metrics: bool = True, root: Path | None = None,
                command: str | None = None) -> str | None:
    """None when ``pretrained/<name>`` holds finished weights, else a sentence saying why the panel cannot use it.

    With ``need_metrics`` a folder whose model card has no held-out metrics (``gen_core_metrics``) counts as not
    ready: the CLI writes those last, after training and evaluation, so their absence means a run in progress.
    """
    folder = (root if root is not None else PRETRAINED_DIR) / name
    command = command if command is not None else TRAIN_COMMANDS.get(name)
    how = f" Train it with `{command}`." if command else ""
    if not (folder / "config.json").is_file() or not (folder / "model.safetensors").is_file():
        return f"`pretrained/{name}` is not installed yet, so this part of the panel is empty.{how}"
    if need_metrics and "gen_core_metrics" not in read_card_metadata(folder):
        return (f"`pretrained/{name}` is still being trained or evaluated (its model card has no held-out metrics "
                f"yet); this part of the panel fills in once it is done.")
    return None


class Pretrained:
    """Pretrained models and values derived from them, loaded or computed on first use and then only read.

    Each key is computed once, under its own lock, so two sessions asking at the same time wait for one
    computation instead of running two. A folder that is not ready is checked again on the next request, so a
    model that finishes training while the app runs appears without a restart.
    """

    def __init__(self, root: Path | None = None) -> None:
        self.root = root if root is not None else PRETRAINED_DIR
        self._values: dict[Any, Any] = {}
        self._locks: dict[Any, threading.Lock] = {}
        self._guard = threading.Lock()

    def cached(self, key: Any, compute: Callable[[], T]) -> T:
        """``compute()`` the first time ``key`` is asked for, the stored value afterwards."""
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._values:
                self._values[key] = compute()
            return self._values[key]

    def model(self, name: str, need_metrics: bool = True, command: str | None = None) -> tuple[Any | None, str | None]:
        """``(model in eval mode, None)`` when ``pretrained/<name>`` is ready, else ``(None, note)`` (the note names
        ``command`` as the way to train it)."""
        note = folder_note(name, need_metrics, self.root, command)
        if note is not None:
            return None, note
        try:
            return self.cached(("model", name), lambda: load_pretrained(self.root / name).eval()), None
        except (WeightsError, OSError) as err:   # e.g. a new run is rewriting the folder; not cached, retried later
            return None, f"`pretrained/{name}` could not be read right now ({err}); try again in a minute."

    def metrics(self, name: str) -> dict[str, Any]:
        """The held-out metrics of the folder's model card (``{}`` when there are none)."""
        return self.cached(("metrics", name),
                           lambda: dict(read_card_metadata(self.root / name).get("gen_core_metrics", {})))

    def test_images(self) -> tuple[torch.Tensor, np.ndarray]:
        """Fashion-MNIST test images (N, 1, 28, 28) in [0, 1] and their labels (N,)."""
        def load() -> tuple[torch.Tensor, np.ndarray]:
            test = load_fashion_mnist("test")
            return test.float_images(), test.labels.numpy()
        return self.cached("test", load)


class DiscretePanel:
    """The panel's endpoints. Every public method validates its inputs and raises ``gr.Error`` on bad ones."""

    def __init__(self, store: Pretrained | None = None) -> None:
        self.store = store if store is not None else Pretrained()

    # -- shared --------------------------------------------------------------------------------------------------
    def _image(self, index: Any) -> tuple[int, torch.Tensor, str]:
        i = integer(index, "Test image index", 0, N_TEST - 1)
        images, labels = self.store.test_images()
        return i, images[i:i + 1], CLASS_NAMES[int(labels[i])]

    def random_index(self, seed: Any) -> list[int]:
        """A random test image index drawn with ``seed``, and the next seed (so each click gives a new image)."""
        s = integer(seed, "Seed of the random pick", 0, SEED_MAX)
        return [int(np.random.default_rng(s).integers(N_TEST)), (s + 1) % (SEED_MAX + 1)]

    def notes(self) -> str:
        """Which of the panel's pretrained folders are missing or still training ('' when both are ready)."""
        found = [folder_note(VQ_FOLDER, root=self.store.root), folder_note(DVAE_FOLDER, root=self.store.root)]
        return "\n\n".join(f"**Note:** {n}" for n in found if n)

    # -- VQ-VAE --------------------------------------------------------------------------------------------------
    def vq_show(self, index: Any) -> list[Any]:
        """Test image ``index``: original | reconstruction, its 7 x 7 grid of code indices, and a status line."""
        i, x, label = self._image(index)
        model, note = self.store.model(VQ_FOLDER)
        if model is None:
            return [image_strip(x, scale=PAIR_SCALE), message_figure("VQ-VAE not ready yet: see the note above"),
                    f"Test image {i}: {label}. **Note:** {note}"]
        assert isinstance(model, VQVAE)
        with torch.no_grad():
            codes = model.encode(x)                                   # (1, 7, 7)
            recon = model.decode_indices(codes)
            err = float(losses.squared_error(x, recon)[0])
        k = model.config.codebook_size
        distinct = int(model.codebook_usage(codes).gt(0).sum())
        fig = code_grid_figure(codes[0].numpy(), k, title=f"Test image {i}: its 7 × 7 code indices (of {k})")
        status = (f"Test image {i}: {label}. Left: original; right: reconstruction D(z_q(x)) from {model.n_codes} "
                  f"codes, {distinct} of them distinct; squared error ‖x − D(z_q)‖² = {err:.2f} over 784 "
                  "pixels.")
        return [image_strip(torch.cat([x, recon]), scale=PAIR_SCALE), fig, status]

    def vq_usage(self) -> list[Any]:
        """The codebook-usage histogram over the whole test set (counted once, then cached) and its summary."""
        model, note = self.store.model(VQ_FOLDER)
        if model is None:
            return [message_figure("VQ-VAE not ready yet: see the note above"), f"**Note:** {note}"]
        images, _ = self.store.test_images()
        counts = self.store.cached(("usage", VQ_FOLDER), lambda: vqvae_test_usage(model, images))
        share, ppl = codebook_usage(counts), codebook_perplexity(counts)
        k = counts.numel()
        used = int((counts > 0).sum())
        text = (f"**{used} of {k} codes** are selected at least once over the {images.shape[0]:,} × {model.n_codes} "
                f"= {int(counts.sum()):,} code positions of the test set (usage share **{100 * share:.1f}%**, "
                f"{k - used} dead); perplexity **{ppl:.1f}**, i.e. the selections are as spread as a uniform choice "
                f"among {ppl:.0f} codes.")
        card = self.store.metrics(VQ_FOLDER)
        if "codebook_usage" in card:
            text += (f" The model card, from the same count, says usage {100 * float(card['codebook_usage']):.1f}% "
                     f"and perplexity {float(card['codebook_perplexity']):.1f}; reconstruction NLL "
                     f"{float(card['recon_nll']):.1f} nats per binarised test image.")
        return [codebook_usage_figure(counts.numpy(), share, ppl, images.shape[0]), text]

    # -- dVAE ----------------------------------------------------------------------------------------------------
    def n_latents(self) -> int:
        """Categorical latents N of the installed dVAE, from its config.json (the config default while it is
        missing); reads no weights, so the layout can ask for it at start-up."""
        folder = self.store.root / DVAE_FOLDER
        if not (folder / "config.json").is_file():
            return DVAEConfig().n_latents
        return int(read_config(folder).get("n_latents", DVAEConfig().n_latents))

    def top_latent(self, index: Any) -> int:
        """The latent of test image ``index`` whose posterior is farthest from uniform (largest KL), or 0 while no
        dVAE is installed."""
        _, x, _ = self._image(index)
        model, _ = self.store.model(DVAE_FOLDER)
        if model is None:
            return 0
        with torch.no_grad():
            return int(kl_categorical_uniform(model.encode(x)[0]).argmax())

    def dvae_show(self, index: Any, latent: Any, tau: Any, seed: Any) -> list[Any]:
        """For test image ``index`` and latent ``latent``: q(z_i|x) against Gumbel-softmax samples at ``tau``, the KL
        of every latent, original | decoded posterior mode, decoded relaxed and hard samples, and a status line."""
        i, x, label = self._image(index)
        t = number(tau, "Temperature τ", *TAU_RANGE)
        s = integer(seed, "Noise seed", 0, SEED_MAX)
        model, note = self.store.model(DVAE_FOLDER)
        if model is None:
            integer(latent, "Latent index", 0, DVAEConfig().n_latents - 1)
            empty = message_figure("dVAE not ready yet: see the note above")
            return [empty, empty, image_strip(x, scale=PAIR_SCALE), None, f"Test image {i}: {label}. **Note:** {note}"]
        assert isinstance(model, DVAE)
        cfg = model.config
        j = integer(latent, "Latent index", 0, cfg.n_latents - 1)
        with torch.no_grad():
            logits = model.encode(x)                                          # (1, N, K)
            q = torch.softmax(logits[0, j].double(), dim=-1)
            kl = kl_categorical_uniform(logits[0])                            # (N,)
            mode = model.decode(F.one_hot(logits.argmax(-1), cfg.n_categories).float())
            many = logits.expand(N_DECODED, *logits.shape[1:])
            relaxed = model.decode(model.sample_latents(many, t, "relaxed", torch.Generator().manual_seed(s)))
            hard = model.decode(model.sample_latents(many, t, "gumbel_max", torch.Generator().manual_seed(s)))
        try:
            panel = gb.gumbel_panel(q.tolist(), t, n=N_RELAXED, seed=s)
        except ValueError as err:
            raise gr.Error(f"Latent {j} of test image {i} puts (numerically) zero probability on a category, so its "
                           f"Gumbel-softmax panel cannot be drawn; pick another latent. ({err})") from err
        top = int(q.argmax())
        peak = float(gb.mean_max_weight(torch.log(q), [t], seed=s)[0])
        status = (f"Test image {i}: {label}. Latent z{j}: q puts {float(q[top]):.3f} on category {top}; "
                  f"KL(q ‖ uniform) = {float(kl[j]):.3f} nats of at most log {cfg.n_categories} = "
                  f"{math.log(cfg.n_categories):.3f}. At τ = {t:g} a relaxed sample's largest weight is "
                  f"E max_k y_k = {peak:.3f} (1 = one-hot, 1/{cfg.n_categories} = uniform). Images: original | decoded "
                  f"posterior mode; below, {N_DECODED} samples of all {cfg.n_latents} latents, relaxed at τ = {t:g} "
                  f"(top) and the Gumbel-max one-hot of the same noise (bottom).")
        return [categorical_figure(panel, j), latent_kl_figure(kl.numpy(), j),
                image_strip(torch.cat([x, mode]), scale=PAIR_SCALE),
                tile_images(torch.cat([relaxed, hard]), ncol=N_DECODED, scale=SAMPLE_SCALE), status]


def build_panel() -> None:
    """Lay out the "Discrete latents" sub-tab inside the current ``gr.Tabs`` and wire its events.

    Nothing is computed here: the panel fills in when its tab is first shown (the ``select`` event also fires when
    the enclosing More VAEs tab opens on it).
    """
    panel = DiscretePanel()
    with gr.Tab("Discrete latents", id="discrete") as tab:
        gr.Markdown(INTRO, latex_delimiters=LATEX)
        note = gr.Markdown(panel.notes(), elem_id="discrete-note")
        with gr.Row():
            index = Number(value=0, precision=0, minimum=0, maximum=N_TEST - 1, label="Test image index",
                           elem_id="discrete-index", scale=2)
            seed = Number(value=0, precision=0, minimum=0, maximum=SEED_MAX, label="Seed of the random pick",
                          elem_id="discrete-seed", scale=1)
            rand = gr.Button("Random test image", elem_id="discrete-random", scale=1)
        gr.Markdown(VQ_TEXT, latex_delimiters=LATEX)
        with gr.Row():
            with gr.Column(scale=1, min_width=300):
                gr.Markdown("**Original | VQ-VAE reconstruction**")
                vq_pair = gr.Image(label="original | VQ-VAE reconstruction", show_label=False,
                                   elem_id="discrete-vq-pair", interactive=False, format="png")
                vq_status = gr.Markdown(elem_id="discrete-vq-status")
            with gr.Column(scale=1, min_width=300):
                vq_codes = gr.Plot(label="7 × 7 code indices", elem_id="discrete-vq-codes")
        vq_usage = gr.Plot(label="Codebook usage on the test set", elem_id="discrete-vq-usage")
        vq_usage_text = gr.Markdown("The codebook usage is counted over the 10,000 test images the first time this "
                                    "panel opens (a few seconds, once).", elem_id="discrete-vq-usage-text")
        gr.Markdown(DVAE_TEXT, latex_delimiters=LATEX)
        n_latents = panel.n_latents()
        with gr.Row():
            latent = Slider(0, n_latents - 1, value=0, step=1, label="Latent index i", elem_id="discrete-latent")
            tau = Slider(*TAU_RANGE, value=0.5, step=0.05, label="Temperature τ", elem_id="discrete-tau")
            noise = Number(value=0, precision=0, minimum=0, maximum=SEED_MAX, label="Noise seed",
                           elem_id="discrete-noise-seed")
            top = gr.Button("Most informative latent of this image", elem_id="discrete-top-latent")
        categorical = gr.Plot(label="q(z_i | x) and Gumbel-softmax samples", elem_id="discrete-dvae-categorical")
        with gr.Row():
            with gr.Column(scale=1, min_width=260):
                gr.Markdown("**Original | decoded posterior mode**")
                dvae_pair = gr.Image(label="original | decoded posterior mode", show_label=False,
                                     elem_id="discrete-dvae-pair", interactive=False, format="png")
            with gr.Column(scale=3):
                gr.Markdown("**Decoded samples: relaxed at τ (top), the Gumbel-max one-hot of the same noise "
                            "(bottom)**")
                dvae_samples = gr.Image(label="decoded relaxed and Gumbel-max samples", show_label=False,
                                        elem_id="discrete-dvae-samples", interactive=False, format="png")
        dvae_status = gr.Markdown(elem_id="discrete-dvae-status")
        latent_kl = gr.Plot(label="KL per latent", elem_id="discrete-dvae-kl")

        vq_out = [vq_pair, vq_codes, vq_status]
        dvae_in = [index, latent, tau, noise]
        dvae_out = [categorical, latent_kl, dvae_pair, dvae_samples, dvae_status]
        index.change(panel.vq_show, index, vq_out, api_name="discrete_vq_show")
        index.change(panel.dvae_show, dvae_in, dvae_out, api_name=False)
        top.click(panel.top_latent, index, latent, api_name="discrete_top_latent").then(
            panel.dvae_show, dvae_in, dvae_out, api_name=False)
        rand.click(panel.random_index, seed, [index, seed], api_name="discrete_random")
        tau.release(panel.dvae_show, dvae_in, dvae_out, api_name="discrete_dvae_show")
        latent.release(panel.dvae_show, dvae_in, dvae_out, api_name=False)
        noise.change(panel.dvae_show, dvae_in, dvae_out, api_name=False)
        tab.select(panel.notes, None, note, api_name=False)
        tab.select(panel.vq_show, index, vq_out, api_name=False)
        tab.select(panel.dvae_show, dvae_in, dvae_out, api_name=False)
        tab.select(panel.vq_usage, None, [vq_usage, vq_usage_text], api_name="discrete_vq_usage")
