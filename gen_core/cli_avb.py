"""Adversarial Variational Bayes on the command line: ``python -m gen_core train avb ...`` and its eval.

``cli.py`` dispatches here (``EXTENSIONS``). Training runs through the shared loop with
:class:`gen_core.models.avb.AVBTask` (T updates alternated with encoder/decoder updates) on Fashion-MNIST training
images; checkpoints and ``--resume`` come from the loop. Every ``--log-every`` steps the interval means of the KL
estimate (T's logit on posterior draws) and the analytic KL of the Gaussian encoder are recorded; the history goes
into the model card's metadata (``gen_core_kl_history``: rows ``[step, kl_estimate, kl_analytic]``), so the
dashboard draws the training curve without retraining. Held-out metrics: :func:`gen_core.models.avb.avb_metrics`
on the test set.

    python -m gen_core train avb --latent-dim 2 --steps 8000 --threads 1 --out pretrained/avb-fmnist
    python -m gen_core eval pretrained/avb-fmnist
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any

import torch

from gen_core import cards
from gen_core.data.fashion_mnist import load_fashion_mnist
from gen_core.hub import HubModule
from gen_core.models.avb import AVB, CRITICS, AVBConfig, AVBOptim, avb_metrics, avb_task
from gen_core.train.loop import STATE_JSON, STATE_TENSORS, Event, TrainConfig, pick_device, train
from gen_core.train.progress import follow_run
from gen_core.usage import usage

MODELS = ("avb",)
HISTORY_NAME = "kl_history.json"   # the KL history so far, beside the training state (for --resume)
HISTORY_KEY = "gen_core_kl_history"

METRIC_NOTES = {
    "elbo_avb": "AVB's own ELBO estimate -(recon_nll + kl_estimate), nats per image",
    "kl_estimate": "AVB's KL estimate E_q T(x, z), the discriminator's logit on posterior draws, nats",
    "kl_analytic": "closed-form KL(q(z|x) || N(0, I)) of the Gaussian encoder, nats",
    "kl_gap": "kl_estimate - kl_analytic (0 for the optimal discriminator), nats",
    "d_loss": "T's logistic loss on held-out (x, z ~ q) vs (x, z ~ p) pairs; 2 log 2 = 1.386 is chance",
    "d_accuracy": "share of those held-out pairs T labels correctly",
}


def add_arguments(t: argparse.ArgumentParser) -> None:
    """The options of ``train avb`` that no other model uses (shared ones such as --latent-dim live in cli.py)."""
    g = t.add_argument_group("Adversarial Variational Bayes (train avb)")
    g.add_argument("--avb-critic", choices=list(CRITICS), default="quadratic",
                   help="avb: T's family (quadratic in z with coefficients from x; the paper's inner product; an "
                        "MLP on [x, z])")
    g.add_argument("--avb-critic-hidden", type=int, default=256, help="avb: width of T's MLP(s)")
    g.add_argument("--avb-critic-steps", type=int, default=2, help="avb: T updates per encoder/decoder update")
    g.add_argument("--avb-critic-draws", type=int, default=8,
                   help="avb: posterior and prior draws per image in each T update")
    g.add_argument("--avb-critic-lr", type=float, default=1e-3, help="avb: Adam learning rate of T")


def handles(model: HubModule) -> bool:
    """Whether :func:`evaluate` here knows the model."""
    return isinstance(model, AVB)


def evaluate(model: HubModule, iwae_k: int = 1000, iwae_n: int = 1000, n: int | None = None) -> dict[str, float]:
    """Held-out metrics of an AVB on the Fashion-MNIST test set (the first ``n`` images if given)."""
    if not isinstance(model, AVB):
        raise ValueError(f"cli_avb cannot evaluate a {type(model).__name__}")
    test = load_fashion_mnist("test")
    return avb_metrics(model, test.float_images(slice(0, n) if n else None), iwae_k=iwae_k, iwae_n=iwae_n)


def eval_note(metrics: dict[str, float]) -> str:
    """One paragraph stating the protocol behind the card's metrics table."""
    iwae = (f" IWAE bound with K = {int(metrics['iwae_k'])} on the first {int(metrics['iwae_n']):,} test images "
            f"(possible only because the encoder's density is explicit)." if "iwae_k" in metrics else "")
    return (f"Fashion-MNIST test set ({int(metrics['n_images']):,} images), binarised once with a fixed seed "
            "(x ~ Bernoulli(grey level)); nats per image. Every term averages 4 posterior draws per image (and T's "
            "loss 4 prior draws), all seeded. `elbo` uses the analytic KL of the Gaussian encoder, the true ELBO of "
            "the model; `elbo_avb` uses T's estimate, the quantity training maximised." + iwae)


