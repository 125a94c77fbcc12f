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
"""The zero-shot protocol of the paper (section 4.2): train on the seen classes of a split, score the unseen ones.

`examples/train.py --zero_shot_splits FILE --seen_setting 75_seen --split_index 0 ...` goes through three steps:

1. [`prepare_seen_class_training`] rewrites the run to the seen classes: the label set becomes the split's seen
   classes and the manifests are filtered into a temporary folder. Multi-label clips lose their unseen labels and
   clips left with none are dropped; single-label clips of unseen classes are dropped; both are counted.
2. training runs unchanged on those files (its per-epoch evaluation scores the seen classes);
3. [`finish_zero_shot_run`] scores the saved model with [`evaluate_zero_shot`]: the unseen classes on the evaluation
   clips that have one (the paper's zero-shot figure), and the generalised setting, all classes on all clips, and
   writes `OUTPUT_DIR/zero_shot_report.json`.

Unseen names get their label queries from the model's text encoder, so the model must keep it (`--keep_text_model` is
switched on) and must have the shared head.
"""

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from transformers.utils import logging

from ..data import load_label_set, read_manifest, write_manifest
from ..hub_code.configuration_msqnet import MULTI_LABEL_CLASSIFICATION as MULTI_LABEL
from ..hub_code.configuration_msqnet import SINGLE_LABEL_CLASSIFICATION as SINGLE_LABEL
from ..metrics import primary_metric
from .splits import SETTINGS, load_split, write_json_atomically


logger = logging.get_logger(__name__)

SPLIT_INFO_FILE = "zero_shot_split.json"
REPORT_FILE = "zero_shot_report.json"
WORK_DIR = "zero_shot"
CHANCE_DRAWS = 20


def build_argument_parser() -> argparse.ArgumentParser:
    """The zero-shot flags of `examples/train.py` (parsed before the training flags)."""
    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group("zero-shot protocol")
    group.add_argument(
        "--zero_shot_splits",
        default=None,
        help="Split file (configuration/zero_shot/*.json, or its name, e.g. thumos14): train on the seen classes of "
        "one split and score the unseen ones after training.",
    )
    group.add_argument("--seen_setting", default="75_seen", choices=tuple(SETTINGS), help="Setting of the split file.")
    group.add_argument("--split_index", type=int, default=0, help="Index of the split in its setting (0-based).")
    return parser


def parse_zero_shot_args(argv=None):
    """`(zero_shot_args, remaining_argv)`; `--help` also prints the zero-shot flags."""
    import sys

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_argument_parser()
    if "-h" in argv or "--help" in argv:
        parser.print_help()
    zero_shot_args, remaining = parser.parse_known_args(argv)
    if zero_shot_args.split_index < 0:
        parser.error(f"--split_index must be >= 0, got {zero_shot_args.split_index}.")
    return zero_shot_args, remaining


def read_label_names(path) -> tuple[list[str], str, str]:
    """`(names, problem_type, name)` of a label set: a JSON list of names (multi-label) or a label set file/name."""
    candidate = Path(path)
    if candidate.is_file():
        content = json.loads(candidate.read_text(encoding="utf-8"))
        if isinstance(content, list):
            return list(content), MULTI_LABEL, candidate.stem
    label_set = load_label_set(path)
    return list(label_set["labels"]), label_set["problem_type"], label_set["name"]


def restrict_to_classes(entries, classes, problem_type) -> tuple[list[dict], dict]:
    """
    Keep the `classes` of manifest entries (from [`~modeling_msqnet.data.read_manifest`]).

    Multi-label: every clip loses its other labels, and clips left with none are dropped. Single-label: clips of other
    classes are dropped. Returns the kept entries (labels in `classes`) and the counts `{"num_clips", "num_kept",
    "num_dropped", "num_labels_removed"}`.
    """
    keep = set(classes)
    kept, removed = [], 0
    for entry in entries:
        labels = [label for label in entry["labels"] if label in keep]
        removed += len(entry["labels"]) - len(labels)
        if problem_type == SINGLE_LABEL and len(labels) != len(entry["labels"]):
            continue
        if labels:
            kept.append({**entry, "labels": labels})
    counts = {
        "num_clips": len(entries),
        "num_kept": len(kept),
        "num_dropped": len(entries) - len(kept),
        "num_labels_removed": removed,
    }
    return kept, counts


