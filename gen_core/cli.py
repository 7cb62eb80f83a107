"""Command line: ``python -m gen_core train <model> ...`` and ``python -m gen_core eval <folder or repo id>``.

This is how every folder in ``pretrained/`` is produced: train with a tqdm progress bar into a Hub-format
folder (checkpointing as it goes; ``--resume`` continues from the folder's training state), evaluate on held-out
data, and write the model card with the exact command, steps, wall time and metrics.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from gen_core import cards
from gen_core.data.fashion_mnist import load_fashion_mnist
from gen_core.models import VAE, Autoencoder, AutoencoderConfig, VAEConfig, load_pretrained
from gen_core.data.fashion_mnist import DataFileError
from gen_core.hub import HubModule, WeightsError
from gen_core.metrics.likelihood import evaluate_autoencoder, evaluate_vae
from gen_core.train import TrainConfig, train
from gen_core.train.loop import STATE_JSON, STATE_TENSORS

USAGE = {
    "vae": 'from gen_core.models import load_pretrained\nvae = load_pretrained("{path}")\n'
           'mu, logvar = vae.encode(images)   # images: (B, 1, 28, 28) in [0, 1]\n'
           'x = vae.decode(mu)                 # mean images in [0, 1]\nsamples = vae.sample(16)',
    "autoencoder": 'from gen_core.models import load_pretrained\nae = load_pretrained("{path}")\n'
                   'scores = ae.anomaly_score(images)  # ||x - D(E(x))||^2 per image',
}


def evaluate(model: HubModule, iwae_k: int = 1000, n: int | None = None, iwae_n: int | None = None) -> dict[str, float]:
    """Held-out metrics for any supported model on the Fashion-MNIST test set (first ``n`` images if given)."""
    test = load_fashion_mnist("test")
    images = test.float_images(slice(0, n) if n else None)
    if isinstance(model, VAE):
        return evaluate_vae(model, images, iwae_k=iwae_k, iwae_n=iwae_n)
    if isinstance(model, Autoencoder):
        return evaluate_autoencoder(model, images)
    raise ValueError(f"gen_core eval does not know how to evaluate a {type(model).__name__} yet")


def eval_note(metrics: dict[str, float]) -> str:
    """One paragraph stating the evaluation protocol behind a metrics table."""
    if "elbo" not in metrics:
        return f"Fashion-MNIST test set ({int(metrics['n_images'])} images)."
    return (
        f"Fashion-MNIST test set ({int(metrics['n_images'])} images), binarised once with a fixed seed "
        f"(x ~ Bernoulli(grey level)) for the Bernoulli decoder, which trains on fresh binarisations of the "
        f"training images; IWAE bound with K = {int(metrics.get('iwae_k', 0))} importance samples on the first "
        f"{int(metrics.get('iwae_n', 0))} test images. Nats per image; higher ELBO / IWAE is better."
    )


def build_model(args: argparse.Namespace) -> HubModule:
    """The model that ``train <model>`` asks for, from the command-line options."""
    if args.model == "vae":
        return VAE(VAEConfig(latent_dim=args.latent_dim, likelihood=args.likelihood, beta=args.beta,
                             kl_schedule="linear" if args.kl_warmup else "constant", kl_warmup_steps=args.kl_warmup,
                             channels=args.channels, hidden=args.hidden))
    return Autoencoder(AutoencoderConfig(latent_dim=args.latent_dim, corruption=args.corruption,
                                         noise_level=args.noise_level, channels=args.channels, hidden=args.hidden))


def cmd_train(args: argparse.Namespace) -> int:
    """Train a model into a Hub-format folder, evaluate it, and write its model card."""
    out = Path(args.out)
    resume = out if args.resume and (out / STATE_JSON).is_file() else None
    model = build_model(args)
    if args.resume and resume is None:
        print(f"--resume: no training state in {out}; starting from scratch", file=sys.stderr)
    tc = TrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed, device=args.device,
                     log_every=args.log_every, checkpoint_every=args.checkpoint_every, out_dir=str(out))
    command = "python -m gen_core " + " ".join(shlex.quote(a) for a in sys.argv[1:] if a != "--resume")
    title = f"gen_core {args.model} on Fashion-MNIST (latent {args.latent_dim})"
    summary = {
        "vae": f"A convolutional VAE ({args.likelihood} decoder, beta = {args.beta}) trained on Fashion-MNIST by "
               f"gen_core's shared training loop. Lecture notes 000 (2.5), 001, 003, 004.",
        "autoencoder": f"A convolutional autoencoder (corruption: {args.corruption}) trained on Fashion-MNIST.",
    }[args.model]
    device_name = str(torch.device("cuda" if torch.cuda.is_available() and args.device != "cpu" else "cpu"))

    def card(step: int, wall: float = 0.0, metrics: dict[str, float] | None = None) -> str:
        return cards.training_card(title, summary, command, model.config_dict, vars(args) | {"steps": step}, step,
                                   wall, device_name, metrics, eval_note(metrics) if metrics else "",
                                   USAGE[args.model].format(path=str(out)))

    wall, step = 0.0, 0
    with tqdm(total=args.steps, desc=f"train {args.model}", unit="step", dynamic_ncols=True) as bar:
        for ev in train(model, load_fashion_mnist("train").images, tc, resume_from=resume, card_fn=card):
            if ev.kind == "start":
                bar.update(ev.step)
            elif ev.kind == "step":
                bar.update(ev.step - bar.n)
                bar.set_postfix({k: f"{v:.4g}" for k, v in ev.metrics.items() if k in ("loss", "kl", "recon")})
            elif ev.kind == "diverged":
                print(ev.message, file=sys.stderr)
                return 2
            elif ev.kind == "done":
                wall, step = ev.metrics["wall_time_s"], ev.step
    metrics = evaluate(model, iwae_k=args.iwae_k, iwae_n=args.iwae_n)
    model.save_pretrained(out, card=card(step, wall, metrics))
    if not args.keep_state:
        for name in (STATE_JSON, STATE_TENSORS):
            (out / name).unlink(missing_ok=True)
    print(json.dumps(metrics, indent=2))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    """Print held-out metrics of a saved model as JSON."""
    model = load_pretrained(args.path, device=args.device if args.device != "auto" else "cpu")
    metrics = evaluate(model, iwae_k=args.iwae_k, n=args.n, iwae_n=args.iwae_n)
    print(json.dumps(metrics, indent=2))
    return 0


def parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m gen_core``."""
    p = argparse.ArgumentParser(prog="python -m gen_core", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train a model into a Hub-format folder")
    t.add_argument("model", choices=["vae", "autoencoder"])
    t.add_argument("--out", required=True, help="output folder (config.json, model.safetensors, README.md)")
    t.add_argument("--steps", type=int, default=20_000)
    t.add_argument("--batch-size", type=int, default=128)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default="auto")
    t.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    t.add_argument("--latent-dim", type=int, default=16)
    t.add_argument("--channels", type=int, default=32)
    t.add_argument("--hidden", type=int, default=256)
    t.add_argument("--likelihood", choices=["bernoulli", "gaussian"], default="bernoulli")
    t.add_argument("--beta", type=float, default=1.0)
    t.add_argument("--kl-warmup", type=int, default=0, help="steps of linear KL annealing from 0 to beta")
    t.add_argument("--corruption", choices=["none", "gaussian", "masking"], default="none")
    t.add_argument("--noise-level", type=float, default=0.3)
    t.add_argument("--log-every", type=int, default=50)
    t.add_argument("--checkpoint-every", type=int, default=1000)
    t.add_argument("--resume", action="store_true", help="continue from the training state in --out")
    t.add_argument("--keep-state", action="store_true", help="keep optimizer state files after training")
    t.add_argument("--iwae-k", type=int, default=1000)
    t.add_argument("--iwae-n", type=int, default=None, help="test images for the IWAE bound (default: all)")
    e = sub.add_parser("eval", help="print held-out metrics of a folder or Hub repo id as JSON")
    e.add_argument("path")
    e.add_argument("--device", default="auto")
    e.add_argument("--iwae-k", type=int, default=1000)
    e.add_argument("--n", type=int, default=None, help="evaluate on the first n test images")
    e.add_argument("--iwae-n", type=int, default=None)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m gen_core``."""
    args = parser().parse_args(argv)
    if getattr(args, "threads", None):
        torch.set_num_threads(args.threads)
    try:
        return {"train": cmd_train, "eval": cmd_eval}[args.command](args)
    except (WeightsError, DataFileError, ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
