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
"""
Per-label thresholds chosen on labelled clips (`examples/calibrate.py`), written as a thresholds file
([`~modeling_msqnet.archive.thresholds.write_thresholds`]).

The clips of a manifest are scored as the evaluation scores them (one clip per line, test-time sampling), and turned
into the timeline's scores (sigmoid, or softmax for a single-label model). A clip counts as predicted positive for a
label when its score is at least the threshold, as the timeline's segments do. Per label:

- `best_f1` (the default): the threshold of the highest F1 (the highest such threshold on a tie);
- `target_precision` P: the lowest threshold whose precision is at least P (the most recall at that precision). When
  no threshold reaches P, the label is *unreached*: by default (`if_unreached="best_precision"`) it gets the
  threshold of the highest precision there is (the lowest such threshold), whose precision, below P, is what the file
  records; with `if_unreached="disable"` it gets the threshold 1.0 (the label practically never fires). Either way the
  label is listed as unreached in the result and the command's report;
- a label without a positive clip in the manifest cannot be calibrated: it keeps the timeline's default threshold
  (0.5), with recall and F1 recorded as unknown (`null`), and is listed in the report.
"""

import argparse
import os
from dataclasses import dataclass, field

import numpy as np
from transformers.utils import logging

from ..metrics import precision_recall_curve
from ..timeline import DEFAULT_THRESHOLD
from .thresholds import write_thresholds


logger = logging.get_logger(__name__)

IF_UNREACHED = ("best_precision", "disable")


@dataclass
class Calibration:
    """Per-label thresholds and figures (`{label: {"threshold", "precision", "recall", "f1", "support"}}`), and the
    labels that missed the target precision (`unreached`) or had no positive clip (`without_positives`)."""

    per_label: dict
    criterion: str
    target_precision: float | None = None
    unreached: list = field(default_factory=list)
    without_positives: list = field(default_factory=list)

    def describe(self) -> str:
        """A table of the thresholds and figures, then what could not be calibrated as asked."""

        def cell(value):
            return "n/a" if value is None else f"{value:.3f}"

        width = max(len("label"), *(len(label) for label in self.per_label))
        lines = [f"{'label':<{width}}  threshold  precision  recall  f1     support"]
        for label, entry in self.per_label.items():
            lines.append(
                f"{label:<{width}}  {entry['threshold']:<9.4f}  {cell(entry['precision']):<9}  "
                f"{cell(entry['recall']):<6}  {cell(entry['f1']):<5}  {entry['support']}"
            )
        if self.unreached:
            lines.append(
                f"{len(self.unreached)} label(s) reach no precision of {self.target_precision:g} on these clips "
                f"(their recorded precision is below it): {self.unreached}"
            )
        if self.without_positives:
            lines.append(
                f"{len(self.without_positives)} label(s) have no positive clip and keep the default threshold "
                f"{DEFAULT_THRESHOLD:g}: {self.without_positives}"
            )
        return "\n".join(lines)


def _figures(curve: dict, position: int | None, threshold: float, targets, scores, support: int) -> dict:
    if position is None:  # a threshold that is not one of the scores: count directly
        predicted = scores >= threshold
        true_positives, predicted_positives = float(targets[predicted].sum()), float(predicted.sum())
    else:
        true_positives = float(curve["true_positives"][position])
        predicted_positives = float(curve["predicted_positives"][position])
    precision = true_positives / predicted_positives if predicted_positives else None
    recall = true_positives / support if support else None
    f1 = 2 * true_positives / (predicted_positives + support) if support else None
    return {"threshold": float(threshold), "precision": precision, "recall": recall, "f1": f1, "support": support}


def choose_threshold(
    targets, scores, *, target_precision: float | None = None, if_unreached: str = "best_precision"
) -> tuple[dict, str]:
    """
    The threshold of one label (see the module docstring) and its figures.

    Args:
        targets (array `(n,)`): 0/1 ground truth of the clips.
        scores (array `(n,)`): The label's scores of the clips, in [0, 1].
        target_precision (`float`, *optional*): Choose for this precision instead of the best F1.
        if_unreached (`str`, *optional*): `"best_precision"` or `"disable"`, when no threshold reaches the target.

    Returns:
        `(figures, status)`: `{"threshold", "precision", "recall", "f1", "support"}` and `"ok"`, `"unreached"` or
        `"no_positives"`.
    """
    if if_unreached not in IF_UNREACHED:
        raise ValueError(f"`if_unreached` must be one of {IF_UNREACHED}, got {if_unreached!r}.")
    targets = np.asarray(targets, dtype=np.float64).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    support = int(targets.sum())
    curve = precision_recall_curve(targets, scores)
    if support == 0:
        return _figures(curve, None, DEFAULT_THRESHOLD, targets, scores, support), "no_positives"
    if target_precision is None:
        f1 = 2 * curve["true_positives"] / (curve["predicted_positives"] + support)
        position = int(np.argmax(f1))  # the first maximum: the highest threshold
        return _figures(curve, position, curve["thresholds"][position], targets, scores, support), "ok"
    reached = np.flatnonzero(curve["precision"] >= target_precision - 1e-12)
    if reached.size:
        position = int(reached[-1])
        return _figures(curve, position, curve["thresholds"][position], targets, scores, support), "ok"
    if if_unreached == "disable":
        return _figures(curve, None, 1.0, targets, scores, support), "unreached"
    best = np.flatnonzero(curve["precision"] == curve["precision"].max())
    position = int(best[-1])
    return _figures(curve, position, curve["thresholds"][position], targets, scores, support), "unreached"


