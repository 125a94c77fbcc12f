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
"""What the steps of one training run share ([`TrainingRun`]) and the position in training that a checkpoint saves
([`TrainingProgress`])."""

import argparse
import dataclasses
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import gather_object
from transformers.utils import logging

from ..data import MSQNetVideoTransform
from ..hub_code.video_processing_msqnet import MSQNetVideoProcessor


logger = logging.get_logger(__name__)


class TrainingProgress:
    """What a checkpoint needs besides Accelerate's state: the position in training, the history and skipped videos."""

    def __init__(self):
        self.completed_steps = 0
        self.epoch = 0
        self.batches_in_epoch = 0
        self.epoch_finished = False
        self.history = []
        self.train_skipped = {}
        self.loss_sum = 0.0
        self.loss_count = 0
        # Not yet gathered across processes.
        self._local_loss = torch.zeros(2, dtype=torch.float64)
        self._local_skipped = []

    def record_batch(self, loss: torch.Tensor, num_valid: int, skipped: list[dict]):
        self._local_loss += torch.tensor([float(loss) * num_valid, num_valid], dtype=torch.float64)
        self._local_skipped.extend(skipped)

    def flush(self, accelerator):
        """Gather the per-process losses and skipped videos (a collective: all processes call it at the same point)."""
        totals = accelerator.reduce(self._local_loss.to(accelerator.device), reduction="sum").cpu()
        self.loss_sum += float(totals[0])
        self.loss_count += int(totals[1])
        for entry in gather_object(self._local_skipped):
            key = str(entry["index"])
            if key not in self.train_skipped:
                self.train_skipped[key] = {"video": entry["video"], "error": entry["error"], "times": 0}
            self.train_skipped[key]["times"] += 1
        self._local_loss.zero_()
        self._local_skipped = []

    def epoch_loss(self):
        return self.loss_sum / self.loss_count if self.loss_count else float("nan")

    def start_epoch(self, epoch):
        self.epoch, self.batches_in_epoch, self.epoch_finished = epoch, 0, False
        self.loss_sum, self.loss_count = 0.0, 0

    def state_dict(self) -> dict:
        keys = (
            "completed_steps",
            "epoch",
            "batches_in_epoch",
            "epoch_finished",
            "history",
            "train_skipped",
            "loss_sum",
            "loss_count",
        )
        return {key: getattr(self, key) for key in keys}

    def load_state_dict(self, state: dict):
        for key, value in state.items():
            setattr(self, key, value)

    def skipped_report(self) -> dict:
        videos = [
            {"video": entry["video"], "error": entry["error"], "times": entry["times"]}
            for _, entry in sorted(self.train_skipped.items(), key=lambda item: int(item[0]))
        ]
        return {"count": len(videos), "videos": videos}


@dataclasses.dataclass
class TrainingRun:
    """Everything the steps of one training run share; each step of [`train`] fills in or uses some of it."""

    args: argparse.Namespace
    accelerator: Accelerator
    output_dir: Path
    model: torch.nn.Module
    tokenizer: object
    video_processor: MSQNetVideoProcessor
    label_info: dict
    base_models: list
    train_dataset: object = None
    train_transform: MSQNetVideoTransform | None = None
    train_dataloader: object = None
    eval_dataset: object = None
    eval_dataloader: object = None
    optimizer: torch.optim.Optimizer | None = None
    lr_scheduler: object = None
    max_train_steps: int = 0
    num_train_epochs: int = 0
    hyperparameters: dict = dataclasses.field(default_factory=dict)
    run_info: dict = dataclasses.field(default_factory=dict)
    progress: TrainingProgress = dataclasses.field(default_factory=TrainingProgress)
    progress_bar: object = None

    @property
    def config(self):
        return self.accelerator.unwrap_model(self.model).config

    @property
    def problem_type(self) -> str:
        return self.config.problem_type


__all__ = ["TrainingProgress", "TrainingRun"]
