"""The metrics of MSQNet's paper as `evaluate` modules shipped in this folder, and the same computations as plain
functions.

Each sub-folder is an `evaluate` module (`evaluate.load(<folder>)` works offline):

- `multilabel_average_precision`: `mAP_macro` (the datasets' standard), `AP_micro` (official-code compatible),
  per-class AP (Animal Kingdom, Charades);
- `multilabel_accuracy`: accuracy of all (sample, class) pairs at threshold 0.5 (Hockey, Volleyball);
- `top_k_accuracy`: top-1 / top-5 accuracy (THUMOS14, HMDB51).
"""

from pathlib import Path

from .multilabel_accuracy.multilabel_accuracy import multilabel_accuracy
from .multilabel_average_precision.multilabel_average_precision import (
    binary_average_precision,
    multilabel_average_precision,
)
from .top_k_accuracy.top_k_accuracy import top_k_accuracy


METRICS_DIR = Path(__file__).resolve().parent
METRIC_MODULES = ("multilabel_average_precision", "multilabel_accuracy", "top_k_accuracy")
METRIC_FUNCTIONS = {
    "multilabel_average_precision": multilabel_average_precision,
    "multilabel_accuracy": multilabel_accuracy,
    "top_k_accuracy": top_k_accuracy,
}


def metric_module_path(name: str) -> str:
    """Folder of the `evaluate` module `name` (one of `METRIC_MODULES`), for `evaluate.load`."""
    if name not in METRIC_MODULES:
        raise ValueError(f"Unknown metric {name!r}; expected one of {METRIC_MODULES}.")
    return str(METRICS_DIR / name)


def load_metric(name: str, **kwargs):
    """
    `evaluate.load` the metric module `name` (one of `METRIC_MODULES`) from this folder, kept in memory.

    Keyword arguments go to `evaluate.load` (e.g. `process_id`, `num_process`, `experiment_id` for distributed
    evaluation).
    """
    import evaluate

    kwargs.setdefault("keep_in_memory", True)
    return evaluate.load(metric_module_path(name), **kwargs)


__all__ = [
    "METRICS_DIR",
    "METRIC_FUNCTIONS",
    "METRIC_MODULES",
    "binary_average_precision",
    "load_metric",
    "metric_module_path",
    "multilabel_accuracy",
    "multilabel_average_precision",
    "top_k_accuracy",
]
