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

import argparse
import dataclasses
import json
import logging as pystd_logging
import math
import os
import re
import shutil
from pathlib import Path

import torch
from accelerate import Accelerator, DataLoaderConfiguration, PartialState
from accelerate.utils import ProjectConfiguration, gather_object, set_seed
from tqdm.auto import tqdm
from transformers import AutoModel, AutoTokenizer, get_scheduler
from transformers.utils import logging

from ..command_line import setup_logging
from ..data import (
    DEFAULT_MAX_SKIPPED_FRACTION,
    ClipAugmentation,
    ManifestError,
    MSQNetVideoTransform,
    check_label_names,
    check_skipped_share,
    check_videos_exist,
    load_label_set,
    load_manifest_dataset,
)
from ..hub_code.configuration_msqnet import MULTI_LABEL_CLASSIFICATION, MSQNetConfig
from ..hub_code.modeling_msqnet import MSQNetForVideoClassification, classification_loss
from ..hub_code.processing_msqnet import MSQNetProcessor
from ..hub_code.video_processing_msqnet import MSQNetVideoProcessor
from ..metrics import REPORTED_METRICS, primary_metric
from ..publishing.model_card import render_model_card_from_config
from ..publishing.model_folder import (
    ModelFolderError,
    default_video_processor,
    load_model_folder,
    one_line,
    replace_folder,
    temporary_sibling,
)
from ..publishing.plots import plot_per_class_ap, plot_training_curves
from ..publishing.push import push_model_folder
from ..resources import available_presets, preset_path
from .arguments import (
    fraction,
    json_object,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    set_defaults_from_json,
)
from .dataloaders import build_dataloader, build_eval_dataloader
from .evaluation import check_evaluation_skips, evaluate_model, format_summary


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
CHECKPOINT_STATE_FILE = "msqnet_training_state.json"
CHECKPOINT_NAME = re.compile(r"^(step|epoch)_(\d+)$")


def build_argument_parser() -> argparse.ArgumentParser:
    """The command-line flags of `examples/train.py` (names as in transformers' `*_no_trainer.py` examples)."""
    parser = argparse.ArgumentParser(description="Train (or fine-tune) MSQNet on video manifests with Accelerate.")
    parser.add_argument(
        "--config_file", default=None, help="JSON of flag defaults, or a preset name (paper: configuration/training/)."
    )
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
    return parser


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


def train_augmentation(video_processor, augmentation_kwargs=None) -> ClipAugmentation:
    """The paper's train-time augmentation at the video processor's crop size, with `augmentation_kwargs` overrides."""
    crop_size = video_processor.crop_size
    overrides = {
        key: tuple(value) if isinstance(value, list) else value for key, value in (augmentation_kwargs or {}).items()
    }
    return ClipAugmentation(crop_size=(crop_size["height"], crop_size["width"]), **overrides)


def load_label_names(path) -> tuple[list[str], dict]:
    """Label names from a JSON list, or from a label set (file or name in configuration/datasets/) + metadata."""
    candidate = Path(path)
    if candidate.is_file():
        try:
            content = json.loads(candidate.read_text(encoding="utf-8-sig"))
        except json.JSONDecodeError as error:
            raise ValueError(f"--labels {path} is not valid JSON: {error}") from None
        if isinstance(content, list):
            return check_label_names(content, f"--labels {path}"), {}
        if not isinstance(content, dict):
            raise ValueError(f"--labels {path} must be a JSON list of names or a label set object with 'labels'.")
    label_set = load_label_set(path)
    return list(label_set["labels"]), label_set


# Building the model: a new one from a config file, a saved (pretrained) folder, or pretrained parts.


def build_model(args) -> "ModelSetup":
    """The model that `args` ask for: composed from pretrained parts, new from a config file or a saved folder."""
    label_names, label_info = load_label_names(args.labels) if args.labels else (None, {})
    problem_type = label_info.get("problem_type")
    if args.video_model:
        return compose_model_from_parts(args, label_names, problem_type, label_info)
    source = preset_path(args.model, "models")
    if not source.exists():
        raise FileNotFoundError(
            f"--model {source} does not exist (expected a saved MSQNet folder, a config .json or one of the presets "
            f"{available_presets('models')})."
        )
    if source.is_dir():
        setup = load_pretrained_model(source, args, label_names, problem_type)
    else:
        setup = new_model_from_config(source, args, label_names, problem_type)
    if args.text_model and not args.keep_text_model:
        _detach_text_model(setup.model)
        setup.tokenizer = None
    setup.label_info = label_info
    return setup


@dataclasses.dataclass
class ModelSetup:
    """The model to train, its tokenizer (or `None`), video processor (or `None`: the default one), label set metadata
    and the Hub ids of the pretrained parts (for the model card)."""

    model: MSQNetForVideoClassification
    tokenizer: object = None
    video_processor: MSQNetVideoProcessor | None = None
    label_info: dict = dataclasses.field(default_factory=dict)
    base_models: list = dataclasses.field(default_factory=list)


