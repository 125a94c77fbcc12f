"""Benchmark: the timeline (one decoding pass, shared frames and CLIP query) against a loop that runs the pipeline's
steps on each window read as its own clip.

Generates (once, cached) a 1280x720 25 fps h264 video of `--minutes` minutes with PyAV (libx264, keyframe every 2 s,
B-frames: a panned texture with moving squares), and its first 1 and 5 minutes (stream copy, no re-encoding). The
model is a small random MSQNet with a CLIP video query (`small_config`: ViT-S/16-like encoders at 112 px, 8 frames),
or each `--model DIR` given (e.g. the demo model of `make demo`). Each measurement runs in a fresh process:

- timeline: `compute_timeline` over the whole video (window `--window_seconds`, stride `--stride_seconds`), for each
  length (1, 5, `--minutes` minutes): wall and CPU seconds, peak RSS of the process;
- per-window loop, on the longest video and the same windows: for each window, `read_frames(video, num_frames,
  start=..., end=...)` (how a manifest row with `start`/`end` is read: the file is opened and indexed, then seeked),
  the video processor, the model at batch size 1 and the sigmoid, as `pipeline("video-classification")` does for one
  clip. `--baseline_every K` runs it on every K-th window only (the time is then scaled to all windows; the table
  says so).

It prints the speed-up, the peak RSS per length and the largest score difference between the two on the same windows.

Usage: python benchmarks/timeline.py [--minutes 10] [--window_seconds 4] [--stride_seconds 2] [--model small]
       [--model demo_output/msqnet-demo] [--cache_dir DIR]
"""

import argparse
import json
import os
import resource
import sys
import tempfile
import time

import av
import numpy as np
from tqdm.auto import tqdm


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchmark_utils import (  # noqa: E402
    format_table,
    machine_summary,
    run_worker,
    small_config,
    write_scene_footage,
)


def make_video(path: str, minutes: float, seed: int = 0):
    """A 720p h264 video: a large random texture panned smoothly, with three moving coloured squares."""
    write_scene_footage(path, minutes * 60, camera_moves=True, seed=seed)


def cut_prefix(source: str, target: str, minutes: float):
    """The first `minutes` of `source` (a keyframe starts it), by stream copy."""
    temporary = target + ".tmp.mp4"
    with av.open(source) as inp, av.open(temporary, "w") as out:
        in_stream = inp.streams.video[0]
        out_stream = out.add_stream_from_template(in_stream)
        limit = minutes * 60 / float(in_stream.time_base)
        for packet in inp.demux(in_stream):
            if packet.dts is None:
                continue
            if packet.is_keyframe and packet.pts >= limit:
                break
            packet.stream = out_stream
            out.mux(packet)
    os.replace(temporary, target)


def prepare_videos(cache_dir: str, minutes: float) -> dict:
    os.makedirs(cache_dir, exist_ok=True)
    lengths = sorted({length for length in (1, 5) if length < minutes} | {minutes})
    longest = os.path.join(cache_dir, f"video_{minutes:g}min.mp4")
    if not os.path.exists(longest):
        make_video(longest, minutes)
    videos = {}
    for length in lengths:
        path = longest if length == minutes else os.path.join(cache_dir, f"video_{length:g}min.mp4")
        if not os.path.exists(path):
            cut_prefix(longest, path, length)
        videos[length] = path
    return videos


def prepare_model(cache_dir: str, model: str) -> str:
    """`model` itself, or for "small" a small random MSQNet with a CLIP video query, saved once in `cache_dir`."""
    if model != "small":
        return model
    model_dir = os.path.join(cache_dir, "small_model")
    if not os.path.exists(os.path.join(model_dir, "config.json")):
        import torch

        from modeling_msqnet import MSQNetForVideoClassification, MSQNetVideoProcessor

        torch.manual_seed(0)
        MSQNetForVideoClassification(small_config(num_frames=8, num_labels=20)).save_pretrained(model_dir)
        MSQNetVideoProcessor(
            num_frames=8, size={"shortest_edge": 128}, crop_size={"height": 112, "width": 112}
        ).save_pretrained(model_dir)
    return model_dir


