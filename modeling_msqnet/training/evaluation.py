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
"""Evaluation of MSQNet models on manifest datasets, on one or several processes (Accelerate).

The same code scores the model during training (`modeling_msqnet.training.training`) and in `examples/evaluate_model.py`, so the
figures of both agree. Videos that cannot be decoded are left out of the metrics, counted and reported by name.
"""

import argparse
import csv
import json
import math
import os
from pathlib import Path

import numpy as np
import torch
from transformers.utils import logging

from ..command_line import check_output_file, fraction, non_negative_int, positive_int
from ..data import (
    DEFAULT_MAX_SKIPPED_FRACTION,
    check_skipped_share,
    check_videos_exist,
    load_manifest_dataset,
    multi_hot,
)
from ..file_utils import atomic_output
from ..hub_code.configuration_msqnet import (
    MULTI_LABEL_CLASSIFICATION,
    SINGLE_LABEL_CLASSIFICATION,
    ordered_label_names,
)
from ..hub_code.modeling_msqnet import classification_loss, scores_from_logits
from ..metrics import (
    HEADLINE_METRICS,
    multilabel_accuracy,
    multilabel_average_precision,
    primary_metric,
    top_k_accuracy,
)
from ..models import load_model_folder
from .dataloaders import build_eval_dataloader


logger = logging.get_logger(__name__)


def _finite_or_none(value):
    return float(value) if value is not None and math.isfinite(value) else None


def compute_metrics(logits: np.ndarray, labels: np.ndarray, problem_type: str, id2label: dict) -> dict:
    """
    The paper's metrics for the gathered logits `(N, K)` and labels of an evaluation set.

    Multi-label: `mAP_macro` (primary), `AP_micro` (official-code compatible), `multilabel_accuracy` (threshold 0.5
    on the sigmoid), `loss` (binary cross-entropy). Single-label: `top1`, `top5` (top-k with k capped at K), `loss`
    (cross-entropy), `mAP_macro`. Both: `per_class_AP` `{label: AP or None (no positive)}`, `num_videos`.
    """
    logits = torch.as_tensor(logits, dtype=torch.float64)
    num_videos, num_labels = logits.shape if logits.ndim == 2 else (0, len(id2label))
    names = ordered_label_names(id2label)[:num_labels]
    report = {"num_videos": int(num_videos)}
    if num_videos == 0:
        return report
    if problem_type == SINGLE_LABEL_CLASSIFICATION:
        targets = torch.as_tensor(labels).long()
        scores = scores_from_logits(logits, problem_type)
        top_k = top_k_accuracy(scores.numpy(), targets.numpy(), top_k=(1, min(5, num_labels)))
        report["top1"] = top_k["top1_accuracy"]
        report["top5"] = top_k[f"top{min(5, num_labels)}_accuracy"]
        multi_hot_targets = multi_hot([[target] for target in targets.tolist()], num_labels)
    else:
        targets = torch.as_tensor(labels).round()
        scores = scores_from_logits(logits, problem_type)
        multi_hot_targets = targets.numpy().astype(np.int64)
    report["loss"] = float(classification_loss(logits, targets.to(logits.dtype), problem_type))
    average_precision = multilabel_average_precision(scores.numpy(), multi_hot_targets)
    report["mAP_macro"] = _finite_or_none(average_precision["mAP_macro"])
    if problem_type != SINGLE_LABEL_CLASSIFICATION:
        report["AP_micro"] = _finite_or_none(average_precision["AP_micro"])
        report["multilabel_accuracy"] = multilabel_accuracy(scores.numpy(), multi_hot_targets, from_logits=False)[
            "accuracy"
        ]
    report["num_classes_without_positives"] = int(average_precision["num_classes_left_out"])
    report["per_class_AP"] = {name: _finite_or_none(ap) for name, ap in zip(names, average_precision["per_class_AP"])}
    report["per_class_positives"] = {
        name: int(count) for name, count in zip(names, multi_hot_targets.sum(axis=0).tolist())
    }
    return report


