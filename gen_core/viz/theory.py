"""Plotly figures of the Theory tab: minimax trajectories, divergence fits, likelihood vs samples, Gumbel-softmax
on the simplex. gen_core.theory results in, ``go.Figure`` out; no math beyond choosing what to draw, no Gradio."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import plotly.graph_objects as go

from gen_core.theory.divergences import DIVERGENCE_LABELS, DivergencePanel, LikelihoodVsSamples
from gen_core.theory.gumbel import GumbelPanel
from gen_core.theory.minimax import Trajectory
from gen_core.viz.figures import LAYOUT, PALETTE

__all__ = ["minimax_figure", "divergence_figure", "likelihood_samples_figure", "gumbel_figure", "bigan_figure"]

PANEL_FONT = dict(size=13)
DIV_COLOURS = {"forward_kl": PALETTE[0], "reverse_kl": PALETTE[3], "jsd": PALETTE[2]}
CATEGORY_COLOURS = [PALETTE[0], PALETTE[1], PALETTE[2]]


def _title(text: str, x: float, y: float) -> dict[str, Any]:
    return dict(text=text, x=x, y=y, xref="paper", yref="paper", xanchor="center", yanchor="bottom",
                showarrow=False, font=PANEL_FONT)


def _finite(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep = np.isfinite(a) & np.isfinite(b) & (np.abs(a) < 1e12) & (np.abs(b) < 1e12)
    return a[keep], b[keep]


def minimax_figure(trajectories: dict[str, Trajectory], title: str, equilibrium: tuple[float, float] = (0.0, 0.0)
                   ) -> go.Figure:
    """Left: every method's path in the (theta, phi) plane from a common start; right: |(theta, phi) - z*| per step
    (log scale), so spiralling out is a rising line, circling a flat one, converging a falling one."""
    fig = go.Figure()
    start = next(iter(trajectories.values()))
    r0 = math.hypot(start.theta[0] - equilibrium[0], start.phi[0] - equilibrium[1])
    largest = 0.0
    for i, (name, t) in enumerate(trajectories.items()):
        colour = PALETTE[[0, 3, 2, 4, 1][i % 5]]
        pt, pp = _finite(t.path_theta, t.path_phi)
        largest = max(largest, float(np.max(np.hypot(pt - equilibrium[0], pp - equilibrium[1]), initial=0.0)))
        fig.add_trace(go.Scatter(x=pt.astype(np.float32), y=pp.astype(np.float32), mode="lines", name=name,
                                 legendgroup=name, line=dict(color=colour, width=1.5)))
        dist = np.hypot(t.theta - equilibrium[0], t.phi - equilibrium[1])
        k = np.arange(len(dist))
        ok = np.isfinite(dist) & (dist > 0) & (dist < 1e300)
        fig.add_trace(go.Scatter(x=k[ok], y=dist[ok].astype(np.float64), mode="lines", name=name, legendgroup=name,
                                 showlegend=False, line=dict(color=colour, width=2), xaxis="x2", yaxis="y2"))
    fig.add_trace(go.Scatter(x=[start.theta[0]], y=[start.phi[0]], mode="markers", name="start",
                             marker=dict(size=10, color="black")))
    fig.add_trace(go.Scatter(x=[equilibrium[0]], y=[equilibrium[1]], mode="markers", name="equilibrium",
                             marker=dict(size=14, color="gold", symbol="star", line=dict(color="black", width=1))))
    r = 1.15 * min(max(largest, r0), 4.0 * r0)  # iterates far beyond 4x the start run off the panel
    finite = [d for t in trajectories.values() for d in np.hypot(t.theta - equilibrium[0], t.phi - equilibrium[1])
              if np.isfinite(d) and 0 < d < 1e300]
    decades = math.log10(max(finite) / min(finite)) if finite else 0.0
    dtick: Any = 1 if decades > 3 else "D2"  # one label per decade over a wide range, 2 and 5 between otherwise
    fig.update_layout(
        **{**LAYOUT, "height": 460, "margin": dict(l=50, r=20, t=70, b=45)},
        title=dict(text=title, font=dict(size=14)),
        xaxis=dict(domain=[0.0, 0.44], range=[equilibrium[0] - r, equilibrium[0] + r], title="θ (generator)",
                   zeroline=True),
        yaxis=dict(domain=[0.0, 0.9], range=[equilibrium[1] - r, equilibrium[1] + r], title="φ (discriminator)",
                   scaleanchor="x", scaleratio=1, constrain="domain", zeroline=True),
        xaxis2=dict(domain=[0.56, 1.0], anchor="y2", title="outer step k"),
        yaxis2=dict(domain=[0.0, 0.9], anchor="x2", type="log", title="distance to equilibrium", dtick=dtick,
                    exponentformat="power"),
        legend=dict(orientation="h", y=-0.15, x=0.0),
        annotations=[_title("trajectories in the (θ, φ) plane", 0.22, 0.92),
                     _title("|(θ, φ) − equilibrium| per step", 0.78, 0.92)],
    )
    return fig


def divergence_figure(panel: DivergencePanel) -> go.Figure:
    """The two-mode target p (filled) and the Gaussian each divergence fits to it."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=panel.x, y=panel.p, mode="lines", name="target p (two modes)", fill="tozeroy",
                             line=dict(color="#444444", width=2), fillcolor="rgba(120,120,120,0.25)"))
    dashes = {"forward_kl": "solid", "reverse_kl": "dash", "jsd": "dot"}
    for kind, q in panel.q.items():
        f = panel.fits[kind]
        fig.add_trace(go.Scatter(x=panel.x, y=q, mode="lines",
                                 name=f"{DIVERGENCE_LABELS[kind]}: μ = {f.mu:.2f}, σ = {f.sigma:.2f}",
                                 line=dict(color=DIV_COLOURS[kind], width=3, dash=dashes[kind])))
    fig.update_layout(**{**LAYOUT, "height": 380},
                      title=dict(text=f"Best Gaussian q = N(μ, σ²) for separation d = {panel.separation:g}",
                                 font=dict(size=14)),
                      xaxis_title="x", yaxis_title="density", legend=dict(orientation="h", y=-0.2))
    return fig


