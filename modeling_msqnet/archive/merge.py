"""The archive's merged outputs, recomputed from the per-video timelines: `segments.parquet`, `summary.json` (with the
time budget of every video and label) and the plots."""

import json
from pathlib import Path

from transformers.utils import logging

from ..publishing.model_folder import atomic_output
from .inputs import ArchiveInput
from .layout import (
    SEGMENT_COLUMNS,
    SEGMENTS_FILE,
    SUMMARY_FILE,
    ethogram_path,
    failure_path,
    time_budget_plot_path,
    timeline_path,
)
from .plots import plot_ethogram, plot_time_budget


logger = logging.get_logger(__name__)


def time_budget(timeline: dict) -> dict[str, dict]:
    """
    `{label: {"seconds", "bouts", "fraction"}}` of one timeline (as its JSON holds it): the time inside the label's
    segments, their number, and that time as a fraction of the video.
    """
    budget = {label: {"seconds": 0.0, "bouts": 0, "fraction": 0.0} for label in timeline["labels"]}
    for segment in timeline["segments"]:
        entry = budget[segment["label"]]
        entry["seconds"] += segment["end"] - segment["start"]
        entry["bouts"] += 1
    duration = timeline["duration"]
    for entry in budget.values():
        entry["fraction"] = entry["seconds"] / duration if duration else 0.0
    return budget


def write_segments(output_dir, timelines: dict[str, dict]) -> Path:
    """`OUT/segments.parquet`: one row per segment, videos in name order (atomically)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = {column: [] for column in SEGMENT_COLUMNS}
    for name, timeline in timelines.items():
        for segment in timeline["segments"]:
            rows["video"].append(name)
            for column in SEGMENT_COLUMNS[1:]:
                rows[column].append(segment[column])
    schema = pa.schema(
        [("video", pa.string()), ("label", pa.string())]
        + [(column, pa.float64()) for column in ("start", "end", "peak_score", "peak_time")]
    )
    path = Path(output_dir) / SEGMENTS_FILE
    with atomic_output(path, ".parquet") as temporary:
        pq.write_table(pa.table(rows, schema=schema), temporary)
    return path


def _read_outcomes(output_dir, archive_input: ArchiveInput) -> tuple[dict, list]:
    timelines, failed = {}, []
    for video in archive_input.videos:
        done, failure = timeline_path(output_dir, video.name), failure_path(output_dir, video.name)
        if done.is_file():
            with open(done, encoding="utf-8") as file:
                timelines[video.name] = json.load(file)
        elif failure.is_file():
            with open(failure, encoding="utf-8") as file:
                failed.append(json.load(file))
        else:
            failed.append({"video": video.name, "path": video.path, "error": "not annotated (no timeline written)"})
    return timelines, failed


def merge_archive(output_dir, archive_input: ArchiveInput, settings: dict) -> dict:
    """
    Write `segments.parquet`, `summary.json` and the plots from the timelines in `output_dir`; return the summary.
    Recomputable at any time: the same timelines give the same outputs.
    """
    timelines, failed = _read_outcomes(output_dir, archive_input)
    write_segments(output_dir, timelines)
    seconds = sum(timeline["duration"] for timeline in timelines.values())
    paths = {video.name: video.path for video in archive_input.videos}
    summary = {
        "input": settings["input"],
        "model": settings["model"],
        "settings": settings["settings"],
        "labels": settings["labels"],
        "num_videos": len(archive_input.videos),
        "num_done": len(timelines),
        "num_failed": len(failed),
        "hours": seconds / 3600,
        "videos": [
            {"video": name, "path": paths[name], "duration": timeline["duration"]}
            for name, timeline in timelines.items()
        ],
        "failed": failed,
        "skipped": list(archive_input.skipped),
        "time_budget": {name: time_budget(timeline) for name, timeline in timelines.items()},
    }
    with atomic_output(Path(output_dir) / SUMMARY_FILE, ".json") as temporary:
        with open(temporary, "w", encoding="utf-8") as file:
            json.dump(summary, file, indent=2)
    for name, timeline in timelines.items():
        plot_ethogram(timeline, ethogram_path(output_dir, name), title=name)
    plot_time_budget(summary, time_budget_plot_path(output_dir))
    logger.info(
        f"{len(timelines)} of {len(archive_input.videos)} videos annotated ({seconds / 3600:.2f} h), "
        f"{len(failed)} failed -> {output_dir}"
    )
    return summary


__all__ = ["merge_archive", "time_budget", "write_segments"]
