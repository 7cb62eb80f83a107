"""Figure builders: tensors in, plotly figures or uint8 image arrays out. No Gradio here."""

from gen_core.viz.figures import bar_chart, latent_map, loss_curves, message_figure
from gen_core.viz.images import image_strip, tile_images, to_uint8

__all__ = ["bar_chart", "latent_map", "loss_curves", "message_figure", "image_strip", "tile_images", "to_uint8"]
