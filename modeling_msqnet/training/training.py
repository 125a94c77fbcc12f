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
"""Training of MSQNet with Accelerate (one CPU or GPU, DDP, FSDP): the loop behind `examples/train.py`.

The defaults are the paper's recipe: Adam (AdamW without weight decay) at learning rate 1e-5, a cosine schedule,
100 epochs, the frame count of the model config (16 in the paper), the CLIP image encoder frozen and MSQNet's
train-time augmentation ([`~modeling_msqnet.data.MSQNetVideoTransform`]).

Checkpoints (`accelerator.save_state`) hold the model, optimizer, scheduler, RNG states, sampler and the position in
the epoch, and resuming from one reproduces the uninterrupted run: data order comes from Accelerate's seedable sampler
(seeded by `--seed` and the epoch), augmentation from per-example generators seeded by `(seed, epoch, row)`, dropout
from the restored global RNG (the data loaders draw from their own generators, never from the global one).
"""

import math
from pathlib import Path

from accelerate import PartialState
from tqdm.auto import tqdm
from transformers.utils import logging

from ..command_line import setup_logging
from ..data import ManifestError, check_skipped_share
from ..hub_code.modeling_msqnet import classification_loss
from ..metrics import REPORTED_METRICS, primary_metric
from ..models import ModelFolderError, build_model
from .arguments import parse_args
from .checkpointing import resume_from_checkpoint, save_checkpoint
from .evaluation import check_evaluation_skips, evaluate_model, format_summary
from .output_folder import write_output_folder
from .run_setup import (
    build_dataloaders,
    check_output_dir,
    create_optimizer_and_scheduler,
    init_tracking,
    prepare_model,
    setup_accelerator,
)
from .state import TrainingRun


logger = logging.get_logger(__name__)

# Errors of bad input: the command line reports them in one line (no traceback).
USER_ERRORS = (ManifestError, ModelFolderError, FileNotFoundError, FileExistsError, ValueError)


def main(argv=None) -> int:
    """
    The command line of `accelerate launch -m modeling_msqnet.training` (and, with the zero-shot flags of
    [`~modeling_msqnet.zero_shot.protocol.main`], of `examples/train.py`): trains, logs the final evaluation and returns
    the exit status (1 with a one-line error for bad input).
    """
    return run_training_command(parse_args(argv), train)


def run_training_command(args, run) -> int:
    """Runs `run(args)` (a training run returning its final evaluation report) as a command: logging, errors, summary."""
    setup_logging()
    try:
        report = run(args)
    except USER_ERRORS as error:
        logger.debug("Training failed", exc_info=True)
        logger.error(f"error: {error}")
        return 1
    if report and PartialState().is_main_process:
        logger.info(f"Final evaluation: {format_summary(report, report['problem_type'])}")
    return 0


def train(args) -> dict:
    """
    Run training as configured by `args` (see [`parse_args`]). Returns the final evaluation report (or `{}` without
    `--eval_manifest`). On the main process, `args.output_dir` ends up holding the Hub-ready model folder.
    """
    check_output_dir(args)
    accelerator = setup_accelerator(args)
    run = TrainingRun(args, accelerator, Path(args.output_dir), **prepare_model(build_model(args), args))
    build_dataloaders(run)
    create_optimizer_and_scheduler(run)
    init_tracking(run)
    resume_from_checkpoint(run)
    eval_report = train_epochs(run)
    eval_report = final_evaluation(run, eval_report)
    write_output_folder(run, eval_report)
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return eval_report


def train_epochs(run: TrainingRun) -> dict:
    """The epoch loop, from the resumed position to `max_train_steps`. Returns the last evaluation report (or `{}`)."""
    args, progress = run.args, run.progress
    starting_epoch = progress.epoch + 1 if progress.epoch_finished else progress.epoch
    resume_batches = 0 if progress.epoch_finished else progress.batches_in_epoch
    if run.accelerator.is_main_process:
        total_batch_size = run.hyperparameters["total_train_batch_size"]
        logger.info("***** Running training *****")
        logger.info(
            f"  Num examples = {len(run.train_dataset)}, num epochs = {run.num_train_epochs}, "
            f"steps = {run.max_train_steps}"
        )
        logger.info(f"  Batch size per device = {args.per_device_train_batch_size}, total = {total_batch_size}")
    run.progress_bar = tqdm(
        range(run.max_train_steps), disable=not run.accelerator.is_local_main_process, desc="Training"
    )
    run.progress_bar.update(progress.completed_steps)

    eval_report = {}
    for epoch in range(starting_epoch, run.num_train_epochs):
        if progress.completed_steps >= run.max_train_steps and progress.epoch_finished:
            break
        if epoch != progress.epoch or progress.epoch_finished:
            progress.start_epoch(epoch)
        train_one_epoch(run, epoch, skip_batches=resume_batches if epoch == starting_epoch else 0)
        last_epoch = epoch == run.num_train_epochs - 1 or progress.completed_steps >= run.max_train_steps
        eval_report = end_epoch(run, epoch, last_epoch) or eval_report
        if last_epoch:
            break
    run.progress_bar.close()
    return eval_report


