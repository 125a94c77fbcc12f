"""Benchmark: does a label's attention map fall on the actor or on the background? (generated benchmark, unseen actors)

The generated benchmark (`modeling_msqnet.data.synthetic_actions`) knows where its actor is in every frame:
`render_clip` returns the actor mask, which this script passes through the model's video processor like the frames
(resize, centre crop), so it lines up with the maps. For every test clip and every one of its true labels it computes
the label's attention map (`modeling_msqnet.explain`, rollout and gradient-weighted) and the bare backbone's rollout,
and reports per label:

- `actor area`: the share of the clip's pixels (all frames) that show the actor;
- `backbone`, `rollout`, `gradient`: the share of the map's mass on those pixels (a map blind to the actor would put
  about `actor area` there; 1.0 is all on the actor);
- the same at the model's own resolution (`patches`): a patch of a frame counts as the actor's when the actor shows
  in it in any frame of its tubelet (a map cannot be finer than a token).

Usage:
    python benchmarks/attention_on_actor.py --model_dir demo_output/msqnet-demo --benchmark_dir demo_output/benchmark
    python benchmarks/attention_on_actor.py --model_dir DIR --benchmark_dir DIR --limit 100 --output actor.json
"""

import argparse
import json
import os
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from modeling_msqnet.data.synthetic_actions import render_clip, sample_split_specs  # noqa: E402
from modeling_msqnet.explain import explain_video  # noqa: E402
from modeling_msqnet.explain.cli import load_model  # noqa: E402


def processed_mask(mask: np.ndarray, video_processor) -> np.ndarray:
    """The actor mask `(T, H, W)` cropped and resized like the frames: `(T, crop_height, crop_width)` bool."""
    frames = np.repeat(mask[..., None].astype(np.uint8) * 255, 3, axis=-1)
    pixels = video_processor(frames, do_normalize=False, return_tensors="pt")["pixel_values"][0]
    return pixels[:, 0].numpy() > 0.5


def patch_mask(mask: np.ndarray, patch_size: int, tubelet_size: int) -> np.ndarray:
    """`True` on every pixel of a patch (and frame of its tubelet) in which the actor shows anywhere."""
    frames, height, width = mask.shape
    cells = mask.reshape(frames // tubelet_size, tubelet_size, height // patch_size, patch_size, -1, patch_size)
    cells = cells.any(axis=(1, 3, 5))
    cells = np.repeat(np.repeat(cells, patch_size, axis=1), patch_size, axis=2)
    return np.repeat(cells, tubelet_size, axis=0)


def mass_share(heatmap: np.ndarray, mask: np.ndarray) -> float:
    total = heatmap.sum()
    return float((heatmap * mask).sum() / total) if total > 0 else float("nan")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_dir", required=True, help="Saved MSQNet folder trained on the generated benchmark.")
    parser.add_argument("--benchmark_dir", required=True, help="Folder written by the benchmark generator.")
    parser.add_argument("--limit", type=int, default=None, help="Use only the first N test clips.")
    parser.add_argument("--output", default=None, help="Also write the figures as JSON.")
    args = parser.parse_args(argv)

    benchmark_dir = Path(args.benchmark_dir)
    info = json.loads((benchmark_dir / "info.json").read_text())
    with open(benchmark_dir / "test.jsonl", encoding="utf-8") as file:
        records = [json.loads(line) for line in file if line.strip()][: args.limit]
    specs = sample_split_specs("test", info["splits"]["test"]["num_clips"], info["seed"])
    model, video_processor = load_model(args.model_dir)

    video_config = model.config.video_config
    patch_size = video_config.patch_size
    tubelet_size = getattr(video_config, "tubelet_size", 1) if video_config.model_type == "videomae" else 1
    shares = defaultdict(lambda: defaultdict(list))
    for record, spec in zip(records, specs):
        if list(spec.actions) != record["labels"] or spec.actor != record["actor"]:
            raise ValueError(f"{record['video']} does not match the benchmark's clip spec: regenerate the benchmark.")
        _, mask = render_clip(spec, num_frames=info["num_frames"], size=info["size"])
        mask = processed_mask(mask, video_processor)
        masks = {"": mask, "patches ": patch_mask(mask, patch_size, tubelet_size)}
        video = benchmark_dir / record["video"]
        for method in ("rollout", "gradient"):
            explanation = explain_video(model, video_processor, video, labels=record["labels"], method=method)
            for label, heatmap in explanation.label_maps.items():
                for prefix, region in masks.items():
                    shares[label][prefix + method].append(mass_share(heatmap, region))
                    if method == "rollout":
                        shares[label][prefix + "backbone"].append(mass_share(explanation.backbone_map, region))
                        shares[label][prefix + "actor area"].append(float(region.mean()))

    columns = [prefix + name for prefix in masks for name in ("actor area", "backbone", "rollout", "gradient")]
    rows = {}
    print(f"Share of each map's mass on the actor ({len(records)} unseen-actor test clips, {args.model_dir})")
    print(f"| label | clips | {' | '.join(columns)} |")
    print("|---|---:|" + "---:|" * len(columns))
    for label in model.config.label2id:
        if label not in shares:
            continue
        rows[label] = {column: float(np.nanmean(shares[label][column])) for column in columns}
        rows[label]["clips"] = len(shares[label]["rollout"])
        print(f"| {label} | {rows[label]['clips']} | " + " | ".join(f"{rows[label][c]:.3f}" for c in columns) + " |")
    overall = {column: float(np.nanmean([v for label in shares for v in shares[label][column]])) for column in columns}
    print("| all (clip-label pairs) | " + f"{sum(r['clips'] for r in rows.values())} | ", end="")
    print(" | ".join(f"{overall[c]:.3f}" for c in columns) + " |")
    if args.output:
        Path(args.output).write_text(json.dumps({"per_label": rows, "all": overall}, indent=2) + "\n")


if __name__ == "__main__":
    main()
