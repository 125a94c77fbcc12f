"""Action timelines over long videos: sliding-window label scores and per-label segments, in one decoding pass."""

from .plot import plot_timeline
from .streaming import StreamingVideoReader
from .timeline import (
    DEFAULT_STRIDE_SECONDS,
    DEFAULT_THRESHOLD,
    DEFAULT_WINDOW_SECONDS,
    Timeline,
    TorchWindowScorer,
    compute_timeline,
    find_segments,
    per_label_thresholds,
    scores_from_logits,
    window_bounds,
)


__all__ = [
    "DEFAULT_STRIDE_SECONDS",
    "DEFAULT_THRESHOLD",
    "DEFAULT_WINDOW_SECONDS",
    "StreamingVideoReader",
    "Timeline",
    "TorchWindowScorer",
    "compute_timeline",
    "find_segments",
    "per_label_thresholds",
    "plot_timeline",
    "scores_from_logits",
    "window_bounds",
]