def worker(payload: dict) -> dict:
    import torch

    from modeling_msqnet.hub_code.modeling_msqnet import scores_from_logits
    from modeling_msqnet.hub_code.video_decoding import read_frames
    from modeling_msqnet.models import load_model_folder
    from modeling_msqnet.timeline import compute_timeline, window_bounds
    from modeling_msqnet.timeline.streaming import StreamingVideoReader

    torch.set_num_threads(payload["threads"])
    model, processor, _ = load_model_folder(payload["model"])
    model.eval()
    video, window, stride = payload["video"], payload["window_seconds"], payload["stride_seconds"]
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    if payload["mode"] == "timeline":
        timeline = compute_timeline(
            model, processor, video, window_seconds=window, stride_seconds=stride, batch_size=payload["batch_size"]
        )
        scores, measured = timeline.scores, len(timeline.window_starts)
        num_windows = measured
    else:
        starts, ends = window_bounds(StreamingVideoReader(video).duration, window, stride)
        num_windows = len(starts)
        chosen = list(range(0, num_windows, payload["every"]))
        scores = np.full((num_windows, model.config.num_labels), np.nan)
        for k in tqdm(chosen, desc="per-window loop", unit="window"):
            frames, _ = read_frames(video, model.config.num_frames, start=float(starts[k]), end=float(ends[k]))
            inputs = processor(videos=[frames], do_sample_frames=False, return_tensors="pt")
            with torch.inference_mode():
                logits = model(**inputs).logits.double()
            scores[k] = scores_from_logits(logits, model.config.problem_type)[0].numpy()
        measured = len(chosen)
    seconds, cpu_seconds = time.perf_counter() - start_wall, time.process_time() - start_cpu
    np.save(payload["scores_path"], scores)
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "measured_windows": measured,
        "num_windows": num_windows,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="Length of the longest video.")
    parser.add_argument("--window_seconds", type=float, default=4.0)
    parser.add_argument("--stride_seconds", type=float, default=None, help="Defaults to half the window.")
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1, help="torch threads in each worker.")
    parser.add_argument("--baseline_every", type=int, default=1, help="Run the per-window loop on every K-th window.")
    parser.add_argument(
        "--model",
        action="append",
        help='A saved MSQNet folder, or "small" (default): a small random one; repeat to compare several.',
    )
    parser.add_argument("--cache_dir", default=os.path.join(tempfile.gettempdir(), "msqnet-timeline-benchmark"))
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    stride = args.stride_seconds if args.stride_seconds is not None else args.window_seconds / 2
    videos = prepare_videos(args.cache_dir, args.minutes)
    longest = max(videos)
    print(json.dumps({"machine": machine_summary(), "window_seconds": args.window_seconds, "stride_seconds": stride}))
    rows, summaries = [], []
    for model_index, model in enumerate(args.model or ["small"]):
        model_dir = prepare_model(args.cache_dir, model)
        name = "small random (112 px, video query)" if model == "small" else os.path.basename(os.path.normpath(model))
        common = dict(
            model=model_dir,
            window_seconds=args.window_seconds,
            stride_seconds=stride,
            batch_size=args.batch_size,
            threads=args.threads,
        )
        model_rows = []
        for length, video in videos.items():
            scores_path = os.path.join(args.cache_dir, f"timeline_{model_index}_{length:g}.npy")
            result = run_worker(__file__, dict(common, mode="timeline", video=video, scores_path=scores_path))
            model_rows.append(dict(result, model=name, method="timeline", minutes=length))
        baseline_path = os.path.join(args.cache_dir, f"baseline_{model_index}.npy")
        payload = dict(common, mode="baseline", video=videos[longest], scores_path=baseline_path)
        baseline = run_worker(__file__, dict(payload, every=args.baseline_every))
        scale = baseline["num_windows"] / baseline["measured_windows"]
        method = "per-window loop" + (f" (every {args.baseline_every}th window, scaled)" if scale != 1 else "")
        model_rows.append(
            dict(
                baseline,
                model=name,
                method=method,
                minutes=longest,
                seconds=baseline["seconds"] * scale,
                cpu_seconds=baseline["cpu_seconds"] * scale,
            )
        )
        for row in model_rows:
            row["ms_per_window"] = 1000 * row["seconds"] / row["num_windows"]
        timeline_scores = np.load(os.path.join(args.cache_dir, f"timeline_{model_index}_{longest:g}.npy"))
        baseline_scores = np.load(baseline_path)
        measured = ~np.isnan(baseline_scores).any(axis=1)
        difference = float(np.abs(timeline_scores[measured] - baseline_scores[measured]).max())
        timeline_row = next(row for row in model_rows if row["method"] == "timeline" and row["minutes"] == longest)
        summaries.append(
            f"{name}: speed-up at stride {stride:g} s / window {args.window_seconds:g} s on {longest:g} min: "
            f"{model_rows[-1]['seconds'] / timeline_row['seconds']:.2f}x wall, "
            f"{model_rows[-1]['cpu_seconds'] / timeline_row['cpu_seconds']:.2f}x CPU; "
            f"max |score difference| over {int(measured.sum())} windows: {difference:.2e}"
        )
        rows.extend(model_rows)

    columns = ["model", "method", "minutes", "num_windows", "seconds", "cpu_seconds", "ms_per_window", "peak_rss_mb"]
    print(format_table(rows, columns))
    print("\n".join(summaries))


if __name__ == "__main__":
    main()