def build_model(args: argparse.Namespace) -> AVB:
    """The AVB that ``train avb`` asks for, from the command-line options."""
    return AVB(AVBConfig(latent_dim=args.latent_dim, hidden=args.hidden if args.hidden is not None else 256,
                         critic=args.avb_critic, critic_hidden=args.avb_critic_hidden))


def cmd_train(args: argparse.Namespace) -> int:
    """Train an AVB into a Hub-format folder, evaluate it on the test set, and write its card with the KL history."""
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    resume = out if args.resume and (out / STATE_JSON).is_file() else None
    if args.resume and resume is None:
        print(f"--resume: no training state in {out}; starting from scratch", file=sys.stderr)
    torch.manual_seed(args.seed)
    model = build_model(args)
    optim = AVBOptim(lr=args.lr, lr_critic=args.avb_critic_lr, critic_steps=args.avb_critic_steps,
                     critic_draws=args.avb_critic_draws)
    tc = TrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed, device=args.device,
                     log_every=args.log_every, checkpoint_every=args.checkpoint_every, out_dir=str(out))
    command = "python -m gen_core " + " ".join(shlex.quote(a) for a in sys.argv[1:] if a != "--resume")
    title = f"gen_core AVB on Fashion-MNIST (latent {args.latent_dim}, {args.avb_critic} discriminator)"
    summary = (f"Adversarial Variational Bayes (lecture notes 002; Mescheder et al. 2017): a VAE whose KL term is "
               f"estimated by a discriminator T(x, z) trained with the logistic loss to tell (x, z ~ q(z|x)) from "
               f"(x, z ~ N(0, I)); at its optimum T = log q(z|x) - log p(z), so KL ~ E_q T (the logit). The encoder "
               f"and decoder maximise E_q[log p(x|z) - T(x, z)]. MLP encoder and Bernoulli decoder ({model.config.hidden} "
               f"units, {model.config.depth} hidden layers); T is `{args.avb_critic}` ({args.avb_critic_hidden} units), "
               f"updated {args.avb_critic_steps}x per encoder/decoder update with {args.avb_critic_draws} posterior "
               f"and prior draws per image; Adam (beta1 = 0.5) lr {args.lr:g} / {args.avb_critic_lr:g}. The encoder "
               f"is Gaussian on purpose, so the analytic KL can be reported beside T's estimate; training never uses "
               f"it.")
    device_name = str(pick_device(args.device))

    def card(step: int, wall: float = 0.0, metrics: dict[str, float] | None = None) -> str:
        return cards.training_card(title, summary, command, model.config_dict, vars(args) | {"steps": step}, step,
                                   wall, device_name, metrics, eval_note(metrics) if metrics else "",
                                   usage("avb", str(out)), metric_notes=METRIC_NOTES)

    history: list[list[float]] = []

    def keep_history(ev: Event) -> None:
        """The KL curves for the card: resumed from the saved rows, one row per logged step, saved with each
        checkpoint."""
        if ev.kind == "start" and resume is not None and (out / HISTORY_NAME).is_file():
            history[:] = [row for row in json.loads((out / HISTORY_NAME).read_text()) if row[0] <= ev.step]
        elif ev.kind == "step":
            history.append([ev.step, round(ev.metrics["kl_estimate"], 4), round(ev.metrics["kl_analytic"], 4)])
        elif ev.kind == "checkpoint":
            (out / HISTORY_NAME).write_text(json.dumps(history))

    ran = follow_run(train(model, load_fashion_mnist("train").images, tc, resume_from=resume, card_fn=card,
                           task_factory=avb_task(optim)), args.steps, "train avb",
                     ("recon", "kl_estimate", "kl_analytic", "d_loss"), mininterval=10, on_event=keep_history)
    if ran is None:
        return 2
    step, wall = ran
    iwae_n = args.iwae_n if args.iwae_n is not None else 1000
    metrics = evaluate(model, iwae_k=args.iwae_k, iwae_n=iwae_n, n=args.eval_n)
    card_data: dict[str, Any] = {
        "gen_core_metrics": {k: round(v, 6) for k, v in metrics.items()},
        "gen_core_training": {"steps": step, "wall_time_s": round(wall, 1), "batch_size": args.batch_size,
                              "lr": args.lr, "critic_lr": args.avb_critic_lr, "critic_steps": args.avb_critic_steps,
                              "critic_draws": args.avb_critic_draws, "seed": args.seed, "log_every": args.log_every,
                              "command": command},
        HISTORY_KEY: history,
    }
    cards.publish_run(model, out, card(step, wall, metrics), card_data, metrics, args.keep_state,
                      (STATE_JSON, STATE_TENSORS, HISTORY_NAME))
    return 0
