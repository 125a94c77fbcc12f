"""Action timeline of a long video: label scores in sliding windows and per-label segments.

    python examples/timeline.py (--model DIR | --onnx EXPORT_DIR [--int8]) --video FILE [--dtype auto] --window_seconds 4 --stride_seconds 2 \
        --output timeline.json [--csv timeline.csv] [--plot timeline.png]
"""

import argparse

from modeling_msqnet.command_line import setup_logging
from modeling_msqnet.precision import DTYPE_CHOICES
from modeling_msqnet.timeline import (
    DEFAULT_STRIDE_SECONDS,
    DEFAULT_THRESHOLD,
    DEFAULT_WINDOW_SECONDS,
    compute_timeline,
    plot_timeline,
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="A saved MSQNet folder (model and processor files).")
    parser.add_argument("--video", required=True, help="The video file.")
    parser.add_argument("--window_seconds", type=float, default=DEFAULT_WINDOW_SECONDS)
    parser.add_argument("--stride_seconds", type=float, default=DEFAULT_STRIDE_SECONDS)
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD, help="Score that starts a segment.")
    parser.add_argument("--min_duration", type=float, default=0.0, help="Drop segments shorter than this (s).")
    parser.add_argument("--merge_gap", type=float, default=0.0, help="Merge segments at most this far apart (s).")
    parser.add_argument("--batch_size", type=int, default=8, help="Windows per model call.")
    parser.add_argument("--output", default="timeline.json", help="JSON file to write.")
    parser.add_argument("--csv", default=None, help="Also write the window scores as CSV.")
    parser.add_argument("--plot", default=None, help="Also draw the labels x time heatmap (PNG).")
    parser.add_argument(
        "--onnx", default=None, help="Run the model exported by examples/export_onnx.py from this folder instead."
    )
    parser.add_argument("--int8", action="store_true", help="With --onnx: run its model_int8.onnx.")
    parser.add_argument(
        "--dtype",
        default="auto",
        choices=DTYPE_CHOICES,
        help="Compute precision of --model: auto is bfloat16 where this CPU computes it natively, else float32.",
    )
    parser.add_argument("--no_progress", action="store_true", help="Hide the progress bar.")
    args = parser.parse_args(argv)
    if (args.model is None) == (args.onnx is None):
        parser.error("give --model (a saved MSQNet folder) or --onnx (a folder written by examples/export_onnx.py).")
    if args.onnx is not None and args.dtype not in ("auto", "float32"):
        parser.error(f"--dtype {args.dtype} applies to --model; an ONNX export runs in float32 (or --int8).")
    return args


def main(argv=None):
    args = parse_args(argv)
    setup_logging()  # shows the precision `--dtype auto` picked
    from modeling_msqnet import MSQNetForVideoClassification, MSQNetVideoProcessor
    from modeling_msqnet.precision import apply_dtype, resolve_dtype

    scorer = None
    if args.onnx is not None:
        from modeling_msqnet.export import INT8_FILE_NAME, ONNX_FILE_NAME, OnnxWindowScorer

        scorer = OnnxWindowScorer(args.onnx, file_name=INT8_FILE_NAME if args.int8 else ONNX_FILE_NAME)
        model, processor_dir = None, args.onnx
    else:
        model = apply_dtype(MSQNetForVideoClassification.from_pretrained(args.model), resolve_dtype(args.dtype))
        processor_dir = args.model
    video_processor = MSQNetVideoProcessor.from_pretrained(processor_dir)
    timeline = compute_timeline(
        model,
        video_processor,
        args.video,
        window_seconds=args.window_seconds,
        stride_seconds=args.stride_seconds,
        threshold=args.threshold,
        min_duration=args.min_duration,
        merge_gap=args.merge_gap,
        batch_size=args.batch_size,
        scorer=scorer,
        progress=not args.no_progress,
    )
    timeline.save_json(args.output)
    print(f"{len(timeline.window_starts)} windows, {len(timeline.segments)} segments -> {args.output}")
    if timeline.undecodable:
        print(f"undecodable stretches: {timeline.undecodable}")
    if args.csv:
        timeline.save_csv(args.csv)
        print(f"window scores -> {args.csv}")
    if args.plot:
        print(f"heatmap -> {plot_timeline(timeline, args.plot)}")


if __name__ == "__main__":
    main()
