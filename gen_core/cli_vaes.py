"""The latent-variable models beyond the Gaussian VAE on the command line: CVAE, VQ-VAE, dVAE, flow-prior VAE.

``cli.py`` dispatches here (``EXTENSIONS``). Each trains through the shared loop on Fashion-MNIST training images,
is evaluated on the test set by :mod:`gen_core.metrics.latent_models`, and gets a model card with the command, steps,
wall time and held-out metrics (also in the card's metadata, which the UI reads).

    python -m gen_core train cvae --latent-dim 12 --steps 15000 --threads 1 --out pretrained/cvae-fmnist
    python -m gen_core train vqvae --codebook-size 512 --code-dim 16 --steps 6000 --threads 1 --out pretrained/vqvae-fmnist
    python -m gen_core train dvae --n-latents 20 --n-categories 10 --steps 8000 --threads 1 --out pretrained/dvae-fmnist
    python -m gen_core train flow_prior_vae --latent-dim 2 --steps 15000 --threads 1 --out pretrained/vae-fmnist-2d-flowprior
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

import torch

from gen_core import cards
from gen_core.data.fashion_mnist import load_fashion_mnist
from gen_core.hub import HubModule
from gen_core.metrics.latent_models import evaluate_cvae, evaluate_dvae, evaluate_prior_vae, evaluate_vqvae
from gen_core.models.cvae import CVAE, CVAEConfig
from gen_core.models.discrete import DVAE, VQVAE, DVAEConfig, VQVAEConfig
from gen_core.models.flow_prior import FlowPriorVAE, FlowPriorVAEConfig
from gen_core.train.loop import STATE_JSON, STATE_TENSORS, LabelledBatches, TrainConfig, pick_device, train
from gen_core.train.progress import follow_run
from gen_core.usage import usage

MODELS = ("cvae", "vqvae", "dvae", "flow_prior_vae")

SUMMARY = {
    "cvae": ("A conditional VAE (lecture notes 000 A.2, 003 Attribute2Image): encoder q(z|x, y), Bernoulli decoder "
             "p(x|z, y), prior N(0, I), the label entering both MLPs as a one-hot vector. The class is given, so the "
             "latent code keeps the style (width, brightness, pose), which the same code decoded under every class "
             "shows."),
    "vqvae": ("A VQ-VAE (van den Oord et al. 2017; lecture notes 002): a 7 x 7 grid of codes from a learned codebook, "
              "nearest-neighbour posterior, straight-through gradients, codebook and commitment terms (beta_c = "
              "0.25), Bernoulli decoder. The codebook is initialised from encoder outputs and dead codes are moved "
              "onto encoder outputs of the current batch (restarts), which keeps most codes in use."),
    "dvae": ("A discrete VAE (lecture notes 002): categorical latents with a uniform prior, trained with the "
             "Gumbel-softmax relaxation (Jang et al. 2016; Maddison et al. 2016) at a temperature annealed as "
             "tau_t = max(tau_min, tau_0 exp(-r t)); the KL to the uniform prior is exact. The test ELBO decodes "
             "exact Gumbel-max samples, so it bounds log p(x) of the discrete model."),
    "flow_prior_vae": ("A VAE whose prior p(z) is a normalizing flow over the latent (lecture notes 002): "
                       "log p(z) = log N(f(z)) + log |det J_f(z)|, trained jointly with the encoder and decoder on "
                       "the one-sample ELBO with a Monte Carlo KL. Same encoder, decoder, data, steps and seed as "
                       "pretrained/vae-fmnist-2d-4k (Gaussian prior), so the ELBO surgery terms compare the two "
                       "priors."),
}

METRIC_NOTES = {
    "codebook_usage": "share of the K codes selected at least once over all 7 x 7 positions of the test set",
    "codebook_perplexity": "exp of the entropy of the test-set code frequencies: effective codes in use",
    "codes_used": "codes selected at least once on the test set",
    "codebook_size": "K, entries in the codebook",
    "surgery_recon": "ELBO surgery: E_q log p(x|z) on the first 2,000 test images (4 draws each), nats",
    "surgery_mutual_info": "ELBO surgery: I_q[x, z], mutual information of image index and code, nats",
    "surgery_marginal_kl": "ELBO surgery: KL(q_agg || p), aggregate posterior against the prior, nats",
    "surgery_kl": "ELBO surgery: mean KL(q(z|x) || p(z)) = I_q + KL(q_agg || p), nats",
    "surgery_elbo": "ELBO surgery: recon - I_q - KL(q_agg || p), nats",
}


def add_arguments(t: argparse.ArgumentParser) -> None:
    """The options of ``train cvae|vqvae|dvae|flow_prior_vae`` that no other model uses."""
    g = t.add_argument_group("CVAE, VQ-VAE, dVAE, flow-prior VAE")
    g.add_argument("--codebook-size", type=int, default=512, help="vqvae: K codebook entries")
    g.add_argument("--code-dim", type=int, default=16, help="vqvae: dimension of each code")
    g.add_argument("--restart-every", type=int, default=100, help="vqvae: steps between dead-code restarts (0: off)")
    g.add_argument("--n-latents", type=int, default=20, help="dvae: categorical latents N")
    g.add_argument("--n-categories", type=int, default=10, help="dvae: categories K of each latent")
    g.add_argument("--tau-min", type=float, default=0.5, help="dvae: floor of the temperature schedule")
    g.add_argument("--anneal-rate", type=float, default=3e-4, help="dvae: r in tau_t = max(tau_min, exp(-r t))")
    g.add_argument("--prior-flow", choices=["spline", "realnvp", "nice"], default="spline",
                   help="flow_prior_vae: the flow family of the prior")
    g.add_argument("--prior-layers", type=int, default=4, help="flow_prior_vae: coupling layers of the prior")


def handles(model: HubModule) -> bool:
    """Whether :func:`evaluate` here knows the model."""
    return isinstance(model, (CVAE, VQVAE, DVAE, FlowPriorVAE))


def evaluate(model: HubModule, iwae_k: int = 1000, iwae_n: int | None = 1000, n: int | None = None) -> dict[str, Any]:
    """Held-out Fashion-MNIST test-set metrics (the first ``n`` test images, default all 10,000) of a CVAE, VQ-VAE,
    dVAE or flow-prior VAE."""
    test = load_fashion_mnist("test")
    images = test.float_images(slice(0, n) if n else None)
    if isinstance(model, CVAE):
        return evaluate_cvae(model, images, test.labels[:images.shape[0]], iwae_k=iwae_k, iwae_n=iwae_n)
    if isinstance(model, VQVAE):
        return evaluate_vqvae(model, images)
    if isinstance(model, DVAE):
        return evaluate_dvae(model, images)
    if isinstance(model, FlowPriorVAE):
        return evaluate_prior_vae(model, images, iwae_k=iwae_k, iwae_n=iwae_n)
    raise ValueError(f"cli_vaes cannot evaluate a {type(model).__name__}")


def build_model(args: argparse.Namespace) -> HubModule:
    """The model ``train <model>`` asks for, from the command-line options."""
    hidden = args.hidden if args.hidden is not None else 256
    if args.model == "cvae":
        return CVAE(CVAEConfig(latent_dim=args.latent_dim, hidden=args.hidden or 400, beta=args.beta))
    if args.model == "vqvae":
        return VQVAE(VQVAEConfig(codebook_size=args.codebook_size, code_dim=args.code_dim, channels=args.channels,
                                 restart_every=args.restart_every))
    if args.model == "dvae":
        return DVAE(DVAEConfig(n_latents=args.n_latents, n_categories=args.n_categories, channels=args.channels,
                               hidden=hidden, tau_min=args.tau_min, anneal_rate=args.anneal_rate))
    return FlowPriorVAE(FlowPriorVAEConfig(latent_dim=args.latent_dim, channels=args.channels, hidden=hidden,
                                           beta=args.beta, prior_flow=args.prior_flow, prior_layers=args.prior_layers))


def eval_note(model: str) -> str:
    """One paragraph stating the protocol behind the card's metrics table."""
    base = ("Fashion-MNIST test set (10,000 images), binarised once with a fixed seed (x ~ Bernoulli(grey level)); "
            "nats per image. `recon_mse` is ||x - D(code(x))||^2 summed over the 784 grey-level pixels.")
    extra = {
        "cvae": " ELBO and IWAE bound are on log p(x|y) with the true test label y; IWAE with K = 1000 on the first "
                "1,000 test images.",
        "vqvae": " With a uniform prior over the K codes the KL term of the VQ-VAE is the constant 49 log K, so "
                 "only the reconstruction term is reported.",
        "dvae": " The ELBO decodes exact Gumbel-max samples of the categorical posterior (one per image).",
        "flow_prior_vae": " IWAE with K = 1000 on the first 1,000 test images. ELBO surgery (gen_core.metrics.surgery): "
                          "on the first 2,000 test images with 4 posterior draws each; q_agg is the mixture of their "
                          "2,000 encoder Gaussians, so its log-density is exact.",
    }[model]
    return base + extra


