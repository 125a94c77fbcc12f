"""Action timeline of a long video: label scores in sliding windows and per-label segments.

    python examples/timeline.py (--model DIR | --onnx EXPORT_DIR [--int8]) --video FILE --window_seconds 4 --stride_seconds 2 \
        [--dtype auto] [--threshold T | --thresholds thresholds.json] \
        --output timeline.json [--csv timeline.csv] [--plot timeline.png]
"""

import argparse

from modeling_msqnet.command_line import setup_logging
from modeling_msqnet.timeline import compute_timeline, plot_timeline
from modeling_msqnet.timeline.cli import (
    add_timeline_arguments,
    check_timeline_arguments,
    load_timeline_model,
    resolve_thresholds,
    timeline_options,
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", required=True, help="The video file.")
    add_timeline_arguments(parser)
    parser.add_argument("--output", default="timeline.json", help="JSON file to write.")
    parser.add_argument("--csv", default=None, help="Also write the window scores as CSV.")
    parser.add_argument("--plot", default=None, help="Also draw the labels x time heatmap (PNG).")
    parser.add_argument("--no_progress", action="store_true", help="Hide the progress bar.")
    args = parser.parse_args(argv)
    check_timeline_arguments(parser, args)
    return args


def main(argv=None):
    args = parse_args(argv)
    setup_logging()  # shows the precision `--dtype auto` picked
    timeline_model = load_timeline_model(args)
    timeline = compute_timeline(
        timeline_model.model,
        timeline_model.video_processor,
        args.video,
        scorer=timeline_model.scorer,
        progress=not args.no_progress,
        **timeline_options(args, resolve_thresholds(args, timeline_model)),
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
