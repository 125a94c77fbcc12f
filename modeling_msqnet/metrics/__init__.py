"""The metrics of MSQNet's paper as `evaluate` modules shipped in this folder, and the same computations as plain
functions.

Each sub-folder is an `evaluate` module (`evaluate.load(<folder>)` works offline):

- `multilabel_average_precision`: `mAP_macro` (the datasets' standard), `AP_micro` (official-code compatible),
  per-class AP (Animal Kingdom, Charades);
- `multilabel_accuracy`: accuracy of all (sample, class) pairs at threshold 0.5 (Hockey, Volleyball);
- `top_k_accuracy`: top-1 / top-5 accuracy (THUMOS14, HMDB51).
"""

from pathlib import Path

from ..hub_code.configuration_msqnet import MULTI_LABEL_CLASSIFICATION, SINGLE_LABEL_CLASSIFICATION
from .multilabel_accuracy.multilabel_accuracy import multilabel_accuracy
from .multilabel_average_precision.multilabel_average_precision import (
    binary_average_precision,
    multilabel_average_precision,
    precision_recall_curve,
)
from .top_k_accuracy.top_k_accuracy import top_k_accuracy


METRICS_DIR = Path(__file__).resolve().parent
# The figures an evaluation report headlines, by problem type, the first one being the primary metric.
HEADLINE_METRICS = {
    MULTI_LABEL_CLASSIFICATION: ("mAP_macro", "AP_micro", "multilabel_accuracy"),
    SINGLE_LABEL_CLASSIFICATION: ("top1", "top5", "mAP_macro"),
}
# The evaluation report figures that go into the training history (`eval_<name>`) and the model card.
REPORTED_METRICS = ("mAP_macro", "AP_micro", "multilabel_accuracy", "top1", "top5", "loss")
METRIC_MODULES = ("multilabel_average_precision", "multilabel_accuracy", "top_k_accuracy")
METRIC_FUNCTIONS = {
    "multilabel_average_precision": multilabel_average_precision,
    "multilabel_accuracy": multilabel_accuracy,
    "top_k_accuracy": top_k_accuracy,
}


def primary_metric(problem_type: str) -> str:
    """The key of the headline figure: `mAP_macro` for multi-label sets, `top1` for single-label ones."""
    return HEADLINE_METRICS[problem_type][0]


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
    "HEADLINE_METRICS",
    "REPORTED_METRICS",
    "METRICS_DIR",
    "METRIC_FUNCTIONS",
    "METRIC_MODULES",
    "binary_average_precision",
    "load_metric",
    "metric_module_path",
    "multilabel_accuracy",
    "multilabel_average_precision",
    "precision_recall_curve",
    "primary_metric",
    "top_k_accuracy",
]
