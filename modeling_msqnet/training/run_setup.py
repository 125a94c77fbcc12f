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
"""The steps that set up a training run before the loop: the output folder, the `Accelerator`, the model, the data
loaders, the optimizer and schedule, and the trackers."""

import logging as pystd_logging
import math
import os
from pathlib import Path

import torch
from accelerate import Accelerator, DataLoaderConfiguration
from accelerate.utils import ProjectConfiguration, set_seed
from transformers import get_scheduler
from transformers.utils import logging

from ..data import ClipAugmentation, MSQNetVideoTransform, check_videos_exist, load_manifest_dataset
from ..hub_code.configuration_msqnet import MULTI_LABEL_CLASSIFICATION
from ..models import ModelSetup, default_video_processor
from .dataloaders import build_dataloader, build_eval_dataloader
from .state import TrainingRun


logger = logging.get_logger(__name__)


def check_output_dir(args):
    """Refuse a non-empty `--output_dir` unless resuming or `--overwrite_output_dir` (the `transformers` convention)."""
    output_dir = Path(args.output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise FileExistsError(f"--output_dir {output_dir} is a file, expected a folder.")
    if output_dir.is_dir() and any(output_dir.iterdir()) and not args.resume_from_checkpoint:
        if not args.overwrite_output_dir:
            raise ValueError(
                f"--output_dir {output_dir} already exists and is not empty: pass --overwrite_output_dir to train "
                "into it, --resume_from_checkpoint to continue a run, or choose another folder."
            )


def setup_accelerator(args) -> Accelerator:
    """The `Accelerator` of the run (seedable sampler, trackers' logging folder `output_dir/runs`), seeded."""
    accelerator_kwargs = {}
    if args.with_tracking:
        accelerator_kwargs["log_with"] = args.report_to
        # TensorBoard logs in `runs/`, where the Hub looks for training metrics.
        accelerator_kwargs["project_config"] = ProjectConfiguration(
            project_dir=args.output_dir, logging_dir=os.path.join(args.output_dir, "runs")
        )
    accelerator = Accelerator(
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        mixed_precision=args.mixed_precision,
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True, data_seed=args.seed),
        **accelerator_kwargs,
    )
    if not accelerator.is_local_main_process:
        # One copy of the progress messages: the other processes log warnings and errors only.
        pystd_logging.getLogger(__name__.split(".")[0]).setLevel("WARNING")
        logging.set_verbosity_warning()
    logger.info(accelerator.state)
    set_seed(args.seed)
    if accelerator.is_main_process:
        Path(args.output_dir).mkdir(parents=True, exist_ok=True)
    accelerator.wait_for_everyone()
    return accelerator


def prepare_model(setup: ModelSetup, args) -> dict:
    """Settle the problem type and the video processor, freeze the text encoder; the fields of a [`TrainingRun`]."""
    model, config = setup.model, setup.model.config
    config.problem_type = config.problem_type or MULTI_LABEL_CLASSIFICATION
    video_processor = setup.video_processor or default_video_processor(config)
    if video_processor.num_frames != config.num_frames:
        logger.warning(f"Setting the video processor's num_frames to the model's {config.num_frames}.")
        video_processor.num_frames = config.num_frames
    if model.msqnet.text_model is not None:
        model.msqnet.text_model.requires_grad_(False)  # only embeds label names; DDP needs every trained param used
    if args.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return {
        "model": model,
        "tokenizer": setup.tokenizer,
        "video_processor": video_processor,
        "label_info": setup.label_info,
        "base_models": setup.base_models,
    }


def train_augmentation(video_processor, augmentation_kwargs=None) -> ClipAugmentation:
    """The paper's train-time augmentation at the video processor's crop size, with `augmentation_kwargs` overrides."""
    crop_size = video_processor.crop_size
    overrides = {
        key: tuple(value) if isinstance(value, list) else value for key, value in (augmentation_kwargs or {}).items()
    }
    return ClipAugmentation(crop_size=(crop_size["height"], crop_size["width"]), **overrides)


