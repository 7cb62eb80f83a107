"""Plotly figures of the "More VAEs" tab's discrete-latent and flow-prior panels (lecture notes 002).

Arrays and gen_core results in, ``go.Figure`` out; no Gradio and no math beyond choosing what to draw (sorting the
code counts, the mean of the drawn relaxed samples, the difference of two log-densities on the same grid). Panels
are placed on manual axis domains, as in :mod:`gen_core.viz.theory` (``make_subplots`` is much slower to build),
and large arrays are sent as float32.

- VQ-VAE: :func:`code_grid_figure` (the 7 x 7 code indices of one image), :func:`codebook_usage_figure` (how often
  each of the K codes is selected on the test set, sorted, dead codes marked).
- dVAE: :func:`categorical_figure` (one categorical posterior q(z_i|x) against Gumbel-softmax samples at one
  temperature), :func:`latent_kl_figure` (KL of every latent's posterior to the uniform prior).
- Flow prior / ELBO surgery: :func:`surgery_bars_figure` (the three terms per prior, with standard errors),
  :func:`aggregate_posterior_figure` (log q_agg against log p(z) on the 2-D latent, per prior).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import plotly.graph_objects as go

from gen_core.theory.gumbel import GumbelPanel
from gen_core.viz.figures import LAYOUT, PALETTE

__all__ = ["code_grid_figure", "codebook_usage_figure", "categorical_figure", "latent_kl_figure",
           "surgery_bars_figure", "aggregate_posterior_figure", "SURGERY_TERMS", "PRIOR_COLOURS"]

PANEL_FONT = dict(size=13)
DEAD = "#d62728"
PRIOR_COLOURS = [PALETTE[7], PALETTE[0], PALETTE[2], PALETTE[1]]   # Gaussian prior grey, flow prior blue, ...
# (key of SurgeryTerms.as_dict(), panel title): the three surgery terms, then their sum, in the order of the identity
SURGERY_TERMS = (("recon", "reconstruction E<sub>q</sub> log p(x|z)<br>(higher is better)"),
                 ("mutual_info", "I<sub>q</sub>[x, z]<br>(what the code keeps)"),
                 ("marginal_kl", "KL(q<sub>agg</sub> ‖ p)<br>(what the prior misses)"),
                 ("elbo", "ELBO = recon − I<sub>q</sub> − KL(q<sub>agg</sub> ‖ p)"))


def _title(text: str, x: float, y: float) -> dict[str, Any]:
    return dict(text=text, x=x, y=y, xref="paper", yref="paper", xanchor="center", yanchor="bottom",
                showarrow=False, font=PANEL_FONT)


# ----------------------------------------------------------------------------------------------------------------
# VQ-VAE


def code_grid_figure(indices: np.ndarray, codebook_size: int, title: str = "Code indices") -> go.Figure:
    """The (H, W) grid of codebook indices of one image as a heatmap, each cell labelled with its index.

    Row 0 is drawn at the top, as in the image. Colours run over the whole codebook ``[0, K)``, so the same code has
    the same colour in every image.
    """
    idx = np.asarray(indices)
    if idx.ndim != 2:
        raise ValueError(f"code_grid_figure needs an (H, W) grid of indices, got shape {idx.shape}")
    h, w = idx.shape
    fig = go.Figure(go.Heatmap(z=idx, text=idx.astype(str), texttemplate="%{text}", textfont=dict(size=11),
                               colorscale="Turbo", zmin=0, zmax=codebook_size - 1, showscale=False,
                               hovertemplate="row %{y}, column %{x}: code %{z}<extra></extra>", xgap=1, ygap=1))
    fig.update_layout(**{**LAYOUT, "height": 340, "margin": dict(l=30, r=10, t=40, b=30)},
                      title=dict(text=title, font=dict(size=14)),
                      xaxis=dict(tickmode="array", tickvals=list(range(w)), constrain="domain", showgrid=False),
                      yaxis=dict(tickmode="array", tickvals=list(range(h)), autorange="reversed", scaleanchor="x",
                                 constrain="domain", showgrid=False))
    return fig


def codebook_usage_figure(counts: np.ndarray, usage: float, perplexity: float, n_images: int) -> go.Figure:
    """Selections of each of the K codes over all positions of ``n_images`` images, sorted from most to least used.

    ``counts`` (K,); ``usage`` the share of codes used at least once and ``perplexity`` exp H of the frequencies
    (both from :mod:`gen_core.models.discrete`). Dead codes (count 0) have no bar, so each gets a red tick on the
    axis; the dashed line is the count every code would have under uniform use.
    """
    c = np.asarray(counts, dtype=np.int64)
    if c.ndim != 1 or c.size < 1:
        raise ValueError(f"codebook_usage_figure needs a 1-D array of counts, got shape {c.shape}")
    order = np.argsort(-c, kind="stable")
    ranks = np.arange(1, c.size + 1)
    sorted_counts = c[order]
    fig = go.Figure(go.Bar(x=ranks, y=sorted_counts, customdata=order, marker_color=PALETTE[0],
                           marker_line_width=0, name="selections",
                           hovertemplate="rank %{x}: code %{customdata}, %{y} selections<extra></extra>"))
    dead = sorted_counts == 0
    if dead.any():
        fig.add_trace(go.Scatter(x=ranks[dead], y=np.zeros(int(dead.sum())), mode="markers", customdata=order[dead],
                                 marker=dict(symbol="line-ns-open", size=10, color=DEAD, line=dict(width=2)),
                                 name=f"dead code (0 selections): {int(dead.sum())}",
                                 hovertemplate="code %{customdata}: never selected<extra></extra>"))
    uniform = c.sum() / c.size
    fig.add_trace(go.Scatter(x=[0.5, c.size + 0.5], y=[uniform, uniform], mode="lines", name="uniform use",
                             line=dict(color="#444444", dash="dash", width=1), hoverinfo="skip"))
    used = int((c > 0).sum())
    fig.update_layout(**{**LAYOUT, "height": 360, "margin": dict(l=60, r=20, t=60, b=45)},
                      title=dict(text=(f"Codebook usage on {n_images:,} test images: {used} of {c.size} codes used "
                                       f"({100 * usage:.1f}%), perplexity {perplexity:.1f}"), font=dict(size=14)),
                      xaxis=dict(title="codes, most used first (rank)", range=[0, c.size + 1]),
                      yaxis=dict(title="selections (of all 7 × 7 positions)", rangemode="tozero"), bargap=0,
                      legend=dict(orientation="h", y=1.0, x=1.0, xanchor="right", yanchor="bottom"))
    return fig


# ----------------------------------------------------------------------------------------------------------------
# dVAE


def categorical_figure(panel: GumbelPanel, latent: int, n_show: int = 8) -> go.Figure:
    """One categorical posterior q(z_i|x) against its Gumbel-softmax samples at the panel's temperature.

    Left: q next to the mean of the relaxed samples, the argmax frequencies of the relaxed samples and the Gumbel-max
    frequencies (``panel`` from :func:`gen_core.theory.gumbel.gumbel_panel` with weights q). Right top: the first
    ``n_show`` relaxed samples, one row each (one-hot rows at small tau, flat rows at large tau). Right bottom:
    E max_k y_k against tau, with the current tau marked.
    """
    k = len(panel.probs)
    cats = [str(j) for j in range(k)]
    n = len(panel.relaxed)
    fig = go.Figure()
    bars = (("q(z<sub>i</sub> = k | x)", panel.probs, "#444444"),
            (f"mean of {n} relaxed samples", panel.relaxed.mean(axis=0), PALETTE[1]),
            (f"argmax frequency of the {n} relaxed samples", panel.argmax_freq, PALETTE[9]),
            ("Gumbel-max frequency (20,000 draws)", panel.gumbel_max_freq, PALETTE[4]))
    for name, values, colour in bars:
        fig.add_trace(go.Bar(x=cats, y=np.asarray(values, dtype=np.float32), name=name, marker_color=colour))
    shown = np.asarray(panel.relaxed[:n_show], dtype=np.float32)
    fig.add_trace(go.Heatmap(z=shown, x=cats, y=[f"y{r + 1}" for r in range(len(shown))], zmin=0, zmax=1,
                             colorscale="Blues", xaxis="x2", yaxis="y2", xgap=1, ygap=1, showscale=True,
                             colorbar=dict(title=dict(text="y<sub>k</sub>"), x=1.0, y=0.78, len=0.42, thickness=12),
                             hovertemplate="sample %{y}, category %{x}: %{z:.3f}<extra></extra>"))
    fig.add_trace(go.Scatter(x=panel.taus, y=panel.mean_max, mode="lines", line=dict(color=PALETTE[3]),
                             xaxis="x3", yaxis="y3", showlegend=False, hovertemplate="τ = %{x:.3g}: %{y:.3f}"))
    cur = float(np.interp(np.log(panel.tau), np.log(panel.taus), panel.mean_max))
    fig.add_trace(go.Scatter(x=[panel.tau], y=[cur], mode="markers", name=f"τ = {panel.tau:g}",
                             marker=dict(size=11, color=PALETTE[3], symbol="diamond"), xaxis="x3", yaxis="y3"))
    top = max(1.0 / k, float(np.max(panel.probs)), float(np.max(panel.argmax_freq)),
              float(np.max(panel.gumbel_max_freq)))
    fig.update_layout(
        **{**LAYOUT, "height": 470, "margin": dict(l=50, r=40, t=50, b=40)},
        barmode="group",
        xaxis=dict(domain=[0.0, 0.5], anchor="y", title="category k", type="category"),
        yaxis=dict(domain=[0.0, 0.9], anchor="x", title="probability", range=[0, min(1.0, 1.1 * top)]),
        xaxis2=dict(domain=[0.6, 0.93], anchor="y2", type="category", title=""),
        yaxis2=dict(domain=[0.57, 0.9], anchor="x2", autorange="reversed", type="category", dtick=1,
                    tickfont=dict(size=10)),                       # every sample's row named, not every other one
        xaxis3=dict(domain=[0.6, 0.93], anchor="y3", type="log", title="temperature τ"),
        yaxis3=dict(domain=[0.0, 0.35], anchor="x3", title="E max<sub>k</sub> y<sub>k</sub>",
                    range=[0.0, 1.05]),
        legend=dict(orientation="h", y=-0.13, x=0.0),
        annotations=[_title(f"latent z<sub>{latent}</sub>: q against samples at τ = {panel.tau:g}", 0.25, 0.92),
                     _title(f"{len(shown)} relaxed samples y = softmax((log q + g)/τ)", 0.765, 0.92),
                     _title(f"one-hot at τ → 0 (1), uniform at τ → ∞ (1/{k})", 0.765, 0.37)])
    return fig


def latent_kl_figure(kl: np.ndarray, chosen: int) -> go.Figure:
    """KL(q(z_i|x) || Uniform(K)) of every latent i for one image, nats; the chosen latent highlighted."""
    v = np.asarray(kl, dtype=np.float32)
    colours = [PALETTE[1] if i == chosen else PALETTE[0] for i in range(v.size)]
    fig = go.Figure(go.Bar(x=[f"z{i}" for i in range(v.size)], y=v, marker_color=colours,
                           hovertemplate="%{x}: %{y:.3f} nats<extra></extra>"))
    fig.update_layout(**{**LAYOUT, "height": 260, "margin": dict(l=50, r=20, t=40, b=35)},
                      title=dict(text=(f"KL(q(z<sub>i</sub>|x) ‖ uniform) per latent, total {float(v.sum()):.2f} "
                                       f"nats (log K = one-hot, 0 = ignores x)"), font=dict(size=13)),
                      yaxis_title="nats", xaxis=dict(type="category"))
    return fig


# ----------------------------------------------------------------------------------------------------------------
# ELBO surgery and the flow prior


def surgery_bars_figure(terms: Mapping[str, Mapping[str, float]]) -> go.Figure:
    """The ELBO surgery terms of each prior as grouped bars with ±1 standard error, one panel per term.

    ``terms``: prior label -> :meth:`gen_core.metrics.surgery.SurgeryTerms.as_dict` (``recon``, ``mutual_info``,
    ``marginal_kl``, ``elbo`` and their ``*_se``), nats per image. Each panel has its own y axis: the
    reconstruction term is two orders of magnitude larger than the other two.
    """
    if not terms:
        raise ValueError("surgery_bars_figure needs the terms of at least one prior")
    fig = go.Figure()
    n = len(SURGERY_TERMS)
    gap = 0.07
    width = (1.0 - gap * (n - 1)) / n
    layout: dict[str, Any] = {"annotations": []}
    for p, (label, t) in enumerate(terms.items()):
        for j, (key, _) in enumerate(SURGERY_TERMS):
            sfx = "" if j == 0 else str(j + 1)
            fig.add_trace(go.Bar(x=[label], y=[t[key]], name=label, legendgroup=label, showlegend=j == 0,
                                 marker_color=PRIOR_COLOURS[p % len(PRIOR_COLOURS)], xaxis=f"x{sfx}",
                                 yaxis=f"y{sfx}", text=[f"{t[key]:.2f}"], textposition="inside",
                                 insidetextanchor="middle", textfont=dict(color="white"),
                                 error_y=dict(type="data", array=[t.get(f"{key}_se", 0.0)], visible=True,
                                              color="#222222", thickness=1.5, width=6),
                                 hovertemplate=f"{label}: %{{y:.3f}} ± {t.get(f'{key}_se', 0.0):.3f} nats"
                                               "<extra></extra>"))
    for j, (key, name) in enumerate(SURGERY_TERMS):
        sfx = "" if j == 0 else str(j + 1)
        x0 = j * (width + gap)
        values = [t[key] for t in terms.values()]
        lo, hi = min(0.0, *values), max(0.0, *values)
        pad = 0.18 * (hi - lo or 1.0)
        layout[f"xaxis{sfx}"] = dict(domain=[x0, x0 + width], anchor=f"y{sfx}", showticklabels=False)
        layout[f"yaxis{sfx}"] = dict(anchor=f"x{sfx}", domain=[0.0, 0.8], range=[lo - (pad if lo < 0 else 0),
                                                                              hi + (pad if hi > 0 else 0)],
                                     title="nats per image" if j == 0 else None, zeroline=True)
        layout["annotations"].append(_title(name, x0 + width / 2, 0.84))
    fig.update_layout(**{**LAYOUT, "height": 400, "margin": dict(l=60, r=20, t=30, b=40)}, **layout,
                      legend=dict(orientation="h", y=-0.04, x=0.5, xanchor="center", yanchor="top"), bargap=0.3)
    return fig


def aggregate_posterior_figure(grids: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
                               codes: Mapping[str, np.ndarray] | None = None, depth: float = 12.0,
                               ratio_range: float = 6.0) -> go.Figure:
    """Per prior (one row each): log q_agg(z), log p(z) and log q_agg − log p on the same 2-D grid.

    ``grids``: prior label -> (x (n,), y (n,), log q_agg (n, n), log p (n, n)) with rows indexed by y (as
    :func:`gen_core.metrics.surgery.density_grid`). The log-densities share one colour scale, clipped ``depth`` nats
    below the highest value, so a hole (p high where q_agg is low) reads as bright in the middle panel and dark in
    the left one; the right panel is red where q_agg exceeds p and blue in the holes, clipped at ±``ratio_range``
    nats (its q_agg-weighted mean is KL(q_agg ‖ p)). ``codes``: optional posterior means (M, 2) per prior, drawn on
    the q_agg panel.
    """
    if not grids:
        raise ValueError("aggregate_posterior_figure needs at least one prior")
    rows = len(grids)
    top = max(float(np.nanmax(np.concatenate([g[2].ravel(), g[3].ravel()]))) for g in grids.values())
    fig = go.Figure()
    gap_x, gap_y = 0.06, 0.09
    width = (0.92 - 2 * gap_x) / 3
    height = (1.0 - gap_y * rows) / rows
    layout: dict[str, Any] = {"annotations": []}
    for r, (label, (xs, ys, log_q, log_p)) in enumerate(grids.items()):
        y0 = 1.0 - (r + 1) * height - r * gap_y - gap_y * 0.5
        panels = ((log_q, "coloraxis", "log q<sub>agg</sub>(z)"), (log_p, "coloraxis", "log p(z)"),
                  (log_q - log_p, "coloraxis2", "log q<sub>agg</sub>(z) − log p(z)"))
        for c, (z, axis, title) in enumerate(panels):
            k = r * 3 + c + 1
            sfx = "" if k == 1 else str(k)
            x0 = c * (width + gap_x)
            fig.add_trace(go.Heatmap(x=np.asarray(xs, np.float32), y=np.asarray(ys, np.float32),
                                     z=np.asarray(z, np.float32), coloraxis=axis, xaxis=f"x{sfx}", yaxis=f"y{sfx}",
                                     hovertemplate="z = (%{x:.2f}, %{y:.2f}): %{z:.2f}<extra></extra>"))
            layout[f"xaxis{sfx}"] = dict(domain=[x0, x0 + width], anchor=f"y{sfx}",
                                         title="z1" if r == rows - 1 else None,
                                         range=[float(xs[0]), float(xs[-1])], constrain="domain", showgrid=False,
                                         zeroline=False)
            layout[f"yaxis{sfx}"] = dict(domain=[y0, y0 + height], anchor=f"x{sfx}",
                                         title=f"<b>{label}</b><br>z2" if c == 0 else None,
                                         range=[float(ys[0]), float(ys[-1])], scaleanchor=f"x{sfx}",
                                         constrain="domain", showgrid=False, zeroline=False)
            layout["annotations"].append(_title(title, x0 + width / 2, y0 + height + 0.005))
            if c == 0 and codes is not None and label in codes:
                pts = np.asarray(codes[label], np.float32)
                fig.add_trace(go.Scattergl(x=pts[:, 0], y=pts[:, 1], mode="markers", xaxis=f"x{sfx}",
                                           yaxis=f"y{sfx}", name="posterior means μ(x)", showlegend=False,
                                           marker=dict(size=2, color="white", opacity=0.5), hoverinfo="skip"))
    fig.update_layout(
        **{**LAYOUT, "height": 330 * rows + 40, "margin": dict(l=70, r=20, t=30, b=40)}, **layout,
        coloraxis=dict(colorscale="Viridis", cmin=top - depth, cmax=top,
                       colorbar=dict(title=dict(text="log density"), x=0.955, y=0.75, len=0.45, thickness=12)),
        coloraxis2=dict(colorscale="RdBu", reversescale=True, cmin=-ratio_range, cmax=ratio_range,
                        colorbar=dict(title=dict(text="log ratio"), x=0.955, y=0.25, len=0.45, thickness=12)))
    return fig

