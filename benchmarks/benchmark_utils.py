"""Helpers shared by the speed benchmarks: full-size configurations, matmul peak rates, peak memory, tables.

Peak memory on CPU: `torch` has no CPU allocator statistics and `tracemalloc` does not see its allocations, so the
benchmarks read the process's peak resident set size (`resource.getrusage(...).ru_maxrss`). Before each measured call
the kernel's high-water mark is reset (writing "5" to `/proc/self/clear_refs`, Linux), so the peak covers that call
only; the reported "delta" is that peak minus the resident size just before the call (activations, autocast weight
copies, optimizer states...). Where the reset is not available the peak since process start is used and the delta
can only be an underestimate (this is reported). The workers that measure memory run in fresh subprocesses with glibc's
mmap threshold fixed at 128 KiB (`MALLOC_MMAP_THRESHOLD_`), so freed tensors go back to the system and the peak of one
call does not hide in memory kept from an earlier one.
"""

import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import time


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import torch  # noqa: E402


def parse_args_or_run_worker(parser, worker, threads_help: str):
    """
    Add the flags every timing script shares (`--threads`, `--output`, the hidden `--worker`) and parse. Called as a
    worker subprocess (`--worker <JSON payload>`), run `worker(payload)` and return `None`; else return the arguments.
    """
    import argparse

    parser.add_argument("--threads", type=int, default=None, help=threads_help)
    parser.add_argument("--output", default=None, help="write all figures to this JSON file")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.worker:
        worker(json.loads(args.worker))
        return None
    return args


def full_config(num_frames=16, num_labels=140, **overrides):
    """The paper's configuration (the default `MSQNetConfig`) with `num_labels` labels (140: Animal Kingdom)."""
    from modeling_msqnet import MSQNetConfig

    labels = [f"class_{index}" for index in range(num_labels)]
    return MSQNetConfig(
        num_frames=num_frames,
        id2label=dict(enumerate(labels)),
        label2id={name: index for index, name in enumerate(labels)},
        **overrides,
    )


def small_config(num_frames=8, num_labels=140, **overrides):
    """A small MSQNet (ViT-S/16-like encoders at 112 px, 8 frames, D=256 with 2+2 layers) for quick comparisons."""
    from modeling_msqnet import MSQNetConfig

    encoder = dict(
        image_size=112,
        patch_size=16,
        hidden_size=384,
        num_hidden_layers=6,
        num_attention_heads=6,
        intermediate_size=1536,
    )
    labels = [f"class_{index}" for index in range(num_labels)]
    kwargs = dict(
        video_config=dict(model_type="timesformer", **encoder),
        vision_config=dict(model_type="clip_vision_model", **encoder),
        hidden_size=256,
        num_encoder_layers=2,
        num_decoder_layers=2,
        num_attention_heads=8,
        intermediate_size=1024,
        num_frames=num_frames,
        id2label=dict(enumerate(labels)),
        label2id={name: index for index, name in enumerate(labels)},
    )
    kwargs.update(overrides)
    return MSQNetConfig(**kwargs)


def build_reference(config):
    """`conversion/official_reference.py::OfficialMSQNet` (the published forward, official names) sized like `config`."""
    from modeling_msqnet.conversion.official_reference import OfficialMSQNet

    return OfficialMSQNet.sized_like(config)


def build_ours_from_reference(config, reference):
    """Our model with the reference's weights (through the official-layout converter)."""
    from modeling_msqnet import MSQNetForVideoClassification
    from modeling_msqnet.conversion.convert_official import load_official_into

    return load_official_into(MSQNetForVideoClassification(config), reference.state_dict())