def _folder_has_text_encoder(model) -> bool:
    config = Path(model) / "config.json" if model else None
    return bool(config and config.is_file() and json.loads(config.read_text(encoding="utf-8")).get("text_config"))


def prepare_seen_class_training(args, zero_shot_args) -> dict:
    """
    Step 1 of the protocol: point `args` (the training flags) at the seen classes of the split and at filtered copies
    of the manifests in a temporary folder (`record["work_dir"]`). Returns the record of the split, the label set and
    the counts of the filtering, which [`finish_zero_shot_run`] saves as `OUTPUT_DIR/zero_shot_split.json`.
    """
    from accelerate import PartialState

    if args.labels is None:
        raise ValueError("--zero_shot_splits needs --labels (the whole label set of the dataset).")
    if args.eval_manifest is None:
        raise ValueError("--zero_shot_splits needs --eval_manifest (the clips the unseen classes are scored on).")
    if args.text_model is None and args.clip_model is None and not _folder_has_text_encoder(args.model):
        raise ValueError(
            "--zero_shot_splits needs a text encoder to embed the unseen class names: give --text_model (or "
            "--clip_model), or a --model folder that holds one."
        )
    label_names, problem_type, dataset = read_label_names(args.labels)
    split = load_split(
        zero_shot_args.zero_shot_splits, zero_shot_args.seen_setting, zero_shot_args.split_index, label_names
    )
    # Each process writes its own copy (the same content), outside the output folder that training checks is empty.
    work_dir = Path(tempfile.mkdtemp(prefix="msqnet-zero-shot-"))
    paths = {
        "labels": work_dir / "seen_labels.json",
        "train_manifest": work_dir / "train_seen.jsonl",
        "eval_manifest": work_dir / "eval_seen.jsonl",
    }

    counts = {}
    for key in ("train_manifest", "eval_manifest"):
        entries = read_manifest(getattr(args, key), label_names, problem_type=problem_type)
        kept, counts[key] = restrict_to_classes(entries, split["seen"], problem_type)
        if not kept:
            raise ValueError(f"--{key} {getattr(args, key)} has no clip of the seen classes of {split['file']}.")
        _write_manifest_atomically(kept, paths[key])

    record = {
        "dataset": dataset,
        "problem_type": problem_type,
        "label_names": label_names,
        "split": split,
        "original": {"labels": str(args.labels), "train_manifest": str(args.train_manifest)},
        "eval_manifest": os.path.abspath(args.eval_manifest),
        "filtering": counts,
        "text_model": args.text_model or args.clip_model,
        "work_dir": str(work_dir),
    }
    write_json_atomically({"name": dataset, "problem_type": problem_type, "labels": split["seen"]}, paths["labels"])
    if PartialState().is_main_process:
        for key, count in counts.items():
            what = (
                "clips of unseen classes dropped"
                if problem_type == SINGLE_LABEL
                else "clips left with no label dropped"
            )
            logger.warning(
                f"Zero-shot split {split['setting']}[{split['index']}] of {split['file']}: --{key} keeps "
                f"{count['num_kept']} of {count['num_clips']} clips ({count['num_dropped']} {what}; "
                f"{count['num_labels_removed']} unseen labels removed)."
            )

    args.labels = str(paths["labels"])
    args.train_manifest = str(paths["train_manifest"])
    args.eval_manifest = str(paths["eval_manifest"])
    args.keep_text_model = True
    return record


def _write_manifest_atomically(entries, path):
    from ..publishing.model_folder import atomic_output

    with atomic_output(path, ".jsonl") as temporary:
        write_manifest(entries, temporary)


def _label_arrays(entries, classes, problem_type):
    index = {name: i for i, name in enumerate(classes)}
    if problem_type == SINGLE_LABEL:
        return np.array([index[entry["labels"][0]] for entry in entries], dtype=np.int64)
    targets = np.zeros((len(entries), len(classes)), dtype=np.int64)
    for row, entry in enumerate(entries):
        targets[row, [index[label] for label in entry["labels"]]] = 1
    return targets


