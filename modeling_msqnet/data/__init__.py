"""Training and evaluation data for MSQNet: label sets, manifests, converters from official annotations, on-the-fly
decoding and augmentation, and batching."""

from .collator import FixedSizeCollator
from .converters import (
    CONVERTERS,
    ConversionResult,
    convert_animal_kingdom,
    convert_charades,
    convert_dataset,
    convert_hmdb51,
    convert_hockey,
    convert_thumos14,
    convert_thumos14_trimmed,
    convert_volleyball,
    resolve_media,
)
from .manifest import (
    DEFAULT_MAX_SKIPPED_FRACTION,
    ManifestError,
    available_label_sets,
    check_label_names,
    check_skipped_share,
    check_videos_exist,
    load_label_set,
    load_manifest_dataset,
    multi_hot,
    read_manifest,
    write_manifest,
)
from .transforms import ClipAugmentation, MSQNetVideoTransform, multiscale_crop_candidates


__all__ = [
    "CONVERTERS",
    "ClipAugmentation",
    "ConversionResult",
    "FixedSizeCollator",
    "MSQNetVideoTransform",
    "ManifestError",
    "DEFAULT_MAX_SKIPPED_FRACTION",
    "available_label_sets",
    "check_label_names",
    "check_skipped_share",
    "check_videos_exist",
    "convert_animal_kingdom",
    "convert_charades",
    "convert_dataset",
    "convert_hmdb51",
    "convert_hockey",
    "convert_thumos14",
    "convert_thumos14_trimmed",
    "convert_volleyball",
    "load_label_set",
    "load_manifest_dataset",
    "multi_hot",
    "multiscale_crop_candidates",
    "read_manifest",
    "resolve_media",
    "write_manifest",
]
