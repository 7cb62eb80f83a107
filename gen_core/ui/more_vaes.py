"""The "More VAEs" tab: the latent-variable models of the lecture notes beyond the plain VAE, one sub-tab each.

Each panel module exposes ``build_panel() -> None``, which lays out one ``gr.Tab`` inside this tab's ``gr.Tabs``:
discrete latents (VQ-VAE and the Gumbel-softmax dVAE, lecture notes 002), the flow prior with ELBO surgery (002),
and adversarial variational Bayes (002).
"""

from __future__ import annotations

import importlib

import gradio as gr

PANELS = ("gen_core.ui.discrete", "gen_core.ui.surgery", "gen_core.ui.avb")
INTRO = ("Latent-variable models from the lecture notes beyond the Gaussian VAE: discrete codes, a learned prior "
         "and a KL estimated by a discriminator. Every number comes from gen_core's tested code on held-out data.")


def build_tab() -> None:
    """Lay out the tab with every panel module that is installed."""
    with gr.Tab("More VAEs"):
        gr.Markdown(INTRO)
        with gr.Tabs():
            for name in PANELS:
                try:
                    module = importlib.import_module(name)
                except ModuleNotFoundError as err:
                    if err.name != name:
                        raise
                    continue
                module.build_panel()
