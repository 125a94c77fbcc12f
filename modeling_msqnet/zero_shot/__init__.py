"""Zero-shot action recognition: class splits, training on seen classes, evaluation on unseen ones, and the
Table-3-shaped report of the paper's protocol (section 4.2)."""

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
    "SETTINGS",
    "SPLITS_DIR",
    "SplitError",
    "generate_split_file",
    "load_split",
    "num_seen_classes",
    "random_split",
    "resolve_split_file",
    "validate_split_file",
]
