"""
The names of what an archive run writes in its output folder, and readers of them (one place for the annotator, the
review tab and the exporter):

```
OUT/
  run_settings.json          the first run's input, model identity and settings (a relaunch must match them)
  timelines/<video>.json     one per video, as `examples/timeline.py --output` writes it; <video> is the path
                             relative to the input folder, e.g. timelines/site_a/day1.mp4.json
  failed/<video>.json        `{"video", "path", "error"}` of a video that could not be annotated (retried by a
                             relaunch; listed in summary.json)
  segments.parquet           one row per segment of every video: SEGMENT_COLUMNS
  summary.json               input, model, settings, videos done and failed, hours, per-video time budgets
  plots/ethograms/<video>.png   ethogram strip per video
  plots/time_budget.png      time budget per label across the archive
  reviews.jsonl              review decisions, appended by the app
```

`summary.json` holds: `input` (`videos` as given, `kind`, `root`), `model`, `settings` (with `thresholds`, the
per-label thresholds used), `labels`, `videos` (done, each `{"video", "path", "duration"}`, `path` being where the
file is), `num_videos`, `num_done`, `hours`, `failed` (each `{"video", "path", "error"}`), and `time_budget`
(`{video: {label: {"seconds", "bouts", "fraction"}}}`).
"""

import json
import os
from pathlib import Path


TIMELINES_DIR = "timelines"
FAILED_DIR = "failed"
TIMELINE_SUFFIX = ".json"
SEGMENTS_FILE = "segments.parquet"
SUMMARY_FILE = "summary.json"
REVIEWS_FILE = "reviews.jsonl"
RUN_SETTINGS_FILE = "run_settings.json"
PLOTS_DIR = "plots"
ETHOGRAMS_DIR = "ethograms"
TIME_BUDGET_PLOT = "time_budget.png"
SEGMENT_COLUMNS = ("video", "label", "start", "end", "peak_score", "peak_time")


def timeline_path(output_dir, video: str) -> Path:
    """`OUT/timelines/<video>.json` for a video's relative path `video` (forward slashes)."""
    return Path(output_dir) / TIMELINES_DIR / (video + TIMELINE_SUFFIX)


def failure_path(output_dir, video: str) -> Path:
    """`OUT/failed/<video>.json`: the error of a video that could not be annotated."""
    return Path(output_dir) / FAILED_DIR / (video + TIMELINE_SUFFIX)


def ethogram_path(output_dir, video: str) -> Path:
    """`OUT/plots/ethograms/<video>.png`."""
    return Path(output_dir) / PLOTS_DIR / ETHOGRAMS_DIR / (video + ".png")


def time_budget_plot_path(output_dir) -> Path:
    return Path(output_dir) / PLOTS_DIR / TIME_BUDGET_PLOT


def read_segments(output_dir) -> list[dict]:
    """
    The rows of `OUT/segments.parquet`, each `{"video", "label", "start", "end", "peak_score", "peak_time"}`, in file
    order (by video, then start, then label order).
    """
    import pyarrow.parquet as pq

    path = Path(output_dir) / SEGMENTS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: is {output_dir} the output folder of examples/annotate.py?")
    table = pq.read_table(path)
    missing = [name for name in SEGMENT_COLUMNS if name not in table.column_names]
    if missing:
        raise ValueError(f"{path} lacks the column(s) {missing} (expected {list(SEGMENT_COLUMNS)}).")
    return table.select(list(SEGMENT_COLUMNS)).to_pylist()


def read_summary(output_dir) -> dict:
    """`OUT/summary.json` as a dict."""
    path = Path(output_dir) / SUMMARY_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: is {output_dir} the output folder of examples/annotate.py?")
    with open(path, encoding="utf-8") as file:
        return json.load(file)


def video_paths(summary: dict) -> dict[str, str]:
    """`{relative video path: file path}` of the videos an archive run annotated (from `read_summary`)."""
    return {entry["video"]: entry["path"] for entry in summary["videos"]}


def label_thresholds(summary: dict) -> dict[str, float]:
    """`{label: threshold}` the run's segments were found with (from `read_summary`)."""
    return {label: float(value) for label, value in summary["settings"]["thresholds"].items()}


def relative_video_name(path, root) -> str:
    """
    The name of a video inside the archive: its path relative to `root` with forward slashes, or, for a file outside
    `root` (an absolute path in a manifest), its absolute path without the leading separator.
    """
    path, root = os.path.abspath(path), os.path.abspath(root)
    relative = os.path.relpath(path, root)
    if relative == os.pardir or relative.startswith(os.pardir + os.sep):
        relative = os.path.splitdrive(path)[1].lstrip(os.sep)
    return relative.replace(os.sep, "/")


__all__ = [
    "ETHOGRAMS_DIR",
    "FAILED_DIR",
    "PLOTS_DIR",
    "REVIEWS_FILE",
    "RUN_SETTINGS_FILE",
    "SEGMENTS_FILE",
    "SEGMENT_COLUMNS",
    "SUMMARY_FILE",
    "TIMELINES_DIR",
    "TIME_BUDGET_PLOT",
    "ethogram_path",
    "failure_path",
    "label_thresholds",
    "read_segments",
    "read_summary",
    "relative_video_name",
    "time_budget_plot_path",
    "timeline_path",
    "video_paths",
]
