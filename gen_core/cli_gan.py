"""The GAN family's part of the command line: ``python -m gen_core train gan|dcgan|classifier`` and their ``eval``.

Kept beside ``cli.py`` (which dispatches here) so the adversarial options, the mode-coverage and FID-FMNIST
evaluations and their model cards read in one place. Every run goes through the shared training loop
(``gen_core.train.loop.train``) with the adversarial task or, for the classifier, the likelihood task.

    python -m gen_core train gan --target ring --loss lsgan --steps 4000 --batch-size 256 --out pretrained/gan-ring-lsgan
    python -m gen_core train classifier --steps 6000 --out pretrained/fmnist-classifier
    python -m gen_core train dcgan --n-classes 10 --steps 6000 --out pretrained/cdcgan-fmnist
    python -m gen_core eval pretrained/gan-ring-lsgan
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gen_core import cards, losses
from gen_core.data.fashion_mnist import load_fashion_mnist
from gen_core.data.toy2d import TARGETS, make_target
from gen_core.hub import HubModule
from gen_core.metrics.fid import N_FID, extract_features, fid_from_features, sample_quality
from gen_core.metrics.modes import N_SAMPLES, histogram_divergences, mode_report
from gen_core.models.classifier import ClassifierConfig, FMNISTClassifier
from gen_core.models.gan import DCGAN, GAN2D, DCGANConfig, GAN2DConfig, data_scale_for
from gen_core.train.adversarial import SCHEMES, AdversarialConfig, adversarial_task
from gen_core.train.loop import (STATE_JSON, STATE_TENSORS, LabelledBatches, LikelihoodTask, SamplerBatches,
                                 TensorBatches, TrainConfig, pick_device, train)
from gen_core.train.progress import follow_run
from gen_core.usage import usage

MODELS = ("gan", "dcgan", "classifier")
EVAL_SEEDS = (0, 1, 2, 3, 4)          # sampling seeds of the 2-D mode metrics (2,500 samples each)
CLASSIFIER_DIR = Path(__file__).resolve().parents[1] / "pretrained" / "fmnist-classifier"
VAE_DIR = Path(__file__).resolve().parents[1] / "pretrained" / "vae-fmnist-16"


def add_arguments(t: argparse.ArgumentParser) -> None:
    """The GAN options of ``train`` (the shared ones, e.g. --steps, --lr, --target, --hidden, live in cli.py)."""
    g = t.add_argument_group("GANs (train gan / dcgan)")
    g.add_argument("--loss", choices=list(losses.GAN_LOSSES), default="non_saturating", help="GAN objective")
    g.add_argument("--scheme", choices=list(SCHEMES), default="alternating", help="update scheme of the two players")
    g.add_argument("--n-critic", type=int, default=1, help="critic steps per generator step (--scheme n_critic)")
    g.add_argument("--lr-g", type=float, default=None, help="generator learning rate (default: --lr)")
    g.add_argument("--lr-d", type=float, default=None, help="critic learning rate (default: --lr)")
    g.add_argument("--normalization", choices=["none", "spectral"], default="none",
                   help="spectral normalisation of the critic's layers")
    g.add_argument("--gan-lr-schedule", choices=["constant", "cosine", "linear_decay"], default=None,
                   help="learning-rate schedule of both players (default: --lr-schedule); cosine and linear_decay "
                        "fall to 1%% of the rate over --steps")
    g.add_argument("--depth", type=int, default=3, help="gan: hidden layers of G and D")
    g.add_argument("--z-dim", type=int, default=None, help="latent dimension (default: 2 for gan, 64 for dcgan)")
    g.add_argument("--n-classes", type=int, default=0, help="dcgan: 10 for the class-conditional DCGAN")
    g.add_argument("--classifier", default=str(CLASSIFIER_DIR), help="dcgan eval: the FID-FMNIST classifier")


def _gan2d(args: argparse.Namespace) -> tuple[GAN2D, Any]:
    target_name = args.target or "ring"
    if target_name not in TARGETS:
        raise ValueError(f"train gan needs a 2-D --target, one of {', '.join(TARGETS)}")
    target = make_target(target_name, **({"std": args.std} if args.std is not None else {}))
    std = getattr(target, "std", None) if args.std is not None else None
    model = GAN2D(GAN2DConfig(latent_dim=args.z_dim or 2, hidden=args.hidden or 128, depth=args.depth, loss=args.loss,
                              normalization=args.normalization, target=target_name, target_std=std,
                              data_scale=data_scale_for(target.bounds)))
    return model, target


def target_of(model: GAN2D) -> Any:
    """The toy target a 2-D GAN was trained on (recorded in its config)."""
    c = model.config
    return make_target(c.target, **({"std": c.target_std} if c.target_std is not None else {}))


@torch.no_grad()
def evaluate_gan2d(model: GAN2D) -> dict[str, float]:
    """Modes captured and % high quality (EVALUATION.md protocol, 2,500 samples) averaged over the sampling seeds
    ``EVAL_SEEDS``, with the worst seed's modes, and the KL / JS divergences between 2-D histograms of 2,500 real
    and 2,500 generated samples (seed 0)."""
    target = target_of(model)
    model.eval()
    reports, first = [], None
    for seed in EVAL_SEEDS:
        fake = model.generate(torch.randn(N_SAMPLES, model.latent_dim, generator=torch.Generator().manual_seed(seed)))
        first = fake if first is None else first
        reports.append(mode_report(fake, target.mode_centres, target.std))
    real = target.sample(N_SAMPLES, generator=torch.Generator().manual_seed(10_000))
    div = histogram_divergences(real, first, target.bounds)
    return {"modes": float(np.mean([r.modes for r in reports])), "modes_min": float(min(r.modes for r in reports)),
            "n_modes": float(reports[0].n_modes),
            "high_quality_pct": float(np.mean([r.high_quality_pct for r in reports])),
            "js_hist": div["js"], "kl_real_fake_hist": div["kl_real_fake"], "kl_fake_real_hist": div["kl_fake_real"],
            "n_samples": float(N_SAMPLES), "n_sample_seeds": float(len(EVAL_SEEDS))}


@torch.no_grad()
def generate_images(model: DCGAN, n: int, seed: int = 0, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``n`` images from a DCGAN (a conditional one gets labels 0..9 in equal shares), with the labels used."""
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    labels = (torch.arange(n) % model.config.n_classes) if model.conditional else None
    out = []
    for i in range(0, n, batch_size):
        z = torch.randn(min(batch_size, n - i), model.latent_dim, generator=gen)
        out.append(model.generate(z, None if labels is None else labels[i:i + batch_size]))
    return torch.cat(out), labels


