"""The CycleGAN part of the command line: ``python -m gen_core train cyclegan --pair sketch|shoes ...`` and its eval.

``cli.py`` dispatches here. Training runs through the shared loop (``gen_core.train.loop.train``) with
:class:`gen_core.models.cyclegan.CycleGANTask` on unpaired batches of :mod:`gen_core.data.domains`; checkpoints and
``--resume`` come from the loop. After training, :func:`gen_core.metrics.translation.evaluate_cyclegan` computes the
held-out metrics that go into the model card.

    python -m gen_core train cyclegan --pair shoes --steps 3000 --batch-size 8 --lr 2e-4 --channels 24 \
        --threads 1 --out pretrained/cyclegan-shoes
    python -m gen_core eval pretrained/cyclegan-shoes
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

import torch

from gen_core import cards
from gen_core.data.domains import EDGE_THRESHOLD, PAIRS, UnpairedBatches, load_domain_pair
from gen_core.hub import HubModule, init_weights_from, recorded_steps
from gen_core.models.cyclegan import CycleGAN, CycleGAN2D, CycleGANConfig, CycleGANOptim, cyclegan_task
from gen_core.train.loop import STATE_JSON, STATE_TENSORS, TrainConfig, pick_device, train
from gen_core.train.progress import follow_run
from gen_core.usage import usage

MODELS = ("cyclegan",)
CLASSIFIER_DIR = Path(__file__).resolve().parents[1] / "pretrained" / "fmnist-classifier"

SUMMARY = {
    "sketch": ("Sketch <-> garment: domain A = Sobel edge maps (computed by gen_core.data.domains) of one half of "
               "the Fashion-MNIST training images, domain B = the garments of the *other* half, so training never "
               "sees a pair. The test set keeps true pairs (an image and its own edge map) for evaluation only."),
    "shoes": ("Sneaker (class 7) <-> ankle boot (class 9): the 6,000 training images of each class, chosen by label; "
              "there are no pairs at all."),
}

METRIC_NOTES = {
    "label_preservation": "classifier accuracy on G(test sketch) against the source garment's label",
    "label_preservation_nn": "the same for the nearest-neighbour baseline's garment",
    "label_preservation_all": "label_preservation on every test sketch (the protocol's figure; the others use the first n_pairs)",
    "n_test_all": "test sketches label_preservation_all is measured on",
    "label_preservation_real": "the classifier's accuracy on the true test garments (ceiling)",
    "l1_to_partner": "mean |G(sketch) - true garment| per pixel on held-out pairs",
    "l1_to_partner_nn": "the same for the nearest-neighbour baseline",
    "ssim_to_partner": "SSIM(G(sketch), true garment), Gaussian window 11, sigma 1.5",
    "ssim_to_partner_nn": "SSIM of the nearest-neighbour baseline",
    "target_rate_a2b": "share of G(test sneaker) classified as ankle boot",
    "target_rate_b2a": "share of F(test ankle boot) classified as sneaker",
    "source_rate_a": "share of untranslated test sneakers classified as sneaker",
    "source_rate_b": "share of untranslated test ankle boots classified as ankle boot",
    "cycle_l1_a": "mean |F(G(x)) - x| per pixel, test domain A",
    "cycle_l1_b": "mean |G(F(y)) - y| per pixel, test domain B",
    "fid_b": "FID-FMNIST of G(test A) against the real test B images",
    "fid_a": "FID-FMNIST of F(test B) against the real test A images",
    "fid_b_floor": "FID-FMNIST of real training B images against the test B images",
    "fid_a_floor": "FID-FMNIST of real training A images against the test A images",
    "translate_ms": "ms to translate one image (batch of 1, one thread, CPU, median of 50)",
    "n_test_a": "test images of domain A evaluated",
    "n_test_b": "test images of domain B evaluated",
    "n_pairs": "held-out (sketch, true garment) pairs in the L1 / SSIM / baseline comparison",
}


def add_arguments(t: argparse.ArgumentParser) -> None:
    """The CycleGAN options of ``train`` (shared ones such as --steps, --lr, --channels live in cli.py)."""
    g = t.add_argument_group("CycleGAN (train cyclegan)")
    g.add_argument("--pair", choices=list(PAIRS), default="sketch", help="cyclegan: the domain pair")
    g.add_argument("--res-blocks", type=int, default=3, help="cyclegan: residual blocks of each generator")
    g.add_argument("--d-channels", type=int, default=32, help="cyclegan: first PatchGAN layer width")
    g.add_argument("--lambda-cycle", type=float, default=10.0, help="cyclegan: cycle weight lambda")
    g.add_argument("--lambda-identity", type=float, default=0.5, help="cyclegan: identity weight / lambda")
    g.add_argument("--pool-size", type=int, default=50, help="cyclegan: past fakes shown to the discriminators")
    g.add_argument("--decay-start", type=float, default=0.5,
                   help="cyclegan: fraction of steps at constant lr before the linear decay to 0")
    g.add_argument("--edge-threshold", type=float, default=EDGE_THRESHOLD,
                   help="cyclegan, sketch pair: Sobel magnitude above which a pixel is an edge of the sketch domain "
                        "(recorded in the config; the app and the metrics use the model's own)")


def handles(model: HubModule) -> bool:
    """Whether ``evaluate`` here knows the model (an image CycleGAN or the toy 2-D one)."""
    return isinstance(model, (CycleGAN, CycleGAN2D))


def evaluate(model: HubModule, classifier_dir: str | Path = CLASSIFIER_DIR) -> dict[str, float]:
    """Held-out translation metrics of a CycleGAN (gen_core.metrics.translation); of a toy 2-D one, its cycle
    errors and mode coverage on fixed held-out points (``evaluate_toy_cyclegan``)."""
    from gen_core.metrics.translation import evaluate_cyclegan, evaluate_toy_cyclegan  # imported when used
    from gen_core.models import load_pretrained

    if isinstance(model, CycleGAN2D):
        return evaluate_toy_cyclegan(model)

    if not isinstance(model, CycleGAN):
        raise ValueError(f"cli_cyclegan cannot evaluate a {type(model).__name__}")
    return evaluate_cyclegan(model, load_pretrained(classifier_dir))  # type: ignore[arg-type]


def eval_note(pair: str) -> str:
    """One paragraph stating the protocol behind the metrics table."""
    common = ("FID-FMNIST: Fréchet distance on the 256-d features of pretrained/fmnist-classifier (not comparable with "
              "Inception-FID); `*_floor` is the same distance between real training and test images of that domain. "
              "Cycle errors are per-pixel L1 with pixels in [0, 1]. Timing: see `translate_ms`.")
    if pair == "sketch":
        return ("Sketch -> garment on held-out Fashion-MNIST test pairs (the edge map of a test image and the image). "
                "Every metric uses the first 2,000 test pairs (`n_test_a`). Label preservation: accuracy of "
                "pretrained/fmnist-classifier on G(sketch) against the test label. L1 and SSIM against the true "
                "garment; the "
                "nearest-neighbour baseline answers each test sketch with the domain-B training garment whose own "
                "edge map is closest in L2. " + common)
    return ("Sneaker <-> ankle boot on the 1,000 test images of each class: the share classified as the target class "
            "after translation (and before, as `source_rate_*`). " + common)


def init_from(model: CycleGAN, folder: Path) -> int:
    """Load a trained CycleGAN's weights (safetensors) into ``model``; returns the steps its card records.

    The folder's config must describe the same networks as ``model``'s, else a clear error.
    """
    return init_weights_from(model, folder, what="CycleGAN",
                             hint="pass the --pair, --channels, --res-blocks and --d-channels of its card's command")


def cmd_train(args: argparse.Namespace) -> int:
    """Train a CycleGAN on a domain pair into a Hub-format folder, evaluate it, and write its card."""
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    resume = out if args.resume and (out / STATE_JSON).is_file() else None
    if args.resume and resume is None:
        print(f"--resume: no training state in {out}; starting from scratch", file=sys.stderr)
    device = pick_device(args.device)
    if args.pair != "sketch" and args.edge_threshold != EDGE_THRESHOLD:
        raise ValueError("--edge-threshold applies to the sketch pair only (its domain A is edge maps)")
    if not args.edge_threshold > 0:
        raise ValueError(f"--edge-threshold must be positive, got {args.edge_threshold}")
    pair = load_domain_pair(args.pair, threshold=args.edge_threshold)
    torch.manual_seed(args.seed)
    model = CycleGAN(CycleGANConfig(pair=args.pair, domain_a=pair.a_name, domain_b=pair.b_name,
                                    channels=args.channels, n_res_blocks=args.res_blocks,
                                    d_channels=args.d_channels, lambda_cycle=args.lambda_cycle,
                                    lambda_identity=args.lambda_identity, pool_size=args.pool_size,
                                    edge_threshold=args.edge_threshold))
    init_steps = 0
    if args.init_from:  # a resumed run has its weights in the training state already
        init_steps = init_from(model, Path(args.init_from)) if resume is None else recorded_steps(args.init_from)
    optim = CycleGANOptim(lr=args.lr, decay_start=args.decay_start)
    tc = TrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed, device=args.device,
                     log_every=args.log_every, checkpoint_every=args.checkpoint_every, out_dir=str(out))
    data = UnpairedBatches(pair.train_a, pair.train_b, args.batch_size, args.seed, device)
    command = "python -m gen_core " + " ".join(shlex.quote(a) for a in sys.argv[1:] if a != "--resume")
    title = f"gen_core CycleGAN: {pair.a_name} <-> {pair.b_name} (Fashion-MNIST)"
    summary = (f"A CycleGAN after Zhu et al. 2017 (lecture notes 004) shrunk to 28x28: ResNet generators "
               f"({args.channels} filters, two stride-2 down/up-convs, {args.res_blocks} residual blocks, instance "
               f"norm), PatchGAN discriminators ({args.d_channels} filters, 5x5 patch map), least-squares GAN loss, "
               f"cycle weight lambda = {args.lambda_cycle:g}, identity weight {args.lambda_identity:g} lambda, a pool "
               f"of {args.pool_size} past fakes, Adam lr {args.lr:g} with beta1 = 0.5, constant for "
               f"{args.decay_start:.0%} of the steps and then linear to 0. Batch {args.batch_size} (Zhu et al. use "
               f"1) and far fewer updates than the paper: a {'CPU' if device.type == 'cpu' else 'GPU'} run. "
               + SUMMARY[args.pair])
    if args.init_from:
        summary += (f" Initialised from the weights of `{args.init_from}` ({init_steps:,} steps), then trained "
                    f"{args.steps:,} more steps with a fresh optimizer on the schedule above: "
                    f"{init_steps + args.steps:,} steps in all.")
    device_name = str(device)

    def card(step: int, wall: float = 0.0, metrics: dict[str, float] | None = None) -> str:
        return cards.training_card(title, summary, command, model.config_dict, vars(args) | {"steps": step}, step,
                                   wall, device_name, metrics, eval_note(args.pair) if metrics else "",
                                   usage("cyclegan", str(out)), metric_notes=METRIC_NOTES)

    ran = follow_run(train(model, data, tc, resume_from=resume, card_fn=card, task_factory=cyclegan_task(optim)),
                     args.steps, f"train cyclegan ({args.pair})",
                     ("g_loss", "d_loss_a", "d_loss_b", "cycle_a", "cycle_b", "steps_per_s"), digits=3, mininterval=10)
    if ran is None:
        return 2
    step, wall = ran
    metrics = evaluate(model, CLASSIFIER_DIR)
    card_data: dict[str, Any] = {
        "gen_core_metrics": {k: round(v, 6) for k, v in metrics.items()},
        "gen_core_training": {"steps": step, "wall_time_s": round(wall, 1), "batch_size": args.batch_size,
                              "lr": args.lr, "decay_start": args.decay_start, "seed": args.seed, "pair": args.pair,
                              "command": command}}
    if args.init_from:
        card_data["gen_core_training"].update({"init_from": str(args.init_from), "init_steps": init_steps,
                                               "total_steps": init_steps + step})
    cards.publish_run(model, out, card(step, wall, metrics), card_data, metrics, args.keep_state,
                      (STATE_JSON, STATE_TENSORS))
    return 0
