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
"""The command line of training (`examples/train.py`, `accelerate launch -m modeling_msqnet.training`): its flags,
grouped as model, data, optimisation and run, with the paper's recipe as defaults."""

import argparse
import dataclasses

from transformers.utils import logging

from ..command_line import (
    fraction,
    json_object,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    set_defaults_from_json,
)
from ..data import DEFAULT_MAX_SKIPPED_FRACTION, ClipAugmentation
from ..resources import preset_path


logger = logging.get_logger(__name__)

# The paper's recipe (section 4 and the authors' code); `--config_file` presets in configuration/training/ override it.
PAPER_RECIPE = {
    "learning_rate": 1e-5,
    "weight_decay": 0.0,
    "lr_scheduler_type": "cosine",
    "num_warmup_steps": 0,
    "num_train_epochs": 100,
    "per_device_train_batch_size": 8,
    "per_device_eval_batch_size": 8,
    "gradient_accumulation_steps": 1,
    "seed": 42,
    "eval_every_epochs": 1,
}


def build_argument_parser() -> argparse.ArgumentParser:
    """The command-line flags of `examples/train.py` (names as in transformers' `*_no_trainer.py` examples)."""
    parser = argparse.ArgumentParser(description="Train (or fine-tune) MSQNet on video manifests with Accelerate.")
    parser.add_argument(
        "--config_file", default=None, help="JSON of flag defaults, or a preset name (paper: configuration/training/)."
    )
    add_model_arguments(parser)
    add_data_arguments(parser)
    add_optimisation_arguments(parser)
    add_run_arguments(parser)
    return parser


def add_model_arguments(parser: argparse.ArgumentParser):
    """The flags that choose the model: a saved folder, a config or preset, or pretrained parts; labels and text encoder."""
    model = parser.add_argument_group("model")
    model.add_argument(
        "--model",
        default=None,
        help="Saved MSQNet folder (fine-tune), or an MSQNet config (.json file, folder, or a preset name such as "
        "msqnet-demo from configuration/models/) for a new model.",
    )
    model.add_argument(
        "--video_model",
        default=None,
        help="With --clip_model: compose a new model from a pretrained "
        "video encoder (Hub id or folder): TimeSformer, VideoMAE, ViViT, V-JEPA 2, or CLIP/SigLIP/DINOv2 run per frame, "
        "e.g. facebook/timesformer-base-finetuned-k400; the frames follow its own processor's mean, std and resize.",
    )
    model.add_argument(
        "--clip_model",
        default=None,
        help="CLIP checkpoint for the video query and label names, e.g. "
        "openai/clip-vit-base-patch16 (with --video_model).",
    )
    model.add_argument(
        "--num_frames", type=positive_int, default=16, help="Frames per clip of a model composed with --video_model."
    )
    model.add_argument(
        "--labels",
        default=None,
        help="Label names: a JSON list, or a label set JSON (configuration/"
        "datasets/*.json or its name, e.g. animal_kingdom), which also gives the problem type.",
    )
    model.add_argument(
        "--text_model",
        default=None,
        help="Text encoder folder/id (e.g. a sentence-transformers BERT) that "
        "initialises the label queries from the label names.",
    )
    model.add_argument(
        "--keep_text_model",
        action="store_true",
        help="Keep --text_model inside the saved model (lets "
        "it embed new label names later); by default it only initialises the label queries.",
    )
    model.add_argument("--gradient_checkpointing", action="store_true", help="Trade compute for memory.")


def add_data_arguments(parser: argparse.ArgumentParser):
    """The flags of the training and evaluation data: manifests, loader workers, skipped-clip bound, augmentation."""
    data = parser.add_argument_group("data")
    data.add_argument("--train_manifest", required=False, default=None, help="Training manifest (.jsonl).")
    data.add_argument("--eval_manifest", default=None, help="Evaluation manifest (.jsonl).")
    data.add_argument(
        "--dataset_name", default=None, help="Dataset name for the model card (defaults to the label set's)."
    )
    data.add_argument(
        "--num_workers", type=non_negative_int, default=0, help="DataLoader worker processes per training process."
    )
    data.add_argument(
        "--max_skipped_fraction",
        type=fraction,
        default=DEFAULT_MAX_SKIPPED_FRACTION,
        help="Fail when a larger share of a manifest's clips is missing or unreadable (skipped clips are listed).",
    )
    data.add_argument(
        "--decode_shortest_edge",
        type=positive_int,
        default=None,
        help="Downscale training frames while decoding to this shortest edge (faster on large videos).",
    )
    data.add_argument(
        "--augmentation_kwargs",
        type=json_object,
        default=None,
        help="JSON object of ClipAugmentation fields overriding the paper's train-time augmentation, e.g. "
        '\'{"flip_probability": 0.0, "grayscale_probability": 0.0}\' for direction- or colour-labelled actions.',
    )