@torch.no_grad()
def predict_dataset(model, dataloader, accelerator, *, dataset=None, desc="Evaluating", label_inputs=(None, None)):
    """
    Run `model` on `dataloader` (prepared with `accelerator`, batches from [`FixedSizeCollator`]) on every process, for
    its trained labels or for the `(label_embeds, columns)` of `model.label_inputs_for_names`, and
    gather its predictions with `accelerator.gather_for_metrics` (the samples duplicated to even out the last batch are
    dropped), identically on every process.

    Returns:
        `dict`: `logits` `(N, K)` and `labels` (CPU tensors) of the `N` videos that could be read, and `skipped`
        (`[{"video", "line", "error"}, ...]`), the unreadable ones.
    """
    from accelerate.utils import gather_object
    from tqdm.auto import tqdm

    label_embeds, columns = label_inputs
    was_training = model.training
    model.eval()
    logits, labels, valid, indices, local_skipped = [], [], [], [], []
    for batch in tqdm(dataloader, desc=desc, disable=not accelerator.is_local_main_process, leave=False):
        local_skipped.extend(batch.pop("skipped"))
        logits_of_batch = model(pixel_values=batch["pixel_values"], label_embeds=label_embeds).logits
        if columns is not None:
            logits_of_batch = logits_of_batch[:, columns]
        gathered = accelerator.gather_for_metrics(
            {
                "logits": logits_of_batch.float(),
                "labels": batch["labels"],
                "valid": batch["valid"],
                "index": batch["index"],
            }
        )
        logits.append(gathered["logits"].cpu())
        labels.append(gathered["labels"].cpu())
        valid.append(gathered["valid"].cpu())
        indices.append(gathered["index"].cpu())
    model.train(was_training)

    errors = {}
    for entry in gather_object(local_skipped):
        errors.setdefault(entry["index"], entry)
    logits, labels = torch.cat(logits), torch.cat(labels)
    valid, indices = torch.cat(valid).bool(), torch.cat(indices)

    skipped = []
    for index in sorted(set(indices[~valid].tolist())):
        entry = errors.get(index, {})
        video = entry.get("video")
        line = None
        if dataset is not None:
            row = dataset.with_format(None)[index]  # the manifest row, without decoding the video
            video, line = row["video"], row["line"]
        skipped.append({"video": video, "line": line, "error": entry.get("error")})
    return {"logits": logits[valid], "labels": labels[valid], "skipped": skipped}


def evaluate_model(
    model,
    dataloader,
    accelerator,
    *,
    problem_type: str,
    id2label: dict,
    dataset=None,
    desc="Evaluating",
    label_inputs=(None, None),
):
    """
    Score `model` on `dataloader` with [`predict_dataset`] and compute [`compute_metrics`] on the whole set,
    identically on every process.

    Returns:
        `dict`: the metrics, plus `skipped` (`{"count": n, "videos": [{"video", "line", "error"}, ...]}`), the
        unreadable videos of the set (left out of the metrics).
    """
    predictions = predict_dataset(
        model, dataloader, accelerator, dataset=dataset, desc=desc, label_inputs=label_inputs
    )
    report = compute_metrics(predictions["logits"].numpy(), predictions["labels"].numpy(), problem_type, id2label)
    report["skipped"] = {"count": len(predictions["skipped"]), "videos": predictions["skipped"]}
    return report


def check_evaluation_skips(report: dict, manifest, max_skipped_fraction: float = DEFAULT_MAX_SKIPPED_FRACTION):
    """Fail when no video of an evaluation could be read, or more than `max_skipped_fraction` of them could not."""
    skipped = report["skipped"]
    check_skipped_share(
        skipped["count"],
        report.get("num_videos", 0) + skipped["count"],
        manifest,
        "could not be read",
        max_skipped_fraction,
        [f"{entry['video']} (line {entry['line']}): {entry['error']}" for entry in skipped["videos"]],
    )


def format_summary(report: dict, problem_type: str) -> str:
    """One line with the headline figures of an evaluation report."""
    figures = ", ".join(
        f"{key} {report[key]:.4f}" if report.get(key) is not None else f"{key} n/a"
        for key in HEADLINE_METRICS[problem_type]
    )
    return f"{figures} on {report.get('num_videos', 0)} videos ({report['skipped']['count']} skipped)"