def likelihood_samples_figure(r: LikelihoodVsSamples) -> go.Figure:
    """Three sample panels with each model's held-out log-likelihood in its title."""
    titles = [f"data p: test log-lik {r.loglik_data:.2f}",
              f"{r.w:g}·p + {1 - r.w:g}·noise: test log-lik {r.loglik_noisy:.2f}",
              f"memoriser (ε = {r.eps:g}): test log-lik {r.loglik_memo:.1f}"]
    fig = go.Figure()
    gap = 0.05
    width = (1.0 - 2 * gap) / 3
    layout: dict[str, Any] = {"annotations": []}
    for k in range(3):
        sfx = "" if k == 0 else str(k + 1)
        x0 = k * (width + gap)
        layout[f"xaxis{sfx}"] = dict(domain=[x0, x0 + width], anchor=f"y{sfx}", range=[-3.2, 3.2], showgrid=False,
                                     zeroline=False)
        layout[f"yaxis{sfx}"] = dict(domain=[0.0, 0.88], anchor=f"x{sfx}", range=[-3.2, 3.2], showgrid=False,
                                     zeroline=False, scaleanchor=f"x{sfx}", constrain="domain")
        layout["annotations"].append(_title(titles[k], x0 + width / 2, 0.9))
    marker = dict(size=4, opacity=0.7)
    fig.add_trace(go.Scatter(x=r.data_samples[:, 0], y=r.data_samples[:, 1], mode="markers", name="data sample",
                             marker={**marker, "color": PALETTE[0]}))
    noise = r.noisy_is_noise
    fig.add_trace(go.Scatter(x=r.noisy_samples[~noise, 0], y=r.noisy_samples[~noise, 1], mode="markers",
                             name="mixture sample from p", marker={**marker, "color": PALETTE[0]}, xaxis="x2",
                             yaxis="y2", showlegend=False))
    fig.add_trace(go.Scatter(x=r.noisy_samples[noise, 0], y=r.noisy_samples[noise, 1], mode="markers",
                             name="mixture sample from the noise", marker={**marker, "color": PALETTE[7]},
                             xaxis="x2", yaxis="y2"))
    fig.add_trace(go.Scatter(x=r.train_points[:, 0], y=r.train_points[:, 1], mode="markers", name="training point",
                             marker=dict(size=7, color="rgba(0,0,0,0)", line=dict(color=PALETTE[3], width=1)),
                             xaxis="x3", yaxis="y3"))
    fig.add_trace(go.Scatter(x=r.memo_samples[:, 0], y=r.memo_samples[:, 1], mode="markers",
                             name="memoriser sample", marker={**marker, "color": PALETTE[2]}, xaxis="x3", yaxis="y3"))
    fig.update_layout(**{**LAYOUT, "height": 400, "margin": dict(l=30, r=20, t=40, b=30)}, **layout,
                      legend=dict(orientation="h", y=-0.08))
    return fig


