"""Model-card text for the weights that the CLI writes (README.md of each Hub-format folder)."""

from __future__ import annotations

import json
import math
import re
import shlex
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from gen_core.hub import CARD_NAME, export_zip, read_card_metadata, split_model_card, update_model_card
from gen_core.usage import usage

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
    "beta_vae": "beta-VAE score: eval accuracy of logistic regression on mean |z1 - z2| (Higgins et al. 2017)",
    "factor_vae": "FactorVAE score: eval accuracy of the majority-vote classifier (Kim & Mnih 2018)",
    "mig": "mutual information gap, mean over factors (Chen et al. 2018)",
    "dci_disentanglement": "DCI disentanglement (Eastwood & Williams 2018)",
    "dci_completeness": "DCI completeness",
    "dci_informativeness": "DCI informativeness: test accuracy of the trees predicting each factor",
    "preset": "sample counts of the disentanglement metrics",
    "test_nll": "mean -log q(x) on fresh target samples, nats",
    "true_entropy": "the target's differential entropy H(p), nats",
    "gap": "test NLL - H(p): estimates KL(p_data || p_model), nats",
    "test_nll_se": "standard error of test_nll over the test samples, nats",
    "true_entropy_se": "Monte Carlo standard error of true_entropy (0 = closed form), nats",
    "gap_se": "standard error of gap (test NLL and entropy errors combined), nats",
    "n_test": "fresh target samples in the test NLL (fixed seed, never seen in training)",
    "modes": "modes captured (mean over sampling seeds)",
    "high_quality_pct": "% of samples within 3 std of their nearest mode",
    "modes_min": "modes captured by the worst sampling seed",
    "n_modes": "modes of the target",
    "js_hist": "Jensen-Shannon divergence between 50 x 50 histograms of real and generated samples, nats",
    "kl_real_fake_hist": "KL(real || generated) between the 2-D histograms (0.5 added per bin), nats",
    "kl_fake_real_hist": "KL(generated || real) between the 2-D histograms (0.5 added per bin), nats",
    "n_samples": "generated samples per evaluation",
    "n_sample_seeds": "sampling seeds averaged",
    "fid_fmnist": "FID-FMNIST: Frechet distance of classifier features, samples vs test images (lower is better)",
    "fid_floor_train_test": "FID-FMNIST between training and test images: the floor",
    "vae_fid_fmnist": "FID-FMNIST of pretrained/vae-fmnist-16 samples, same protocol",
    "precision": "fraction of samples inside the k-NN balls of real features (k = 5, Naeem et al. 2020)",
    "recall": "fraction of real features inside the k-NN balls of sample features (k = 5)",
    "density": "mean number of real k-NN balls holding each sample, / k (k = 5)",
    "coverage": "fraction of real features whose k-NN ball holds a sample (k = 5)",
    "label_agreement": "classifier's agreement with the conditioning label of the samples",
    "test_accuracy": "accuracy on the 10,000 test images",
}


def metrics_table(metrics: dict[str, float | str], notes: dict[str, str] | None = None) -> str:
    """A Markdown table of metrics with a sentence saying what each one is (``notes``, a model family's own
    sentences, before the shared ``METRIC_NOTES``)."""
    notes = {**METRIC_NOTES, **(notes or {})}
    rows = ["| metric | value | meaning |", "|---|---|---|"]
    for key, value in metrics.items():
        shown = value if isinstance(value, str) else f"{value:.4g}"
        note = notes.get(key, "").replace("|", "\\|")  # a bare | would split the Markdown table cell
        rows.append(f"| `{key}` | {shown} | {note} |")
    return "\n".join(rows)


def device_label(device: str) -> str:
    """``device`` as a card states it: "cpu", or "cuda (NVIDIA H200)" with the accelerator's name."""
    if not device.startswith("cuda"):
        return device
    import torch   # imported here: cards are also written by code that has no need of torch at import time

    if not torch.cuda.is_available():
        return device
    index = torch.device(device).index
    return f"{device} ({torch.cuda.get_device_name(index if index is not None else 0)})"


