# Copyright 2026 The msqnet authors.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""
Reviewed segments of an archive as a training manifest (`examples/export_reviews.py`).

How decisions become labelled time (per video and label, the last decision on a segment counting):

- `accept` and `add`: the label is true over the span;
- `relabel`: `new_label` is true over the span, and the old label is false over it (as a reject);
- `reject`: the label is false over the span;
- a predicted segment nobody decided on is left out, unless `keep_unreviewed=True`, which takes it as accepted.

A label's true time is the union of its true spans minus the union of its false spans, so no clip ever claims a label
over time where it was rejected. That time is cut into training clips: a stretch no longer than `clip_seconds` (by
default the archive's window, the clip length the model scored) is one clip; a longer one is cut into the fewest equal
pieces no longer than `clip_seconds` (a 10 s stretch with 4 s clips gives three clips of 3.33 s), so no piece is a
short leftover. Pieces shorter than `min_clip_seconds` (slivers left by subtracting a rejection) are dropped and
counted. Each clip lists every label that is true over all of it; a label true over only part of a clip is not listed.
Rejected time does not become clips of its own.
"""

import argparse
import math
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from transformers.utils import logging

from ..data.manifest import write_manifest
from ..file_utils import atomic_output
from .reviews import TIME_TOLERANCE, ReviewedArchive, latest_decisions, segment_key


logger = logging.get_logger(__name__)

DEFAULT_MIN_CLIP_SECONDS = 0.5


@dataclass
class ExportReport:
    """What an export wrote and left out (all counted, nothing dropped silently)."""

    output: str
    num_clips: int = 0
    clips_per_label: dict = field(default_factory=dict)
    decisions: dict = field(default_factory=dict)
    superseded_reviews: int = 0
    unreviewed_kept: int = 0
    unreviewed_left_out: int = 0
    short_pieces_dropped: int = 0
    clip_seconds: float = 0.0

    def describe(self) -> str:
        decided = ", ".join(f"{count} {decision}" for decision, count in sorted(self.decisions.items())) or "none"
        per_label = ", ".join(f"{label} {count}" for label, count in self.clips_per_label.items()) or "none"
        return (
            f"{self.num_clips} clips (at most {self.clip_seconds:g} s) -> {self.output}\n"
            f"  decisions: {decided} ({self.superseded_reviews} earlier decisions replaced by later ones)\n"
            f"  unreviewed predicted segments: {self.unreviewed_kept} kept, {self.unreviewed_left_out} left out\n"
            f"  pieces shorter than the minimum dropped: {self.short_pieces_dropped}\n"
            f"  clips per label: {per_label}"
        )


def merge_intervals(intervals) -> list[tuple[float, float]]:
    """The union of `(start, end)` intervals as sorted, disjoint intervals (touching ones joined)."""
    merged = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1] + TIME_TOLERANCE:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def subtract_intervals(intervals, removed) -> list[tuple[float, float]]:
    """The parts of the union of `intervals` outside the union of `removed`."""
    result = []
    removed = merge_intervals(removed)
    for start, end in merge_intervals(intervals):
        pieces = [(start, end)]
        for cut_start, cut_end in removed:
            pieces = [
                part
                for piece_start, piece_end in pieces
                for part in ((piece_start, min(piece_end, cut_start)), (max(piece_start, cut_end), piece_end))
                if part[1] - part[0] > TIME_TOLERANCE
            ]
        result.extend(pieces)
    return result


def cut_into_clips(start: float, end: float, clip_seconds: float) -> list[tuple[float, float]]:
    """`[start, end)` as the fewest equal pieces no longer than `clip_seconds`."""
    count = max(1, math.ceil((end - start) / clip_seconds - 1e-9))
    edges = [start + (end - start) * index / count for index in range(count)] + [end]
    return list(zip(edges[:-1], edges[1:]))


def labelled_time(archive: ReviewedArchive, reviews, keep_unreviewed: bool = False) -> tuple[dict, dict]:
    """
    Per video and label, the time the reviews say the label is true (see the module docstring).

    Returns:
        `(true_time, counts)`: `{video: {label: [(start, end), ...]}}` and the counts of the [`ExportReport`]
        (`decisions`, `superseded_reviews`, `unreviewed_kept`, `unreviewed_left_out`).
    """
    latest = latest_decisions(reviews)
    true_spans, false_spans = {}, {}

    def add(spans, video, label, start, end):
        spans.setdefault(video, {}).setdefault(label, []).append((start, end))

    for (video, label, start, end), review in latest.items():
        decision = review["decision"]
        if decision in ("accept", "add"):
            add(true_spans, video, label, start, end)
        elif decision == "relabel":
            add(true_spans, video, review["new_label"], start, end)
            add(false_spans, video, label, start, end)
        else:
            add(false_spans, video, label, start, end)
    unreviewed = [segment for segment in archive.segments if segment_key(segment) not in latest]
    if keep_unreviewed:
        for segment in unreviewed:
            add(true_spans, segment["video"], segment["label"], float(segment["start"]), float(segment["end"]))
    true_time = {
        video: {
            label: subtract_intervals(spans, false_spans.get(video, {}).get(label, ()))
            for label, spans in labels.items()
        }
        for video, labels in true_spans.items()
    }
    counts = {
        "decisions": dict(Counter(review["decision"] for review in latest.values())),
        "superseded_reviews": len(reviews) - len(latest),
        "unreviewed_kept": len(unreviewed) if keep_unreviewed else 0,
        "unreviewed_left_out": 0 if keep_unreviewed else len(unreviewed),
    }
    return true_time, counts


def _covers(spans, start: float, end: float) -> bool:
    return any(
        span_start <= start + TIME_TOLERANCE and span_end >= end - TIME_TOLERANCE for span_start, span_end in spans
    )


def training_clips(true_time: dict, labels: list, clip_seconds: float, min_clip_seconds: float) -> tuple[list, int]:
    """
    The clips of `true_time` ([`labelled_time`]): `[(video, start, end, [labels true over all of it]), ...]` sorted by
    video and time, and the number of pieces dropped for being shorter than `min_clip_seconds`.
    """
    order = {label: index for index, label in enumerate(labels)}
    clips, dropped = {}, 0
    for video, per_label in true_time.items():
        for spans in per_label.values():
            for span_start, span_end in spans:
                for start, end in cut_into_clips(span_start, span_end, clip_seconds):
                    if end - start < min_clip_seconds:
                        dropped += 1
                        continue
                    key = (video, round(start, 6), round(end, 6))
                    if key not in clips:
                        true = [label for label, other in per_label.items() if _covers(other, start, end)]
                        clips[key] = (video, start, end, sorted(true, key=order.__getitem__))
    return [clips[key] for key in sorted(clips)], dropped


def export_reviews(
    output_dir,
    output,
    *,
    keep_unreviewed: bool = False,
    clip_seconds: float | None = None,
    min_clip_seconds: float = DEFAULT_MIN_CLIP_SECONDS,
    relative_paths: bool = False,
) -> ExportReport:
    """
    Write the reviewed segments of the archive `output_dir` as a training manifest (JSON Lines, atomically).

    Args:
        output_dir (`str` or `os.PathLike`): The output folder of `examples/annotate.py` (with `reviews.jsonl`).
        output (`str` or `os.PathLike`): The manifest to write (`.jsonl`).
        keep_unreviewed (`bool`, *optional*, defaults to `False`): Take predicted segments nobody decided on as
            accepted.
        clip_seconds (`float`, *optional*): Longest training clip; defaults to the archive's `window_seconds`.
        min_clip_seconds (`float`, *optional*, defaults to 0.5): Shorter pieces are dropped (and counted).
        relative_paths (`bool`, *optional*, defaults to `False`): Write video paths relative to the manifest's folder.

    Raises:
        `ReviewsError`: a line of `reviews.jsonl` that is corrupt, or reviews a video, label or segment the archive
        does not have (the message names the line).
    """
    archive = ReviewedArchive.load(output_dir)
    if clip_seconds is None:
        clip_seconds = archive.settings.get("window_seconds")
        if clip_seconds is None:
            raise ValueError(f"{output_dir}: the run's settings hold no window_seconds; give --clip_seconds.")
    if not (clip_seconds > 0 and math.isfinite(clip_seconds)) or not 0 <= min_clip_seconds <= clip_seconds:
        raise ValueError(
            f"Expected clip_seconds > 0 and 0 <= min_clip_seconds <= clip_seconds, got {clip_seconds} and "
            f"{min_clip_seconds}."
        )
    reviews = archive.read_reviews()
    true_time, counts = labelled_time(archive, reviews, keep_unreviewed=keep_unreviewed)
    clips, dropped = training_clips(true_time, archive.labels, clip_seconds, min_clip_seconds)
    entries = [
        {
            "video": archive.videos[video]["path"],
            "labels": clip_labels,
            "start": round(start, 6),
            "end": round(end, 6),
            "id": f"{video}@{start:.3f}-{end:.3f}",
        }
        for video, start, end, clip_labels in clips
    ]
    output = Path(output)
    with atomic_output(output, output.suffix.lower()) as temporary:
        write_manifest(entries, temporary, relative_paths=relative_paths)
    per_label = Counter(label for entry in entries for label in entry["labels"])
    report = ExportReport(
        output=os.fspath(output),
        num_clips=len(entries),
        clips_per_label={label: per_label[label] for label in archive.labels if per_label[label]},
        short_pieces_dropped=dropped,
        clip_seconds=float(clip_seconds),
        **counts,
    )
    if dropped:
        logger.warning(f"Dropped {dropped} piece(s) of labelled time shorter than {min_clip_seconds:g} s.")
    return report


def parse_args(argv=None):
    from ..command_line import bounded_number, check_output_file

    seconds = bounded_number(float, 0.0, inclusive=False, description="a positive number of seconds")
    parser = argparse.ArgumentParser(
        description="Write an archive's reviewed segments (OUT/reviews.jsonl) as a training manifest.",
        epilog=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--annotations", required=True, help="The output folder of examples/annotate.py (OUT).")
    parser.add_argument("--output", required=True, help="The training manifest to write (.jsonl).")
    parser.add_argument(
        "--keep_unreviewed", action="store_true", help="Take predicted segments nobody decided on as accepted."
    )
    parser.add_argument("--clip_seconds", type=seconds, default=None, help="Longest clip (default: the run's window).")
    parser.add_argument(
        "--min_clip_seconds",
        type=bounded_number(float, 0.0, description="a number of seconds >= 0"),
        default=DEFAULT_MIN_CLIP_SECONDS,
        help="Drop (and count) shorter pieces.",
    )
    parser.add_argument(
        "--relative_paths", action="store_true", help="Write video paths relative to the manifest's folder."
    )
    args = parser.parse_args(argv)
    if not os.path.isdir(args.annotations):
        parser.error(f"--annotations {args.annotations} is not a folder (the output folder of examples/annotate.py).")
    check_output_file(parser, "--output", args.output, suffixes=(".jsonl",))
    return args


def main(argv=None) -> int:
    """`examples/export_reviews.py`: export, print what was written and left out; 1 on bad input."""
    from .reviews import ReviewsError

    args = parse_args(argv)
    try:
        report = export_reviews(
            args.annotations,
            args.output,
            keep_unreviewed=args.keep_unreviewed,
            clip_seconds=args.clip_seconds,
            min_clip_seconds=args.min_clip_seconds,
            relative_paths=args.relative_paths,
        )
    except (ReviewsError, FileNotFoundError, ValueError) as error:
        logger.error(str(error))
        return 1
    logger.info(report.describe())
    return 0


__all__ = [
    "DEFAULT_MIN_CLIP_SECONDS",
    "ExportReport",
    "cut_into_clips",
    "export_reviews",
    "labelled_time",
    "main",
    "merge_intervals",
    "subtract_intervals",
    "training_clips",
]