def matmul_gflops(dtype, device="cpu", repeats=10, max_seconds=3.0):
    """
    This machine's matmul rate for `dtype` (GFLOP/s, median of up to `repeats` timings, stopping after about
    `max_seconds` per shape), the best of two shapes: TimeSformer-base's MLP projection over 16 frames
    (3152 x 768 @ 768 x 3072) and a square 2048 matmul. CPUs without native bfloat16 instructions (no AVX512-BF16 or
    AMX) emulate bfloat16 matmuls, often many times slower than float32: where a 512 matmul shows that one timing of
    the large shapes would exceed `max_seconds`, the 512 matmul's rate is returned. `dtype` may be a name; `"int8"`
    gives `int8_linear_gflops` (CPU). On a GPU each timing waits for the device (`torch.cuda.synchronize`).
    """
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
    if dtype == "int8":
        return int8_linear_gflops(repeats, max_seconds)
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype)
    # A 512 matmul first: where `dtype` is emulated, the full-size shapes would take minutes to time.
    small = torch.randn(512, 512, dtype=dtype, device=device)
    torch.mm(small, small)
    sync()
    start = time.perf_counter()
    torch.mm(small, small)
    sync()
    small_rate = 2 * 512**3 / (time.perf_counter() - start) / 1e9
    if 2 * 3152 * 768 * 3072 / 1e9 / small_rate > max_seconds:
        return small_rate
    rates = []
    for m, k, n in ((3152, 768, 3072), (2048, 2048, 2048)):
        a = torch.randn(m, k, dtype=dtype, device=device)
        b = torch.randn(k, n, dtype=dtype, device=device)
        torch.mm(a, b)
        sync()
        times = []
        deadline = time.perf_counter() + max_seconds
        while len(times) < repeats and (len(times) < 2 or time.perf_counter() < deadline):
            start = time.perf_counter()
            torch.mm(a, b)
            sync()
            times.append(time.perf_counter() - start)
        rates.append(2 * m * k * n / statistics.median(times) / 1e9)
    return max(rates)


def int8_linear_gflops(repeats=10, max_seconds=3.0):
    """
    This machine's int8 rate (GFLOP/s, counted as the float matmul it replaces): TimeSformer-base's MLP projection
    (3152 x 768 @ 768 x 3072) as a dynamically quantised `nn.Linear` (`precision.quantize_linear_int8`: int8 weights,
    activations quantised per call; VNNI where the CPU has it).
    """
    from modeling_msqnet.precision import quantize_linear_int8

    m, k, n = 3152, 768, 3072
    layer = quantize_linear_int8(torch.nn.Sequential(torch.nn.Linear(k, n, bias=False)))
    inputs = torch.randn(m, k)
    with torch.inference_mode():
        layer(inputs)
        times = []
        deadline = time.perf_counter() + max_seconds
        while len(times) < repeats and (len(times) < 2 or time.perf_counter() < deadline):
            start = time.perf_counter()
            layer(inputs)
            times.append(time.perf_counter() - start)
    return 2 * m * k * n / statistics.median(times) / 1e9


def cpu_has_native_bf16():
    """Whether the CPU has bfloat16 matmul instructions (x86 AVX512-BF16 or AMX-BF16, or Arm BF16); None if unknown."""
    try:
        with open("/proc/cpuinfo") as handle:
            flags = set()
            for line in handle:
                if line.startswith(("flags", "Features")):
                    flags.update(line.split(":", 1)[1].split())
    except OSError:
        return None
    return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"}) if flags else None


def bf16_worth_timing(rates, min_ratio=0.5):
    """
    Whether full-size bfloat16 runs are worth timing: the bfloat16 matmul rate is at least `min_ratio` times the
    float32 one. Where bfloat16 is emulated (e.g. AVX2-only CPUs) one full-size 16-frame forward takes minutes.
    """
    return rates["bfloat16"] >= min_ratio * rates["float32"]


def reset_peak_rss():
    """Reset the process's peak resident size to its current size; False where the kernel does not allow it."""
    gc.collect()
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def current_rss_mb():
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return peak_rss_mb()


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class PeakMemory:
    """Context manager: `peak_mb` (process peak RSS during the block) and `delta_mb` (peak minus RSS at entry)."""

    def __enter__(self):
        self.reset = reset_peak_rss()
        self.start_mb = current_rss_mb()
        return self

    def __exit__(self, *exc):
        self.peak_mb = peak_rss_mb()
        self.delta_mb = max(0.0, self.peak_mb - self.start_mb)
        return False