def training_card(title: str, summary: str, command: str, config: dict[str, Any], train_config: dict[str, Any],
                  steps: int, wall_time_s: float, device: str, metrics: dict[str, float] | None,
                  eval_note: str, use_snippet: str, metric_notes: dict[str, str] | None = None) -> str:
    """Markdown body of a model card: what it is, how it was trained (exact command, steps, wall time), metrics;
    ``use_snippet`` is its ``Use`` section's code."""
    parts = [
        f"# {title}", "", summary.strip(), "",
        "## Use", "", "```python", use_snippet.strip(), "```", "",
        "## Training", "",
        f"- Command: `{command}`",
        f"- Steps: {steps} (batch {train_config.get('batch_size')}, Adam lr {train_config.get('lr')}, "
        f"seed {train_config.get('seed')})",
        f"- Wall time: {wall_time_s / 60:.1f} min on {device_label(device)}",
        "",
        "Model config (`config.json`):", "", "```json", json.dumps(config, indent=2, sort_keys=True), "```", "",
    ]
    if metrics:
        parts += ["## Held-out metrics (computed by gen_core)", "", eval_note.strip(), "",
                  metrics_table(metrics, metric_notes), ""]
    else:
        parts += ["## Held-out metrics", "", "Not evaluated yet (training checkpoint).", ""]
    return "\n".join(parts)


def live_run_card(title: str, where: str, settings: dict[str, Any], steps: int, wall_time_s: float,
                  config: dict[str, Any], metrics: dict[str, float], eval_note: str, use_snippet: str) -> str:
    """Markdown body of the card of a model trained live in the dashboard (``where``: the tab) and downloaded:
    the settings it ran with, its steps and wall time, its config and the metrics the tab measured; ``use_snippet``
    is its ``Use`` section's code."""
    rows = "\n".join(f"| {k} | {v} |" for k, v in settings.items())
    return "\n".join([
        f"# {title}", "",
        f"Trained live in the gen_core dashboard ({where}) and downloaded from it: a visitor's run, not one of "
        "gen_core's shipped models. The command line trains the same models reproducibly (`python -m gen_core "
        "train`); `python -m gen_core eval FOLDER` scores this one with the full protocol.", "",
        "## Use", "", "```python", use_snippet.strip(), "```", "",
        "## Training", "", "| setting | value |", "|---|---|", rows, "",
        f"- Steps run: {steps}", f"- Wall time: {wall_time_s:.1f} s", "",
        "Model config (`config.json`):", "", "```json", json.dumps(config, indent=2, sort_keys=True), "```", "",
        "## Metrics measured by the dashboard", "", eval_note.strip(), "", metrics_table(metrics), "",
    ])


def export_live_run(model: Any, name: str, title: str, where: str, settings: dict[str, Any], steps: int,
                    wall_time_s: float, metrics: dict[str, float], eval_note: str, kind: str) -> Path:
    """A model trained live in the dashboard as a zip of a Hub-format folder ``name/`` (:func:`export_zip`): its
    card (:func:`live_run_card`) and metadata state the settings, the steps run and the metrics the tab measured
    (``gen_core_training`` has ``live: true``); its ``Use`` snippet is :func:`gen_core.usage.usage` of ``kind``.
    Returns the zip's path."""
    body = live_run_card(title, where, settings, steps, wall_time_s, model.config_dict, metrics, eval_note,
                         usage(kind, name))
    training = {"steps": steps, "live": True, **{k.replace(" ", "_"): v for k, v in settings.items()}}
    return export_zip(model, name, body, {"gen_core_metrics": {k: round(v, 6) for k, v in metrics.items()},
                                          "gen_core_training": training})


