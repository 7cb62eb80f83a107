"""Command line: ``python -m gen_core train <model> ...`` and ``python -m gen_core eval <folder or repo id>``.

This is how every folder in ``pretrained/`` is produced: train with a tqdm progress bar into a Hub-format
folder (checkpointing as it goes; ``--resume`` continues from the folder's training state), evaluate on held-out
data, and write the model card with the exact command, steps, wall time and metrics.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import shlex
import sys
from pathlib import Path
from typing import Any

import torch

from gen_core import cards, cli_avb, cli_cyclegan, cli_gan, cli_vaes

# Model families whose training lives in their own module: each has MODELS (the `train` names it owns),
# add_arguments(parser) (options with names no other module uses), cmd_train(args) -> exit code, handles(model)
# -> bool and evaluate(model) -> held-out metrics (what `eval` prints).
EXTENSIONS = [cli_gan, cli_cyclegan, cli_vaes, cli_avb]
from gen_core.data.fashion_mnist import load_fashion_mnist
from gen_core.data.toy2d import TARGETS, TARGETS_1D
from gen_core.models import VAE, Autoencoder, AutoencoderConfig, Flow, FlowConfig, VAEConfig, load_pretrained
from gen_core.models.bigan import BIGAN_TEST_N, BiGAN, evaluate_bigan
from gen_core.data.fashion_mnist import DataFileError
from gen_core.hub import (HubModule, WeightsError, init_training_differences, init_weights_from, recorded_steps,
                          resolve)
from gen_core.metrics.density import (ENTROPY_N, EVAL_SEED, MIXTURE_TARGETS, TEST_N, build_target,
                                      likelihood_report, target_of)
from gen_core.data.dsprites import DSpritesBatches
from gen_core.metrics.beta_vae import N_HELD_OUT, evaluate_dsprites_vae
from gen_core.metrics.likelihood import evaluate_autoencoder, evaluate_vae
from gen_core.train import TrainConfig, train
from gen_core.train.loop import STATE_JSON, STATE_TENSORS, LikelihoodTask, SamplerBatches, pick_device
from gen_core.train.progress import follow_run
from gen_core.usage import usage


def evaluate(model: HubModule, iwae_k: int = 1000, n: int | None = None, iwae_n: int | None = None,
             preset: str = "disentanglement_lib") -> dict[str, Any]:
    """Held-out metrics for any supported model: Fashion-MNIST test set (first ``n`` images if given) for the
    image models; for a flow, test NLL on ``n`` (default 100,000) fresh samples of the target recorded in its
    config, drawn with a fixed seed, the target's true entropy and their gap (gen_core.metrics.density); for a
    64x64 (dSprites) beta-VAE, the likelihood terms and the four disentanglement metrics under ``preset``."""
    for ext in EXTENSIONS:  # 2-D GANs, DCGANs, the FID classifier, CycleGANs, ...
        if ext.handles(model):
            options = {"iwae_k": iwae_k, "iwae_n": iwae_n, "n": n}     # the ones this extension's evaluate takes
            accepted = inspect.signature(ext.evaluate).parameters
            return ext.evaluate(model, **{k: v for k, v in options.items() if k in accepted and v is not None})
    if isinstance(model, VAE) and model.config.architecture == "conv64":
        return evaluate_dsprites_vae(model, preset=preset, n=n or N_HELD_OUT)  # type: ignore[arg-type]
    if isinstance(model, Flow):
        return likelihood_report(model, target_of(model), n=n or TEST_N).as_dict()
    if isinstance(model, BiGAN):           # only the Theory tab trains these, on its ring (models.bigan.bigan_ring)
        return evaluate_bigan(model, n=n or BIGAN_TEST_N)
    test = load_fashion_mnist("test")
    images = test.float_images(slice(0, n) if n else None)
    if isinstance(model, VAE):
        return evaluate_vae(model, images, iwae_k=iwae_k, iwae_n=iwae_n)
    if isinstance(model, Autoencoder):
        return evaluate_autoencoder(model, images)
    raise ValueError(f"gen_core eval does not know how to evaluate a {type(model).__name__} yet")


def eval_note(metrics: dict[str, Any]) -> str:
    """One paragraph stating the evaluation protocol behind a metrics table."""
    if "mig" in metrics:
        protocol = ("the disentanglement_lib sample counts of EVALUATION.md" if metrics["preset"] == "disentanglement_lib"
                    else f"the reduced {metrics['preset']!r} preset (not comparable with published numbers)")
        return (
            f"dSprites has no test split: `elbo`, `kl`, `recon_nll` (nats per image) and `recon_mse` are on "
            f"{int(metrics['n_images']):,} images drawn uniformly with the fixed seed {EVAL_SEED}. The four "
            f"disentanglement metrics score the encoder mean with {protocol} (gen_core.metrics.disentanglement): "
            "`beta_vae` and `factor_vae` are eval-set accuracies, `mig` the mutual information gap, `dci_*` "
            "DCI with gradient-boosted trees. `kl_per_dim` (nats), `code_variance` (Var over images of each dim's "
            "posterior mean; > 0.01: the dim is active) and the 10 x 5 latent x factor mutual information (nats; "
            "factors shape, scale, orientation, x, y) are in the card metadata."
        )
    if "gap" in metrics:
        exact = metrics["true_entropy_se"] == 0.0
        return (
            f"`test_nll`: mean -log q(x) in nats over {int(metrics['n_test']):,} fresh samples of the target, drawn "
            f"with the fixed seed {EVAL_SEED} (training batches use other seeds), with its standard error "
            f"`test_nll_se`. `true_entropy`: the target's differential entropy H(p) = -E_p log p(x), "
            + ("exact (closed form). " if exact else
               f"a Monte Carlo estimate on {ENTROPY_N:,} samples with standard error `true_entropy_se`. ")
            + "`gap` = test NLL - H(p) estimates KL(p_data || p_model) >= 0 (0 = perfect fit; EVALUATION.md, "
            "\"Likelihood\"), with standard error `gap_se`. All in nats."
        )
    if "elbo" not in metrics:
        return f"Fashion-MNIST test set ({int(metrics['n_images'])} images)."
    return (
        f"Fashion-MNIST test set ({int(metrics['n_images'])} images), binarised once with a fixed seed "
        f"(x ~ Bernoulli(grey level)) for the Bernoulli decoder, which trains on fresh binarisations of the "
        f"training images; IWAE bound with K = {int(metrics.get('iwae_k', 0))} importance samples on the first "
        f"{int(metrics.get('iwae_n', 0))} test images. Nats per image; higher ELBO / IWAE is better."
    )


def kl_schedule_options(args: argparse.Namespace) -> dict[str, Any]:
    """VAEConfig's KL-weight schedule from ``--kl-warmup`` (0 -> beta) or ``--beta-start`` (beta_start -> beta)."""
    if args.beta_start is None:
        if args.beta_hold or args.beta_decay:
            raise ValueError("--beta-hold and --beta-decay shape a decaying beta: give --beta-start too")
        return {"kl_schedule": "linear" if args.kl_warmup else "constant", "kl_warmup_steps": args.kl_warmup}
    if args.kl_warmup:
        raise ValueError("--kl-warmup raises the KL weight from 0 and --beta-start lowers it from beta_start: "
                         "use one of them")
    if args.beta_hold + args.beta_decay > args.steps:
        raise ValueError(f"--beta-hold + --beta-decay ({args.beta_hold + args.beta_decay:,}) exceeds --steps "
                         f"({args.steps:,}): the run would end before beta reaches --beta {args.beta:g}")
    return {"kl_schedule": "decay", "beta_start": args.beta_start, "beta_hold_steps": args.beta_hold,
            "beta_decay_steps": args.beta_decay}