def cmd_train(args: argparse.Namespace) -> int:
    """Train one of :data:`MODELS` into a Hub-format folder, evaluate it on the test set, and write its card."""
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    resume = out if args.resume and (out / STATE_JSON).is_file() else None
    if args.resume and resume is None:
        print(f"--resume: no training state in {out}; starting from scratch", file=sys.stderr)
    torch.manual_seed(args.seed)
    model = build_model(args)
    tc = TrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed, device=args.device,
                     log_every=args.log_every, checkpoint_every=args.checkpoint_every, out_dir=str(out))
    train_set = load_fashion_mnist("train")
    data: Any = train_set.images
    if args.model == "cvae":
        data = LabelledBatches(train_set.images, train_set.labels, args.batch_size, args.seed,
                               pick_device(args.device), transform=model.preprocess)
    command = "python -m gen_core " + " ".join(shlex.quote(a) for a in sys.argv[1:] if a != "--resume")
    title = {"cvae": f"gen_core conditional VAE on Fashion-MNIST (latent {args.latent_dim})",
             "vqvae": f"gen_core VQ-VAE on Fashion-MNIST ({args.codebook_size} codes of dim {args.code_dim})",
             "dvae": f"gen_core Gumbel-softmax dVAE on Fashion-MNIST ({args.n_latents} x {args.n_categories})",
             "flow_prior_vae": f"gen_core VAE with a {args.prior_flow} flow prior on Fashion-MNIST "
                               f"(latent {args.latent_dim})"}[args.model]
    device_name = str(pick_device(args.device))

    def card(step: int, wall: float = 0.0, metrics: dict[str, float] | None = None) -> str:
        return cards.training_card(title, SUMMARY[args.model], command, model.config_dict, vars(args) | {"steps": step},
                                   step, wall, device_name, metrics, eval_note(args.model) if metrics else "",
                                   usage(args.model, str(out)), metric_notes=METRIC_NOTES)

    ran = follow_run(train(model, data, tc, resume_from=resume, card_fn=card), args.steps, f"train {args.model}",
                     ("loss", "recon", "kl", "tau", "batch_usage", "commitment"), mininterval=10)
    if ran is None:
        return 2
    step, wall = ran
    metrics = evaluate(model, iwae_k=args.iwae_k, iwae_n=args.iwae_n if args.iwae_n is not None else 1000,
                       n=args.eval_n)
    card_data = {"gen_core_metrics": {k: round(v, 6) for k, v in metrics.items()},
                 "gen_core_training": {"steps": step, "wall_time_s": round(wall, 1), "batch_size": args.batch_size,
                                       "lr": args.lr, "seed": args.seed, "command": command}}
    cards.publish_run(model, out, card(step, wall, metrics), card_data, metrics, args.keep_state,
                      (STATE_JSON, STATE_TENSORS))
    return 0