def add_optimisation_arguments(parser: argparse.ArgumentParser):
    """The optimisation flags (defaults: the paper's recipe)."""
    optim = parser.add_argument_group("optimisation")
    optim.add_argument("--num_train_epochs", type=positive_int, default=PAPER_RECIPE["num_train_epochs"])
    optim.add_argument(
        "--max_train_steps",
        type=positive_int,
        default=None,
        help="Stop after this many optimizer steps (overrides --num_train_epochs).",
    )
    optim.add_argument(
        "--per_device_train_batch_size", type=positive_int, default=PAPER_RECIPE["per_device_train_batch_size"]
    )
    optim.add_argument(
        "--per_device_eval_batch_size", type=positive_int, default=PAPER_RECIPE["per_device_eval_batch_size"]
    )
    optim.add_argument("--learning_rate", type=positive_float, default=PAPER_RECIPE["learning_rate"])
    optim.add_argument("--weight_decay", type=non_negative_float, default=PAPER_RECIPE["weight_decay"])
    optim.add_argument(
        "--lr_scheduler_type",
        default=PAPER_RECIPE["lr_scheduler_type"],
        help="transformers scheduler name: cosine, cosine_with_restarts, linear, constant, ...",
    )
    optim.add_argument(
        "--lr_scheduler_kwargs",
        type=json_object,
        default=None,
        help="JSON of scheduler-specific arguments, e.g. '{\"num_cycles\": 10}' for cosine_with_restarts.",
    )
    optim.add_argument("--num_warmup_steps", type=non_negative_int, default=PAPER_RECIPE["num_warmup_steps"])
    optim.add_argument(
        "--gradient_accumulation_steps", type=positive_int, default=PAPER_RECIPE["gradient_accumulation_steps"]
    )
    optim.add_argument(
        "--max_grad_norm", type=positive_float, default=None, help="Clip gradients to this norm (off by default)."
    )
    optim.add_argument(
        "--mixed_precision", choices=("no", "fp16", "bf16"), default=None, help="Defaults to the accelerate config."
    )
    optim.add_argument("--seed", type=non_negative_int, default=PAPER_RECIPE["seed"])


def add_run_arguments(parser: argparse.ArgumentParser):
    """The flags of the run: output folder, checkpoints, evaluation schedule, tracking and the Hub upload."""
    run = parser.add_argument_group("run")
    run.add_argument("--output_dir", required=False, default=None, help="Where the model folder and checkpoints go.")
    run.add_argument(
        "--overwrite_output_dir",
        action="store_true",
        help="Train into a non-empty --output_dir (refused otherwise, unless resuming).",
    )
    run.add_argument(
        "--checkpointing_steps",
        type=checkpointing_steps,
        default=None,
        help="Save a checkpoint every N optimizer steps, or 'epoch'.",
    )
    run.add_argument(
        "--resume_from_checkpoint",
        default=None,
        help="A checkpoint folder (step_N / epoch_N), or 'latest' for the newest one in --output_dir.",
    )
    run.add_argument(
        "--eval_every_epochs",
        type=positive_int,
        default=PAPER_RECIPE["eval_every_epochs"],
        help="Evaluate every N epochs (and always after the last one).",
    )
    run.add_argument(
        "--logging_steps", type=positive_int, default=10, help="Log the loss to the trackers every N steps."
    )
    run.add_argument("--with_tracking", action="store_true", help="Log to the trackers of --report_to.")
    run.add_argument("--report_to", default="tensorboard", help="Accelerate trackers (tensorboard, wandb, all, ...).")
    run.add_argument("--push_to_hub", action="store_true", help="Upload the final folder to --hub_model_id.")
    run.add_argument("--hub_model_id", default=None, help="Hub repository 'user/name'.")
    run.add_argument("--hub_token", default=None, help="Hub token (defaults to the saved login or HF_TOKEN).")


def checkpointing_steps(text):
    """The argparse `type` of `--checkpointing_steps`: a positive integer or `"epoch"`."""
    return text if text == "epoch" else positive_int(text)


checkpointing_steps.__name__ = "a positive integer or 'epoch'"


def parse_args(argv=None) -> argparse.Namespace:
    """Parse the flags; `--config_file` JSON values become defaults that explicit flags override."""
    parser = build_argument_parser()
    pre_args, _ = parser.parse_known_args(argv)
    if pre_args.config_file:
        set_defaults_from_json(parser, preset_path(pre_args.config_file, "training"))
    args = parser.parse_args(argv)

    if args.model is None and not (args.video_model and args.clip_model):
        parser.error("give --model (a saved MSQNet folder or config), or --video_model and --clip_model.")
    if args.model is not None and (args.video_model or args.clip_model):
        parser.error("--model cannot be combined with --video_model/--clip_model.")
    if bool(args.video_model) != bool(args.clip_model):
        parser.error("--video_model and --clip_model go together.")
    for name in ("train_manifest", "output_dir"):
        if getattr(args, name) is None:
            parser.error(f"--{name} is required.")
    if args.augmentation_kwargs is not None:
        known = {field.name for field in dataclasses.fields(ClipAugmentation)} - {"crop_size"}
        unknown = sorted(set(args.augmentation_kwargs) - known)
        if unknown:
            parser.error(f"--augmentation_kwargs has unknown keys {unknown}; expected some of {sorted(known)}.")
    if args.push_to_hub and not args.hub_model_id:
        parser.error("--push_to_hub needs --hub_model_id (user/name).")
    return args


__all__ = ["PAPER_RECIPE", "build_argument_parser", "checkpointing_steps", "parse_args"]
