"""The conditional-VAE section of the Latent Explorer: garments of a chosen class, and one style under every class.

A CVAE (lecture notes 000 A.2, 003 Attribute2Image) is told the class y, so its code z keeps only what the label
does not say. This section samples garments of one class, traverses the code within a class, and decodes the style
code of a test image under all ten labels. Images come from :class:`gen_core.models.cvae.CVAE`; the per-dim KL that
orders the traversal rows from :func:`gen_core.metrics.latent_models.cvae_kl_per_dim`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr
import numpy as np
import torch

from gen_core.data.fashion_mnist import CLASS_NAMES
from gen_core.hub import read_card_metadata
from gen_core.metrics.latent_models import cvae_kl_per_dim
from gen_core.models import CVAE, load_pretrained
from gen_core.ui.common import LATEX, PRETRAINED_DIR, Number, choice, integer
from gen_core.viz import image_strip, tile_images

MODEL = "cvae-fmnist"
N_TEST = 10_000
N_SAMPLES = 16                     # samples per click, two rows of eight
TRAVERSE_ROWS = 6                  # the most informative dims, one row each
TRAVERSE_RANGE = 3.0               # columns from -3 to 3 prior standard deviations
SCALE = 3

EXPLAINER = r"""
### Conditional VAE: pick the class, keep the style
A conditional VAE gets the label $y$ as an extra input to both networks: encoder $q(z\mid x,y)$, decoder
$p(x\mid z,y)$, prior $\mathcal N(0,I)$, trained on the conditional bound
$\log p(x\mid y)\ge\mathbb E_{q(z\mid x,y)}\log p(x\mid z,y)-\mathrm{KL}\big(q(z\mid x,y)\,\|\,\mathcal N(0,I)\big)$.
Because the decoder is told the class, the code $z$ is free to hold the *style* (width, brightness, pose): the same
$z$ decoded under every label keeps it while the garment type changes.
"""


@dataclass
class ConditionalModels:
    """The pretrained CVAE with its dims ordered by mean KL on test images, and its card's held-out metrics."""

    cvae: CVAE
    order: list[int]
    dim_kl: list[float]
    metrics: dict[str, float]

    @classmethod
    def load(cls, test_images: torch.Tensor, test_labels: np.ndarray) -> ConditionalModels | None:
        """Load ``pretrained/cvae-fmnist`` (None when the folder is missing) and rank its dims on 2,000 test images."""
        folder = PRETRAINED_DIR / MODEL
        if not (folder / "config.json").is_file():
            return None
        cvae = load_pretrained(folder)
        kl = cvae_kl_per_dim(cvae, test_images[:2000], torch.as_tensor(test_labels[:2000]))
        order = torch.argsort(kl, descending=True).tolist()
        metrics = read_card_metadata(folder).get("gen_core_metrics", {})
        return cls(cvae, order, [float(kl[d]) for d in order], metrics)