def evaluate_dcgan(model: DCGAN, classifier_dir: str | Path = CLASSIFIER_DIR, n: int = N_FID) -> dict[str, float]:
    """FID-FMNIST of ``n`` samples against the test set, the train-vs-test floor, precision / recall / density /
    coverage (k = 5); for a conditional model also the classifier's agreement with the conditioning labels; and, when
    ``pretrained/vae-fmnist-16`` exists, the same FID for samples of that VAE (decoder means of z ~ N(0, I))."""
    from gen_core.models import load_pretrained

    clf = load_pretrained(classifier_dir)
    test = load_fashion_mnist("test").float_images()[:n]
    train_images = load_fashion_mnist("train").float_images(slice(0, n))
    samples, labels = generate_images(model, n)
    q = sample_quality(clf.features, samples, test, train_images)  # type: ignore[attr-defined]
    out = {"fid_fmnist": q.fid, "fid_floor_train_test": q.floor, "precision": q.precision, "recall": q.recall,
           "density": q.density, "coverage": q.coverage, "n_samples": float(n)}
    if labels is not None:
        out["label_agreement"] = float((clf.predict(samples) == labels).float().mean())  # type: ignore[attr-defined]
    if VAE_DIR.is_dir():
        vae = load_pretrained(VAE_DIR)
        with torch.no_grad():
            gen = torch.Generator().manual_seed(0)
            vae_samples = torch.cat([vae.decode(torch.randn(1000, vae.latent_dim, generator=gen))  # type: ignore[attr-defined]
                                     for _ in range(n // 1000)])
        f_test = extract_features(clf.features, test)  # type: ignore[attr-defined]
        out["vae_fid_fmnist"] = fid_from_features(extract_features(clf.features, vae_samples), f_test)  # type: ignore[attr-defined]
    return out


def evaluate_classifier(model: FMNISTClassifier) -> dict[str, float]:
    """Test accuracy on the 10,000 test images and the FID-FMNIST floor (10,000 training vs 10,000 test images)."""
    test = load_fashion_mnist("test")
    x = test.float_images()
    acc = float((model.predict(x) == test.labels).float().mean())
    train_x = load_fashion_mnist("train").float_images(slice(0, N_FID))
    model.eval()
    floor = fid_from_features(extract_features(model.features, train_x), extract_features(model.features, x))
    return {"test_accuracy": acc, "fid_floor_train_test": floor, "n_test": float(x.shape[0])}


def handles(model: HubModule) -> bool:
    """Whether ``evaluate`` here knows the model."""
    return isinstance(model, (GAN2D, DCGAN, FMNISTClassifier))


def evaluate(model: HubModule, classifier_dir: str | Path = CLASSIFIER_DIR) -> dict[str, float]:
    """Held-out metrics of a 2-D GAN, a DCGAN or the classifier (see the functions above)."""
    if isinstance(model, GAN2D):
        return evaluate_gan2d(model)
    if isinstance(model, DCGAN):
        return evaluate_dcgan(model, classifier_dir)
    if isinstance(model, FMNISTClassifier):
        return evaluate_classifier(model)
    raise ValueError(f"cli_gan cannot evaluate a {type(model).__name__}")


def eval_note(model: HubModule, metrics: dict[str, float]) -> str:
    """One paragraph stating the protocol behind the metrics table."""
    if isinstance(model, GAN2D):
        return (f"Mode coverage (EVALUATION.md, VEEGAN / PacGAN protocol): {N_SAMPLES:,} generator samples; a sample "
                f"is high quality within 3 std of its nearest mode; a mode is captured if at least one high-quality "
                f"sample is nearest to it. `modes` and `high_quality_pct` are means over {len(EVAL_SEEDS)} sampling "
                f"seeds of this one trained model (`modes_min`: the worst seed); the benchmark table in docs/gan.md "
                f"averages over 5 training seeds. `js_hist`, `kl_*_hist`: divergences in nats between 50 x 50 "
                f"histograms of {N_SAMPLES:,} real and generated samples (0.5 added to every bin for the KLs).")
    if isinstance(model, DCGAN):
        return (f"FID-FMNIST: Fréchet distance between the classifier features (pretrained/fmnist-classifier, 256-d) "
                f"of {int(metrics['n_samples']):,} samples and the 10,000 test images; `fid_floor_train_test` is the "
                f"same distance between {int(metrics['n_samples']):,} training images and the test images (the best a "
                f"model can expect). Not comparable with Inception-FID. Precision / recall / density / coverage: "
                f"Naeem et al. 2020, k = 5, on 5,000 features of each set. `vae_fid_fmnist`: the same FID for "
                f"samples of pretrained/vae-fmnist-16. 28x28 images and a few thousand CPU steps, far fewer than "
                f"the DCGAN paper.")
    return ("Accuracy on the 10,000 Fashion-MNIST test images; `fid_floor_train_test`: FID-FMNIST between 10,000 "
            "training and the 10,000 test images with this classifier's features.")


def cmd_train(args: argparse.Namespace) -> int:
    """Train a 2-D GAN, a DCGAN or the FID classifier into a Hub-format folder, evaluate it, write its card."""
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    resume = out if args.resume and (out / STATE_JSON).is_file() else None
    device = pick_device(args.device)
    tc = TrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed, device=args.device,
                     log_every=args.log_every, checkpoint_every=args.checkpoint_every, out_dir=str(out))
    adv = AdversarialConfig(scheme=args.scheme, n_critic=args.n_critic, lr_g=args.lr_g or args.lr,
                            lr_d=args.lr_d or args.lr, lr_schedule=args.gan_lr_schedule or args.lr_schedule)
    torch.manual_seed(args.seed)
    if args.model == "gan":
        model, target = _gan2d(args)
        data: Any = SamplerBatches(target, args.batch_size, args.seed, device)
        task: Any = adversarial_task(adv, data)
        title = f"gen_core 2-D GAN ({args.loss}) on the {model.config.target} target"
        summary = (f"An MLP GAN (G and D: {args.depth} hidden layers of {model.config.hidden}, latent dim "
                   f"{model.config.latent_dim}, critic normalisation `{args.normalization}`) trained with the "
                   f"`{args.loss}` objective and the `{args.scheme}` update scheme"
                   + (f" (n_critic = {args.n_critic})" if args.scheme == "n_critic" else "")
                   + f" on fresh samples of gen_core's `{model.config.target}` target. Lecture notes 000 3.3-3.4, "
                     f"001 (Ryu, SNU ch. 5).")
    elif args.model == "dcgan":
        model = DCGAN(DCGANConfig(latent_dim=args.z_dim or 64, channels=args.channels, n_classes=args.n_classes,
                                  loss=args.loss, normalization=args.normalization))
        ds = load_fashion_mnist("train")
        data = (LabelledBatches(ds.images, ds.labels, args.batch_size, args.seed, device) if args.n_classes
                else TensorBatches(ds.images, args.batch_size, args.seed, device))
        task = adversarial_task(adv, data)
        kind = "class-conditional DCGAN" if args.n_classes else "DCGAN"
        title = f"gen_core {kind} on Fashion-MNIST ({args.loss})"
        summary = (f"A {kind} (Radford et al. 2016, scaled to 28x28; "
                   + ("G(z, y), D(x, y) with one-hot labels, notes 000 B.3; " if args.n_classes else "")
                   + f"`{args.loss}` objective, `{args.scheme}` updates) trained on the 60,000 Fashion-MNIST "
                     f"training images by gen_core's shared training loop.")
    elif args.model == "classifier":
        model = FMNISTClassifier(ClassifierConfig(channels=args.channels))
        ds = load_fashion_mnist("train")
        data = LabelledBatches(ds.images, ds.labels, args.batch_size, args.seed, device)
        from gen_core.cli import CosineLRTask  # the likelihood step with a half-cosine learning rate
        task = CosineLRTask if args.lr_schedule == "cosine" else LikelihoodTask
        title = "gen_core Fashion-MNIST classifier (features of FID-FMNIST)"
        summary = ("A small CNN trained with cross-entropy on the 60,000 Fashion-MNIST training images (random "
                   "2-pixel shifts and horizontal flips). Its 256-d hidden layer defines FID-FMNIST "
                   "(EVALUATION.md): Inception weights cannot be downloaded here.")
    else:
        raise ValueError(f"cli_gan does not train {args.model!r}")
    command = "python -m gen_core " + " ".join(shlex.quote(a) for a in sys.argv[1:] if a != "--resume")
    device_name = str(device)
    train_info = vars(args) | {"lr_g": adv.lr_g, "lr_d": adv.lr_d}

    def card(step: int, wall: float = 0.0, metrics: dict[str, float] | None = None) -> str:
        return cards.training_card(title, summary, command, model.config_dict, train_info | {"steps": step}, step,
                                   wall, device_name, metrics, eval_note(model, metrics) if metrics else "",
                                   usage(args.model, str(out)))

    ran = follow_run(train(model, data, tc, resume_from=resume, card_fn=card, task_factory=task), args.steps,
                     f"train {args.model}", ("d_loss", "g_loss", "loss", "accuracy"), digits=3)
    if ran is None:
        return 2
    step, wall = ran
    metrics = evaluate(model, getattr(args, "classifier", CLASSIFIER_DIR))
    card_data = {"gen_core_metrics": {k: round(v, 6) for k, v in metrics.items()},
                 "gen_core_training": {"steps": step, "wall_time_s": round(wall, 1), "batch_size": args.batch_size,
                                       "lr_g": adv.lr_g, "lr_d": adv.lr_d, "scheme": args.scheme,
                                       "n_critic": args.n_critic, "lr_schedule": adv.lr_schedule,
                                       "seed": args.seed, "command": command}}
    cards.publish_run(model, out, card(step, wall, metrics), card_data, metrics, args.keep_state,
                      (STATE_JSON, STATE_TENSORS))
    return 0
