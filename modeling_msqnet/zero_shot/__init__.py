"""Zero-shot action recognition: class splits, training on seen classes, evaluation on unseen ones, and the
Table-3-shaped report of the paper's protocol (section 4.2)."""

from .protocol import evaluate_zero_shot, finish_zero_shot_run, restrict_to_classes, train_on_split
from .report import PAPER_TABLE_3, format_report
from .splits import (
    SETTINGS,
    SPLITS_DIR,
    SplitError,
    generate_split_file,
    load_split,
    num_seen_classes,
    random_split,
    resolve_split_file,
    validate_split_file,
)


__all__ = [
    "PAPER_TABLE_3",
    "SETTINGS",
    "SPLITS_DIR",
    "SplitError",
    "evaluate_zero_shot",
    "finish_zero_shot_run",
    "format_report",
    "generate_split_file",
    "load_split",
    "num_seen_classes",
    "random_split",
    "resolve_split_file",
    "restrict_to_classes",
    "train_on_split",
    "validate_split_file",
]