def write_per_class_table(report: dict, path) -> Path:
    """Write the per-class AP (and number of positives) as a Markdown (`.md`) or CSV (`.csv`) table."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".md", ".csv"):
        raise ValueError(f"`--per_class_table` must end with .md or .csv, got {str(path)!r}.")
    path.parent.mkdir(parents=True, exist_ok=True)
    positives = report.get("per_class_positives", {})
    rows = [
        (index, name, ap, positives.get(name))
        for index, (name, ap) in enumerate(report.get("per_class_AP", {}).items())
    ]
    if suffix == ".csv":
        with open(path, "w", newline="", encoding="utf-8") as file:
            writer = csv.writer(file)
            writer.writerow(["index", "label", "AP", "positives"])
            for index, name, ap, count in rows:
                writer.writerow([index, name, "" if ap is None else f"{ap:.6f}", count])
    else:
        lines = ["| index | label | AP | positives |", "| ---: | --- | ---: | ---: |"]
        for index, name, ap, count in rows:
            cell = name.replace("|", "\\|")
            lines.append(f"| {index} | {cell} | {'n/a' if ap is None else f'{ap:.4f}'} | {count} |")
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def add_evaluation_arguments(parser: argparse.ArgumentParser):
    """The flags [`prepare_evaluation`] reads besides `--model` and `--manifest`, shared by the evaluating commands."""
    parser.add_argument("--num_workers", type=non_negative_int, default=0, help="DataLoader worker processes.")
    parser.add_argument(
        "--max_skipped_fraction",
        type=fraction,
        default=DEFAULT_MAX_SKIPPED_FRACTION,
        help="Fail when a larger share of the manifest's videos is missing or unreadable (skipped videos are listed).",
    )
    parser.add_argument(
        "--mixed_precision", choices=("no", "fp16", "bf16"), default=None, help="Defaults to the accelerate config."
    )


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="Evaluate a saved MSQNet model on a manifest (JSON Lines).")
    parser.add_argument("--model", required=True, help="Saved MSQNet folder (config.json, weights, video processor).")
    parser.add_argument(
        "--manifest", required=True, help="Evaluation manifest (.jsonl); labels are model label names."
    )
    parser.add_argument("--output", required=True, help="Report to write (.json).")
    parser.add_argument("--per_device_eval_batch_size", type=positive_int, default=8, help="Batch size per process.")
    parser.add_argument("--per_class_table", default=None, help="Also write the per-class AP as .md or .csv.")
    add_evaluation_arguments(parser)
    args = parser.parse_args(argv)
    check_output_file(parser, "--output", args.output)
    if args.per_class_table:
        check_output_file(parser, "--per_class_table", args.per_class_table, suffixes=(".md", ".csv"))
    return args


def prepare_evaluation(args, batch_size: int):
    """
    Load the saved model and the labelled manifest of an evaluating command's `args` (`model`, `manifest`,
    `num_workers`, `mixed_precision`, `max_skipped_fraction`: the manifest's labels are checked against the model's,
    its videos against `max_skipped_fraction`) and prepare both with Accelerate, `batch_size` clips a batch. Returns
    `(model, dataloader, dataset, accelerator)`.
    """
    from accelerate import Accelerator

    accelerator = Accelerator(mixed_precision=args.mixed_precision)
    model, video_processor, _ = load_model_folder(args.model)
    config = model.config
    problem_type = config.problem_type or MULTI_LABEL_CLASSIFICATION
    dataset = load_manifest_dataset(args.manifest, config.label2id, problem_type=problem_type)
    check_videos_exist(dataset, args.manifest, args.max_skipped_fraction)
    dataloader = build_eval_dataloader(dataset, video_processor, config, batch_size, num_workers=args.num_workers)
    model, dataloader = accelerator.prepare(model, dataloader)
    return model, dataloader, dataset, accelerator


def run_evaluation(args) -> dict:
    """Evaluate `args.model` on `args.manifest` (see [`parse_args`]); writes the report on the main process."""
    model, dataloader, dataset, accelerator = prepare_evaluation(args, args.per_device_eval_batch_size)
    config = model.config
    problem_type = config.problem_type or MULTI_LABEL_CLASSIFICATION
    report = evaluate_model(
        model, dataloader, accelerator, problem_type=problem_type, id2label=config.id2label, dataset=dataset
    )
    check_evaluation_skips(report, args.manifest, args.max_skipped_fraction)
    report = {
        "model": str(args.model),
        "manifest": os.path.abspath(args.manifest),
        "problem_type": problem_type,
        "primary_metric": primary_metric(problem_type),
        **report,
    }
    if accelerator.is_main_process:
        with atomic_output(args.output, Path(args.output).suffix.lower()) as temporary:
            temporary.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        if args.per_class_table:
            write_per_class_table(report, args.per_class_table)
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return report


__all__ = [
    "compute_metrics",
    "evaluate_model",
    "format_summary",
    "parse_args",
    "predict_dataset",
    "run_evaluation",
    "write_per_class_table",
]
