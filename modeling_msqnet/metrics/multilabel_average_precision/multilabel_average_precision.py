# Copyright 2026 The msqnet authors.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""Multi-label mean average precision (macro, as Charades and Animal Kingdom evaluate; micro, as MSQNet's code)."""

import datasets
import evaluate
import numpy as np


_DESCRIPTION = """
Average precision (AP) of multi-label scores, with scikit-learn's `average_precision_score` definition: the step-wise
area under the precision-recall curve, AP = sum_n (R_n - R_{n-1}) P_n over the distinct score thresholds in decreasing
order (tied scores form one threshold).

- `mAP_macro`: AP of every class over the whole evaluation set, classes without any positive left out, then the mean
  over the classes (Charades' `Charades_v1_classify` and SlowFast's `get_map`, which Animal Kingdom uses). This is the
  datasets' standard metric and the primary figure.
- `AP_micro`: AP of all (sample, class) pairs pooled into one binary problem, over the whole set ("official-code
  compatible": the MSQNet authors' code computes this per batch and averages the batch values, which depends on the
  batch size; the full-set value does not).
- `per_class_AP`: the AP of every class (NaN for the classes left out of the macro mean).
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list[list[float]]` or array `(num_samples, num_classes)`):
        Scores of every class (probabilities or logits: AP only depends on their order).
    references (`list[list[int]]` or array `(num_samples, num_classes)`):
        Multi-hot ground truth (0 or 1).

Returns:
    `dict`:
        - `mAP_macro` (`float`): mean of the per-class APs over the classes with a positive (NaN if none has one).
        - `AP_micro` (`float`): AP of all pairs pooled (NaN if there is no positive at all).
        - `per_class_AP` (`list[float]`): AP of each class, NaN where the class has no positive.
        - `num_classes_evaluated` (`int`): classes in the macro mean.
        - `num_classes_left_out` (`int`): classes without a positive, left out of the macro mean.

Examples:
    >>> metric = evaluate.load("modeling_msqnet/metrics/multilabel_average_precision")
    >>> results = metric.compute(predictions=[[0.9, 0.1], [0.2, 0.8], [0.6, 0.3]], references=[[1, 0], [0, 1], [0, 0]])
    >>> round(results["mAP_macro"], 4), results["num_classes_left_out"]
    (1.0, 0)
"""

_CITATION = """
@inproceedings{sigurdsson2016hollywood,
  title={Hollywood in Homes: Crowdsourcing Data Collection for Activity Understanding},
  author={Sigurdsson, Gunnar A. and Varol, G{\"u}l and Wang, Xiaolong and Farhadi, Ali and Laptev, Ivan and
          Gupta, Abhinav},
  booktitle={ECCV},
  year={2016}
}
"""


def precision_recall_curve(y_true, y_score) -> dict:
    """
    Precision and recall of one binary problem at each distinct score taken as the threshold (a sample is predicted
    positive when its score is at least the threshold), from the highest score down, as
    `sklearn.metrics.precision_recall_curve` computes them.

    Returns:
        `dict` of `(num_thresholds,)` arrays: `thresholds` (decreasing), `true_positives`, `predicted_positives`,
        `precision`, and `recall` (NaN when `y_true` has no positive).
    """
    y_true = np.asarray(y_true, dtype=np.float64).ravel()
    y_score = np.asarray(y_score, dtype=np.float64).ravel()
    order = np.argsort(y_score, kind="mergesort")[::-1]
    y_score, y_true = y_score[order], y_true[order]
    # One threshold per distinct score: the last position of each run of equal scores.
    threshold_ends = np.r_[np.flatnonzero(np.diff(y_score)), y_true.size - 1]
    true_positives = np.cumsum(y_true)[threshold_ends]
    num_positives = y_true.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = true_positives / num_positives
    return {
        "thresholds": y_score[threshold_ends],
        "true_positives": true_positives,
        "predicted_positives": (threshold_ends + 1).astype(np.float64),
        "precision": true_positives / (threshold_ends + 1),
        "recall": recall,
    }


def binary_average_precision(y_true, y_score) -> float:
    """
    Average precision of one binary problem, equal to `sklearn.metrics.average_precision_score(y_true, y_score)`.

    Args:
        y_true (array `(n,)`):
            0/1 ground truth.
        y_score (array `(n,)`):
            Scores; higher means more likely positive.

    Returns:
        `float`: the AP, or NaN when `y_true` has no positive.
    """
    if np.asarray(y_true, dtype=np.float64).sum() == 0:
        return float("nan")
    curve = precision_recall_curve(y_true, y_score)
    return float(max(0.0, np.sum(np.diff(np.r_[0.0, curve["recall"]]) * curve["precision"])))


def _check_inputs(predictions, references) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(predictions, dtype=np.float64)
    targets = np.asarray(references)
    if scores.ndim != 2 or targets.shape != scores.shape:
        raise ValueError(
            f"`predictions` and `references` must both be (num_samples, num_classes); got {scores.shape} and "
            f"{targets.shape}."
        )
    if scores.shape[0] == 0:
        raise ValueError("Average precision needs at least one sample.")
    if not np.isfinite(scores).all():
        raise ValueError("`predictions` hold NaN or infinite scores.")
    if not np.isin(targets, (0, 1)).all():
        raise ValueError("`references` must be multi-hot: every value 0 or 1.")
    return scores, targets.astype(np.float64)


def multilabel_average_precision(predictions, references) -> dict:
    """
    Macro and micro average precision of multi-label scores (see `_DESCRIPTION`).

    Args:
        predictions (array `(num_samples, num_classes)`):
            Scores.
        references (array `(num_samples, num_classes)`):
            Multi-hot ground truth.

    Returns:
        `dict` with `mAP_macro`, `AP_micro`, `per_class_AP`, `num_classes_evaluated`, `num_classes_left_out`.
    """
    scores, targets = _check_inputs(predictions, references)
    per_class = [binary_average_precision(targets[:, index], scores[:, index]) for index in range(scores.shape[1])]
    evaluated = [value for value in per_class if not np.isnan(value)]
    return {
        "mAP_macro": float(np.mean(evaluated)) if evaluated else float("nan"),
        "AP_micro": binary_average_precision(targets.ravel(), scores.ravel()),
        "per_class_AP": per_class,
        "num_classes_evaluated": len(evaluated),
        "num_classes_left_out": len(per_class) - len(evaluated),
    }


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class MultilabelAveragePrecision(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("float64")),
                    "references": datasets.Sequence(datasets.Value("int32")),
                }
            ),
            reference_urls=[
                "https://scikit-learn.org/stable/modules/generated/sklearn.metrics.average_precision_score.html"
            ],
        )

    def _compute(self, predictions, references):
        return multilabel_average_precision(predictions, references)
