"""Benchmark: onnxruntime (float32, and int8 dynamic quantisation) against eager PyTorch, in one run.

For each `--model` (a saved MSQNet folder, or "small": the small random MSQNet of `benchmarks/timeline.py`), exports
it with `export_onnx` (float32 and int8), then times batches of `--batch_size` clips through eager PyTorch
(`torch.inference_mode`), onnxruntime float32 and onnxruntime int8, interleaved, `--repeats` times, all with
`--threads` threads; prints the median milliseconds per clip and the speed-up over PyTorch, and the largest logit
difference from PyTorch. With `--manifest` (the model's test set, e.g. `demo_output/benchmark/test.jsonl` of
`make demo`) it also scores every clip of the manifest with each runtime and prints mAP (macro) and its drop from
PyTorch's.

Usage: python benchmarks/onnx_runtime.py --model demo_output/msqnet-demo --manifest demo_output/benchmark/test.jsonl
       [--model small] [--batch_size 8] [--repeats 10] [--threads 1]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np
import torch
from tqdm.auto import tqdm


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchmark_utils import format_table, machine_summary  # noqa: E402
from timeline import prepare_model  # noqa: E402

from modeling_msqnet.data.manifest import read_manifest  # noqa: E402
from modeling_msqnet.export import INT8_FILE_NAME, ONNX_FILE_NAME, export_onnx, onnx_session  # noqa: E402
from modeling_msqnet.hub_code.video_decoding import read_frames  # noqa: E402
from modeling_msqnet.models import load_model_folder  # noqa: E402
from modeling_msqnet.training.evaluation import compute_metrics  # noqa: E402


def preprocess_manifest(manifest, model, video_processor):
    """`(pixel_values (N, T, 3, H, W), multi-hot labels (N, K))` of every clip of the manifest."""
    entries = read_manifest(manifest, model.config.label2id, problem_type=model.config.problem_type)
    clips, labels = [], []
    for entry in tqdm(entries, desc="preprocessing the test set", unit="clip"):
        frames, _ = read_frames(entry["video"], model.config.num_frames, start=entry["start"], end=entry["end"])
        clips.append(video_processor(videos=[frames], do_sample_frames=False, return_tensors="pt").pixel_values[0])
        target = np.zeros(model.config.num_labels, dtype=np.float32)
        target[entry["label_ids"]] = 1
        labels.append(target)
    return torch.stack(clips), np.stack(labels)


def run_all(runners, pixel_values, batch_size):
    """Logits of every clip with each runner, batch by batch."""
    outputs = {name: [] for name in runners}
    for start in range(0, len(pixel_values), batch_size):
        batch = pixel_values[start : start + batch_size]
        for name, runner in runners.items():
            outputs[name].append(runner(batch))
    return {name: np.concatenate(chunks) for name, chunks in outputs.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", help='A saved MSQNet folder or "small"; repeat for several.')
    parser.add_argument("--manifest", default=None, help="Test-set manifest of the first --model, for mAP.")
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cache_dir", default=os.path.join(tempfile.gettempdir(), "msqnet-onnx-benchmark"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(machine_summary())
    rows = []
    for model_index, model_name in enumerate(args.model or ["small"]):
        model_dir = prepare_model(args.cache_dir, model_name)
        model, video_processor, _ = load_model_folder(model_dir)
        model.eval()
        export_dir = os.path.join(args.cache_dir, f"export_{model_index}")
        export_onnx(model_dir, export_dir, quantize_int8=True, overwrite=True)
        fp32 = onnx_session(os.path.join(export_dir, ONNX_FILE_NAME), args.threads)
        int8 = onnx_session(os.path.join(export_dir, INT8_FILE_NAME), args.threads)

        def eager(batch):
            with torch.inference_mode():
                return model(pixel_values=batch).logits.numpy()

        runners = {
            "PyTorch eager": eager,
            "onnxruntime float32": lambda batch: fp32.run(["logits"], {"pixel_values": batch.numpy()})[0],
            "onnxruntime int8": lambda batch: int8.run(["logits"], {"pixel_values": batch.numpy()})[0],
        }
        crop = video_processor.crop_size
        batch = torch.randn(args.batch_size, model.config.num_frames, 3, crop["height"], crop["width"])
        reference = eager(batch)
        seconds = {name: [] for name in runners}
        for name, runner in runners.items():
            runner(batch)  # warm-up
        for _ in tqdm(range(args.repeats), desc=f"timing {model_name}"):
            for name, runner in runners.items():
                start = time.perf_counter()
                runner(batch)
                seconds[name].append(time.perf_counter() - start)

        metrics = {}
        if args.manifest and model_index == 0:
            pixel_values, labels = preprocess_manifest(args.manifest, model, video_processor)
            logits = run_all(runners, pixel_values, args.batch_size)
            for name, values in logits.items():
                report = compute_metrics(values, labels, model.config.problem_type, model.config.id2label)
                metrics[name] = report["mAP_macro"]
        base = statistics.median(seconds["PyTorch eager"])
        for name, runner in runners.items():
            median = statistics.median(seconds[name])
            rows.append(
                {
                    "model": os.path.basename(os.path.normpath(model_name)),
                    "runtime": name,
                    "ms_per_clip": 1000 * median / args.batch_size,
                    "speedup": base / median,
                    "max_logit_diff": float(np.abs(runner(batch) - reference).max()),
                    "mAP": metrics.get(name),
                    "mAP_drop": (metrics["PyTorch eager"] - metrics[name]) if name in metrics else None,
                }
            )
    columns = ["model", "runtime", "ms_per_clip", "speedup", "max_logit_diff", "mAP", "mAP_drop"]
    print(f"batch {args.batch_size}, {args.threads} thread(s), median of {args.repeats}")
    print(format_table(rows, columns))


if __name__ == "__main__":
    main()