def run_worker(script, payload, extra_args=(), timeout=1800):
    """Run `script --worker JSON` in a fresh interpreter (fixed mmap threshold, see module doc); return its JSON result."""
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="131072", PYTHONWARNINGS="ignore")
    completed = subprocess.run(
        [sys.executable, script, "--worker", json.dumps(payload), *extra_args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"Worker {payload} failed:\n{completed.stderr[-3000:]}")
    for line in reversed(completed.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError(f"Worker {payload} printed no result:\n{completed.stdout[-2000:]}")


# Every figure a benchmark table shows, by its key in the benchmarks' result rows: the column header and its format, or
# the header alone for a value printed as it is; in the order: what was measured, time, speed-ups and rates, memory, agreement and accuracy. One place,
# so that a figure reads the same in every table and each benchmark names only its keys.
COLUMNS = {
    "model": "model",
    "family": "family",
    "checkpoint": "checkpoint (base size)",
    "config": "config",
    "variant": "variant",
    "option": "option",
    "runtime": "runtime",
    "method": "method",
    "dtype": "dtype",
    "frames": "T",
    "processes": "processes",
    "minutes": ("video (min)", "{:g}"),
    "num_windows": "windows",
    "median_ms": ("median ms", "{:.0f}"),
    "min_ms": ("min ms", "{:.0f}"),
    "cpu_ms": ("CPU ms", "{:.0f}"),
    "median_s": ("median s/step", "{:.2f}"),
    "min_s": ("min s", "{:.2f}"),
    "cpu_s": ("CPU s", "{:.2f}"),
    "wall_s": ("wall (s)", "{:.1f}"),
    "seconds": ("wall s", "{:.1f}"),
    "cpu_seconds": ("CPU s", "{:.1f}"),
    "wall_s_per_clip": ("wall s / clip", "{:.2f}"),
    "cpu_s_per_clip": ("CPU s / clip", "{:.2f}"),
    "seconds_per_clip": ("s/clip", "{:.3f}"),
    "ms_per_clip": ("ms/clip", "{:.2f}"),
    "ms_per_window": ("ms/window", "{:.0f}"),
    "compile_s": ("compile s", "{:.0f}"),
    "footage_s": ("footage (s)", "{:.1f}"),
    "per_cpu_hour": ("footage h / CPU h", "{:.2f}"),
    "share_per_cpu_hour": ("(annotating only)", "{:.2f}"),
    "per_wall_hour": ("footage h / wall h", "{:.2f}"),
    "speedup": ("speed-up", "{:.2f}x"),
    "speedup_vs_ref_fp32": ("x ref fp32", "{:.2f}"),
    "cpu_speedup_vs_ref_fp32": ("x ref fp32 (CPU)", "{:.2f}"),
    "ratio_to_ref_same_dtype": ("t / ref same dtype", "{:.3f}"),
    "gflop": ("GFLOP", "{:.0f}"),
    "backbone_gflop": ("backbone GFLOP", "{:.0f}"),
    "model_gflop": ("MSQNet GFLOP", "{:.0f}"),
    "gflops": ("GFLOP/s", "{:.0f}"),
    "pct_of_dtype_peak": ("% dtype mm", "{:.0f}"),
    "pct_of_fp32_peak": ("% fp32 mm", "{:.0f}"),
    "peak_mb": ("peak MB", "{:.0f}"),
    "delta_mb": ("delta MB", "{:.0f}"),
    "peak_rss_mb": ("peak RSS (MB)", "{:.0f}"),
    "peak_mb_per_process": "peak RSS per process (MB)",
    "checkpointing_saves_mb": ("ckpt saves MB", "{:.0f}"),
    "checkpointing_time_cost": ("ckpt time x", "{:.2f}"),
    "max_abs_logit_diff_vs_ref_fp32": ("max|dlogit| vs ref fp32", "{:.1e}"),
    "max_logit_diff": ("max |logit diff|", "{:.1e}"),
    "max_abs_score_change": ("max |score change|", "{:.4f}"),
    "top1_unchanged": ("top-1 unchanged", "{:.3f}"),
    "first_loss": ("first loss", "{:.3f}"),
    "mAP": ("mAP (test)", "{:.4f}"),
    "mAP_drop": ("mAP drop", "{:+.4f}"),
    "mAP_macro": ("mAP_macro", "{:.4f}"),
    "mAP_macro_drop": ("drop vs exact", "{:+.4f}"),
    "top1_accuracy": ("top1_accuracy", "{:.4f}"),
    "top1_accuracy_drop": ("drop vs exact", "{:+.4f}"),
    "AP_micro": ("AP_micro", "{:.4f}"),
    "AP_micro_drop": ("drop vs exact", "{:+.4f}"),
}


def format_table(rows, keys):
    """
    A plain-text table of `rows` (dicts) with the columns `keys` (their headers and formats in `COLUMNS`); missing
    values print as '-'.
    """
    unknown = [key for key in keys if key not in COLUMNS]
    if unknown:
        raise KeyError(f"Add the columns {unknown} to `benchmark_utils.COLUMNS` (their header and format).")
    headers_and_formats = [(COLUMNS[key], None) if isinstance(COLUMNS[key], str) else COLUMNS[key] for key in keys]
    cells = [[header for header, _ in headers_and_formats]]
    for row in rows:
        line = []
        for key, (_, fmt) in zip(keys, headers_and_formats):
            value = row.get(key)
            line.append("-" if value is None else (fmt.format(value) if fmt else str(value)))
        cells.append(line)
    widths = [max(len(row[i]) for row in cells) for i in range(len(keys))]
    lines = [
        "  ".join(cell.rjust(width) if i else cell.ljust(width) for i, (cell, width) in enumerate(zip(row, widths)))
        for row in cells
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def write_synthetic_footage(
    path, size, num_frames, camera, *, fps, gop_frames, options, texture_cell, square_periods, seed=0
):
    """
    Write an h264 video of `size` (width, height) that decodes like camera footage: a smooth random texture (twice
    the frame size, drawn from cells of `texture_cell` (height, width) pixels) seen through `camera(texture, index)`,
    which returns frame `index`'s view, with three coloured squares moving over it (their sine periods, in frames, are
    `square_periods[0] + square_periods[1] * square` across and `square_periods[2] + square_periods[3] * square`
    down). `options` are libx264's.
    """
    import av
    import numpy as np
    from tqdm.auto import tqdm

    width, height = size
    coarse = np.random.default_rng(seed).integers(
        0, 256, (height // texture_cell[0], width // texture_cell[1], 3), dtype=np.uint8
    )
    texture = av.VideoFrame.from_ndarray(coarse, format="rgb24").to_ndarray(
        format="rgb24", width=2 * width, height=2 * height, interpolation="BICUBIC"
    )
    across, across_step, down, down_step = square_periods
    with av.open(path, "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.gop_size = gop_frames
        stream.options = options
        for index in tqdm(range(num_frames), desc=f"encoding {os.path.basename(path)}", unit="frame"):
            view = camera(texture, index)
            for square in range(3):
                x = int((width - 120) * (0.5 + 0.5 * np.sin(index / (across + across_step * square) + square)))
                y = int((height - 120) * (0.5 + 0.5 * np.cos(index / (down + down_step * square) + 2 * square)))
                view[y : y + 120, x : x + 120] = (255 - 60 * square, 80 * square, (index * 3) % 256)
            for packet in stream.encode(av.VideoFrame.from_ndarray(view, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def machine_summary():
    return {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "cpu_native_bf16": cpu_has_native_bf16(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


SCENE_SIZE, SCENE_FPS, SCENE_GOP_SECONDS = (1280, 720), 25, 2


def write_scene_footage(path, seconds, *, camera_moves=True, seed=0):
    """
    720p 25 fps h264 footage (keyframe every 2 s, B-frames) of a large random texture with three moving coloured
    squares, seen by a camera that pans smoothly over it (`camera_moves`) or stands still. Written to a temporary file
    and renamed when complete.
    """
    import numpy as np

    width, height = SCENE_SIZE

    def camera(texture, index):
        if not camera_moves:
            return texture[height // 2 : height // 2 + height, width // 2 : width // 2 + width].copy()
        top = int(height * (0.5 + 0.5 * np.sin(index / 200)))
        left = int(width * (0.5 + 0.5 * np.cos(index / 260)))
        return texture[top : top + height, left : left + width].copy()

    temporary = str(path) + ".tmp.mp4"
    write_synthetic_footage(
        temporary,
        SCENE_SIZE,
        int(seconds * SCENE_FPS),
        camera,
        fps=SCENE_FPS,
        gop_frames=SCENE_GOP_SECONDS * SCENE_FPS,
        options={"sc_threshold": "0", "preset": "ultrafast", "bframes": "2", "crf": "26"},
        texture_cell=(10, 5),
        square_periods=(40, 9, 57, 5),
        seed=seed,
    )
    os.replace(temporary, path)