def chance_report(entries, classes, problem_type, draws: int = CHANCE_DRAWS, seed: int = 0) -> dict:
    """The primary metric of random scores (uniform, seeded) on `entries`: mean and std over `draws` draws."""
    from ..training.evaluation import compute_metrics

    targets = _label_arrays(entries, classes, problem_type)
    rng = np.random.default_rng(seed)
    key = primary_metric(problem_type)
    values = []
    for _ in range(draws):
        logits = rng.standard_normal((len(entries), len(classes)))
        values.append(compute_metrics(logits, targets, problem_type, dict(enumerate(classes)))[key])
    values = [value for value in values if value is not None]
    return {"metric": key, "mean": float(np.mean(values)), "std": float(np.std(values)), "draws": len(values)}


def _mean_ap(per_class_ap, classes):
    values = [per_class_ap.get(name) for name in classes]
    values = [value for value in values if value is not None]
    return float(np.mean(values)) if values else None


def evaluate_zero_shot(
    model_dir,
    eval_manifest,
    label_names,
    unseen,
    problem_type,
    *,
    batch_size: int = 32,
    num_workers: int = 0,
    work_dir=None,
) -> dict:
    """
    Score a saved MSQNet folder on a split's unseen classes, and in the generalised setting.

    - `unseen`: the unseen classes only, on the clips of `eval_manifest` that have one (multi-label clips keep only
      their unseen labels); the paper's zero-shot figure (mAP for multi-label sets, top-1 for single-label ones).
    - `generalised`: all `label_names` on all clips, with the mean AP over the seen and over the unseen classes.
    - `chance`: the same primary metric for random scores on the unseen clips (see [`chance_report`]).

    Names the model was not trained on are embedded by its text encoder (the folder must hold it and its tokenizer).
    """
    from accelerate import Accelerator

    from ..data import load_manifest_dataset
    from ..publishing.model_folder import load_model_folder
    from ..training.dataloaders import build_eval_dataloader
    from ..training.evaluation import evaluate_model

    model_dir = Path(model_dir)
    work_dir = Path(work_dir) if work_dir is not None else model_dir / WORK_DIR
    accelerator = Accelerator()
    model, video_processor, tokenizer = load_model_folder(model_dir)
    model.to(accelerator.device).eval()
    model.config.problem_type = problem_type
    unknown = [name for name in label_names if name not in model.config.label2id]
    if unknown and (tokenizer is None or model.msqnet.text_model is None):
        raise ValueError(
            f"{model_dir} cannot embed the class names {unknown[:5]}: it has no text encoder or tokenizer. Train it "
            "with a text encoder kept in the model (examples/train.py --text_model ... --keep_text_model)."
        )
    seen = [name for name in label_names if name not in set(unseen)]
    entries = read_manifest(eval_manifest, label_names, problem_type=problem_type)
    key = primary_metric(problem_type)

    results = {"metric": key, "model": str(model_dir), "eval_manifest": os.path.abspath(eval_manifest)}
    for setting, classes in (("unseen", list(unseen)), ("generalised", list(label_names))):
        kept, counts = restrict_to_classes(entries, classes, problem_type)
        if not kept:
            raise ValueError(f"{eval_manifest} has no clip of the classes {classes[:5]}...")
        manifest = work_dir / f"eval_{setting}.jsonl"
        if accelerator.is_main_process:
            _write_manifest_atomically(kept, manifest)
        accelerator.wait_for_everyone()
        dataset = load_manifest_dataset(manifest, classes, problem_type=problem_type)
        dataloader = accelerator.prepare(
            build_eval_dataloader(
                dataset, video_processor, model.config, batch_size, num_workers, num_labels=len(classes)
            )
        )
        label_inputs = model.label_inputs_for_names(classes, tokenizer=tokenizer)
        report = evaluate_model(
            model,
            dataloader,
            accelerator,
            problem_type=problem_type,
            id2label=dict(enumerate(classes)),
            dataset=dataset,
            desc=f"Evaluating ({setting} classes)",
            label_inputs=label_inputs,
        )
        report["clips"] = counts
        if setting == "unseen":
            report["chance"] = chance_report(kept, classes, problem_type)
        else:
            report["mAP_seen"] = _mean_ap(report.get("per_class_AP", {}), seen)
            report["mAP_unseen"] = _mean_ap(report.get("per_class_AP", {}), unseen)
            pair = (report["mAP_seen"], report["mAP_unseen"])
            report["mAP_harmonic"] = (
                2 * pair[0] * pair[1] / (pair[0] + pair[1]) if None not in pair and sum(pair) > 0 else None
            )
        results[setting] = report
    return results


