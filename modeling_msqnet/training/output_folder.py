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
"""Writing the output folder of a training run: model, processor, history, evaluation report, plots and model card,
put in place atomically, then pushed to the Hub on request."""

import json
import shutil
from pathlib import Path

from transformers.utils import logging

from ..file_utils import replace_folder, temporary_sibling
from ..hub_code.processing_msqnet import MSQNetProcessor
from ..metrics import REPORTED_METRICS, primary_metric
from ..publishing.model_card import ModelCardInfo, render_model_card
from ..publishing.plots import plot_per_class_ap, plot_training_curves
from ..publishing.push import push_model_folder
from .state import TrainingProgress, TrainingRun


logger = logging.get_logger(__name__)


def write_output_folder(run: TrainingRun, eval_report: dict):
    """
    Save the model, processor, history, evaluation report, plots and model card into `output_dir` (on the main
    process), then push it with `--push_to_hub`.
    """
    accelerator = run.accelerator
    accelerator.wait_for_everyone()
    unwrapped = accelerator.unwrap_model(run.model)
    state_dict = accelerator.get_state_dict(run.model)
    if not accelerator.is_main_process:
        return
    # Everything is written into a hidden folder first, then put in place with renames (see `replace_folder`).
    staged = temporary_sibling(run.output_dir)
    shutil.rmtree(staged, ignore_errors=True)  # left by a run killed while saving
    staged.mkdir(parents=True)
    unwrapped.save_pretrained(staged, state_dict=state_dict)
    save_processor(run.video_processor, run.tokenizer, unwrapped.config, staged)
    write_history_and_report(staged, run.progress, eval_report)
    plots = write_plots(staged, unwrapped.config, run.progress, eval_report)
    write_model_card(run, staged, unwrapped.config, eval_report, plots)
    replace_folder(staged, run.output_dir)
    report_skipped(run.progress, eval_report)
    if run.args.push_to_hub:
        push_output_folder(run.output_dir, run.args)


def save_processor(video_processor, tokenizer, config, output_dir):
    """An `MSQNetProcessor` with the tokenizer when the model keeps a text encoder, else the video processor alone."""
    if tokenizer is not None and config.text_config is not None:
        MSQNetProcessor(video_processor=video_processor, tokenizer=tokenizer).save_pretrained(output_dir)
    else:
        video_processor.save_pretrained(output_dir)


def write_history_and_report(output_dir: Path, progress: TrainingProgress, eval_report: dict):
    """`training_history.json` (the per-epoch history and the skipped training videos) and `eval_report.json`."""
    history = {"history": progress.history, "train_skipped": progress.skipped_report()}
    (output_dir / "training_history.json").write_text(
        json.dumps(history, indent=2, default=_json_default) + "\n", encoding="utf-8"
    )
    if eval_report:
        (output_dir / "eval_report.json").write_text(
            json.dumps(eval_report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )


def write_plots(output_dir: Path, config, progress: TrainingProgress, eval_report: dict) -> list[str]:
    """The training curves and per-class AP plots (with an evaluation set); returns their file names."""
    plots = []
    if not eval_report:
        return plots
    metric_key = f"eval_{primary_metric(config.problem_type)}"
    history = progress.history
    if any(metric_key in entry for entry in history) and any("train_loss" in entry for entry in history):
        plots.append(plot_training_curves(history, output_dir / "training_curves.png", metric_key=metric_key).name)
    if eval_report.get("per_class_AP"):
        plots.append(plot_per_class_ap(eval_report["per_class_AP"], output_dir / "per_class_ap.png").name)
    return plots


def write_model_card(run: TrainingRun, model_dir: Path, config, eval_report: dict, plots: list[str]):
    """The model card (README.md) with the evaluation figures, hyperparameters and plots."""
    args = run.args
    dataset_name = args.dataset_name or run.label_info.get("display_name") or run.label_info.get("name")
    if dataset_name is None and args.eval_manifest:
        dataset_name = Path(args.eval_manifest).resolve().parent.name
    metrics = {key: value for key, value in eval_report.items() if key in REPORTED_METRICS}
    info = ModelCardInfo.from_config(
        config,
        metrics or None,
        video_processor=run.video_processor,
        model_name=run.output_dir.name,
        dataset_name=dataset_name,
        eval_split=Path(args.eval_manifest).stem if args.eval_manifest else None,
        base_models=run.base_models,
        training_hyperparameters=run.hyperparameters,
        plots=plots,
        repo_id=args.hub_model_id,
    )
    render_model_card(model_dir, info)


def push_output_folder(output_dir: Path, args):
    """Upload the model folder (without checkpoints) to `--hub_model_id`."""
    revision = push_model_folder(
        output_dir,
        args.hub_model_id,
        token=args.hub_token,
        commit_message="Upload MSQNet (examples/train.py)",
    )
    logger.info(f"Pushed {output_dir} to {args.hub_model_id} at revision {revision}")


def report_skipped(progress, eval_report):
    """Log every video left out of training or evaluation, with the reason."""
    for name, report in (("training", progress.skipped_report()), ("evaluation", eval_report.get("skipped"))):
        if report and report["count"]:
            listed = "\n".join(f"  {entry['video']}: {entry['error']}" for entry in report["videos"])
            logger.warning(f"{report['count']} unreadable videos were skipped in {name}:\n{listed}")


def _json_default(value):
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


__all__ = [
    "push_output_folder",
    "report_skipped",
    "save_processor",
    "write_history_and_report",
    "write_model_card",
    "write_output_folder",
    "write_plots",
]
