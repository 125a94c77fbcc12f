"""
Per-label score thresholds, chosen on labelled clips (`examples/calibrate.py`) and used by the timeline, the archive
annotator and the app (`--thresholds FILE`).

The file is JSON:

```json
{"criterion": "best_f1", "target_precision": null, "model": "path/or/hub-id", "manifest": "val.jsonl",
 "labels": {"Eating": {"threshold": 0.42, "precision": 0.8, "recall": 0.7, "f1": 0.75, "support": 31}, ...}}
```

`criterion` is `"best_f1"` or `"target_precision"` (then `target_precision` is the precision asked for). A saved model
folder may carry one as `thresholds.json` beside its weights: it is then the default of the commands that take
`--thresholds`.
"""

import json
import math
import os
from pathlib import Path

from ..publishing.model_folder import atomic_output


THRESHOLDS_FILE_NAME = "thresholds.json"
THRESHOLD_CRITERIA = ("best_f1", "target_precision")
LABEL_FIELDS = ("threshold", "precision", "recall", "f1", "support")


class ThresholdsError(ValueError):
    """A thresholds file that cannot be used: not JSON, wrong form, or labels that do not match the model's."""


def write_thresholds(
    path,
    per_label: dict,
    *,
    criterion: str = "best_f1",
    target_precision: float | None = None,
    model: str | None = None,
    manifest: str | None = None,
) -> Path:
    """
    Write a thresholds file (atomically).

    Args:
        path (`str` or `os.PathLike`):
            The `.json` file to write.
        per_label (`dict[str, dict]`):
            Per label: `threshold` in [0, 1], and the `precision`, `recall`, `f1` and `support` (number of positive
            clips) measured at it.
        criterion (`str`, *optional*, defaults to `"best_f1"`):
            How the thresholds were chosen: one of `THRESHOLD_CRITERIA`.
        target_precision (`float`, *optional*):
            The precision asked for (with `criterion="target_precision"`).
        model, manifest (`str`, *optional*):
            The model and the labelled manifest they were chosen with.

    Returns:
        `Path`: the file written.
    """
    if criterion not in THRESHOLD_CRITERIA:
        raise ValueError(f"`criterion` must be one of {THRESHOLD_CRITERIA}, got {criterion!r}.")
    if (criterion == "target_precision") != (target_precision is not None):
        raise ValueError("`target_precision` is given exactly when `criterion` is 'target_precision'.")
    labels = {}
    for label, entry in per_label.items():
        missing = [name for name in LABEL_FIELDS if name not in entry]
        if missing:
            raise ValueError(f"Label {label!r} lacks {missing} (each label needs {list(LABEL_FIELDS)}).")
        _check_threshold(entry["threshold"], label, where="`per_label`")
        labels[str(label)] = {
            "threshold": float(entry["threshold"]),
            "precision": _optional_float(entry["precision"]),
            "recall": _optional_float(entry["recall"]),
            "f1": _optional_float(entry["f1"]),
            "support": int(entry["support"]),
        }
    document = {
        "criterion": criterion,
        "target_precision": None if target_precision is None else float(target_precision),
        "model": None if model is None else str(model),
        "manifest": None if manifest is None else str(manifest),
        "labels": labels,
    }
    path = Path(path)
    with atomic_output(path, ".json") as temporary, open(temporary, "w", encoding="utf-8") as file:
        json.dump(document, file, indent=2)
    return path


def read_thresholds_document(path) -> dict:
    """The whole thresholds file (criterion, model, manifest, per-label figures), checked for form."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as file:
            document = json.load(file)
    except FileNotFoundError:
        raise ThresholdsError(f"Thresholds file {path} does not exist.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ThresholdsError(f"Thresholds file {path} is not JSON: {error}.") from None
    if not isinstance(document, dict) or not isinstance(document.get("labels"), dict):
        raise ThresholdsError(
            f"Thresholds file {path} must hold a JSON object with a 'labels' object "
            '({"labels": {"<label>": {"threshold": t, ...}}}), as examples/calibrate.py writes.'
        )
    for label, entry in document["labels"].items():
        if not isinstance(entry, dict) or "threshold" not in entry:
            raise ThresholdsError(f"Thresholds file {path}: label {label!r} has no 'threshold'.")
        _check_threshold(entry["threshold"], label, where=f"Thresholds file {path}", error=ThresholdsError)
    return document


def read_thresholds(path, label_names) -> dict[str, float]:
    """
    The per-label thresholds of a thresholds file, for a model whose labels are `label_names`.

    Raises:
        `ThresholdsError`: naming the file, when it is not JSON, lacks some of the model's labels, has labels the
        model does not know, or holds a threshold outside [0, 1].
    """
    document = read_thresholds_document(path)
    thresholds = {label: float(entry["threshold"]) for label, entry in document["labels"].items()}
    label_names = [str(label) for label in label_names]
    missing = [label for label in label_names if label not in thresholds]
    unknown = [label for label in thresholds if label not in set(label_names)]
    if missing or unknown:
        problems = []
        if missing:
            problems.append(f"no threshold for the model's label(s) {missing}")
        if unknown:
            problems.append(f"label(s) {unknown} the model does not have")
        raise ThresholdsError(
            f"Thresholds file {path} does not fit the model: {'; '.join(problems)}. Calibrate it for this model "
            "(examples/calibrate.py)."
        )
    return {label: thresholds[label] for label in label_names}


def default_thresholds_file(model_dir) -> Path | None:
    """The `thresholds.json` a saved model folder carries, or `None` (also for a Hub id or no folder)."""
    if model_dir is None or not os.path.isdir(model_dir):
        return None
    path = Path(model_dir) / THRESHOLDS_FILE_NAME
    return path if path.is_file() else None


def _check_threshold(value, label, where, error=ValueError):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0.0 <= float(value) <= 1.0):
        raise error(f"{where}: the threshold of label {label!r} must be a number in [0, 1], got {value!r}.")


def _optional_float(value):
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


__all__ = [
    "THRESHOLDS_FILE_NAME",
    "THRESHOLD_CRITERIA",
    "ThresholdsError",
    "default_thresholds_file",
    "read_thresholds",
    "read_thresholds_document",
    "write_thresholds",
]
