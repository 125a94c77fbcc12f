"""The archive annotator's command line (`examples/annotate.py`), one process of `accelerate launch` or alone."""

import argparse

from transformers.utils import logging

from ..command_line import setup_logging
from ..timeline.cli import (
    add_timeline_arguments,
    check_timeline_arguments,
    load_timeline_model,
    resolve_thresholds,
    timeline_options,
)
from .inputs import read_archive_input
from .run import annotate_archive


logger = logging.get_logger(__name__)

# The run fails (exit status 1) when a larger share of the videos could not be annotated.
DEFAULT_MAX_FAILED_FRACTION = 0.2


def build_parser(description: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--videos",
        required=True,
        help='A folder (searched recursively for video files), a manifest (.jsonl, one {"video": ...} per line) or '
        "a text file of video paths (one per line).",
    )
    parser.add_argument("--output_dir", required=True, help="Where the timelines, segments, summary and plots go.")
    add_timeline_arguments(parser)
    parser.add_argument(
        "--max_failed_fraction",
        type=float,
        default=DEFAULT_MAX_FAILED_FRACTION,
        help="Exit with status 1 when more than this share of the videos could not be annotated (always when all).",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="Start over in an --output_dir whose run used other settings."
    )
    parser.add_argument("--no_progress", action="store_true", help="Hide the progress bars.")
    return parser


def failed_share_error(summary: dict, max_failed_fraction: float) -> str | None:
    """Why the run counts as failed (every video, or more than `max_failed_fraction` of them, failed), or `None`."""
    failed, total = summary["num_failed"], summary["num_videos"]
    if failed == total:
        return f"all {total} videos failed; see 'failed' in summary.json."
    if failed / total > max_failed_fraction:
        return (
            f"{failed} of {total} videos ({failed / total:.0%}) failed, more than --max_failed_fraction "
            f"{max_failed_fraction:g}; see 'failed' in summary.json."
        )
    return None


def main(argv=None, description: str | None = None) -> int:
    """Run the annotator; returns the exit status (1 when too many videos failed)."""
    from accelerate import Accelerator

    parser = build_parser(description)
    args = parser.parse_args(argv)
    check_timeline_arguments(parser, args)
    if not 0.0 <= args.max_failed_fraction <= 1.0:
        parser.error(f"--max_failed_fraction must be in [0, 1], got {args.max_failed_fraction}.")
    setup_logging("INFO")
    accelerator = Accelerator()
    archive_input = read_archive_input(args.videos)
    timeline_model = load_timeline_model(args, device=accelerator.device)
    summary = annotate_archive(
        archive_input,
        timeline_model,
        timeline_options(args, resolve_thresholds(args, timeline_model)),
        args.output_dir,
        accelerator=accelerator,
        overwrite=args.overwrite,
        progress=not args.no_progress,
    )
    if summary is None:
        return 0
    error = failed_share_error(summary, args.max_failed_fraction)
    if error:
        logger.error(f"{args.output_dir}: {error}")
        return 1
    return 0


__all__ = ["DEFAULT_MAX_FAILED_FRACTION", "build_parser", "failed_share_error", "main"]