def build_dataloaders(run: TrainingRun):
    """The training set with the paper's augmentation, and the evaluation set when `--eval_manifest` is given."""
    args, config = run.args, run.model.config
    run.train_dataset = load_manifest_dataset(args.train_manifest, config.label2id, problem_type=config.problem_type)
    check_videos_exist(run.train_dataset, args.train_manifest, args.max_skipped_fraction)
    run.train_transform = MSQNetVideoTransform.from_config(
        run.video_processor,
        config,
        train=True,
        seed=args.seed,
        augmentation=train_augmentation(run.video_processor, args.augmentation_kwargs),
        decode_shortest_edge=args.decode_shortest_edge,
    )
    train_dataloader = build_dataloader(
        run.train_dataset,
        run.train_transform,
        run.video_processor,
        config,
        args.per_device_train_batch_size,
        shuffle=True,
        num_workers=args.num_workers,
        seed=args.seed,
    )
    run.train_dataloader = run.accelerator.prepare(train_dataloader)
    if args.eval_manifest:
        run.eval_dataset = load_manifest_dataset(args.eval_manifest, config.label2id, problem_type=config.problem_type)
        run.eval_dataloader = build_eval_dataloader(
            run.eval_dataset,
            run.video_processor,
            config,
            args.per_device_eval_batch_size,
            args.num_workers,
            seed=args.seed,
        )


def create_optimizer_and_scheduler(run: TrainingRun):
    """AdamW (weight decay on matrices except the label queries) and the learning-rate schedule; prepares them."""
    args, accelerator, model = run.args, run.accelerator, run.model

    def decays(name, parameter):
        return parameter.ndim >= 2 and name != "msqnet.label_embeddings"

    trained = [(name, parameter) for name, parameter in model.named_parameters() if parameter.requires_grad]
    groups = [
        {"params": [p for n, p in trained if decays(n, p)], "weight_decay": args.weight_decay},
        {"params": [p for n, p in trained if not decays(n, p)], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW([group for group in groups if group["params"]], lr=args.learning_rate)

    num_update_steps_per_epoch = math.ceil(len(run.train_dataloader) / args.gradient_accumulation_steps)
    if args.max_train_steps is None:
        run.max_train_steps = args.num_train_epochs * num_update_steps_per_epoch
        run.num_train_epochs = args.num_train_epochs
    else:
        run.max_train_steps = args.max_train_steps
        run.num_train_epochs = math.ceil(args.max_train_steps / num_update_steps_per_epoch)
    # Accelerate steps a prepared scheduler once per process at every optimizer step.
    lr_scheduler = get_scheduler(
        name=args.lr_scheduler_type,
        optimizer=optimizer,
        num_warmup_steps=args.num_warmup_steps * accelerator.num_processes,
        num_training_steps=run.max_train_steps * accelerator.num_processes,
        scheduler_specific_kwargs=args.lr_scheduler_kwargs,
    )
    run.model, run.optimizer, run.lr_scheduler = accelerator.prepare(model, optimizer, lr_scheduler)
    if run.eval_dataloader is not None:
        run.eval_dataloader = accelerator.prepare(run.eval_dataloader)


def init_tracking(run: TrainingRun):
    """The hyperparameters of the run (for the trackers and the model card); starts the trackers."""
    args, accelerator = run.args, run.accelerator
    run.hyperparameters = {
        "learning_rate": args.learning_rate,
        "optimizer": f"AdamW (weight decay {args.weight_decay})" if args.weight_decay else "Adam",
        "lr_scheduler_type": args.lr_scheduler_type,
        "num_warmup_steps": args.num_warmup_steps,
        "num_train_epochs": run.num_train_epochs,
        "max_train_steps": run.max_train_steps,
        "per_device_train_batch_size": args.per_device_train_batch_size,
        "gradient_accumulation_steps": args.gradient_accumulation_steps,
        "num_processes": accelerator.num_processes,
        "total_train_batch_size": args.per_device_train_batch_size
        * accelerator.num_processes
        * args.gradient_accumulation_steps,
        "mixed_precision": accelerator.mixed_precision,
        "num_frames": run.config.num_frames,
        "seed": args.seed,
    }
    # A checkpoint resumes only a run with these settings (`--resume_from_checkpoint latest` skips the others).
    run.run_info = {
        "num_batches_per_epoch": len(run.train_dataloader),
        "num_processes": accelerator.num_processes,
        "per_device_train_batch_size": args.per_device_train_batch_size,
        "gradient_accumulation_steps": args.gradient_accumulation_steps,
        "learning_rate": args.learning_rate,
        "lr_scheduler_type": args.lr_scheduler_type,
        "seed": args.seed,
    }
    if args.with_tracking:
        accelerator.init_trackers(
            "msqnet", {k: v for k, v in run.hyperparameters.items() if isinstance(v, (int, float, str, bool))}
        )


__all__ = [
    "build_dataloaders",
    "check_output_dir",
    "create_optimizer_and_scheduler",
    "init_tracking",
    "prepare_model",
    "setup_accelerator",
    "train_augmentation",
]
