"""Figures of the AVB panel: AVB's KL estimate against the analytic KL over training, and per image. Numbers in,
plotly figures out; no Gradio and no model math here."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from gen_core.viz.figures import LAYOUT, PALETTE, series_mode, step_axis_range

ESTIMATE_NAME = "AVB estimate E_q T(x, z)"
ANALYTIC_NAME = "analytic KL(q(z|x) || N(0, I))"


def kl_tracking_figure(steps: Sequence[float], kl_estimate: Sequence[float], kl_analytic: Sequence[float],
                       title: str = "KL term during training: discriminator estimate vs closed form",
                       x_max: float | None = None) -> go.Figure:
    """Two curves over training steps, the gap between them shaded: T's logit on posterior draws (what AVB
    trains on) and the Gaussian encoder's closed-form KL (what it should be). Batch means, nats per image.
    A single step (step 0, before training) is drawn as markers; ``x_max`` fixes the step axis to [0, x_max]."""
    x = list(steps)
    mode = series_mode(len(x))
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=x, y=list(kl_analytic), mode=mode, name=ANALYTIC_NAME,
                             line=dict(color=PALETTE[0], width=2), marker=dict(color=PALETTE[0], size=9)))
    fig.add_trace(go.Scatter(x=x, y=list(kl_estimate), mode=mode, name=ESTIMATE_NAME, fill="tonexty",
                             fillcolor="rgba(255, 127, 14, 0.15)", line=dict(color=PALETTE[1], width=2),
                             marker=dict(color=PALETTE[1], size=9)))
    fig.update_layout(title=title, xaxis_title="training step", yaxis_title="nats per image",
                      legend=dict(orientation="h", y=-0.25), **{**LAYOUT, "height": 380})
    if x_max is not None:
        fig.update_xaxes(range=step_axis_range(x_max))
    return fig


def kl_per_image_figure(kl_estimate: Sequence[float], kl_analytic: Sequence[float],
                        title: str = "Per image: estimate vs analytic KL") -> go.Figure:
    """One point per image (analytic KL on x, T's estimate on y) with the diagonal y = x where the optimal
    discriminator would put every point."""
    est, ana = np.asarray(kl_estimate, dtype=float), np.asarray(kl_analytic, dtype=float)
    finite = np.concatenate([est[np.isfinite(est)], ana[np.isfinite(ana)], [0.0]])
    lo, hi = float(finite.min()), float(finite.max())
    pad = 0.05 * max(hi - lo, 1.0)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[lo - pad, hi + pad], y=[lo - pad, hi + pad], mode="lines", name="estimate = analytic",
                             line=dict(color="#999999", dash="dash")))
    fig.add_trace(go.Scatter(x=ana, y=est, mode="markers+text", name="images", text=[str(i + 1) for i in range(len(est))],
                             textposition="top center", marker=dict(size=10, color=PALETTE[1]),
                             hovertemplate="analytic %{x:.2f} nats, estimate %{y:.2f} nats<extra></extra>"))
    fig.update_layout(title=title, xaxis_title="analytic KL, nats", yaxis_title="E_q T(x, z), nats",
                      showlegend=False, **{**LAYOUT, "height": 380})
    return fig
