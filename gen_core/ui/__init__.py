"""The Gradio dashboard: one module per tab; :func:`build_app` assembles them. No model math here."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

import gradio as gr
import torch

from gen_core.train.loop import warm_up_optimizer
from gen_core.ui import beta_vae, cyclegan, flows, gan, latent_explorer, more_vaes, theory

TITLE = "gen_core: see deep generative models work"
INTRO = (
    "# gen_core\nClassic deep generative models, trained live in your browser, with every number on screen "
    "computed by tested code. Weights were trained by gen_core's own command line; each model card lists the "
    "command, steps, wall time and held-out metrics."
)
THEME = gr.themes.Soft()
CSS = ("#decoded img, #train-recons img { image-rendering: pixelated; }\n"
       # the CycleGAN gallery's tiles are three 28 x 28 images side by side: cells of that shape, not squares
       # (room under the images for the caption)
       "#cg-gallery .thumbnail-item { aspect-ratio: 2.2 / 1; }\n"
       "#cg-gallery .thumbnail-item img { object-position: top; }\n"
       # room above every output image for its floating label, which would otherwise hide the top left of the
       # picture: the inputs' row of a grid, the first frames of a strip
       ".block:has(label[data-testid=block-label].float:not(.hide)) .image-frame img "
       "{ padding-top: 2.4em; box-sizing: border-box; }")


def configure_torch() -> None:
    """One intra-op thread per request by default (``GEN_CORE_TORCH_THREADS`` overrides).

    The dashboard serves many small requests at once (slider decodes, live runs of several users); Gradio's
    worker threads already run them in parallel, and letting each tiny op fan out over the cores as well makes
    them fight: measured here, a slider decode took 0.4 ms on one thread and 27 ms p50 on two under load.
    """
    torch.set_num_threads(int(os.environ.get("GEN_CORE_TORCH_THREADS", "1")))


# more work for warm_up_in_background, registered by build_app (the CycleGAN gallery, the β-VAE live step 0)
_WARM_UPS: list[Callable[[], None]] = []


def warm_up_in_background() -> None:
    """torch's first optimizer step imports torch._dynamo (~3 s of CPU), and the CycleGAN tab's opening gallery
    takes ~5 s: do both in a thread once the server is up, not on a user's first click or page load, and not during
    the start-up, whose UI building they would slow (all hold the GIL)."""
    def work() -> None:
        warm_up_optimizer()
        for fn in _WARM_UPS:
            fn()

    threading.Thread(target=work, name="warm-up", daemon=True).start()


def build_app() -> gr.Blocks:
    """Build the whole dashboard (loads the pretrained weights once)."""
    configure_torch()
    _WARM_UPS.clear()      # a rebuilt app warms its own tabs
    models = latent_explorer.ExplorerModels.load()
    with gr.Blocks(title=TITLE) as demo:
        gr.Markdown(INTRO)
        with gr.Tabs():
            ex, load_outputs = latent_explorer.build_tab(models)
            bvae = beta_vae.build_tab(beta_vae.BetaSweep.load())
            flw = flows.build_tab(flows.FlowModels.load())
            gan.build_tab()
            theory.build_tab()
            cg = cyclegan.build_tab()
            more_vaes.build_tab()
            # Further tabs: each module's build_tab() lays out its tab in this context.
        demo.load(lambda: latent_explorer.on_load_outputs(ex), None, load_outputs, api_name=False)
        if flw.page_load is not None:
            demo.load(flw.page_load[0], None, flw.page_load[1], api_name=False)
        if bvae.sweep.models:
            demo.load(bvae.show, bvae.load_inputs, bvae.load_outputs, api_name=False)
        demo.load(bvae.preview, bvae.live_inputs, bvae.live_outputs, api_name=False)
        _WARM_UPS.append(bvae.warm_up)
        if cg.page_load is not None:
            demo.load(*cg.page_load, api_name=False)
            _WARM_UPS.append(cg.warm_up)
    return demo