def publish_run(model: Any, out: Path, card_text: str, card_data: dict[str, Any], metrics: dict[str, Any],
                keep_state: bool, state_files: Iterable[str]) -> None:
    """Finish a CLI training run: write ``out`` as a Hub-format folder (config.json, model.safetensors and the card
    with ``card_data`` as front matter), delete the resume files ``state_files`` unless ``keep_state``, and print
    the held-out metrics as JSON (the CLI's last output, which scripts read)."""
    model.save_pretrained(out, card=card_text, card_data=card_data)
    if not keep_state:
        for name in state_files:
            (out / name).unlink(missing_ok=True)
    print(json.dumps(metrics, indent=2))


SEEDS_HEADING = "## Other seeds of the same command"
SEEDS_KEY = "gen_core_seed_runs"


def command_but_seed(command: str) -> tuple[list[str], int | None]:
    """A training command's words without ``--seed S`` and ``--out DIR`` (which every seed changes), and the seed
    (``None`` when the command gives none, the CLI's default 0 then applies)."""
    words, seed, skip = [], None, False
    tokens = shlex.split(command)
    for i, word in enumerate(tokens):
        if skip:
            skip = False
            continue
        if word in ("--seed", "--out"):
            if i + 1 >= len(tokens):
                raise ValueError(f"the command ends after {word}: {command!r}")
            if word == "--seed":
                seed = int(tokens[i + 1])
            skip = True
            continue
        if word.startswith(("--seed=", "--out=")):
            seed = int(word.split("=", 1)[1]) if word.startswith("--seed=") else seed
            continue
        words.append(word)
    return words, seed


def seed_runs(folder: str | Path, others: Iterable[str | Path]) -> list[dict[str, Any]]:
    """The held-out metrics of ``others``, runs of ``folder``'s exact training command with another ``--seed``, each
    as ``{"seed", "folder", "metrics"}`` read from its own card. Raises ``ValueError`` when a run's command differs
    in anything but ``--seed`` / ``--out``, repeats a seed, or has no held-out metrics (or other sample counts)."""
    meta = read_card_metadata(folder)
    command = meta.get("gen_core_training", {}).get("command")
    if not command:
        raise ValueError(f"{folder}: its card records no training command; only CLI runs can be compared by seed")
    words, seed = command_but_seed(command)
    preset = meta.get("gen_core_metrics", {}).get("preset")
    seen, runs = {0 if seed is None else seed}, []
    for other in others:
        other_meta = read_card_metadata(other)
        other_command = other_meta.get("gen_core_training", {}).get("command", "")
        if not other_command:
            raise ValueError(f"{other}: no model card with a training command there; give the folder a "
                             "`python -m gen_core train` run wrote")
        other_words, other_seed = command_but_seed(other_command)
        other_seed = 0 if other_seed is None else other_seed
        if other_words != words:
            raise ValueError(f"{other} was not trained by the same command as {folder} (apart from --seed and "
                             f"--out): {other_command!r} against {command!r}")
        if other_seed in seen:
            raise ValueError(f"{other}: seed {other_seed} is already listed; give each seed once")
        metrics = other_meta.get("gen_core_metrics", {})
        numbers = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        if not numbers:
            raise ValueError(f"{other}: its card holds no held-out metrics; evaluate the run first")
        if metrics.get("preset") != preset:
            raise ValueError(f"{other} was scored with preset {metrics.get('preset')!r}, {folder} with {preset!r}; "
                             "re-evaluate one of them so both use the same sample counts")
        seen.add(other_seed)
        runs.append({"seed": other_seed, "folder": Path(other).name, "metrics": numbers})
    return sorted(runs, key=lambda r: r["seed"])