def _ternary_axis(title: str) -> dict[str, Any]:
    return dict(title=dict(text=title), min=0, linewidth=1, ticks="", showticklabels=False)


def gumbel_figure(panel: GumbelPanel) -> go.Figure:
    """Left: relaxed samples on the 2-simplex (a ternary plot; corners = one-hot), coloured by their argmax.
    Right top: pi next to Gumbel-max and relaxed-argmax frequencies. Right bottom: E max_k c_hat_k against tau."""
    fig = go.Figure()
    y = panel.relaxed
    hard = y.argmax(axis=1)
    for k in range(3):
        sel = hard == k
        fig.add_trace(go.Scatterternary(a=y[sel, 0], b=y[sel, 1], c=y[sel, 2], mode="markers",
                                        name=f"relaxed sample, argmax = {k + 1}",
                                        marker=dict(size=4, opacity=0.6, color=CATEGORY_COLOURS[k])))
    fig.add_trace(go.Scatterternary(a=[1, 0, 0], b=[0, 1, 0], c=[0, 0, 1], mode="markers",
                                    marker=dict(size=8 + 30 * panel.probs, color=CATEGORY_COLOURS,
                                                line=dict(color="black", width=1)),
                                    name="one-hot corners (size ∝ π)"))
    cats = ["1", "2", "3"]
    fig.add_trace(go.Bar(x=cats, y=panel.probs, name="true π", marker_color="#444444", xaxis="x", yaxis="y"))
    fig.add_trace(go.Bar(x=cats, y=panel.gumbel_max_freq, name="Gumbel-max frequency", marker_color=PALETTE[4]))
    fig.add_trace(go.Bar(x=cats, y=panel.argmax_freq, name="argmax of relaxed samples", marker_color=PALETTE[9]))
    fig.add_trace(go.Scatter(x=panel.taus, y=panel.mean_max, mode="lines", name="E max_k ĉ_k",
                             line=dict(color=PALETTE[3]), xaxis="x2", yaxis="y2", showlegend=False))
    cur = float(np.interp(math.log(panel.tau), np.log(panel.taus), panel.mean_max))
    fig.add_trace(go.Scatter(x=[panel.tau], y=[cur], mode="markers", name=f"τ = {panel.tau:g}",
                             marker=dict(size=11, color=PALETTE[3], symbol="diamond"), xaxis="x2", yaxis="y2"))
    fig.update_layout(
        **{**LAYOUT, "height": 480, "margin": dict(l=40, r=20, t=50, b=40)},
        ternary=dict(domain=dict(x=[0.0, 0.46], y=[0.05, 0.9]), sum=1,
                     **{f"{ax}axis": _ternary_axis(f"c{i + 1} (π{i + 1} = {panel.probs[i]:.2f})")
                        for i, ax in enumerate("abc")}),
        xaxis=dict(domain=[0.58, 1.0], anchor="y", title="", tickprefix="category "),
        yaxis=dict(domain=[0.62, 0.92], anchor="x", title="probability", range=[0, 1]),
        xaxis2=dict(domain=[0.58, 1.0], anchor="y2", type="log", title="temperature τ"),
        yaxis2=dict(domain=[0.0, 0.4], anchor="x2", range=[0.3, 1.02], title="E max ĉ"),
        barmode="group", legend=dict(orientation="h", y=-0.15),
        annotations=[_title(f"relaxed samples at τ = {panel.tau:g} on the simplex", 0.23, 0.95),
                     _title("π vs sampled frequencies", 0.79, 0.93),
                     _title("one-hot (1) at τ → 0, uniform (1/3) at τ → ∞", 0.79, 0.42)],
    )
    return fig


