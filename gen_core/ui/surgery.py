"""The "Flow prior & ELBO surgery" panel of the More VAEs tab (lecture notes 002; Hoffman & Johnson 2016): the same
2-D VAE with the N(0, I) prior (``pretrained/vae-fmnist-2d-4k``) and with a jointly trained spline-flow prior
(``pretrained/vae-fmnist-2d-flowprior``), compared by the three ELBO surgery terms, by the aggregate posterior
against each prior on the latent plane, and by samples from each prior.

Every number comes from :mod:`gen_core.metrics.surgery` (read from the model card's ``surgery_*`` keys when the CLI
stored them, else computed here once on first use with the CLI's settings and cached) and every figure from
:mod:`gen_core.viz.latent_models`; this module validates inputs, calls them and wires Gradio events. Nothing is
loaded when the app starts; a missing folder is a note on the panel and the other prior is still shown.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import gradio as gr
import plotly.graph_objects as go
import torch

from gen_core.hub import read_card_metadata
from gen_core.metrics.latent_models import SURGERY_N
from gen_core.metrics.surgery import EVAL_SEED, density_grid, elbo_surgery, encode_all, log_q_agg, prior_log_prob_of
from gen_core.models.vae import preprocess_images
from gen_core.ui.common import LATEX, Number, Slider, integer
from gen_core.ui.discrete import Pretrained, folder_note
from gen_core.viz import message_figure, tile_images
from gen_core.viz.latent_models import aggregate_posterior_figure, surgery_bars_figure

GAUSS_FOLDER = "vae-fmnist-2d-4k"   # same network, data, seed and 4,000 steps as the flow-prior VAE
FLOW_FOLDER = "vae-fmnist-2d-flowprior"
# label -> (folder, whether a finished run has held-out metrics in its card). The Gaussian-prior VAE was trained
# by the plain `train vae` command, whose card holds no metrics, so its folder counts as ready once it has weights.
PRIORS = {"Gaussian prior N(0, I)": (GAUSS_FOLDER, False), "spline-flow prior": (FLOW_FOLDER, True)}
TRAIN_COMMANDS = {
    GAUSS_FOLDER: "python -m gen_core train vae --latent-dim 2 --steps 4000 --threads 1 "
                  "--out pretrained/vae-fmnist-2d-4k",
    FLOW_FOLDER: "python -m gen_core train flow_prior_vae --latent-dim 2 --steps 4000 --threads 1 "
                 "--out pretrained/vae-fmnist-2d-flowprior",
}
SURGERY_SAMPLES = 4      # posterior draws per image, as the CLI's evaluate_prior_vae
FIELDS = ("recon", "kl", "mutual_info", "marginal_kl", "elbo")
EXTENT_RANGE = (2, 8)    # half-width of the latent square of the heatmaps
GRID_N = 101             # heatmap cells per side
N_CODES_SHOWN = 2000
N_PRIOR_SAMPLES = 32
SAMPLE_COLS = 8
SEED_MAX = 2**31 - 1

INTRO = r"""
## A learned prior: the flow-prior VAE and ELBO surgery
The best prior for a VAE is the **aggregate posterior** $q_{agg}(z) = \frac1N\sum_n q(z\mid x_n)$ (lecture notes
002). Averaging the KL term of the ELBO over the images splits it in two (Hoffman & Johnson 2016):
$$\frac1N\sum_n \mathrm{KL}\big(q(z\mid x_n)\,\|\,p(z)\big) = I_q[x, z] + \mathrm{KL}\big(q_{agg}(z)\,\|\,p(z)\big),$$
$$\text{so}\qquad \frac1N\sum_n \mathrm{ELBO}(x_n) = \underbrace{\mathbb E_q \log p(x\mid z)}_{\text{reconstruction}}
\;-\; \underbrace{I_q[x, z]}_{\text{mutual information}}
\;-\; \underbrace{\mathrm{KL}(q_{agg}\,\|\,p)}_{\text{marginal KL}}$$
(both terms are *subtracted*; the notes' underbrace has the sign wrong). $I_q[x, z] \le \log N$ is what the code
says about which image it came from; $\mathrm{KL}(q_{agg}\|p)$ is what the prior can still win, and it is 0 only for
$p = q_{agg}$. A standard normal prior leaves **holes**: regions it gives high density that no image encodes to,
whose samples decode to blurry in-between images. A **flow prior** can follow $q_{agg}$; its density is the change of
variables $\log p(z) = \log\mathcal N\big(f(z); 0, I\big) + \log\lvert\det J_f(z)\rvert$, trained jointly with the
encoder and decoder on the one-sample ELBO with a Monte Carlo KL. Both models below have the same encoder and decoder
networks, data, seed and number of training steps (4,000; the table reads them from the model cards): only the prior
differs.
"""

ESTIMATOR = r"""
**Estimator** (`gen_core.metrics.surgery`). On the first $N = 2{,}000$ test images, binarised once with a fixed
seed, draw $K = 4$ posterior samples $z_{nk} \sim q(z\mid x_n)$ each. $q_{agg}$ is the mixture of these $N$ encoder
Gaussians, so its log-density is exact: $\log q_{agg}(z) = \operatorname{logsumexp}_n \log\mathcal N(z; \mu_n,
\sigma_n^2) - \log N$. With the *same* draws, per image,
$\mathrm{recon}_n = \frac1K\sum_k \log p(x_n\mid z_{nk})$,
$\mathrm{MI}_n = \frac1K\sum_k [\log q(z_{nk}\mid x_n) - \log q_{agg}(z_{nk})]$ and
$\mathrm{KL}^{agg}_n = \frac1K\sum_k [\log q_{agg}(z_{nk}) - \log p(z_{nk})]$, so
$\mathrm{ELBO}_n = \mathrm{recon}_n - \mathrm{MI}_n - \mathrm{KL}^{agg}_n$ holds exactly for every image. Bars are
means over the $N$ images, error bars $\pm 1$ standard error (standard deviation of the $N$ per-image values over
$\sqrt N$); $I_q \le \log N = 7.60$ nats. Numbers are nats per image.
"""

DENSITY_TEXT = r"""
### The aggregate posterior against each prior
Rows: the Gaussian-prior VAE and the flow-prior VAE (each has its own encoder, hence its own $q_{agg}$, the mixture
of the same $2{,}000$ encoder Gaussians as above). Left: $\log q_{agg}(z)$, with the posterior means $\mu(x_n)$ as
white dots; middle: $\log p(z)$ on the same colour scale (clipped 12 nats below the top); right:
$\log q_{agg} - \log p$, blue where the prior puts mass that no image uses (**holes**), red where images crowd more
than the prior expects. Its average under $q_{agg}$ is $\mathrm{KL}(q_{agg}\|p)$.
"""

SAMPLES_TEXT = r"""
### Samples from each prior, decoded
$z \sim p(z)$ then the decoder's mean image: for the Gaussian prior $z \sim \mathcal N(0, I)$, for the flow prior
$z = f^{-1}(z^*)$ with $z^* \sim \mathcal N(0, I)$. Draws that land in a hole of $q_{agg}$ decode to images no test
image resembles.
"""


def card_terms(metrics: dict[str, Any]) -> dict[str, float] | None:
    """The ELBO surgery terms a model card stores (``surgery_recon``, ``surgery_recon_se``, ...) without the prefix,
    or None when any of the five terms or their standard errors is missing."""
    keys = [f"surgery_{f}{sfx}" for f in FIELDS for sfx in ("", "_se")]
    if not all(k in metrics for k in keys):
        return None
    return {k[len("surgery_"):]: float(v) for k, v in metrics.items() if k.startswith("surgery_")}


def training_steps(folder: Path) -> str:
    """The training steps a model card states: its ``gen_core_training.steps`` metadata, else the "- Steps: N" line
    that :func:`gen_core.cards.training_card` writes into the body (older cards have no metadata); '–' if neither."""
    steps = read_card_metadata(folder).get("gen_core_training", {}).get("steps")
    if isinstance(steps, (int, float)):
        return f"{int(steps):,}"
    card = folder / "README.md"
    found = re.search(r"^- Steps: (\d+)", card.read_text(encoding="utf-8"), re.M) if card.is_file() else None
    return f"{int(found.group(1)):,}" if found else "–"


class SurgeryPanel:
    """The panel's endpoints. Every public method validates its inputs and raises ``gr.Error`` on bad ones."""

    def __init__(self, store: Pretrained | None = None) -> None:
        self.store = store if store is not None else Pretrained()

    def _models(self) -> tuple[dict[str, Any], list[str]]:
        """The ready models by prior label, and a note for each missing one."""
        models, notes = {}, []
        for label, (folder, need_metrics) in PRIORS.items():
            model, note = self.store.model(folder, need_metrics, TRAIN_COMMANDS[folder])
            if model is None:
                notes.append(f"**Note ({label}):** {note}")
            else:
                models[label] = model
        return models, notes

    def notes(self) -> str:
        """Which of the two pretrained folders are missing or still training ('' when both are ready); reads no
        weights, so the layout can ask for it at start-up."""
        found = [(label, folder_note(folder, need, self.store.root, TRAIN_COMMANDS[folder]))
                 for label, (folder, need) in PRIORS.items()]
        return "\n\n".join(f"**Note ({label}):** {note}" for label, note in found if note)

    def _surgery_images(self) -> torch.Tensor:
        return self.store.test_images()[0][:SURGERY_N]

    def _terms(self, label: str, model: Any) -> tuple[dict[str, float], str]:
        folder = PRIORS[label][0]
        stored = card_terms(self.store.metrics(folder))
        if stored is not None:
            return stored, "model card"
        terms = self.store.cached(("surgery", folder), lambda: elbo_surgery(
            model, self._surgery_images(), n_samples=SURGERY_SAMPLES).as_dict())
        return terms, "computed here (once, then cached)"

    def terms(self) -> list[Any]:
        """Grouped bars of the three surgery terms (and the ELBO) per prior, a table of the numbers, the notes."""
        models, notes = self._models()
        if not models:
            return [message_figure("No 2-D VAE ready yet: see the note above"), "", "\n\n".join(notes)]
        terms, rows = {}, []
        for label, model in models.items():
            t, source = self._terms(label, model)
            terms[label] = t
            exact = f"{t['kl_closed_form']:.3f}" if "kl_closed_form" in t else "–"
            steps = self.store.cached(("steps", PRIORS[label][0]), lambda f=PRIORS[label][0]: training_steps(
                self.store.root / f))
            rows.append(f"| {label} | {steps} | {t['recon']:.2f} ± {t['recon_se']:.2f} | {t['mutual_info']:.3f} ± "
                        f"{t['mutual_info_se']:.3f} | {t['marginal_kl']:.3f} ± {t['marginal_kl_se']:.3f} | "
                        f"**{t['elbo']:.2f}** ± {t['elbo_se']:.2f} | {t['kl']:.3f} ({exact}) | "
                        f"{int(t['n_images']):,} × {int(t['n_samples'])} | {source} |")
        table = ("| prior | training steps | reconstruction E log p(x\\|z) | I_q[x, z] | KL(q_agg ‖ p) | "
                 "ELBO = recon − I_q − KL | "
                 "mean KL(q(z\\|x) ‖ p), Monte Carlo (closed form) | images × draws | source |\n"
                 "|---|---|---|---|---|---|---|---|---|\n" + "\n".join(rows))
        if len(terms) == 2:
            g, f = terms.values()
            table += (f"\n\nGaussian → flow prior: ELBO **{g['elbo']:.2f} → {f['elbo']:.2f}**, "
                      f"KL(q_agg ‖ p) {g['marginal_kl']:.3f} → {f['marginal_kl']:.3f}, "
                      f"I_q {g['mutual_info']:.3f} → {f['mutual_info']:.3f}, "
                      f"reconstruction {g['recon']:.2f} → {f['recon']:.2f} (nats per image).")
        return [surgery_bars_figure(terms), table, "\n\n".join(notes)]

    def _encodings(self, folder: str, model: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """Encoder Gaussians of the surgery images, binarised with the surgery's seed (so q_agg is the same)."""
        def compute() -> tuple[torch.Tensor, torch.Tensor]:
            data = preprocess_images(self._surgery_images(), model.config.likelihood,
                                     torch.Generator().manual_seed(EVAL_SEED))
            return encode_all(model, data)
        return self.store.cached(("encodings", folder), compute)

    def density(self, extent: Any, show_codes: Any) -> go.Figure:
        """Heatmaps of log q_agg, log p(z) and their difference on [-extent, extent]^2 for each installed prior."""
        e = integer(extent, "Half-width of the latent square", *EXTENT_RANGE)
        if not isinstance(show_codes, bool):
            raise gr.Error(f"Show the encodings must be true or false, not {show_codes!r}.")
        models, _ = self._models()
        if not models:
            return message_figure("No 2-D VAE ready yet: see the note above")
        grids, codes = {}, {}
        for label, model in models.items():
            folder = PRIORS[label][0]
            mu, logvar = self._encodings(folder, model)

            def compute(model: Any = model, mu: torch.Tensor = mu, logvar: torch.Tensor = logvar) -> tuple:
                xs, ys, lq = density_grid(lambda z: log_q_agg(z, mu, logvar), extent=float(e), n=GRID_N)
                _, _, lp = density_grid(prior_log_prob_of(model), extent=float(e), n=GRID_N)
                return xs.numpy(), ys.numpy(), lq.numpy(), lp.numpy()
            grids[label] = self.store.cached(("grid", folder, e), compute)
            codes[label] = mu[:N_CODES_SHOWN].numpy()
        return aggregate_posterior_figure(grids, codes if show_codes else None)

    def samples(self, seed: Any) -> list[Any]:
        """``N_PRIOR_SAMPLES`` decoded draws from each prior (seeded), as two image grids, and a status line."""
        s = integer(seed, "Seed", 0, SEED_MAX)
        models, notes = self._models()
        out: list[Any] = []
        for label in PRIORS:
            model = models.get(label)
            if model is None:
                out.append(None)
                continue
            with torch.no_grad():
                images = model.sample(N_PRIOR_SAMPLES, generator=torch.Generator().manual_seed(s))
            out.append(tile_images(images, ncol=SAMPLE_COLS, scale=2))
        status = f"{N_PRIOR_SAMPLES} samples per prior, seed {s}." + ("\n\n" + "\n\n".join(notes) if notes else "")
        return [*out, status]


def build_panel() -> None:
    """Lay out the "Flow prior & ELBO surgery" sub-tab inside the current ``gr.Tabs`` and wire its events.

    Nothing is computed here: the panel fills in when its tab is selected.
    """
    panel = SurgeryPanel()
    with gr.Tab("Flow prior & ELBO surgery", id="surgery") as tab:
        gr.Markdown(INTRO, latex_delimiters=LATEX)
        note = gr.Markdown(panel.notes(), elem_id="surgery-note")
        terms_plot = gr.Plot(label="ELBO surgery terms", elem_id="surgery-terms")
        terms_table = gr.Markdown(elem_id="surgery-table")
        gr.Markdown(ESTIMATOR, latex_delimiters=LATEX)
        gr.Markdown(DENSITY_TEXT, latex_delimiters=LATEX)
        with gr.Row():
            extent = Slider(*EXTENT_RANGE, value=4, step=1, label="Half-width of the latent square",
                            elem_id="surgery-extent")
            show_codes = gr.Checkbox(value=True, label="Show the encodings μ(x) on log q_agg",
                                     elem_id="surgery-codes")
        density_plot = gr.Plot(label="log q_agg against log p(z)", elem_id="surgery-density")
        gr.Markdown(SAMPLES_TEXT, latex_delimiters=LATEX)
        with gr.Row():
            seed = Number(value=0, precision=0, minimum=0, maximum=SEED_MAX, label="Seed", elem_id="surgery-seed")
            draw = gr.Button("Draw samples", elem_id="surgery-draw")
        with gr.Row():
            labels = list(PRIORS)
            with gr.Column():
                gr.Markdown(f"**Samples, {labels[0]}**")
                gauss = gr.Image(label=f"samples, {labels[0]}", show_label=False, elem_id="surgery-samples-gaussian",
                                 interactive=False, format="png")
            with gr.Column():
                gr.Markdown(f"**Samples, {labels[1]}**")
                flow = gr.Image(label=f"samples, {labels[1]}", show_label=False, elem_id="surgery-samples-flow",
                                interactive=False, format="png")
        samples_status = gr.Markdown(elem_id="surgery-samples-status")

        samples_out = [gauss, flow, samples_status]
        tab.select(panel.terms, None, [terms_plot, terms_table, note], api_name="surgery_terms")
        tab.select(panel.density, [extent, show_codes], density_plot, api_name=False)
        tab.select(panel.samples, seed, samples_out, api_name=False)
        extent.release(panel.density, [extent, show_codes], density_plot, api_name="surgery_density")
        show_codes.change(panel.density, [extent, show_codes], density_plot, api_name=False)
        draw.click(panel.samples, seed, samples_out, api_name="surgery_samples")
        seed.submit(panel.samples, seed, samples_out, api_name=False)
