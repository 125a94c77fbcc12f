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
"""Multi-label accuracy at a threshold (the Hockey and Volleyball metric of MSQNet's paper)."""

import datasets
import evaluate
import numpy as np


_DESCRIPTION = """
Multi-label accuracy with torchmetrics' `MultilabelAccuracy(average="micro")` semantics: every (sample, class) pair is
predicted positive when its score is above `threshold`, and the accuracy is the fraction of all pairs predicted right
((TP + TN) / (num_samples * num_classes)). As in torchmetrics, scores outside [0, 1] are taken for logits and go
through a sigmoid first (`from_logits=None`); pass `from_logits=True` or `False` to decide explicitly.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list[list[float]]` or array `(num_samples, num_classes)`):
        Probabilities or logits.
    references (`list[list[int]]` or array `(num_samples, num_classes)`):
        Multi-hot ground truth (0 or 1).
    threshold (`float`, *optional*, defaults to 0.5):
        A pair is predicted positive when its probability is strictly greater than this.
    from_logits (`bool`, *optional*):
        Whether `predictions` are logits; by default, as torchmetrics, when any score lies outside [0, 1].

Returns:
    `dict`: `accuracy` (`float`), the fraction of (sample, class) pairs predicted right.

Examples:
    >>> metric = evaluate.load("modeling_msqnet/metrics/multilabel_accuracy")
    >>> metric.compute(predictions=[[0.9, 0.2], [0.4, 0.7]], references=[[1, 0], [1, 1]])
    {'accuracy': 0.75}
"""

_CITATION = ""


def multilabel_accuracy(predictions, references, threshold: float = 0.5, from_logits: bool | None = None) -> dict:
    """
    Fraction of (sample, class) pairs predicted right at `threshold` (see `_DESCRIPTION`).

    Args:
        predictions (array `(num_samples, num_classes)`):
            Probabilities or logits.
        references (array `(num_samples, num_classes)`):
            Multi-hot ground truth.
        threshold (`float`, *optional*, defaults to 0.5):
            Probability above which a pair is predicted positive.
        from_logits (`bool`, *optional*):
            Whether `predictions` are logits; detected as in torchmetrics when not given.

    Returns:
        `dict` with `accuracy`.
    """
    scores = np.asarray(predictions, dtype=np.float64)
    targets = np.asarray(references)
    if scores.ndim != 2 or targets.shape != scores.shape:
        raise ValueError(
            f"`predictions` and `references` must both be (num_samples, num_classes); got {scores.shape} and "
            f"{targets.shape}."
        )
    if scores.size == 0:
        raise ValueError("Multi-label accuracy needs at least one sample and one class.")
    if np.isnan(scores).any():
        raise ValueError("`predictions` hold NaN scores.")
    if not np.isin(targets, (0, 1)).all():
        raise ValueError("`references` must be multi-hot: every value 0 or 1.")
    if from_logits is None:
        from_logits = bool(((scores < 0) | (scores > 1)).any())
    if from_logits:
        scores = 1.0 / (1.0 + np.exp(-scores))
    predicted = scores > threshold
    return {"accuracy": float((predicted == targets.astype(bool)).mean())}


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class MultilabelAccuracy(evaluate.Metric):
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
            reference_urls=["https://lightning.ai/docs/torchmetrics/stable/classification/accuracy.html"],
        )

    def _compute(self, predictions, references, threshold=0.5, from_logits=None):
        return multilabel_accuracy(predictions, references, threshold=threshold, from_logits=from_logits)