def compose_model_from_parts(args, label_names, problem_type, label_info) -> ModelSetup:
    """A new MSQNet from a pretrained video encoder, CLIP and optionally a text encoder (`--video_model`, ...)."""
    if label_names is None:
        raise ValueError("--video_model/--clip_model need --labels (the label names to train on).")
    model = MSQNetForVideoClassification.from_pretrained_parts(
        args.video_model,
        args.clip_model,
        label_names,
        num_frames=args.num_frames,
        text_model_name_or_path=args.text_model,
        keep_text_model=args.keep_text_model or args.text_model is None,
        problem_type=problem_type or MULTI_LABEL_CLASSIFICATION,
        **({"label_text_pooling": "mean"} if args.text_model else {}),
    )
    tokenizer = AutoTokenizer.from_pretrained(args.text_model or args.clip_model)
    base_models = [
        name for name in (args.video_model, args.clip_model, args.text_model) if name and not os.path.exists(name)
    ]
    # The frames are resized and normalised as the video encoder's own processor does, when it ships one.
    video_processor = MSQNetVideoProcessor.for_model(model.config, backbone_processor=args.video_model)
    return ModelSetup(model, tokenizer, video_processor, label_info=label_info, base_models=base_models)


def new_model_from_config(config_file: Path, args, label_names, problem_type) -> ModelSetup:
    """A randomly initialised MSQNet from a config (preset) file; label queries from `--text_model` when given."""
    try:
        config = MSQNetConfig.from_json_file(config_file)
    except (OSError, ValueError, TypeError) as error:
        raise ModelFolderError(f"--model {config_file} is not a valid MSQNet config file: {one_line(error)}") from None
    if label_names is not None:
        config.id2label = dict(enumerate(label_names))
        config.label2id = {name: index for index, name in enumerate(label_names)}
    elif _has_default_labels(config):
        raise ValueError(f"--model {config_file} is a config without label names (id2label); pass --labels.")
    if problem_type:
        config.problem_type = problem_type
    model = MSQNetForVideoClassification(config)
    tokenizer = attach_text_model(model, args.text_model) if args.text_model else None
    # `label_text_init: false` (the zero-shot table's vanilla variant) keeps the random label embeddings.
    if tokenizer is not None and getattr(model.config, "label_text_init", True):
        names = _label_names(model.config)
        model.set_labels(names, label_embeddings=model.msqnet.embed_label_names(names, tokenizer))
    return ModelSetup(model, tokenizer)


def load_pretrained_model(folder: Path, args, label_names, problem_type) -> ModelSetup:
    """A saved MSQNet folder to fine-tune, relabelled to `label_names` when they differ from the saved ones."""
    model, video_processor, tokenizer = load_model_folder(folder)
    if problem_type and model.config.problem_type != problem_type:
        logger.info(f"Setting problem_type to {problem_type!r} (from --labels).")
        model.config.problem_type = problem_type
    if args.text_model:
        tokenizer = attach_text_model(model, args.text_model)
    current = _label_names(model.config)
    if label_names is not None and label_names != current:
        relabel_model(model, label_names, tokenizer)
    return ModelSetup(model, tokenizer, video_processor)


def relabel_model(model, names: list[str], tokenizer=None):
    """
    Give a trained model the labels `names`: known names keep their trained queries and head weights; new ones are
    embedded by the text encoder when the model has one (and a tokenizer), else (or with `label_text_init: false`)
    initialised at random. Text-derived label queries always come from the text encoder.
    """
    from_text = getattr(model.config, "label_text_init", True) or model.msqnet.label_embeddings is None
    if model.msqnet.text_model is not None and tokenizer is not None and from_text:
        model.set_labels(names, tokenizer=tokenizer, reinitialize_head=True)
        return
    if model.msqnet.label_embeddings is None:
        raise ValueError(
            "A model with text-derived label queries embeds new label names with its text encoder; give --text_model "
            "(and its tokenizer) or a --model folder that holds one."
        )
    known, weight = model.config.label2id, model.msqnet.label_embeddings.data
    embeddings = torch.randn(len(names), weight.shape[1], dtype=weight.dtype) * model.config.initializer_range
    for i, name in enumerate(names):
        if name in known:
            embeddings[i] = weight[known[name]]
    model.set_labels(names, label_embeddings=embeddings, reinitialize_head=True)


def attach_text_model(model, text_model_name_or_path):
    """Put the text encoder `text_model_name_or_path` into the model (it embeds label names); returns its tokenizer."""
    text_model = AutoModel.from_pretrained(text_model_name_or_path)
    if text_model.config.model_type != "clip_text_model" and model.config.label_text_pooling == "pooler":
        logger.warning(
            f"--text_model {text_model_name_or_path} is a {text_model.config.model_type!r} model and the config "
            "pools label names with 'pooler'; sentence encoders need `label_text_pooling: \"mean\"` in the model "
            "config."
        )
    model.msqnet.text_model = text_model
    model.config.text_config = text_model.config
    model.msqnet.config.text_config = text_model.config
    return AutoTokenizer.from_pretrained(text_model_name_or_path)


def _detach_text_model(model):
    model.msqnet.text_model = None
    model.config.text_config = None
    model.msqnet.config.text_config = None


def _label_names(config) -> list[str]:
    return [config.id2label[i] for i in range(config.num_labels)]


def _has_default_labels(config) -> bool:
    return all(re.fullmatch(r"LABEL_\d+", str(name)) for name in config.id2label.values())


# The state of a run and its checkpoints.


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


# Writing the output folder.


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
    render_model_card_from_config(
        model_dir,
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
    "PAPER_RECIPE",
    "ModelSetup",
    "TrainingProgress",
    "TrainingRun",
    "build_argument_parser",
    "build_model",
    "main",
    "parse_args",
    "train",
]