def build_model(args: argparse.Namespace) -> HubModule:
    """The model that ``train <model>`` asks for, from the command-line options."""
    hidden = args.hidden if args.hidden is not None else DEFAULT_HIDDEN[args.model]
    if args.model == "flow":
        target = build_target(args.target, args.std)
        if (args.flow == "monotone1d") != (target.dim == 1):
            raise ValueError(f"--flow {args.flow} does not fit the {target.dim}-D target {args.target!r}: use "
                             f"monotone1d for {', '.join(TARGETS_1D)} and nice/realnvp/spline for {', '.join(TARGETS)}")
        std = target.std if args.target in MIXTURE_TARGETS else None  # record the std actually used
        return Flow(FlowConfig(flow=args.flow, dim=target.dim, n_layers=args.layers, hidden=hidden,
                               n_bins=args.bins, tail_bound=args.tail_bound, target=args.target, std=std))
    capacity = {"capacity_max": args.capacity_max,
                "capacity_steps": args.steps if args.capacity_steps is None else args.capacity_steps}
    kl = kl_schedule_options(args)
    if args.model == "vae" and args.dataset == "dsprites":
        return VAE(VAEConfig(latent_dim=args.latent_dim, architecture="conv64", likelihood="bernoulli",
                             beta=args.beta, hidden=hidden, objective=args.objective, **kl, **capacity))
    if args.model == "vae":
        return VAE(VAEConfig(latent_dim=args.latent_dim, likelihood=args.likelihood, beta=args.beta,
                             channels=args.channels, hidden=hidden, objective=args.objective, **kl, **capacity))
    return Autoencoder(AutoencoderConfig(latent_dim=args.latent_dim, corruption=args.corruption,
                                         noise_level=args.noise_level, channels=args.channels, hidden=hidden))


