"""The Gradio dashboard: one module per tab; :func:`build_app` assembles them. No model math here."""

from __future__ import annotations

import gradio as gr

from gen_core.ui import latent_explorer

TITLE = "gen_core: see deep generative models work"
INTRO = (
    "# gen_core\nClassic deep generative models, trained live in your browser, with every number on screen "
    "computed by tested code. Weights were trained by gen_core's own command line; each model card lists the "
    "command, steps, wall time and held-out metrics."
)
THEME = gr.themes.Soft()
CSS = "#decoded img, #train-recons img { image-rendering: pixelated; }"


def build_app() -> gr.Blocks:
    """Build the whole dashboard (loads the pretrained weights once)."""
    models = latent_explorer.ExplorerModels.load()
    with gr.Blocks(title=TITLE) as demo:
        gr.Markdown(INTRO)
        with gr.Tabs():
            ex, load_outputs = latent_explorer.build_tab(models)
            # Further tabs: each module's build_tab() lays out its tab in this context.
        demo.load(lambda: latent_explorer.on_load_outputs(ex), None, load_outputs, api_name=False)
    return demo
