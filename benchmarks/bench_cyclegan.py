"""Time the CycleGAN tab's work for one uploaded picture (issue 6 target: <= 100 ms on this CPU).

Measures, with one torch thread (the app's default per request): decoding a 640x480 RGBA PNG upload, converting it
to a 28x28 grey image (gen_core.data.domains.prepare_image), the translation G(x), the round trip F(G(x)), and the
whole tab handler (translation + round trip + cycle-error heatmap figure + classifier caption). Prints medians and
the machine load (``os.getloadavg``), since the figures depend on what else runs.

    python benchmarks/bench_cyclegan.py --pair sketch --repeats 50
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import PIL.Image
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere


def _median_ms(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000.0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pair", choices=["sketch", "shoes"], default="sketch")
    p.add_argument("--repeats", type=int, default=50)
    p.add_argument("--json", default=None, help="also write the results here")
    args = p.parse_args()
    torch.set_num_threads(1)
    from gen_core.data.domains import prepare_image
    from gen_core.ui.cyclegan import CycleGANModels, CycleGANTab

    models = CycleGANModels.load(ROOT / "pretrained")
    if args.pair not in models.models:
        raise SystemExit(f"pretrained/cyclegan-{args.pair} is missing; train it first")
    model = models.models[args.pair]
    tab = CycleGANTab(models)
    rng = np.random.default_rng(0)
    rgba = (rng.random((480, 640, 4)) * 255).astype(np.uint8)
    buf = io.BytesIO()
    PIL.Image.fromarray(rgba, "RGBA").save(buf, format="PNG")
    png = buf.getvalue()

    def decode() -> PIL.Image.Image:
        im = PIL.Image.open(io.BytesIO(png))
        im.load()
        return im

    pil = decode()
    x = prepare_image(pil)
    load_before = os.getloadavg()
    out = {
        "decode_png_ms": _median_ms(decode, args.repeats),
        "prepare_image_ms": _median_ms(lambda: prepare_image(pil), args.repeats),
        "translate_ms": _median_ms(lambda: model.translate(x, "a2b"), args.repeats),
        "round_trip_ms": _median_ms(lambda: model.round_trip(x, "a2b"), args.repeats),
        "tab_handler_ms": _median_ms(lambda: tab.translate_image(args.pair, "a2b", decode()), args.repeats),
    }
    out["upload_to_translation_ms"] = out["decode_png_ms"] + out["prepare_image_ms"] + out["translate_ms"]
    out["loadavg_before"] = load_before[0]
    out["loadavg_after"] = os.getloadavg()[0]
    out["threads"] = torch.get_num_threads()
    out["pair"] = args.pair
    for k, v in out.items():
        print(f"{k:28s} {v:.2f}" if isinstance(v, float) else f"{k:28s} {v}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