class ConditionalExplorer:
    """The section's endpoints; each validates its inputs and raises ``gr.Error`` on bad ones."""

    def __init__(self, models: ConditionalModels, test_images: torch.Tensor, test_labels: np.ndarray) -> None:
        self.m = models
        self.images = test_images
        self.labels = test_labels

    def _class(self, name: Any) -> int:
        return CLASS_NAMES.index(choice(name, "Class", list(CLASS_NAMES)))

    def _style(self, index: Any) -> tuple[torch.Tensor, int]:
        """Posterior mean of test image ``index`` under its true label, and that label."""
        i = integer(index, "Test image index", 0, N_TEST - 1)
        y = int(self.labels[i])
        with torch.no_grad():
            mu, _ = self.m.cvae.encode(self.images[i:i + 1], y)
        return mu[0], y

    def samples(self, class_name: Any, seed: Any) -> np.ndarray:
        """Sixteen garments of the chosen class: z ~ N(0, I) decoded under that label."""
        y = self._class(class_name)
        gen = torch.Generator().manual_seed(integer(seed, "Seed", 0, 2**31 - 1))
        return tile_images(self.m.cvae.sample(N_SAMPLES, y, generator=gen), ncol=8, scale=SCALE)

    def style_transfer(self, index: Any) -> tuple[np.ndarray, str]:
        """The test image beside its style code decoded under all ten classes."""
        z, y = self._style(index)
        with torch.no_grad():
            row = self.m.cvae.decode_all_classes(z)
        strip = image_strip(torch.cat([self.images[int(index):int(index) + 1], row]), scale=SCALE)
        caption = (f"Left: test image {int(index)} ({CLASS_NAMES[y]}). Then its code z = mu(x, y) decoded under "
                   + ", ".join(CLASS_NAMES) + ".")
        return strip, caption

    def traverse(self, class_name: Any, index: Any) -> np.ndarray:
        """Rows: the most informative dims (by mean KL); columns: that dim from -3 to 3, the others at the style
        code of test image ``index``; all decoded under the chosen class."""
        y = self._class(class_name)
        z, _ = self._style(index)
        values = torch.linspace(-TRAVERSE_RANGE, TRAVERSE_RANGE, 7)
        rows = [self.m.cvae.traverse(y, z, d, values) for d in self.m.order[:TRAVERSE_ROWS]]
        return tile_images(torch.cat(rows), ncol=values.numel(), scale=SCALE)

    def metrics_line(self) -> str:
        """The card's held-out numbers in one sentence."""
        m = self.m.metrics
        if not m:
            return ""
        return (f"Held-out (Fashion-MNIST test set, true labels): conditional ELBO {m['elbo']:.2f} nats, IWAE bound "
                f"(K = {int(m.get('iwae_k', 0))}) {m.get('iwae_log_likelihood', float('nan')):.2f} nats on log p(x|y), "
                f"KL {m['kl']:.2f} nats. Traversal rows: z{', z'.join(str(d) for d in self.m.order[:TRAVERSE_ROWS])} "
                f"({', '.join(f'{k:.2f}' for k in self.m.dim_kl[:TRAVERSE_ROWS])} nats).")


def build_section(test_images: torch.Tensor, test_labels: np.ndarray) -> ConditionalExplorer | None:
    """Lay out the section in the current Blocks context (the Latent Explorer tab); None when no CVAE is shipped."""
    gr.Markdown(EXPLAINER, latex_delimiters=LATEX)
    models = ConditionalModels.load(test_images, test_labels)
    if models is None:
        gr.Markdown(f"No conditional VAE is shipped in `pretrained/{MODEL}`; train one with "
                    f"`python -m gen_core train cvae --out pretrained/{MODEL}`.")
        return None
    cx = ConditionalExplorer(models, test_images, test_labels)
    gr.Markdown(cx.metrics_line())
    with gr.Row():
        cls = gr.Dropdown(list(CLASS_NAMES), value="Sneaker", label="Class", elem_id="cvae-class")
        seed = Number(value=0, precision=0, label="Sample seed", minimum=0)
        index = Number(value=0, precision=0, label="Style from test image (0-9999)", minimum=0, maximum=N_TEST - 1)
    with gr.Row():
        sample_btn = gr.Button("Sample this class", elem_id="cvae-sample")
        style_btn = gr.Button("Same style, every class", variant="primary", elem_id="cvae-style")
    with gr.Row():
        samples = gr.Image(value=cx.samples("Sneaker", 0), format="png", label="z ~ N(0, I) decoded under the class",
                           interactive=False, elem_id="cvae-samples")
        grid = gr.Image(value=cx.traverse("Sneaker", 0), format="png", interactive=False, elem_id="cvae-traverse",
                        label="Traversal within the class: rows = dims by KL, columns = -3 ... 3")
    strip = gr.Image(value=cx.style_transfer(0)[0], format="png", interactive=False, elem_id="cvae-strip",
                     label="One style code under every class")
    caption = gr.Markdown(cx.style_transfer(0)[1])
    sample_btn.click(cx.samples, [cls, seed], samples, api_name="cvae_samples")
    cls.change(cx.samples, [cls, seed], samples, api_name=False).then(cx.traverse, [cls, index], grid, api_name=False)
    style_btn.click(cx.style_transfer, index, [strip, caption], api_name="cvae_style_transfer").then(
        cx.traverse, [cls, index], grid, api_name=False)
    gr.Button("Traverse", elem_id="cvae-traverse-btn").click(cx.traverse, [cls, index], grid, api_name="cvae_traverse")
    return cx
