"""Annotating an archive of videos: per-video timelines across processes and machines, resumable, merged into
segments, time budgets and plots that a person reviews; and the per-label thresholds the timelines use."""

from .layout import (
    PLOTS_DIR,
    REVIEWS_FILE,
    RUN_SETTINGS_FILE,
    SEGMENT_COLUMNS,
    SEGMENTS_FILE,
    SUMMARY_FILE,
    TIMELINES_DIR,
    label_thresholds,
    read_segments,
    read_summary,
    timeline_path,
    video_paths,
)
from .thresholds import (
    THRESHOLD_CRITERIA,
    THRESHOLDS_FILE_NAME,
    ThresholdsError,
    default_thresholds_file,
    read_thresholds,
    write_thresholds,
)


__all__ = [
    "PLOTS_DIR",
    "REVIEWS_FILE",
    "RUN_SETTINGS_FILE",
    "SEGMENTS_FILE",
    "SEGMENT_COLUMNS",
    "SUMMARY_FILE",
    "THRESHOLDS_FILE_NAME",
    "THRESHOLD_CRITERIA",
    "TIMELINES_DIR",
    "ThresholdsError",
    "default_thresholds_file",
    "label_thresholds",
    "read_segments",
    "read_summary",
    "read_thresholds",
    "timeline_path",
    "video_paths",
    "write_thresholds",
]
