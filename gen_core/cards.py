"""Model-card text for the weights that the CLI writes (README.md of each Hub-format folder)."""

from __future__ import annotations

import json
from typing import Any

METRIC_NOTES = {
    "elbo": "ELBO, nats per image (one posterior sample per image)",
    "kl": "KL(q(z|x) || p(z)), nats per image",
    "recon_nll": "reconstruction term -E_q log p(x|z), nats per image",
    "iwae_log_likelihood": "IWAE bound on log p(x) (importance-sampled log-likelihood), nats per image",
    "recon_mse": "squared reconstruction error ||x - D(mu(x))||^2 per image, grey levels in [0, 1]",
    "bits_per_dim": "bits per dimension of the discrete 256-level images (from the IWAE bound)",
    "iwae_k": "importance samples K per image in the IWAE bound",
    "iwae_n": "test images in the IWAE estimate",
    "n_images": "test images evaluated",
}


def metrics_table(metrics: dict[str, float]) -> str:
    """A Markdown table of metrics with a sentence saying what each one is."""
    rows = ["| metric | value | meaning |", "|---|---|---|"]
    for key, value in metrics.items():
        rows.append(f"| `{key}` | {value:.4g} | {METRIC_NOTES.get(key, '')} |")
    return "\n".join(rows)


def training_card(title: str, summary: str, command: str, config: dict[str, Any], train_config: dict[str, Any],
                  steps: int, wall_time_s: float, device: str, metrics: dict[str, float] | None,
                  eval_note: str, usage: str) -> str:
    """Markdown body of a model card: what it is, how it was trained (exact command, steps, wall time), metrics."""
    parts = [
        f"# {title}", "", summary.strip(), "",
        "## Use", "", "```python", usage.strip(), "```", "",
        "## Training", "",
        f"- Command: `{command}`",
        f"- Steps: {steps} (batch {train_config.get('batch_size')}, Adam lr {train_config.get('lr')}, "
        f"seed {train_config.get('seed')})",
        f"- Wall time: {wall_time_s / 60:.1f} min on {device}",
        "",
        "Model config (`config.json`):", "", "```json", json.dumps(config, indent=2, sort_keys=True), "```", "",
    ]
    if metrics:
        parts += ["## Held-out metrics (computed by gen_core)", "", eval_note.strip(), "", metrics_table(metrics), ""]
    else:
        parts += ["## Held-out metrics", "", "Not evaluated yet (training checkpoint).", ""]
    return "\n".join(parts)
