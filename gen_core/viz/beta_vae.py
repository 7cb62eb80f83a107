"""Figures of the beta-VAE tab: the latent traversal grid, the latent x factor mutual-information heatmap, the
rate-distortion plot over beta and the scores of every seed over beta. Arrays in, plotly figures out; no Gradio and no model math here."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from PIL import Image

from gen_core.viz.figures import LAYOUT, PALETTE


def png_data_uri(image: np.ndarray) -> str:
    """A uint8 (H, W) or (H, W, 3) array as a ``data:image/png;base64,...`` URI (a plotly image source)."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def traversal_figure(grid: np.ndarray, row_labels: Sequence[str], col_values: Sequence[float], cell: int,
                     pad: int, title: str) -> go.Figure:
    """A traversal grid image (rows: latent dims, columns: values) with its rows and columns labelled.

    ``grid`` is the uint8 tiling from ``gen_core.viz.images.tile_images`` with ``cell``-pixel images and
    ``pad``-pixel gutters, so row r is centred at ``pad + r * (cell + pad) + cell / 2``.
    """
    height, width = grid.shape[:2]
    centre = [pad + i * (cell + pad) + cell / 2 for i in range(max(len(row_labels), len(col_values)))]
    fig = go.Figure(go.Image(source=png_data_uri(grid), hoverinfo="skip"))
    fig.update_layout(
        title=title, **{**LAYOUT, "height": int(90 + height * 560 / max(width, 1)), "margin": dict(l=150, r=10, t=50, b=40)},
        xaxis=dict(tickvals=centre[:len(col_values)], ticktext=[f"{v:+.1f}" for v in col_values], showgrid=False,
                   title="value of the latent dim (posterior mean of the other dims kept)", zeroline=False),
        yaxis=dict(tickvals=centre[:len(row_labels)], ticktext=list(row_labels), showgrid=False, zeroline=False,
                   autorange="reversed", scaleanchor="x"),
    )
    return fig


def mutual_info_heatmap(mutual_info: np.ndarray, row_labels: Sequence[str], factor_names: Sequence[str],
                        title: str = "Mutual information I(z_d; factor), nats") -> go.Figure:
    """(D, F) mutual information as an annotated heatmap: rows latent dims, columns ground-truth factors."""
    mi = np.asarray(mutual_info, dtype=float)
    fig = go.Figure(go.Heatmap(z=mi, x=list(factor_names), y=list(row_labels), colorscale="Blues", zmin=0,
                               text=np.round(mi, 2), texttemplate="%{text}", colorbar=dict(title="nats"),
                               hovertemplate="%{y} / %{x}: %{z:.3f} nats<extra></extra>"))
    fig.update_layout(title=title, yaxis=dict(autorange="reversed"), **{**LAYOUT, "height": 420})
    return fig


def rate_distortion_figure(betas: Sequence[float], rates: Sequence[float], distortions: Sequence[float],
                           current: float | str | None = None,
                           others: Sequence[tuple[str, float, float]] = (),
                           title: str = "Rate-distortion over beta (held-out dSprites)",
                           steps: Sequence[int] | None = None) -> go.Figure:
    """KL (rate, nats) against reconstruction NLL (distortion, nats) for each beta, joined in beta order.

    ``steps``: training steps of each beta's model; given, each label says them (``β=4 · 50k``), so that a sweep
    whose models trained for different lengths says so on the plot.
    ``others``: (name, rate, distortion) of models off the sweep (a beta-TCVAE, say), drawn as separate points named
    (in full: "β = 6 (β-TCVAE)") in the legend and on hover (they sit close to the sweep's line, where text labels would overlap).
    ``current``: the selected model, a beta of the sweep or the name of one of ``others``; it gets a ring.
    """
    order = np.argsort(betas)
    b, r, d = (np.asarray(v, dtype=float)[order] for v in (betas, rates, distortions))
    labels = [f"β={x:g}" for x in b]
    if steps is not None:
        labels = [f"{label} · {int(steps[i]) / 1000:g}k" for label, i in zip(labels, order)]
    fig = go.Figure(go.Scatter(x=r, y=d, mode="lines+markers+text", text=labels,
                               textposition="top right", marker=dict(size=10, color=PALETTE[0]), name="β-VAE sweep",
                               hovertemplate="KL %{x:.2f} nats, recon %{y:.1f} nats<extra></extra>"))
    for k, (name, rate, distortion) in enumerate(others):
        fig.add_trace(go.Scatter(x=[rate], y=[distortion], mode="markers", name=name,
                                 marker=dict(size=11, color=PALETTE[(1 + k) % len(PALETTE)], symbol="diamond"),
                                 hovertemplate=f"{name}: " + "KL %{x:.2f} nats, recon %{y:.1f} nats<extra></extra>"))
    ring = None
    if isinstance(current, str):
        ring = next(((rate, dist) for name, rate, dist in others if name == current), None)
    elif current is not None and current in b:
        i = int(np.flatnonzero(b == current)[0])
        ring = (r[i], d[i])
    if ring is not None:
        shown = current if isinstance(current, str) else f"β = {current:g}"
        fig.add_trace(go.Scatter(x=[ring[0]], y=[ring[1]], mode="markers", name=f"{shown} (selected)",
                                 marker=dict(size=18, color=PALETTE[3], symbol="circle-open", line=dict(width=3))))
    # room around the points for their labels ("top right" of the last point on each axis would be clipped)
    r = np.concatenate([r, [o[1] for o in others]])
    d = np.concatenate([d, [o[2] for o in others]])
    rx, ry = max(float(np.ptp(r)), 1.0), max(float(np.ptp(d)), 1.0)
    fig.update_layout(title=title, xaxis_title="rate: KL(q(z|x) || p(z)), nats per image",
                      yaxis_title="distortion: -E log p(x|z), nats", **LAYOUT)
    left = float(r.min()) - 0.08 * rx
    fig.update_xaxes(range=[left, float(r.max()) + (0.22 if steps is None else 0.38) * rx])  # longer labels
    fig.update_yaxes(range=[float(d.min()) - 0.1 * ry, float(d.max()) + 0.18 * ry])
    return fig