def bigan_figure(snap: Any, title: str, n_links: int = 60) -> go.Figure:
    """Three panels of a BiGAN (a ``gen_core.models.bigan.BiGANSnapshot``): data x with samples G(z); codes E(x)
    over prior draws z; x and its reconstruction G(E(x)), with a segment from each of ``n_links`` points to its
    reconstruction."""
    x, gz, ex, z, rec = (np.asarray(t, dtype=np.float32) for t in (snap.x, snap.gz, snap.ex, snap.z, snap.rec))
    fig = go.Figure()
    gap, width = 0.05, (1.0 - 2 * 0.05) / 3
    layout: dict[str, Any] = {"annotations": []}
    titles = ["data x and samples G(z)", "codes E(x) over prior draws z ~ N(0, I)", "x and G(E(x))"]
    for k in range(3):
        sfx = "" if k == 0 else str(k + 1)
        x0 = k * (width + gap)
        rng = [-3.5, 3.5]
        layout[f"xaxis{sfx}"] = dict(domain=[x0, x0 + width], anchor=f"y{sfx}", range=rng, showgrid=False,
                                     zeroline=False)
        layout[f"yaxis{sfx}"] = dict(domain=[0.0, 0.86], anchor=f"x{sfx}", range=rng, showgrid=False,
                                     zeroline=False, scaleanchor=f"x{sfx}", constrain="domain")
        layout["annotations"].append(_title(titles[k], x0 + width / 2, 0.88))
    m = dict(size=3, opacity=0.6)
    fig.add_trace(go.Scatter(x=x[:, 0], y=x[:, 1], mode="markers", name="data x", marker={**m, "color": PALETTE[0]}))
    fig.add_trace(go.Scatter(x=gz[:, 0], y=gz[:, 1], mode="markers", name="G(z)", marker={**m, "color": PALETTE[1]}))
    fig.add_trace(go.Scatter(x=z[:, 0], y=z[:, 1], mode="markers", name="prior z", marker={**m, "color": PALETTE[7]},
                             xaxis="x2", yaxis="y2"))
    fig.add_trace(go.Scatter(x=ex[:, 0], y=ex[:, 1], mode="markers", name="E(x)", marker={**m, "color": PALETTE[2]},
                             xaxis="x2", yaxis="y2"))
    k = min(n_links, len(x))
    seg_x = np.stack([x[:k, 0], rec[:k, 0], np.full(k, np.nan, np.float32)], 1).ravel()
    seg_y = np.stack([x[:k, 1], rec[:k, 1], np.full(k, np.nan, np.float32)], 1).ravel()
    fig.add_trace(go.Scatter(x=x[:, 0], y=x[:, 1], mode="markers", name="data x", showlegend=False,
                             marker={**m, "color": PALETTE[0]}, xaxis="x3", yaxis="y3"))
    fig.add_trace(go.Scatter(x=rec[:, 0], y=rec[:, 1], mode="markers", name="G(E(x))",
                             marker={**m, "color": PALETTE[3]}, xaxis="x3", yaxis="y3"))
    fig.add_trace(go.Scatter(x=seg_x, y=seg_y, mode="lines", name="x → G(E(x))",
                             line=dict(color="rgba(80,80,80,0.5)", width=1), xaxis="x3", yaxis="y3"))
    fig.update_layout(**{**LAYOUT, "height": 400, "margin": dict(l=30, r=20, t=60, b=30)}, **layout,
                      title=dict(text=title, font=dict(size=14)), legend=dict(orientation="h", y=-0.08))
    return fig