def seed_runs_section(own_seed: int, own: dict[str, Any], runs: list[dict[str, Any]], keys: Iterable[str]) -> str:
    """Markdown section of a card: this model's row and the other seeds' rows of ``keys``, and their median."""
    keys = [k for k in keys if k in own and all(k in r["metrics"] for r in runs)]
    rows = [[f"{own_seed} (this model)", *(own[k] for k in keys)],
            *([str(r["seed"]), *(r["metrics"][k] for k in keys)] for r in runs)]
    median = ["median", *(statistics.median(row[i + 1] for row in rows) for i in range(len(keys)))]
    lines = [SEEDS_HEADING, "",
             "The same training command with only `--seed` changed (runs not shipped), scored by gen_core with the "
             "same protocol; the spread shows how much of this model's numbers belong to its seed.", "",
             "| seed | " + " | ".join(f"`{k}`" for k in keys) + " |", "|---|" + "---|" * len(keys)]
    lines += ["| " + " | ".join([row[0], *(f"{v:.4g}" for v in row[1:])]) + " |" for row in [*rows, median]]
    return "\n".join(lines) + "\n"


def record_seed_runs(folder: str | Path, others: Iterable[str | Path],
                     keys: Iterable[str] = ("beta_vae", "factor_vae", "mig", "dci_disentanglement", "elbo", "kl"),
                     ) -> list[dict[str, Any]]:
    """Add the other seeds of ``folder``'s command (:func:`seed_runs`) to its card: under ``gen_core_seed_runs`` in
    the metadata and as a table in the body (replacing an earlier one). Returns the records."""
    runs = seed_runs(folder, others)
    meta = read_card_metadata(folder)
    _, body = split_model_card(Path(folder) / CARD_NAME)
    start = body.find(SEEDS_HEADING)
    if start >= 0:                          # replace the section an earlier call wrote
        end = body.find("\n## ", start + len(SEEDS_HEADING))
        body = body[:start] + ("" if end < 0 else body[end + 1:])
    own_seed = command_but_seed(meta["gen_core_training"]["command"])[1] or 0
    section = seed_runs_section(own_seed, meta.get("gen_core_metrics", {}), runs, keys)
    meta[SEEDS_KEY] = runs
    update_model_card(folder, meta, f"{body.rstrip()}\n\n{section}")
    return runs


# -- checking a card against a fresh evaluation -----------------------------------------------------------------

_TABLE_ROW = re.compile(r"^\| `(\w+)` \| ([^|]+) \|", re.M)
TIMING_SUFFIXES = ("_ms", "_per_s", "wall_time_s")    # machine-dependent: never compared


def card_metrics(folder: str | Path) -> dict[str, Any]:
    """The held-out metrics a model card states: its ``gen_core_metrics`` metadata, or, for the first cards (written
    before the CLI kept metadata), the values of its Markdown metrics table as printed (strings, 4 significant
    digits). ``{}`` when the card states none."""
    meta = read_card_metadata(folder).get("gen_core_metrics")
    if meta:
        return dict(meta)
    card = Path(folder) / CARD_NAME
    if not card.is_file():
        return {}
    return {k: v.strip() for k, v in _TABLE_ROW.findall(card.read_text(encoding="utf-8"))}


@dataclass(frozen=True)
class CardCheck:
    """One metric computed again and the value its card states."""

    key: str
    computed: float
    card: float | str
    ok: bool


def check_against_card(metrics: dict[str, Any], card: dict[str, Any], rel: float = 1e-5,
                       abs_tol: float = 1e-6) -> list[CardCheck]:
    """Compare freshly computed ``metrics`` with a card's (:func:`card_metrics`), for every number both have.

    A metadata value matches to ``rel`` relative (sums of 10,000 per-image terms differ in their last float32
    digits between thread counts) or ``abs_tol`` (cards keep six decimals); a table value matches when the computed
    number prints the same with four significant digits, as the table does. Timings (``TIMING_SUFFIXES``) are
    skipped."""
    checks = []
    for key, value in metrics.items():
        numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
        if key not in card or key.endswith(TIMING_SUFFIXES) or not numeric:
            continue
        want = card[key]
        if isinstance(want, str):
            ok = f"{value:.4g}" == want
        elif isinstance(want, (int, float)) and not isinstance(want, bool):
            ok = math.isclose(value, want, rel_tol=rel, abs_tol=abs_tol)
        else:
            continue
        checks.append(CardCheck(key, float(value), want, ok))
    return checks
