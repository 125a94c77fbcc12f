"""Benchmark: FLOPs and CPU time of one 16-frame clip for each video encoder family MSQNet supports, at base size, and
the cost of the non-finite input check.

Each family is built with random weights (seed 0) from its base-size configuration written out here by hand (the
published checkpoint's config; V-JEPA 2's smallest published model is a ViT-L), composed as `from_pretrained_parts`
composes it: the rest of MSQNet is the paper's (CLIP ViT-B/16 video query over the 16 frames, D=512, 6+6 layers, 140
labels), 224x224 frames (V-JEPA 2 follows CLIP's frame size). Per-frame image encoders run on each of the 16 frames,
with their patch tokens (`image_frame_tokens="patch"`).

- FLOPs: `torch.utils.flop_counter.FlopCounterMode` on one forward of the whole model and of the backbone alone, built
  on the meta device (shapes only, 2 FLOPs per multiply-add).
- Time: batch 1 under `torch.inference_mode()`, float32, transformers' default attention (SDPA; TimeSformer's own);
  all families run round-robin in this process (`--warmup` then `--repeats` rounds), so a change of load on a shared
  machine hits them alike. The table gives the median wall time and the median process CPU time (all threads).
- Non-finite check: `check_finite_pixel_values` (what the forward runs on `pixel_values`) on a finite 16-frame clip,
  median of `--check-repeats` calls, as a share of the TimeSformer model's median forward.

Usage:
    python benchmarks/backbones.py                       # all families, 1 warm-up + 3 rounds
    python benchmarks/backbones.py --families timesformer dinov2 --repeats 1
    python benchmarks/backbones.py --flops-only
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402
from benchmark_utils import format_table, full_config  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from modeling_msqnet import MSQNetForVideoClassification  # noqa: E402
from modeling_msqnet.hub_code.modeling_msqnet import check_finite_pixel_values  # noqa: E402


VIT_B = dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072)
# Base-size configs of the Hub checkpoints the README names (frame counts set to 16 by MSQNet).
BASE_CONFIGS = {
    "timesformer": ("facebook/timesformer-base-finetuned-k400", dict(model_type="timesformer", image_size=224, patch_size=16, **VIT_B)),
    "videomae": ("MCG-NJU/videomae-base-finetuned-kinetics", dict(model_type="videomae", image_size=224, patch_size=16, tubelet_size=2, use_mean_pooling=True, **VIT_B)),
    "vivit": ("google/vivit-b-16x2-kinetics400", dict(model_type="vivit", image_size=224, tubelet_size=[2, 16, 16], hidden_act="gelu_fast", **VIT_B)),
    "vjepa2": ("facebook/vjepa2-vitl-fpc64-256 (ViT-L)", dict(model_type="vjepa2", crop_size=224, patch_size=16, tubelet_size=2, hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, mlp_ratio=4.0)),
    "clip_vision_model": ("openai/clip-vit-base-patch16", dict(model_type="clip_vision_model", image_size=224, patch_size=16, **VIT_B)),
    "siglip_vision_model": ("google/siglip-base-patch16-224", dict(model_type="siglip_vision_model", image_size=224, patch_size=16, **VIT_B)),
    "dinov2": ("facebook/dinov2-base", dict(model_type="dinov2", image_size=518, patch_size=14, hidden_size=768, num_hidden_layers=12, num_attention_heads=12, mlp_ratio=4)),
}  # fmt: skip


def build(family, num_frames):
    return MSQNetForVideoClassification(full_config(num_frames, video_config=dict(BASE_CONFIGS[family][1]))).eval()


def count_gflops(families, num_frames):
    """GFLOP of one forward of the whole model and of its backbone alone, on meta tensors."""
    gflops = {}
    with torch.device("meta"):
        pixel_values = torch.empty(1, num_frames, 3, 224, 224)
        for family in families:
            model = build(family, num_frames)
            base = model.msqnet
            with torch.inference_mode(), FlopCounterMode(display=False) as whole:
                model(pixel_values)
            with torch.inference_mode(), FlopCounterMode(display=False) as backbone:
                base.video_backbone.encode(base.video_model, pixel_values)
            gflops[family] = {"model": whole.get_total_flops() / 1e9, "backbone": backbone.get_total_flops() / 1e9}
            del model
    return gflops


def time_families(families, num_frames, warmup, repeats):
    torch.manual_seed(0)
    models = {family: build(family, num_frames) for family in tqdm(families, desc="building", unit="model")}
    pixel_values = torch.randn(1, num_frames, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    wall = {family: [] for family in families}
    cpu = {family: [] for family in families}
    with torch.inference_mode():
        for round_index in tqdm(range(warmup + repeats), desc="timing rounds", unit="round"):
            for family, model in models.items():
                start, start_cpu = time.perf_counter(), time.process_time()
                model(pixel_values)
                if round_index >= warmup:
                    wall[family].append(time.perf_counter() - start)
                    cpu[family].append(time.process_time() - start_cpu)
    return {
        family: {"median_s": statistics.median(wall[family]), "cpu_s": statistics.median(cpu[family])}
        for family in families
    }


def time_finite_check(num_frames, repeats):
    """Median seconds of the non-finite check on a finite clip (the common case: one reduction, no error)."""
    pixel_values = torch.randn(1, num_frames, 3, 224, 224)
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        check_finite_pixel_values(pixel_values)
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def cpu_name():
    try:
        with open("/proc/cpuinfo") as file:
            for line in file:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--families", nargs="+", default=list(BASE_CONFIGS), choices=list(BASE_CONFIGS))
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--check-repeats", type=int, default=50)
    parser.add_argument("--flops-only", action="store_true")
    parser.add_argument("--output", help="also write the figures to this JSON file")
    args = parser.parse_args()

    results = {"cpu": cpu_name(), "threads": torch.get_num_threads(), "frames": args.frames}
    results["gflop"] = count_gflops(args.families, args.frames)
    if not args.flops_only:
        results["time"] = time_families(args.families, args.frames, args.warmup, args.repeats)
        results["finite_check_s"] = time_finite_check(args.frames, args.check_repeats)
    rows = []
    for family in args.families:
        row = {
            "family": family,
            "checkpoint": BASE_CONFIGS[family][0],
            "backbone_gflop": results["gflop"][family]["backbone"],
            "model_gflop": results["gflop"][family]["model"],
        }
        if "time" in results:
            row["wall_s_per_clip"] = results["time"][family]["median_s"]
            row["cpu_s_per_clip"] = results["time"][family]["cpu_s"]
        rows.append(row)
    columns = ["family", "checkpoint", "backbone_gflop", "model_gflop"]
    if "time" in results:
        columns += ["wall_s_per_clip", "cpu_s_per_clip"]
    print(f"{results['cpu']}, {results['threads']} threads, {args.frames} frames, batch 1, float32")
    print(format_table(rows, columns))
    if "time" in results and "timesformer" in results["time"]:
        share = results["finite_check_s"] / results["time"]["timesformer"]["median_s"]
        print(
            f"non-finite check: {1000 * results['finite_check_s']:.2f} ms per 16-frame clip = {100 * share:.3f}% of "
            "the TimeSformer model's forward"
        )
    if args.output:
        with open(args.output, "w") as file:
            json.dump(results, file, indent=2)


if __name__ == "__main__":
    main()