def train_one_epoch(run: TrainingRun, epoch: int, skip_batches: int = 0):
    """One pass over the training set (from batch `skip_batches` when resuming mid-epoch), up to `max_train_steps`."""
    args, accelerator, model, progress = run.args, run.accelerator, run.model, run.progress
    model.train()
    run.train_transform.set_epoch(epoch)
    run.train_dataloader.set_epoch(epoch)
    dataloader = run.train_dataloader
    if skip_batches:
        dataloader = accelerator.skip_first_batches(run.train_dataloader, skip_batches)
    for batch in dataloader:
        if progress.completed_steps >= run.max_train_steps:
            break
        skipped, valid = batch.pop("skipped"), batch["valid"]
        with accelerator.accumulate(model):
            logits = model(pixel_values=batch["pixel_values"]).logits
            loss = classification_loss(logits.float(), batch["labels"], run.problem_type, weights=valid)
            accelerator.backward(loss)
            if args.max_grad_norm is not None and accelerator.sync_gradients:
                accelerator.clip_grad_norm_(model.parameters(), args.max_grad_norm)
            run.optimizer.step()
            run.lr_scheduler.step()
            run.optimizer.zero_grad()
        progress.batches_in_epoch += 1
        progress.record_batch(loss.detach(), int(valid.sum()), skipped)
        if accelerator.sync_gradients:
            progress.completed_steps += 1
            run.progress_bar.update(1)
            if args.with_tracking and progress.completed_steps % args.logging_steps == 0:
                accelerator.log(
                    {"train_loss_step": float(loss.detach()), "learning_rate": run.lr_scheduler.get_last_lr()[0]},
                    step=progress.completed_steps,
                )
            if isinstance(args.checkpointing_steps, int) and progress.completed_steps % args.checkpointing_steps == 0:
                save_checkpoint(run, f"step_{progress.completed_steps}")


def end_epoch(run: TrainingRun, epoch: int, last_epoch: bool) -> dict:
    """Gather the epoch's loss, evaluate when due, record the history entry, log, checkpoint; returns the report."""
    args, accelerator, progress = run.args, run.accelerator, run.progress
    progress.flush(accelerator)
    check_skipped_share(
        len(progress.train_skipped),
        len(run.train_dataset),
        args.train_manifest,
        "could not be read",
        args.max_skipped_fraction,
        [f"{entry['video']}: {entry['error']}" for entry in progress.skipped_report()["videos"]],
    )
    entry = {
        "epoch": epoch + 1,
        "step": progress.completed_steps,
        "train_loss": progress.epoch_loss(),
        "learning_rate": run.lr_scheduler.get_last_lr()[0],
    }
    eval_report = {}
    if run.eval_dataloader is not None and ((epoch + 1) % args.eval_every_epochs == 0 or last_epoch):
        eval_report = evaluate(run, epoch + 1, desc=f"Evaluating epoch {epoch + 1}")
        entry.update(history_metrics(eval_report))
        summary = f", {format_summary(eval_report, run.problem_type)}"
    else:
        summary = ""
    if accelerator.is_main_process:
        logger.info(f"epoch {epoch + 1}: train_loss {entry['train_loss']:.4f}{summary}")
    progress.history.append(entry)
    progress.epoch_finished = True
    if args.with_tracking:
        accelerator.log(
            {k: v for k, v in entry.items() if k not in ("epoch", "step") and math.isfinite(v)},
            step=progress.completed_steps,
        )
    if args.checkpointing_steps == "epoch":
        save_checkpoint(run, f"epoch_{epoch + 1}")
    return eval_report


def evaluate(run: TrainingRun, epoch_number: int, desc: str = "Evaluating") -> dict:
    """[`evaluate_model`] on the evaluation set, tagged with the epoch and step."""
    report = evaluate_model(
        run.model,
        run.eval_dataloader,
        run.accelerator,
        problem_type=run.problem_type,
        id2label=run.config.id2label,
        dataset=run.eval_dataset,
        desc=desc,
    )
    check_evaluation_skips(report, run.args.eval_manifest, run.args.max_skipped_fraction)
    return {"epoch": epoch_number, "step": run.progress.completed_steps, **report}


def final_evaluation(run: TrainingRun, eval_report: dict) -> dict:
    """The report of the final weights, with the problem type, primary metric and the videos training skipped."""
    if run.eval_dataloader is not None and not eval_report:
        # Resumed from a checkpoint written after the last epoch: score the final weights.
        eval_report = evaluate(run, run.progress.epoch + 1)
    if eval_report:
        problem_type = run.problem_type
        eval_report = {"problem_type": problem_type, "primary_metric": primary_metric(problem_type), **eval_report}
        eval_report["train_skipped"] = run.progress.skipped_report()
    return eval_report


def history_metrics(report: dict) -> dict:
    """The figures of an evaluation report that go into the training history, as `eval_<name>`."""
    return {f"eval_{key}": report[key] for key in REPORTED_METRICS if report.get(key) is not None}


__all__ = [
    "USER_ERRORS",
    "end_epoch",
    "evaluate",
    "final_evaluation",
    "history_metrics",
    "main",
    "run_training_command",
    "train",
    "train_epochs",
    "train_one_epoch",
]
