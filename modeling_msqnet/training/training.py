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
import math
import os
import re
from pathlib import Path

import torch
from accelerate import Accelerator, DataLoaderConfiguration
from accelerate.logging import get_logger
from accelerate.utils import ProjectConfiguration, gather_object, set_seed
from tqdm.auto import tqdm
from transformers import AutoModel, AutoTokenizer, get_scheduler

from ..data import ClipAugmentation, MSQNetVideoTransform, load_label_set, load_manifest_dataset
from ..hub_code.configuration_msqnet import MSQNetConfig
from ..hub_code.modeling_msqnet import MSQNetForVideoClassification
from ..hub_code.video_processing_msqnet import MSQNetVideoProcessor
from ..resources import available_presets, preset_path
from .evaluation import (
    MULTI_LABEL,
    FixedSizeCollator,
    IndexedTransform,
    build_eval_dataloader,
    evaluate_model,
    format_summary,
    masked_loss,
    pixel_shape,
    primary_metric,
)


logger = get_logger(__name__)

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
# Files of the output folder that are not part of the model repository.
HUB_IGNORE_PATTERNS = ("step_*", "epoch_*", "checkpoint-*", "*.pyc")


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
        "TimeSformer/VideoMAE (Hub id or folder), e.g. facebook/timesformer-base-finetuned-k400.",
    )
    model.add_argument(
        "--clip_model",
        default=None,
        help="CLIP checkpoint for the video query and label names, e.g. "
        "openai/clip-vit-base-patch16 (with --video_model).",
    )
    model.add_argument(
        "--num_frames", type=int, default=16, help="Frames per clip of a model composed with --video_model."
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
    data.add_argument("--num_workers", type=int, default=0, help="DataLoader worker processes per training process.")
    data.add_argument(
        "--decode_shortest_edge",
        type=int,
        default=None,
        help="Downscale training frames while decoding to this shortest edge (faster on large videos).",
    )
    data.add_argument(
        "--augmentation_kwargs",
        type=json.loads,
        default=None,
        help="JSON object of ClipAugmentation fields overriding the paper's train-time augmentation, e.g. "
        '\'{"flip_probability": 0.0, "grayscale_probability": 0.0}\' for direction- or colour-labelled actions.',
    )
    optim = parser.add_argument_group("optimisation")
    optim.add_argument("--num_train_epochs", type=int, default=PAPER_RECIPE["num_train_epochs"])
    optim.add_argument(
        "--max_train_steps",
        type=int,
        default=None,
        help="Stop after this many optimizer steps (overrides --num_train_epochs).",
    )
    optim.add_argument("--per_device_train_batch_size", type=int, default=PAPER_RECIPE["per_device_train_batch_size"])
    optim.add_argument("--per_device_eval_batch_size", type=int, default=PAPER_RECIPE["per_device_eval_batch_size"])
    optim.add_argument("--learning_rate", type=float, default=PAPER_RECIPE["learning_rate"])
    optim.add_argument("--weight_decay", type=float, default=PAPER_RECIPE["weight_decay"])
    optim.add_argument(
        "--lr_scheduler_type",
        default=PAPER_RECIPE["lr_scheduler_type"],
        help="transformers scheduler name: cosine, cosine_with_restarts, linear, constant, ...",
    )
    optim.add_argument(
        "--lr_scheduler_kwargs",
        type=json.loads,
        default=None,
        help="JSON of scheduler-specific arguments, e.g. '{\"num_cycles\": 10}' for cosine_with_restarts.",
    )
    optim.add_argument("--num_warmup_steps", type=int, default=PAPER_RECIPE["num_warmup_steps"])
    optim.add_argument("--gradient_accumulation_steps", type=int, default=PAPER_RECIPE["gradient_accumulation_steps"])
    optim.add_argument(
        "--max_grad_norm", type=float, default=None, help="Clip gradients to this norm (off by default)."
    )
    optim.add_argument(
        "--mixed_precision", choices=("no", "fp16", "bf16"), default=None, help="Defaults to the accelerate config."
    )
    optim.add_argument("--seed", type=int, default=PAPER_RECIPE["seed"])
    run = parser.add_argument_group("run")
    run.add_argument("--output_dir", required=False, default=None, help="Where the model folder and checkpoints go.")
    run.add_argument(
        "--checkpointing_steps", default=None, help="Save a checkpoint every N optimizer steps, or 'epoch'."
    )
    run.add_argument(
        "--resume_from_checkpoint",
        default=None,
        help="A checkpoint folder (step_N / epoch_N), or 'latest' for the newest one in --output_dir.",
    )
    run.add_argument(
        "--eval_every_epochs",
        type=int,
        default=PAPER_RECIPE["eval_every_epochs"],
        help="Evaluate every N epochs (and always after the last one).",
    )
    run.add_argument("--logging_steps", type=int, default=10, help="Log the loss to the trackers every N steps.")
    run.add_argument("--with_tracking", action="store_true", help="Log to the trackers of --report_to.")
    run.add_argument("--report_to", default="tensorboard", help="Accelerate trackers (tensorboard, wandb, all, ...).")
    run.add_argument("--push_to_hub", action="store_true", help="Upload the final folder to --hub_model_id.")
    run.add_argument("--hub_model_id", default=None, help="Hub repository 'user/name'.")
    run.add_argument("--hub_token", default=None, help="Hub token (defaults to the saved login or HF_TOKEN).")
    return parser


def parse_args(argv=None) -> argparse.Namespace:
    """Parse the flags; `--config_file` JSON values become defaults that explicit flags override."""
    parser = build_argument_parser()
    pre_args, _ = parser.parse_known_args(argv)
    if pre_args.config_file:
        path = preset_path(pre_args.config_file, "training")
        if not path.is_file():
            parser.error(f"--config_file {path} does not exist.")
        try:
            defaults = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            parser.error(f"--config_file {path} is not valid JSON: {error}")
        if not isinstance(defaults, dict):
            parser.error(f"--config_file {path} must hold a JSON object of flag names to values.")
        known = {action.dest for action in parser._actions}
        unknown = sorted(set(defaults) - known - {"_comment"})
        if unknown:
            parser.error(
                f"--config_file {path} has unknown keys {unknown}; expected flag names such as 'learning_rate'."
            )
        defaults.pop("_comment", None)
        parser.set_defaults(**defaults)
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
    for name in (
        "num_train_epochs",
        "per_device_train_batch_size",
        "per_device_eval_batch_size",
        "gradient_accumulation_steps",
        "eval_every_epochs",
        "logging_steps",
    ):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1, got {getattr(args, name)}.")
    if args.max_train_steps is not None and args.max_train_steps < 1:
        parser.error(f"--max_train_steps must be >= 1, got {args.max_train_steps}.")
    if args.checkpointing_steps is not None and args.checkpointing_steps != "epoch":
        if not str(args.checkpointing_steps).isdigit() or int(args.checkpointing_steps) < 1:
            parser.error(
                f"--checkpointing_steps must be a positive integer or 'epoch', got {args.checkpointing_steps!r}."
            )
        args.checkpointing_steps = int(args.checkpointing_steps)
    if args.lr_scheduler_kwargs is not None and not isinstance(args.lr_scheduler_kwargs, dict):
        parser.error("--lr_scheduler_kwargs must be a JSON object.")
    if args.augmentation_kwargs is not None:
        if not isinstance(args.augmentation_kwargs, dict):
            parser.error("--augmentation_kwargs must be a JSON object.")
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
            content = json.loads(candidate.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ValueError(f"--labels {path} is not valid JSON: {error}") from None
        if isinstance(content, list):
            if not content or not all(isinstance(name, str) and name for name in content):
                raise ValueError(f"--labels {path} must be a non-empty JSON list of label names (strings).")
            duplicates = sorted({name for name in content if content.count(name) > 1})
            if duplicates:
                raise ValueError(f"--labels {path} repeats the label names {duplicates}.")
            return list(content), {}
        if not isinstance(content, dict):
            raise ValueError(f"--labels {path} must be a JSON list of names or a label set object with 'labels'.")
    label_set = load_label_set(path)
    return list(label_set["labels"]), label_set


def default_video_processor(config) -> MSQNetVideoProcessor:
    """The paper's test-time processor scaled to the model's input size (resize to 256/224 of the crop, crop)."""
    image_size = int(getattr(config.video_config, "image_size", 224))
    return MSQNetVideoProcessor(
        num_frames=config.num_frames,
        size={"shortest_edge": round(image_size * 256 / 224)},
        crop_size={"height": image_size, "width": image_size},
    )


def _has_default_labels(config) -> bool:
    return all(re.fullmatch(r"LABEL_\d+", str(name)) for name in config.id2label.values())


def _has_weights(folder: Path) -> bool:
    return any((folder / name).is_file() for name in ("model.safetensors", "model.safetensors.index.json"))


def _attach_text_model(model, text_model):
    model.msqnet.text_model = text_model
    model.config.text_config = text_model.config
    model.msqnet.config.text_config = text_model.config


def _detach_text_model(model):
    model.msqnet.text_model = None
    model.config.text_config = None
    model.msqnet.config.text_config = None


def build_model(args):
    """
    The model to train, its tokenizer (or `None`), video processor, label set metadata and the Hub ids of the
    pretrained parts (for the model card).
    """
    label_names, label_info = load_label_names(args.labels) if args.labels else (None, {})
    problem_type = label_info.get("problem_type")
    tokenizer, video_processor, base_models = None, None, []

    if args.video_model:
        if label_names is None:
            raise ValueError("--video_model/--clip_model need --labels (the label names to train on).")
        model = MSQNetForVideoClassification.from_pretrained_parts(
            args.video_model,
            args.clip_model,
            label_names,
            num_frames=args.num_frames,
            text_model_name_or_path=args.text_model,
            keep_text_model=args.keep_text_model or args.text_model is None,
            problem_type=problem_type or MULTI_LABEL,
            **({"label_text_pooling": "mean"} if args.text_model else {}),
        )
        tokenizer = AutoTokenizer.from_pretrained(args.text_model or args.clip_model)
        base_models = [
            name for name in (args.video_model, args.clip_model, args.text_model) if name and not os.path.exists(name)
        ]
        return model, tokenizer, video_processor, label_info, base_models

    source = preset_path(args.model, "models")
    if source.is_dir() and not (source / "config.json").is_file():
        raise FileNotFoundError(
            f"--model {source}: the folder has no config.json (expected a saved MSQNet model or config)."
        )
    if not source.exists():
        raise FileNotFoundError(
            f"--model {source} does not exist (expected a saved MSQNet folder, a config .json or one of the presets "
            f"{available_presets('models')})."
        )
    pretrained = source.is_dir() and _has_weights(source)

    if pretrained:
        model = MSQNetForVideoClassification.from_pretrained(source)
        if any((source / name).is_file() for name in ("tokenizer_config.json", "tokenizer.json")):
            tokenizer = AutoTokenizer.from_pretrained(source)
        if any(
            (source / name).is_file()
            for name in ("video_preprocessor_config.json", "preprocessor_config.json", "processor_config.json")
        ):
            video_processor = MSQNetVideoProcessor.from_pretrained(source)
    else:
        config = MSQNetConfig.from_json_file(source) if source.is_file() else MSQNetConfig.from_pretrained(source)
        if label_names is not None:
            config.id2label = dict(enumerate(label_names))
            config.label2id = {name: index for index, name in enumerate(label_names)}
        elif _has_default_labels(config):
            raise ValueError(f"--model {source} is a config without label names (id2label); pass --labels.")
        if problem_type:
            config.problem_type = problem_type
        model = MSQNetForVideoClassification(config)
    if problem_type and model.config.problem_type != problem_type:
        logger.info(f"Setting problem_type to {problem_type!r} (from --labels).")
        model.config.problem_type = problem_type

    if args.text_model:
        text_model = AutoModel.from_pretrained(args.text_model)
        tokenizer = AutoTokenizer.from_pretrained(args.text_model)
        if text_model.config.model_type != "clip_text_model" and model.config.label_text_pooling == "pooler":
            logger.warning(
                f"--text_model {args.text_model} is a {text_model.config.model_type!r} model and the config pools "
                "label "
                "names with 'pooler'; sentence encoders need `label_text_pooling: \"mean\"` in the model config."
            )
        _attach_text_model(model, text_model)

    current = [model.config.id2label[i] for i in range(model.config.num_labels)]
    names = label_names if label_names is not None else current
    can_embed = model.msqnet.text_model is not None and tokenizer is not None
    if not pretrained:
        if can_embed:
            model.set_labels(names, label_embeddings=model.msqnet.embed_label_names(names, tokenizer))
    elif names != current:
        if can_embed:
            # Known names keep their trained queries and head weights; new ones are embedded by the text encoder.
            model.set_labels(names, tokenizer=tokenizer, reinitialize_head=True)
        else:
            known, weight = model.config.label2id, model.msqnet.label_embeddings.data
            embeddings = torch.randn(len(names), weight.shape[1], dtype=weight.dtype) * model.config.initializer_range
            for i, name in enumerate(names):
                if name in known:
                    embeddings[i] = weight[known[name]]
            model.set_labels(names, label_embeddings=embeddings, reinitialize_head=True)
    if args.text_model and not args.keep_text_model:
        _detach_text_model(model)
        tokenizer = None
    return model, tokenizer, video_processor, label_info, base_models


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


def find_latest_checkpoint(output_dir) -> Path:
    """The newest `step_N` / `epoch_N` folder of `output_dir` (by modification time)."""
    candidates = (
        [path for path in Path(output_dir).iterdir() if path.is_dir() and CHECKPOINT_NAME.match(path.name)]
        if Path(output_dir).is_dir()
        else []
    )
    if not candidates:
        raise FileNotFoundError(f"--resume_from_checkpoint latest: no step_N or epoch_N checkpoint in {output_dir}.")
    return max(candidates, key=lambda path: path.stat().st_mtime)


def save_checkpoint(accelerator, progress: TrainingProgress, path: Path, run_info: dict):
    progress.flush(accelerator)
    accelerator.save_state(str(path))
    if accelerator.is_main_process:
        state = {**progress.state_dict(), "run": run_info}
        (path / CHECKPOINT_STATE_FILE).write_text(json.dumps(state, indent=2), encoding="utf-8")
    accelerator.wait_for_everyone()
    logger.info(f"Saved checkpoint {path}")


def _history_metrics(report: dict) -> dict:
    keys = ("mAP_macro", "AP_micro", "multilabel_accuracy", "top1", "top5", "loss")
    return {f"eval_{key}": report[key] for key in keys if report.get(key) is not None}


def _json_default(value):
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def train(args) -> dict:
    """
    Run training as configured by `args` (see [`parse_args`]). Returns the final evaluation report (or `{}` without
    `--eval_manifest`). On the main process, `args.output_dir` ends up holding the Hub-ready model folder.
    """
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
    logger.info(accelerator.state, main_process_only=False)
    set_seed(args.seed)
    output_dir = Path(args.output_dir)
    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
    accelerator.wait_for_everyone()

    model, tokenizer, video_processor, label_info, base_models = build_model(args)
    config = model.config
    problem_type = config.problem_type or MULTI_LABEL
    config.problem_type = problem_type
    if video_processor is None:
        video_processor = default_video_processor(config)
    if video_processor.num_frames != config.num_frames:
        logger.warning(f"Setting the video processor's num_frames to the model's {config.num_frames}.")
        video_processor.num_frames = config.num_frames
    if model.msqnet.text_model is not None:
        model.msqnet.text_model.requires_grad_(False)  # only embeds label names; DDP needs every trained param used
    if args.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})

    train_dataset = load_manifest_dataset(args.train_manifest, config.label2id, problem_type=problem_type)
    train_transform = MSQNetVideoTransform.from_config(
        video_processor,
        config,
        train=True,
        seed=args.seed,
        augmentation=train_augmentation(video_processor, args.augmentation_kwargs),
        decode_shortest_edge=args.decode_shortest_edge,
    )
    train_dataset.set_transform(IndexedTransform(train_transform))
    train_dataloader = torch.utils.data.DataLoader(
        train_dataset,
        shuffle=True,
        batch_size=args.per_device_train_batch_size,
        collate_fn=FixedSizeCollator(pixel_shape(video_processor, config.num_frames)),
        num_workers=args.num_workers,
        generator=torch.Generator().manual_seed(args.seed),
    )
    eval_dataset = eval_dataloader = None
    if args.eval_manifest:
        eval_dataset = load_manifest_dataset(args.eval_manifest, config.label2id, problem_type=problem_type)
        eval_dataloader = build_eval_dataloader(
            eval_dataset, video_processor, config, args.per_device_eval_batch_size, args.num_workers, seed=args.seed
        )

    decay = [
        p for n, p in model.named_parameters() if p.requires_grad and p.ndim >= 2 and n != "msqnet.label_embeddings"
    ]
    no_decay = [
        p
        for n, p in model.named_parameters()
        if p.requires_grad and not (p.ndim >= 2 and n != "msqnet.label_embeddings")
    ]
    groups = [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW([group for group in groups if group["params"]], lr=args.learning_rate)

    train_dataloader = accelerator.prepare(train_dataloader)
    num_update_steps_per_epoch = math.ceil(len(train_dataloader) / args.gradient_accumulation_steps)
    if args.max_train_steps is None:
        max_train_steps = args.num_train_epochs * num_update_steps_per_epoch
        num_train_epochs = args.num_train_epochs
    else:
        max_train_steps = args.max_train_steps
        num_train_epochs = math.ceil(max_train_steps / num_update_steps_per_epoch)
    # Accelerate steps a prepared scheduler once per process at every optimizer step.
    lr_scheduler = get_scheduler(
        name=args.lr_scheduler_type,
        optimizer=optimizer,
        num_warmup_steps=args.num_warmup_steps * accelerator.num_processes,
        num_training_steps=max_train_steps * accelerator.num_processes,
        scheduler_specific_kwargs=args.lr_scheduler_kwargs,
    )
    model, optimizer, lr_scheduler = accelerator.prepare(model, optimizer, lr_scheduler)
    if eval_dataloader is not None:
        eval_dataloader = accelerator.prepare(eval_dataloader)

    hyperparameters = {
        "learning_rate": args.learning_rate,
        "optimizer": f"AdamW (weight decay {args.weight_decay})" if args.weight_decay else "Adam",
        "lr_scheduler_type": args.lr_scheduler_type,
        "num_warmup_steps": args.num_warmup_steps,
        "num_train_epochs": num_train_epochs,
        "max_train_steps": max_train_steps,
        "per_device_train_batch_size": args.per_device_train_batch_size,
        "gradient_accumulation_steps": args.gradient_accumulation_steps,
        "num_processes": accelerator.num_processes,
        "total_train_batch_size": args.per_device_train_batch_size
        * accelerator.num_processes
        * args.gradient_accumulation_steps,
        "mixed_precision": accelerator.mixed_precision,
        "num_frames": config.num_frames,
        "seed": args.seed,
    }
    if args.with_tracking:
        accelerator.init_trackers(
            "msqnet", {k: v for k, v in hyperparameters.items() if isinstance(v, (int, float, str, bool))}
        )

    run_info = {
        "num_batches_per_epoch": len(train_dataloader),
        "num_processes": accelerator.num_processes,
        "gradient_accumulation_steps": args.gradient_accumulation_steps,
        "seed": args.seed,
    }
    progress = TrainingProgress()
    if args.resume_from_checkpoint:
        checkpoint = Path(args.resume_from_checkpoint)
        if args.resume_from_checkpoint == "latest":
            checkpoint = find_latest_checkpoint(output_dir)
        state_file = checkpoint / CHECKPOINT_STATE_FILE
        if not state_file.is_file():
            raise FileNotFoundError(
                f"--resume_from_checkpoint {checkpoint}: no {CHECKPOINT_STATE_FILE}; not a checkpoint of this script."
            )
        state = json.loads(state_file.read_text(encoding="utf-8"))
        mismatched = {
            key: (state["run"].get(key), value) for key, value in run_info.items() if state["run"].get(key) != value
        }
        if mismatched:
            raise ValueError(
                f"--resume_from_checkpoint {checkpoint} was written by a run with other settings (saved, now): "
                f"{mismatched}; "
                "resume with the same number of processes, batch size, accumulation and seed."
            )
        accelerator.load_state(str(checkpoint))
        progress.load_state_dict({key: value for key, value in state.items() if key != "run"})
        logger.info(
            f"Resumed from {checkpoint} at step {progress.completed_steps} (epoch {progress.epoch + 1}, "
            f"batch {progress.batches_in_epoch})."
        )
    starting_epoch = progress.epoch + 1 if progress.epoch_finished else progress.epoch
    resume_batches = 0 if progress.epoch_finished else progress.batches_in_epoch

    total_batch_size = hyperparameters["total_train_batch_size"]
    logger.info("***** Running training *****")
    logger.info(f"  Num examples = {len(train_dataset)}, num epochs = {num_train_epochs}, steps = {max_train_steps}")
    logger.info(f"  Batch size per device = {args.per_device_train_batch_size}, total = {total_batch_size}")
    progress_bar = tqdm(range(max_train_steps), disable=not accelerator.is_local_main_process, desc="Training")
    progress_bar.update(progress.completed_steps)

    def evaluate_after_epoch(epoch_number, desc="Evaluating"):
        report = evaluate_model(
            model,
            eval_dataloader,
            accelerator,
            problem_type=problem_type,
            id2label=config.id2label,
            dataset=eval_dataset,
            desc=desc,
        )
        return {"epoch": epoch_number, "step": progress.completed_steps, **report}

    eval_report = {}
    for epoch in range(starting_epoch, num_train_epochs):
        if progress.completed_steps >= max_train_steps and progress.epoch_finished:
            break
        if epoch != progress.epoch or progress.epoch_finished:
            progress.start_epoch(epoch)
        model.train()
        train_transform.set_epoch(epoch)
        train_dataloader.set_epoch(epoch)
        active_dataloader = train_dataloader
        if epoch == starting_epoch and resume_batches:
            active_dataloader = accelerator.skip_first_batches(train_dataloader, resume_batches)
        for batch in active_dataloader:
            if progress.completed_steps >= max_train_steps:
                break
            skipped, valid, labels = batch.pop("skipped"), batch["valid"], batch["labels"]
            with accelerator.accumulate(model):
                outputs = model(pixel_values=batch["pixel_values"])
                loss = masked_loss(outputs.logits, labels, valid, problem_type)
                accelerator.backward(loss)
                if args.max_grad_norm is not None and accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(model.parameters(), args.max_grad_norm)
                optimizer.step()
                lr_scheduler.step()
                optimizer.zero_grad()
            progress.batches_in_epoch += 1
            progress.record_batch(loss.detach(), int(valid.sum()), skipped)
            if accelerator.sync_gradients:
                progress.completed_steps += 1
                progress_bar.update(1)
                if args.with_tracking and progress.completed_steps % args.logging_steps == 0:
                    accelerator.log(
                        {"train_loss_step": float(loss.detach()), "learning_rate": lr_scheduler.get_last_lr()[0]},
                        step=progress.completed_steps,
                    )
                if (
                    isinstance(args.checkpointing_steps, int)
                    and progress.completed_steps % args.checkpointing_steps == 0
                ):
                    save_checkpoint(accelerator, progress, output_dir / f"step_{progress.completed_steps}", run_info)

        progress.flush(accelerator)
        entry = {
            "epoch": epoch + 1,
            "step": progress.completed_steps,
            "train_loss": progress.epoch_loss(),
            "learning_rate": lr_scheduler.get_last_lr()[0],
        }
        last_epoch = epoch == num_train_epochs - 1 or progress.completed_steps >= max_train_steps
        if eval_dataloader is not None and ((epoch + 1) % args.eval_every_epochs == 0 or last_epoch):
            eval_report = evaluate_after_epoch(epoch + 1, desc=f"Evaluating epoch {epoch + 1}")
            entry.update(_history_metrics(eval_report))
            logger.info(
                f"epoch {epoch + 1}: train_loss {entry['train_loss']:.4f}, {format_summary(eval_report, problem_type)}"
            )
        else:
            logger.info(f"epoch {epoch + 1}: train_loss {entry['train_loss']:.4f}")
        progress.history.append(entry)
        progress.epoch_finished = True
        if args.with_tracking:
            accelerator.log(
                {k: v for k, v in entry.items() if k not in ("epoch", "step") and math.isfinite(v)},
                step=progress.completed_steps,
            )
        if args.checkpointing_steps == "epoch":
            save_checkpoint(accelerator, progress, output_dir / f"epoch_{epoch + 1}", run_info)
        if last_epoch:
            break
    progress_bar.close()

    if eval_dataloader is not None and not eval_report:
        # Resumed from a checkpoint written after the last epoch: score the final weights.
        eval_report = evaluate_after_epoch(progress.epoch + 1)
    if eval_report:
        eval_report = {"problem_type": problem_type, "primary_metric": primary_metric(problem_type), **eval_report}
        eval_report["train_skipped"] = progress.skipped_report()

    accelerator.wait_for_everyone()
    unwrapped = accelerator.unwrap_model(model)
    state_dict = accelerator.get_state_dict(model)
    if accelerator.is_main_process:
        unwrapped.save_pretrained(output_dir, state_dict=state_dict)
        save_processor(video_processor, tokenizer, unwrapped.config, output_dir)
        finish_output_folder(
            output_dir, unwrapped.config, progress, eval_report, hyperparameters, args, label_info, base_models
        )
        report_skipped(progress, eval_report)
        if args.push_to_hub:
            from ..publishing.push import push_model_folder

            revision = push_model_folder(
                output_dir,
                args.hub_model_id,
                token=args.hub_token,
                ignore_patterns=HUB_IGNORE_PATTERNS,
                commit_message="Upload MSQNet (examples/train.py)",
            )
            logger.info(f"Pushed {output_dir} to {args.hub_model_id} at revision {revision}")
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return eval_report


def save_processor(video_processor, tokenizer, config, output_dir):
    """An `MSQNetProcessor` with the tokenizer when the model keeps a text encoder, else the video processor alone."""
    if tokenizer is not None and config.text_config is not None:
        from ..hub_code.processing_msqnet import MSQNetProcessor

        MSQNetProcessor(video_processor=video_processor, tokenizer=tokenizer).save_pretrained(output_dir)
    else:
        video_processor.save_pretrained(output_dir)


def finish_output_folder(output_dir, config, progress, eval_report, hyperparameters, args, label_info, base_models):
    """Write `training_history.json`, `eval_report.json`, the plots and the model card into the model folder."""
    from ..publishing.model_card import render_model_card_from_config
    from ..publishing.plots import plot_per_class_ap, plot_training_curves

    output_dir = Path(output_dir)
    history = {"history": progress.history, "train_skipped": progress.skipped_report()}
    (output_dir / "training_history.json").write_text(
        json.dumps(history, indent=2, default=_json_default) + "\n", encoding="utf-8"
    )
    plots = []
    if eval_report:
        (output_dir / "eval_report.json").write_text(
            json.dumps(eval_report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        metric_key = f"eval_{primary_metric(config.problem_type)}"
        if any(metric_key in entry for entry in progress.history) and any("train_loss" in e for e in progress.history):
            plots.append(
                plot_training_curves(progress.history, output_dir / "training_curves.png", metric_key=metric_key).name
            )
        if eval_report.get("per_class_AP"):
            plots.append(plot_per_class_ap(eval_report["per_class_AP"], output_dir / "per_class_ap.png").name)
    dataset_name = args.dataset_name or label_info.get("display_name") or label_info.get("name")
    if dataset_name is None and args.eval_manifest:
        dataset_name = Path(args.eval_manifest).resolve().parent.name
    metrics = {
        key: value
        for key, value in eval_report.items()
        if key in ("mAP_macro", "AP_micro", "multilabel_accuracy", "top1", "top5", "loss")
    }
    render_model_card_from_config(
        output_dir,
        config,
        metrics or None,
        dataset_name=dataset_name,
        eval_split=Path(args.eval_manifest).stem if args.eval_manifest else None,
        base_models=base_models,
        training_hyperparameters=hyperparameters,
        plots=plots,
        repo_id=args.hub_model_id,
    )


def report_skipped(progress, eval_report):
    """Log every video left out of training or evaluation, with the reason."""
    for name, report in (("training", progress.skipped_report()), ("evaluation", eval_report.get("skipped"))):
        if report and report["count"]:
            listed = "\n".join(f"  {entry['video']}: {entry['error']}" for entry in report["videos"])
            logger.warning(f"{report['count']} unreadable videos were skipped in {name}:\n{listed}")


__all__ = ["PAPER_RECIPE", "build_argument_parser", "build_model", "default_video_processor", "parse_args", "train"]