DEFAULT_HIDDEN = {"vae": 256, "autoencoder": 256, "flow": 64}  # flows: a few hundred KB of weights per folder


class CosineLRTask(LikelihoodTask):
    """The shared loop's likelihood step with the learning rate decayed along a half cosine,
    ``lr_t = lr * (r + (1 - r) * (1 + cos(pi t / T)) / 2)``, r = ``MIN_LR_RATIO``, t = step, T = total steps.

    The rate is a function of the step alone, so a resumed run continues the same schedule. Flows need the decay to
    settle into sharp modes (a constant rate leaves the test NLL jittering by ~0.05 nats).
    """

    MIN_LR_RATIO = 0.01

    def step(self, batch: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        frac = min(max(step - 1, 0) / max(self.config.steps - 1, 1), 1.0)
        scale = self.MIN_LR_RATIO + (1 - self.MIN_LR_RATIO) * 0.5 * (1 + math.cos(math.pi * frac))
        for group in self.optimizer.param_groups:
            group["lr"] = self.config.lr * scale
        return super().step(batch, step)


BF16_NOTE = ("Trained under bfloat16 autocast (`--precision bf16`: the convolutions and matrix products in bfloat16, "
             "the weights, the loss and Adam in float32), 1.37x the float32 steps/s on one thread of this CPU "
             "(benchmarks/bench_beta_vae.py). ")


def cmd_train(args: argparse.Namespace) -> int:
    """Train a model into a Hub-format folder, evaluate it, and write its model card."""
    if args.precision != "auto" and args.model not in ("vae", "autoencoder", "flow"):
        raise ValueError(f"--precision applies to vae, autoencoder and flow only; drop it for {args.model}.")
    if args.init_from and args.model not in ("vae", "autoencoder", "cyclegan"):
        raise ValueError(f"--init-from applies to vae, autoencoder and cyclegan only; drop it for {args.model}.")
    for ext in EXTENSIONS:
        if args.model in ext.MODELS:
            return ext.cmd_train(args)
    out = Path(args.out)
    resume = out if args.resume and (out / STATE_JSON).is_file() else None
    if args.model == "flow" and args.target is None:
        raise ValueError("train flow needs --target (one of " + ", ".join([*TARGETS, *TARGETS_1D]) + ")")
    model = build_model(args)
    if args.resume and resume is None:
        print(f"--resume: no training state in {out}; starting from scratch", file=sys.stderr)
    init_steps = 0
    if args.init_from:  # a resumed run has its weights in the training state already
        init_steps = recorded_steps(args.init_from) if resume is not None else init_weights_from(
            model, args.init_from, what=args.model, hint="pass the architecture options of its card's command")
    init_changed = init_training_differences(model, args.init_from) if args.init_from else {}
    tc = TrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed, device=args.device,
                     log_every=args.log_every, checkpoint_every=args.checkpoint_every, out_dir=str(out),
                     compile=args.compile, precision=args.precision)
    command = "python -m gen_core " + " ".join(shlex.quote(a) for a in sys.argv[1:] if a != "--resume")
    title = f"gen_core {args.model} on Fashion-MNIST (latent {args.latent_dim})"
    summary = {
        "vae": f"A convolutional VAE ({args.likelihood} decoder, beta = {args.beta}) trained on Fashion-MNIST by "
               f"gen_core's shared training loop. Lecture notes 000 (2.5), 001, 003, 004.",
        "autoencoder": f"A convolutional autoencoder (corruption: {args.corruption}) trained on Fashion-MNIST.",
        "flow": "",
    }[args.model]
    device_name = str(torch.device("cuda" if torch.cuda.is_available() and args.device != "cpu" else "cpu"))
    dsprites = args.model == "vae" and args.dataset == "dsprites"
    if dsprites:
        where = "on a CPU" if device_name == "cpu" else "on a GPU"
        rate = "at a higher rate to compensate" if args.lr > 1e-4 else "at the same rate"
        total = init_steps + args.steps
        shorter = f"a shorter run {where}, {rate}" if total < 300_000 else f"a run of that length {where}"
        kind = {"beta_vae": "beta-VAE", "beta_tcvae": "beta-TCVAE", "annealed_vae": "AnnealedVAE"}[args.objective]
        title = f"gen_core {kind} on dSprites (beta = {args.beta:g}, latent {args.latent_dim})"
        cfg = model.config
        weighs = {"beta_tcvae": "weighs only the total correlation of the aggregate posterior (estimated on each "
                                "batch, Chen et al. 2018), the rest of the KL keeps weight 1",
                  "annealed_vae": f"weighs |KL - C|, Burgess et al.'s gamma, with the capacity C raised linearly "
                                  f"from 0 to {getattr(cfg, 'capacity_max', 0):g} nats over "
                                  f"{getattr(cfg, 'capacity_steps', 0):,} steps (Burgess et al. 2018)",
                  "beta_vae": "weighs the whole KL term"}[args.objective]
        if getattr(cfg, "kl_schedule", "constant") == "decay":
            weighs += (f"; the weight starts at beta = {cfg.beta_start:g} for {cfg.beta_hold_steps:,} steps and "
                       f"falls geometrically to {args.beta:g} over the next {cfg.beta_decay_steps:,} "
                       f"(`--beta-start`, gen_core.models.vae.beta_decay), so the model ends at beta = {args.beta:g}")
        summary = (f"A {kind} (beta = {args.beta:g}; beta {weighs}) with the disentanglement_lib architecture "
                   f"(conv 32-32-64-64, "
                   f"FC 256, latent {args.latent_dim}, Bernoulli decoder) trained on dSprites images rendered "
                   f"exactly by gen_core, batches drawn uniformly over the 737,280 factor combinations. "
                   f"{args.steps:,} steps, Adam lr {args.lr:g} ({args.lr_schedule} schedule): the papers train "
                   f"300k steps at lr 1e-4, so this is {shorter}. {BF16_NOTE if args.precision == 'bf16' else ''}"
                   f"Lecture notes 000 A.3.2 and 001: beta > 1 is claimed to give disentangled latents "
                   f"empirically, with no guarantee; the metrics below test the claim.")
    if args.init_from:
        trained_with = ", ".join(f"{k} = {v:g}" if isinstance(v, float) else f"{k} = {v}" for k, v in
                                 init_changed.items())
        summary += (f" Initialised from the weights of `{args.init_from}` ({init_steps:,} steps"
                    f"{', trained with ' + trained_with if trained_with else ''}), then trained "
                    f"{args.steps:,} more steps with a fresh optimizer: {init_steps + args.steps:,} steps in all."
                    if init_steps else f" Initialised from the weights of `{args.init_from}` (its card records no "
                    f"step count), then trained {args.steps:,} more steps with a fresh optimizer.")
    if args.model == "flow":
        std = f", component std {model.config.std:g}" if model.config.std is not None else ""
        title = f"gen_core {args.flow} flow on the {args.target} target{std}"
        summary = (f"A {args.flow} normalizing flow ({args.layers} layers, width {model.config.hidden}) fitted by "
                   f"maximum likelihood to fresh samples of gen_core's `{args.target}` toy target{std}, whose exact "
                   f"density gives the true entropy. log p_X(x) = log p_Z(f(x)) + log |det df/dx| (lecture notes "
                   f"001, Ryu, SNU ch. 5). Learning rate: {args.lr_schedule} schedule.")

    def card(step: int, wall: float = 0.0, metrics: dict[str, float] | None = None) -> str:
        return cards.training_card(title, summary, command, model.config_dict, vars(args) | {"steps": step}, step,
                                   wall, device_name, metrics, eval_note(metrics) if metrics else "",
                                   usage("dsprites" if dsprites else args.model, str(out)))

    if args.model == "flow":
        data: Any = SamplerBatches(target_of(model), args.batch_size, args.seed, pick_device(args.device))
    elif dsprites:
        data = DSpritesBatches(args.batch_size, args.seed, pick_device(args.device))
    else:
        data = load_fashion_mnist("train").images
    task = CosineLRTask if args.lr_schedule == "cosine" else LikelihoodTask
    ran = follow_run(train(model, data, tc, resume_from=resume, card_fn=card, task_factory=task), args.steps,
                     f"train {args.model}", ("loss", "kl", "recon", "nll", "tc"))
    if ran is None:
        return 2
    step, wall = ran
    metrics = evaluate(model, iwae_k=args.iwae_k, n=args.eval_n, iwae_n=args.iwae_n, preset=args.metrics_preset)
    # Every card keeps its run under ``gen_core_training`` (what --init-from reads); flows and dSprites VAEs also keep
    # their held-out metrics, so the UI shows them without recomputing.
    training: dict[str, Any] = {"steps": step, "wall_time_s": round(wall, 1), "batch_size": args.batch_size,
                                "lr": args.lr, "lr_schedule": args.lr_schedule, "seed": args.seed}
    if dsprites:
        training.update({"dataset": "dsprites", "command": command})
    if args.init_from:
        training.update({"init_from": str(args.init_from), "init_steps": init_steps, "total_steps": init_steps + step})
        if init_changed:
            training["init_config"] = init_changed       # the training-only settings the first part used
    card_data: dict[str, Any] = {"gen_core_training": training}
    if dsprites:
        card_data["gen_core_metrics"] = metrics
        metrics = {k: v for k, v in metrics.items() if isinstance(v, (float, str))}  # the card's table: no lists
    if args.model == "flow":
        card_data["gen_core_metrics"] = {k: round(v, 6) for k, v in metrics.items()}
    cards.publish_run(model, out, card(step, wall, metrics), card_data, metrics, args.keep_state,
                      (STATE_JSON, STATE_TENSORS))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    """Print held-out metrics of a saved model as JSON; with ``--check``, compare them with its model card and
    exit with 1 when one differs beyond float rounding."""
    card = cards.card_metrics(resolve(args.path)) if args.check else {}
    if args.check and not card:
        raise ValueError(f"{args.path}: its model card states no metrics to check against")
    model = load_pretrained(args.path, device=args.device if args.device != "auto" else "cpu")
    metrics = evaluate(model, iwae_k=args.iwae_k, n=args.n, iwae_n=args.iwae_n, preset=args.metrics_preset)
    print(json.dumps(metrics, indent=2))
    if not args.check:
        return 0
    checks = cards.check_against_card(metrics, card)
    bad = [c for c in checks if not c.ok]
    for c in bad:
        print(f"differs: {c.key} computed {c.computed:.6g}, card {c.card}", file=sys.stderr)
    if not checks:
        print(f"{args.path}: no metric of this evaluation is on its card", file=sys.stderr)
        return 1
    if bad:
        counts = [c.key for c in bad if c.key.startswith("n_") or c.key.endswith(("_n", "_k"))]
        hint = (f" The sample counts differ ({', '.join(counts)}): pass the card's (--n, --iwae-k, --iwae-n; its "
                "Training section gives the command)." if counts else "")
        print(f"{args.path}: {len(bad)} of {len(checks)} card metrics differ.{hint}", file=sys.stderr)
        return 1
    print(f"{args.path}: all {len(checks)} card metrics reproduced", file=sys.stderr)
    return 0


def parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m gen_core``."""
    p = argparse.ArgumentParser(prog="python -m gen_core", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train a model into a Hub-format folder")
    t.add_argument("model", choices=["vae", "autoencoder", "flow", *(m for ext in EXTENSIONS for m in ext.MODELS)])
    t.add_argument("--out", required=True, help="output folder (config.json, model.safetensors, README.md)")
    t.add_argument("--steps", type=int, default=20_000)
    t.add_argument("--batch-size", type=int, default=128)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default="auto")
    t.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    t.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto",
                   help="vae/autoencoder/flow: 'bf16' trains under bfloat16 autocast, on CPU too (the loss and the "
                        "weights stay float32; 1.3-1.4x the float32 conv64 steps/s on this AVX512-BF16 CPU); "
                        "'auto': bf16 on CUDA, float32 on CPU")
    t.add_argument("--compile", action="store_true",
                   help="vae/autoencoder/flow: run the loss under torch.compile (a one-time compile, then faster steps)")
    t.add_argument("--latent-dim", type=int, default=16)
    t.add_argument("--channels", type=int, default=32)
    t.add_argument("--hidden", type=int, default=None,
                   help="hidden width (default: 256 for vae/autoencoder, 64 for flow)")
    t.add_argument("--likelihood", choices=["bernoulli", "gaussian"], default="bernoulli")
    t.add_argument("--dataset", choices=["fashion-mnist", "dsprites"], default="fashion-mnist",
                   help="vae: Fashion-MNIST (28x28, conv28) or dSprites (64x64, disentanglement_lib conv64)")
    t.add_argument("--metrics-preset", choices=["disentanglement_lib", "fast", "smoke"], default="disentanglement_lib",
                   help="dSprites vae: sample counts of the disentanglement metrics after training")
    t.add_argument("--beta", type=float, default=1.0)
    t.add_argument("--objective", choices=["beta_vae", "beta_tcvae", "annealed_vae"], default="beta_vae",
                   help="vae: beta weighs the whole KL (beta-VAE), only its total-correlation term (beta-TCVAE, "
                        "Chen et al. 2018), or |KL - C| with the capacity C raised over training (AnnealedVAE, "
                        "Burgess et al. 2018; beta is their gamma)")
    t.add_argument("--capacity-max", type=float, default=25.0,
                   help="vae, annealed_vae: the capacity C reached, in nats (Burgess et al.: 25 on dSprites)")
    t.add_argument("--capacity-steps", type=int, default=None,
                   help="vae, annealed_vae: steps over which C rises linearly from 0 (default: --steps)")
    t.add_argument("--kl-warmup", type=int, default=0, help="steps of linear KL annealing from 0 to beta")
    t.add_argument("--beta-start", type=float, default=None,
                   help="vae: start the KL weight at this beta and let it fall to --beta (hold it --beta-hold "
                        "steps, then a geometric decay over --beta-decay steps)")
    t.add_argument("--beta-hold", type=int, default=0, help="vae, with --beta-start: steps at beta_start")
    t.add_argument("--beta-decay", type=int, default=0,
                   help="vae, with --beta-start: steps of the geometric decay from beta_start to --beta")
    t.add_argument("--corruption", choices=["none", "gaussian", "masking"], default="none")
    t.add_argument("--noise-level", type=float, default=0.3)
    t.add_argument("--target", choices=[*TARGETS, *TARGETS_1D], default=None,
                   help="flow: toy target (2-D: " + ", ".join(TARGETS) + "; 1-D: " + ", ".join(TARGETS_1D) + ")")
    t.add_argument("--std", type=float, default=None,
                   help="flow: component std of a mixture target (" + ", ".join(MIXTURE_TARGETS) + "); "
                        "default: the target's own default")
    t.add_argument("--flow", choices=["nice", "realnvp", "spline", "monotone1d"], default="spline",
                   help="flow: family (monotone1d for the 1-D targets)")
    t.add_argument("--layers", type=int, default=8, help="flow: coupling (or monotone) layers")
    t.add_argument("--bins", type=int, default=8, help="flow: rational-quadratic bins (spline)")
    t.add_argument("--tail-bound", type=float, default=5.0,
                   help="flow: the splines act on [-B, B] (identity outside); B must cover the data (spline)")
    t.add_argument("--lr-schedule", choices=["constant", "cosine"], default="constant",
                   help="constant lr, or a half-cosine decay to lr/100 over --steps")
    t.add_argument("--log-every", type=int, default=50)
    t.add_argument("--checkpoint-every", type=int, default=1000)
    t.add_argument("--resume", action="store_true", help="continue from the training state in --out")
    t.add_argument("--keep-state", action="store_true", help="keep optimizer state files after training")
    t.add_argument("--init-from", default=None,
                   help="vae, autoencoder, cyclegan: start from the weights of this trained folder (same "
                        "architecture; a vae may change --beta, --objective, --kl-warmup and the capacity) and train "
                        "--steps more, "
                        "with a fresh optimizer and the schedule given here")
    t.add_argument("--iwae-k", type=int, default=1000)
    t.add_argument("--iwae-n", type=int, default=None, help="test images for the IWAE bound (default: all)")
    t.add_argument("--eval-n", type=int, default=None,
                   help="held-out examples after training (default: the whole test set; flows 100,000 target "
                        "samples; dSprites 10,000 images)")
    for ext in EXTENSIONS:
        ext.add_arguments(t)
    e = sub.add_parser("eval", help="print held-out metrics of a folder or Hub repo id as JSON")
    e.add_argument("path")
    e.add_argument("--device", default="auto")
    e.add_argument("--iwae-k", type=int, default=1000)
    e.add_argument("--n", type=int, default=None,
                   help="evaluate on the first n test images (flows: n fresh target samples, default 100,000)")
    e.add_argument("--iwae-n", type=int, default=None)
    e.add_argument("--metrics-preset", choices=["disentanglement_lib", "fast", "smoke"], default="disentanglement_lib",
                   help="dSprites vae: sample counts of the disentanglement metrics")
    e.add_argument("--check", action="store_true",
                   help="compare the metrics with the model card's; exit 1 if one differs beyond float rounding")
    s = sub.add_parser("seeds", help="list in a folder's card the metrics of other seeds of its exact command")
    s.add_argument("path", help="the model folder whose card gets the table")
    s.add_argument("others", nargs="+", help="folders trained by the same command with another --seed")
    return p


def cmd_seeds(args: argparse.Namespace) -> int:
    """``seeds FOLDER OTHER...``: record the other seeds' held-out metrics in FOLDER's card (cards.record_seed_runs)."""
    runs = cards.record_seed_runs(args.path, args.others)
    print(f"{args.path}: recorded seeds " + ", ".join(str(r["seed"]) for r in runs))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m gen_core``."""
    args = parser().parse_args(argv)
    if getattr(args, "threads", None):
        torch.set_num_threads(args.threads)
    try:
        return {"train": cmd_train, "eval": cmd_eval, "seeds": cmd_seeds}[args.command](args)
    except (WeightsError, DataFileError, ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