def calibrate_thresholds(
    scores, targets, labels, *, target_precision: float | None = None, if_unreached: str = "best_precision"
) -> Calibration:
    """
    Per-label thresholds for clips' `scores` `(n, K)` and multi-hot `targets` `(n, K)`; `labels` names the columns.
    """
    scores, targets = np.asarray(scores, dtype=np.float64), np.asarray(targets)
    if scores.ndim != 2 or scores.shape != targets.shape or scores.shape[1] != len(labels) or not len(scores):
        raise ValueError(
            f"Expected scores and targets of shape (num_clips >= 1, {len(labels)}), got {scores.shape} and "
            f"{targets.shape}."
        )
    if target_precision is not None and not 0 < target_precision <= 1:
        raise ValueError(f"`target_precision` must be in (0, 1], got {target_precision}.")
    calibration = Calibration(
        per_label={},
        criterion="best_f1" if target_precision is None else "target_precision",
        target_precision=target_precision,
    )
    for column, label in enumerate(labels):
        figures, status = choose_threshold(
            targets[:, column], scores[:, column], target_precision=target_precision, if_unreached=if_unreached
        )
        calibration.per_label[label] = figures
        if status == "unreached":
            calibration.unreached.append(label)
        elif status == "no_positives":
            calibration.without_positives.append(label)
    return calibration


def score_manifest(args):
    """
    Score the clips of `args.manifest` with the model `args.model`, as the evaluation does (on every process of an
    Accelerate launch).

    Returns:
        `(scores (n, K), multi-hot targets (n, K), labels, skipped videos, accelerator)`.
    """
    from ..data import multi_hot
    from ..hub_code.configuration_msqnet import MULTI_LABEL_CLASSIFICATION, SINGLE_LABEL_CLASSIFICATION
    from ..hub_code.modeling_msqnet import scores_from_logits
    from ..training.evaluation import check_evaluation_skips, predict_dataset, prepare_evaluation

    model, dataloader, dataset, accelerator = prepare_evaluation(args, args.batch_size)
    config = model.config
    problem_type = config.problem_type or MULTI_LABEL_CLASSIFICATION
    predictions = predict_dataset(model, dataloader, accelerator, dataset=dataset, desc="Scoring clips")
    skipped = predictions["skipped"]
    report = {"num_videos": len(predictions["logits"]), "skipped": {"count": len(skipped), "videos": skipped}}
    check_evaluation_skips(report, args.manifest, args.max_skipped_fraction)
    labels = [config.id2label[index] for index in range(config.num_labels)]
    scores = scores_from_logits(predictions["logits"].double(), problem_type).numpy()
    if problem_type == SINGLE_LABEL_CLASSIFICATION:
        targets = multi_hot([[int(target)] for target in predictions["labels"].tolist()], len(labels))
    else:
        targets = predictions["labels"].round().numpy().astype(np.int64)
    return scores, targets, labels, skipped, accelerator


def parse_args(argv=None):
    from ..command_line import bounded_number, check_output_file, positive_int
    from ..training.evaluation import add_evaluation_arguments

    parser = argparse.ArgumentParser(
        description="Choose per-label score thresholds on labelled clips and write them as a thresholds file.",
        epilog=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", required=True, help="A saved MSQNet folder.")
    parser.add_argument("--manifest", required=True, help="Labelled clips (.jsonl), e.g. the validation manifest.")
    parser.add_argument("--output", required=True, help="The thresholds file to write (.json).")
    parser.add_argument(
        "--target_precision",
        type=bounded_number(float, 0.0, inclusive=False, maximum=1.0, description="a precision in (0, 1]"),
        default=None,
        help="Per label, the lowest threshold reaching this precision (default: the threshold of the best F1).",
    )
    parser.add_argument(
        "--if_unreached",
        choices=IF_UNREACHED,
        default="best_precision",
        help="With --target_precision, for a label that never reaches it: the threshold of its best precision, or "
        "1.0 (the label practically never fires). Both are recorded and reported.",
    )
    parser.add_argument("--batch_size", type=positive_int, default=8, help="Clips per model call and process.")
    add_evaluation_arguments(parser)
    args = parser.parse_args(argv)
    check_output_file(parser, "--output", args.output, suffixes=(".json",))
    return args


def main(argv=None) -> int:
    """`examples/calibrate.py`: score, choose, write the thresholds file on the main process and report."""
    from ..data import ManifestError

    args = parse_args(argv)
    try:
        scores, targets, labels, skipped, accelerator = score_manifest(args)
    except (ManifestError, FileNotFoundError, ValueError) as error:
        logger.error(str(error))
        return 1
    calibration = calibrate_thresholds(
        scores, targets, labels, target_precision=args.target_precision, if_unreached=args.if_unreached
    )
    if accelerator.is_main_process:
        write_thresholds(
            args.output,
            calibration.per_label,
            criterion=calibration.criterion,
            target_precision=calibration.target_precision,
            model=os.fspath(args.model),
            manifest=os.path.abspath(args.manifest),
        )
        for entry in skipped:
            logger.warning(f"skipped {entry['video']} (line {entry['line']}): {entry['error']}")
        logger.info(f"{len(scores)} clips of {args.manifest}:\n{calibration.describe()}\nWrote {args.output}")
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return 0


__all__ = ["IF_UNREACHED", "Calibration", "calibrate_thresholds", "choose_threshold", "main", "score_manifest"]