def latent_response_figure(responses: Sequence[np.ndarray], dims: Sequence[int], dim_names: Sequence[str],
                           factor_names: Sequence[str], factor_ticks: Sequence[Sequence[float]],
                           title: str = "How each active dim responds to each factor (mean code per factor value)"
                           ) -> go.Figure:
    """Small multiples, one panel per factor: the mean code of each dim in ``dims`` against the factor's values.

    ``responses[f]`` is (D, n_values_f) (``gen_core.metrics.beta_vae.factor_response``); ``factor_ticks[f]`` the
    x coordinates of its values; ``dim_names[i]`` names ``dims[i]``. A flat line: the dim ignores that factor.
    """
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=len(factor_names), subplot_titles=list(factor_names), shared_yaxes=True,
                        horizontal_spacing=0.025)
    for i, (d, name) in enumerate(zip(dims, dim_names)):
        colour = PALETTE[i % len(PALETTE)]
        for f, ticks in enumerate(factor_ticks):
            fig.add_trace(go.Scatter(x=list(ticks), y=np.asarray(responses[f][d], dtype=float).tolist(),
                                     mode="lines+markers", marker=dict(size=4), line=dict(color=colour, width=2),
                                     name=name, legendgroup=name, showlegend=f == 0,
                                     hovertemplate=f"{name}<br>{factor_names[f]} %{{x:.3g}}: mean code %{{y:.2f}}"
                                                   "<extra></extra>"),
                          row=1, col=f + 1)
    fig.update_yaxes(title_text="mean of the encoder mean", row=1, col=1)
    fig.update_layout(title=title, **{**LAYOUT, "height": 360, "margin": dict(l=60, r=20, t=70, b=40)},
                      legend=dict(orientation="h", y=-0.15))
    return fig


def seed_spread_figure(runs: Sequence[tuple[float, int, float, float]],
                       published: tuple[float, float] | None = None,
                       title: str = "FactorVAE score and MIG over β, one dot per seed (held-out dSprites)") -> go.Figure:
    """Both scores against β for every seed of each β's command, with a line through the per-β medians.

    ``runs``: (beta, seed, factor_vae, mig), one per trained run. ``published``: (FactorVAE, MIG) of a published
    reference, drawn as dotted horizontal lines. β sits on a log axis, so the sweep's doublings are evenly spaced.
    """
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=["FactorVAE score", "MIG"], horizontal_spacing=0.1)
    betas = sorted({r[0] for r in runs})
    for col, k in ((1, 2), (2, 3)):
        fig.add_trace(go.Scatter(
            x=[r[0] for r in runs], y=[r[k] for r in runs], mode="markers", name="one seed",
            marker=dict(size=9, color=PALETTE[0], opacity=0.7), showlegend=col == 1,
            customdata=[r[1] for r in runs],
            hovertemplate="β %{x:g}, seed %{customdata}: %{y:.3f}<extra></extra>"), row=1, col=col)
        medians = [float(np.median([r[k] for r in runs if r[0] == b])) for b in betas]
        counts = [sum(r[0] == b for r in runs) for b in betas]
        fig.add_trace(go.Scatter(
            x=betas, y=medians, mode="lines+markers", name="median over seeds", showlegend=col == 1,
            line=dict(color=PALETTE[3]), marker=dict(symbol="line-ew-open", size=16, line=dict(width=3)),
            customdata=counts, hovertemplate="β %{x:g}: median %{y:.3f} of %{customdata} seeds<extra></extra>"),
            row=1, col=col)
        if published is not None:
            fig.add_hline(y=published[col - 1], line=dict(dash="dot", color=PALETTE[7]), row=1, col=col,
                          annotation_text="published β-VAE, 300k steps", annotation_position="top left")
        fig.update_xaxes(type="log", tickvals=betas, ticktext=[f"{b:g}" for b in betas], title_text="β",
                         row=1, col=col)
    fig.update_layout(title=title, **LAYOUT)
    return fig
