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
"""Checkpoints of a training run: saving one atomically, finding the newest complete one of the same settings, and
resuming from it."""

import json
import re
import shutil
from pathlib import Path

from transformers.utils import logging

from ..file_utils import replace_folder, temporary_sibling
from .state import TrainingRun


logger = logging.get_logger(__name__)

CHECKPOINT_STATE_FILE = "msqnet_training_state.json"


CHECKPOINT_NAME = re.compile(r"^(step|epoch)_(\d+)$")


def read_checkpoint_state(checkpoint) -> dict | None:
    """The training state of a complete checkpoint folder, or `None` for a folder that is not one (or half-written)."""
    try:
        state = json.loads((Path(checkpoint) / CHECKPOINT_STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return state if isinstance(state, dict) and isinstance(state.get("run"), dict) else None


def other_settings(state: dict, run_info: dict) -> dict:
    """
    The settings of `run_info` that a checkpoint's run had otherwise: `{name: (saved, now)}`. Settings a checkpoint
    does not record (written by an earlier version of this script) are not compared.
    """
    saved = state["run"]
    return {key: (saved[key], value) for key, value in run_info.items() if key in saved and saved[key] != value}


def find_latest_checkpoint(output_dir, run_info: dict) -> Path:
    """
    The newest complete `step_N` / `epoch_N` checkpoint of `output_dir` written by a run with the settings
    `run_info` (by training step; at the same step an end-of-epoch one). Half-written folders and checkpoints of runs
    with other settings are skipped and listed in a warning.
    """
    output_dir = Path(output_dir)
    candidates, passed_over = [], []
    for path in sorted(output_dir.iterdir()) if output_dir.is_dir() else []:
        if not (path.is_dir() and CHECKPOINT_NAME.match(path.name)):
            continue
        state = read_checkpoint_state(path)
        if state is None:
            passed_over.append(f"{path.name} (incomplete: no {CHECKPOINT_STATE_FILE})")
        elif other_settings(state, run_info):
            passed_over.append(f"{path.name} (other settings: {other_settings(state, run_info)})")
        else:
            candidates.append(((state.get("completed_steps", 0), bool(state.get("epoch_finished"))), path))
    if not candidates:
        raise FileNotFoundError(
            f"--resume_from_checkpoint latest: no complete checkpoint of this run's settings in {output_dir}"
            + (f"; passed over {passed_over}." if passed_over else ".")
        )
    if passed_over:
        logger.warning(f"--resume_from_checkpoint latest passed over {passed_over}.")
    return max(candidates, key=lambda candidate: candidate[0])[1]


def resume_from_checkpoint(run: TrainingRun):
    """With `--resume_from_checkpoint`: restore Accelerate's state and the [`TrainingProgress`] of the checkpoint."""
    args = run.args
    if not args.resume_from_checkpoint:
        return
    checkpoint = Path(args.resume_from_checkpoint)
    if args.resume_from_checkpoint == "latest":
        checkpoint = find_latest_checkpoint(run.output_dir, run.run_info)
    state = read_checkpoint_state(checkpoint)
    if state is None:
        raise FileNotFoundError(
            f"--resume_from_checkpoint {checkpoint}: no readable {CHECKPOINT_STATE_FILE}; not a complete checkpoint "
            "of this script."
        )
    mismatched = other_settings(state, run.run_info)
    if mismatched:
        raise ValueError(
            f"--resume_from_checkpoint {checkpoint} was written by a run with other settings (saved, now): "
            f"{mismatched}; resume with the same number of processes, batch size, accumulation, learning rate, "
            "schedule and seed."
        )
    run.accelerator.load_state(str(checkpoint))
    run.progress.load_state_dict({key: value for key, value in state.items() if key != "run"})
    logger.info(
        f"Resumed from {checkpoint} at step {run.progress.completed_steps} (epoch {run.progress.epoch + 1}, "
        f"batch {run.progress.batches_in_epoch})."
    )


def save_checkpoint(run: TrainingRun, name: str):
    """
    `accelerator.save_state` plus the [`TrainingProgress`] into `output_dir/name`, written into a hidden folder first
    and renamed once complete (a run killed while saving leaves no half-written `name`).
    """
    accelerator, progress = run.accelerator, run.progress
    path = run.output_dir / name
    staged = temporary_sibling(path)
    progress.flush(accelerator)
    if accelerator.is_main_process:
        shutil.rmtree(staged, ignore_errors=True)  # left by a run killed while saving
    accelerator.wait_for_everyone()
    accelerator.save_state(str(staged))
    if accelerator.is_main_process:
        state = {**progress.state_dict(), "run": run.run_info}
        (staged / CHECKPOINT_STATE_FILE).write_text(json.dumps(state, indent=2), encoding="utf-8")
        replace_folder(staged, path, keep_old_entries=False)
        logger.info(f"Saved checkpoint {path}")
    accelerator.wait_for_everyone()


__all__ = [
    "CHECKPOINT_STATE_FILE",
    "find_latest_checkpoint",
    "other_settings",
    "read_checkpoint_state",
    "resume_from_checkpoint",
    "save_checkpoint",
]
