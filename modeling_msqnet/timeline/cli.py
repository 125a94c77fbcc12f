"""The timeline's command-line flags and what they load (model or ONNX export, precision, thresholds): shared by
`examples/timeline.py` and the archive annotator `examples/annotate.py`."""

import argparse
import os
from dataclasses import dataclass

import torch
from transformers.utils import logging

from ..archive.thresholds import THRESHOLDS_FILE_NAME, default_thresholds_file, read_thresholds
from ..precision import DTYPE_CHOICES, apply_dtype, resolve_dtype
from .timeline import DEFAULT_STRIDE_SECONDS, DEFAULT_THRESHOLD, DEFAULT_WINDOW_SECONDS


logger = logging.get_logger(__name__)


def add_timeline_arguments(parser: argparse.ArgumentParser):
    """The model flags (`--model` or `--onnx [--int8]`, `--dtype`) and the window and segment flags."""
    parser.add_argument("--model", default=None, help="A saved MSQNet folder (model and processor files).")
    parser.add_argument(
        "--onnx", default=None, help="Run the model exported by examples/export_onnx.py from this folder instead."
    )
    parser.add_argument("--int8", action="store_true", help="With --onnx: run its model_int8.onnx.")
    parser.add_argument(
        "--dtype",
        default="auto",
        choices=DTYPE_CHOICES,
        help="Compute precision of --model: auto is bfloat16 where the device computes it natively, else float32.",
    )
    parser.add_argument("--window_seconds", type=float, default=DEFAULT_WINDOW_SECONDS)
    parser.add_argument("--stride_seconds", type=float, default=DEFAULT_STRIDE_SECONDS)
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        help=f"Score that starts a segment, for every label (default: the model folder's {THRESHOLDS_FILE_NAME} if "
        f"it has one, else {DEFAULT_THRESHOLD}).",
    )
    parser.add_argument(
        "--thresholds",
        default=None,
        help="Per-label thresholds, a JSON file written by examples/calibrate.py (default: the model folder's "
        f"{THRESHOLDS_FILE_NAME} if it has one).",
    )
    parser.add_argument("--min_duration", type=float, default=0.0, help="Drop segments shorter than this (s).")
    parser.add_argument("--merge_gap", type=float, default=0.0, help="Merge segments at most this far apart (s).")
    parser.add_argument("--batch_size", type=int, default=8, help="Windows per model call.")


def check_timeline_arguments(parser: argparse.ArgumentParser, args):
    """Errors (through `parser.error`) for flags that do not go together."""
    if (args.model is None) == (args.onnx is None):
        parser.error("give --model (a saved MSQNet folder) or --onnx (a folder written by examples/export_onnx.py).")
    if args.int8 and args.onnx is None:
        parser.error("--int8 runs the quantised ONNX export: give it with --onnx.")
    if args.onnx is not None and args.dtype not in ("auto", "float32"):
        parser.error(f"--dtype {args.dtype} applies to --model; an ONNX export runs in float32 (or --int8).")
    if args.threshold is not None and args.thresholds is not None:
        parser.error("give --threshold (one for every label) or --thresholds FILE (one per label), not both.")
    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
        parser.error(f"--threshold must be in [0, 1], got {args.threshold}.")


@dataclass
class TimelineModel:
    """
    What runs the timeline: `model` (or `None` with an ONNX export, then `scorer` runs it), its `video_processor`,
    the `labels` in score order, `source` (the folder loaded), and `dtype` (`"float32"`, `"bfloat16"`, ... or
    `"onnx"`/`"onnx-int8"`).
    """

    model: object
    video_processor: object
    scorer: object
    labels: list
    source: str
    dtype: str


def load_timeline_model(args, device: str | torch.device = "cpu") -> TimelineModel:
    """Load `--model` (in `--dtype`, on `device`) or `--onnx [--int8]`, and its video processor."""
    from ..hub_code.modeling_msqnet import MSQNetForVideoClassification
    from ..hub_code.video_processing_msqnet import MSQNetVideoProcessor

    if args.onnx is not None:
        from ..export import INT8_FILE_NAME, ONNX_FILE_NAME, OnnxWindowScorer

        scorer = OnnxWindowScorer(args.onnx, file_name=INT8_FILE_NAME if args.int8 else ONNX_FILE_NAME)
        model, source, dtype_name = None, args.onnx, "onnx-int8" if args.int8 else "onnx"
    else:
        dtype = resolve_dtype(args.dtype, device)
        model = apply_dtype(MSQNetForVideoClassification.from_pretrained(args.model), dtype).to(device).eval()
        scorer, source, dtype_name = None, args.model, str(dtype).removeprefix("torch.")
    config = scorer.config if scorer is not None else model.config
    labels = [config.id2label[i] for i in range(len(config.id2label))]
    video_processor = MSQNetVideoProcessor.from_pretrained(source)
    return TimelineModel(model, video_processor, scorer, labels, os.fspath(source), dtype_name)


def resolve_thresholds(args, timeline_model: TimelineModel) -> float | dict[str, float]:
    """
    The threshold(s) the segments use: `--thresholds FILE`, else `--threshold`, else the model folder's
    `thresholds.json`, else 0.5 for every label.
    """
    if args.thresholds is not None:
        return read_thresholds(args.thresholds, timeline_model.labels)
    if args.threshold is not None:
        return float(args.threshold)
    default_file = default_thresholds_file(timeline_model.source)
    if default_file is not None:
        logger.info(f"Per-label thresholds from {default_file} (the model folder's default; --threshold overrides).")
        return read_thresholds(default_file, timeline_model.labels)
    return DEFAULT_THRESHOLD


def timeline_options(args, threshold) -> dict:
    """The keyword arguments of `compute_timeline` the flags set (besides the model and the video)."""
    return {
        "window_seconds": args.window_seconds,
        "stride_seconds": args.stride_seconds,
        "threshold": threshold,
        "min_duration": args.min_duration,
        "merge_gap": args.merge_gap,
        "batch_size": args.batch_size,
    }


__all__ = [
    "TimelineModel",
    "add_timeline_arguments",
    "check_timeline_arguments",
    "load_timeline_model",
    "resolve_thresholds",
    "timeline_options",
]
