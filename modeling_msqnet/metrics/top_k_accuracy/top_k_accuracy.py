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
"""Single-label top-k accuracy (the THUMOS14 and HMDB51 metric of MSQNet's paper)."""

import datasets
import evaluate
import numpy as np


_DESCRIPTION = """
Top-k accuracy of single-label class scores: the fraction of samples whose true class is among the k highest scores,
with scikit-learn's `top_k_accuracy_score` definition (ties between equal scores broken towards the higher class index;
k at least the number of classes gives 1.0). Top-1 is the plain accuracy of the arg-max prediction.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list[list[float]]` or array `(num_samples, num_classes)`):
        Class scores (logits or probabilities).
    references (`list[int]` or array `(num_samples,)`):
        True class indices.
    top_k (`int` or `Sequence[int]`, *optional*, defaults to `(1, 5)`):
        The k values to report.

Returns:
    `dict`: `top{k}_accuracy` (`float`) for every k.

Examples:
    >>> metric = evaluate.load("modeling_msqnet/metrics/top_k_accuracy")
    >>> metric.compute(predictions=[[0.1, 0.7, 0.2], [0.5, 0.2, 0.3]], references=[1, 2], top_k=(1, 2))
    {'top1_accuracy': 0.5, 'top2_accuracy': 1.0}
"""

_CITATION = ""


def top_k_accuracy(predictions, references, top_k=(1, 5)) -> dict:
    """
    Top-k accuracies of single-label scores (see `_DESCRIPTION`).

    Args:
        predictions (array `(num_samples, num_classes)`):
            Class scores.
        references (array `(num_samples,)`):
            True class indices.
        top_k (`int` or `Sequence[int]`, *optional*, defaults to `(1, 5)`):
            The k values to report.

    Returns:
        `dict` with `top{k}_accuracy` for each k.
    """
    scores = np.asarray(predictions, dtype=np.float64)
    targets = np.asarray(references)
    if scores.ndim != 2 or targets.shape != scores.shape[:1]:
        raise ValueError(
            f"`predictions` must be (num_samples, num_classes) and `references` (num_samples,); got {scores.shape} "
            f"and {targets.shape}."
        )
    if scores.shape[0] == 0:
        raise ValueError("Top-k accuracy needs at least one sample.")
    if np.isnan(scores).any():
        raise ValueError("`predictions` hold NaN scores.")
    if not np.issubdtype(targets.dtype, np.integer) or targets.min() < 0 or targets.max() >= scores.shape[1]:
        raise ValueError(f"`references` must be class indices in [0, {scores.shape[1]}).")
    top_k = (top_k,) if isinstance(top_k, (int, np.integer)) else tuple(top_k)
    if not top_k or any(int(k) < 1 for k in top_k):
        raise ValueError(f"`top_k` must be positive integers, got {top_k}.")
    # Stable ascending sort, reversed: among equal scores the higher class index ranks first, as in scikit-learn.
    ranking = np.argsort(scores, axis=1, kind="mergesort")[:, ::-1]
    results = {}
    for k in top_k:
        hits = (ranking[:, : int(k)] == targets[:, None]).any(axis=1)
        results[f"top{int(k)}_accuracy"] = float(hits.mean())
    return results


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class TopKAccuracy(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("float64")),
                    "references": datasets.Value("int64"),
                }
            ),
            reference_urls=[
                "https://scikit-learn.org/stable/modules/generated/sklearn.metrics.top_k_accuracy_score.html"
            ],
        )

    def _compute(self, predictions, references, top_k=(1, 5)):
        return top_k_accuracy(predictions, references, top_k=top_k)