def finish_zero_shot_run(output_dir, record=None, *, batch_size: int = 32, num_workers: int = 0) -> dict:
    """
    Step 3 of the protocol: score the model trained in `output_dir` on its split (the record of
    [`prepare_seen_class_training`], read from `zero_shot_split.json` when not given) and write `zero_shot_report.json`.
    """
    from accelerate import PartialState

    output_dir = Path(output_dir)
    if record is None:
        record = json.loads((output_dir / SPLIT_INFO_FILE).read_text(encoding="utf-8"))
    state = PartialState()
    if state.is_main_process:
        write_json_atomically(record, output_dir / SPLIT_INFO_FILE)
    results = evaluate_zero_shot(
        output_dir,
        record["eval_manifest"],
        record["label_names"],
        record["split"]["unseen"],
        record["problem_type"],
        batch_size=batch_size,
        num_workers=num_workers,
    )
    report = {
        "dataset": record["dataset"],
        "setting": record["split"]["setting"],
        "split_index": record["split"]["index"],
        "split_file": record["split"]["file"],
        "seen": record["split"]["seen"],
        "unseen": record["split"]["unseen"],
        "train_filtering": record["filtering"],
        **results,
    }
    if state.is_main_process:
        write_json_atomically(report, output_dir / REPORT_FILE)
    state.wait_for_everyone()
    return report


def train_on_split(args, zero_shot_args, train) -> dict:
    """The protocol around `train(args)` (see the module docstring); returns training's final evaluation report."""
    from accelerate import PartialState

    record = prepare_seen_class_training(args, zero_shot_args)
    try:
        report = train(args)
        zero_shot_report = finish_zero_shot_run(args.output_dir, record)
    finally:
        shutil.rmtree(record["work_dir"], ignore_errors=True)
    if PartialState().is_main_process:
        logger.warning(format_zero_shot_summary(zero_shot_report))
    return report


def main(argv=None) -> int:
    """
    The command line of `examples/train.py` (and `accelerate launch -m modeling_msqnet.zero_shot`): training's flags
    plus `--zero_shot_splits`/`--seen_setting`/`--split_index`, which train on the seen classes of one split.
    """
    from ..training.training import parse_args, run_training_command, train

    zero_shot_args, argv = parse_zero_shot_args(argv)
    args = parse_args(argv)
    if not zero_shot_args.zero_shot_splits:
        return run_training_command(args, train)
    return run_training_command(args, lambda args: train_on_split(args, zero_shot_args, train))


def format_zero_shot_summary(report: dict) -> str:
    """One line with the zero-shot figures of a [`finish_zero_shot_run`] report."""
    key = report["metric"]
    unseen, generalised = report["unseen"], report["generalised"]
    return (
        f"zero-shot {report['setting']}[{report['split_index']}]: unseen {key} {unseen[key]:.4f} on "
        f"{unseen['num_videos']} clips (chance {unseen['chance']['mean']:.4f}); generalised {key} "
        f"{generalised[key]:.4f} (seen mAP {generalised['mAP_seen']:.4f}, unseen mAP {generalised['mAP_unseen']:.4f})"
    )


__all__ = [
    "build_argument_parser",
    "chance_report",
    "evaluate_zero_shot",
    "finish_zero_shot_run",
    "format_zero_shot_summary",
    "main",
    "parse_zero_shot_args",
    "prepare_seen_class_training",
    "read_label_names",
    "restrict_to_classes",
    "train_on_split",
]
