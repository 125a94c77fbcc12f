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
"""Loading and building MSQNet models: what a saved folder holds, how to check and load one (with its processor and
defaults), and how to build a new model from pretrained parts or a preset.

Training, evaluation, the timeline, the app, explanations, export, zero-shot and the Hub upload all use these names
and checks, so they agree on what a complete folder is: a `config.json` of model type `msqnet`, the weights (one file,
or every shard of an index), the Hub code its `auto_map` names and, for the pipeline, a video processor config.
"""

import dataclasses
import json
import os
import re
from pathlib import Path

import torch
from safetensors import SafetensorError
from transformers import AutoModel, AutoTokenizer
from transformers.utils import logging

from .command_line import one_line
from .data import check_label_names, load_label_set
from .hub_code.configuration_msqnet import MULTI_LABEL_CLASSIFICATION, MSQNetConfig, ordered_label_names
from .hub_code.modeling_msqnet import MSQNetForVideoClassification
from .hub_code.video_processing_msqnet import MSQNetVideoProcessor
from .precision import apply_dtype
from .resources import available_presets, preset_path


logger = logging.get_logger(__name__)

CONFIG_FILE = "config.json"
WEIGHTS_FILES = ("model.safetensors", "pytorch_model.bin")
WEIGHTS_INDEX_FILES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
# Only safetensors weights are loaded by training and evaluation (no pickle loading of untrusted files).
SAFE_WEIGHTS_FILES = ("model.safetensors", "model.safetensors.index.json")
VIDEO_PROCESSOR_FILES = ("video_preprocessor_config.json", "preprocessor_config.json", "processor_config.json")
TOKENIZER_FILES = ("tokenizer_config.json", "tokenizer.json")
# Files of a training output folder that are not part of the model repository: checkpoints (ours and the Trainer's),
# optimizer state, folders being written (`temporary_sibling`) and the zero-shot protocol's filtered manifests.
NOT_UPLOADED_PATTERNS = (
    "step_*",
    "epoch_*",
    "checkpoint-*",
    "optimizer.pt",
    "scheduler.pt",
    "rng_state*.pth",
    "*.pyc",
    ".*.saving*",
    ".*.old*",
    "zero_shot/*",
)
# What training writes into a model folder besides the model and its processor.
TRAINING_OUTPUT_FILES = ("README.md", "eval_report.json", "training_history.json")


class ModelFolderError(ValueError):
    """A model folder that cannot be used: the message names the folder and the file that is missing or broken."""


def has_any(folder, names) -> bool:
    """Whether `folder` holds one of the files `names`."""
    return any((Path(folder) / name).is_file() for name in names)


def read_config_dict(folder, argument: str = "--model") -> dict:
    """The `config.json` of a saved folder as a dict; a clear error when it is missing, not JSON or not MSQNet's."""
    config_path = Path(folder) / CONFIG_FILE
    if not config_path.is_file():
        raise FileNotFoundError(f"{argument} {folder} has no {CONFIG_FILE} (expected a saved MSQNet folder).")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelFolderError(f"{argument} {config_path} is not valid JSON: {error}.") from None
    if not isinstance(config, dict) or config.get("model_type") != "msqnet":
        model_type = config.get("model_type") if isinstance(config, dict) else None
        raise ModelFolderError(
            f"{argument} {config_path} is not an MSQNet config (model_type {model_type!r}, expected 'msqnet')."
        )
    return config


def check_weights(folder, argument: str = "--model") -> Path:
    """Raise a `FileNotFoundError` naming the expected file when `folder` has no complete safetensors weights."""
    folder = Path(folder)
    index_path = folder / "model.safetensors.index.json"
    if index_path.is_file():
        try:
            weight_map = json.loads(index_path.read_text(encoding="utf-8"))["weight_map"]
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as error:
            raise ModelFolderError(f"{index_path} is not a valid weights index (no readable `weight_map`): {error}.")
        missing = sorted({shard for shard in weight_map.values() if not (folder / shard).is_file()})
        if missing:
            raise FileNotFoundError(f"{index_path} lists {len(missing)} missing weight shards: {missing[:5]}.")
        return folder
    if not (folder / "model.safetensors").is_file():
        raise FileNotFoundError(
            f"{argument} {folder} has a {CONFIG_FILE} but no weights: expected {folder / 'model.safetensors'} (or "
            "model.safetensors.index.json and its shards)."
        )
    return folder


def check_model_folder(model_dir, required_files=(), require_video_processor: bool = False) -> Path:
    """
    Check that `model_dir` is a saved MSQNet folder that loads with `trust_remote_code=True`: a `config.json` of model
    type `msqnet` whose `auto_map` names code files present in the folder, the weights (single file or all shards of
    an index), every name of `required_files` and, with `require_video_processor`, a video processor config. Raises
    `FileNotFoundError` or `ValueError` naming what is missing; warns when the folder has no video processor config
    or model card.
    """
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise FileNotFoundError(f"Model folder {model_dir} does not exist or is not a directory.")
    config_path = model_dir / CONFIG_FILE
    if not config_path.is_file():
        raise FileNotFoundError(f"{model_dir} has no config.json: save the model with `model.save_pretrained(...)`.")
    config = read_config_dict(model_dir, argument="The model folder")

    auto_map = config.get("auto_map")
    if not isinstance(auto_map, dict) or "AutoModelForVideoClassification" not in auto_map:
        raise ValueError(
            f"{config_path} has no `auto_map` entry for AutoModelForVideoClassification, so the model cannot load "
            "with `trust_remote_code=True`: save it with `MSQNetForVideoClassification.save_pretrained(...)`."
        )
    for auto_class, reference in auto_map.items():
        references = reference if isinstance(reference, (list, tuple)) else [reference]
        for reference in references:
            if not isinstance(reference, str) or "--" in reference:
                continue  # code hosted in another repository
            module_file = model_dir / f"{reference.rsplit('.', 1)[0]}.py"
            if not module_file.is_file():
                raise FileNotFoundError(
                    f"{config_path} maps {auto_class} to {reference!r} but {module_file} is missing: save the model "
                    "with `save_pretrained` so that its code is copied next to the weights."
                )

    if (model_dir / "model.safetensors.index.json").is_file():
        check_weights(model_dir, argument="The model folder")
    elif not has_any(model_dir, WEIGHTS_FILES + WEIGHTS_INDEX_FILES):
        raise FileNotFoundError(
            f"{model_dir} has no weights ({', '.join(WEIGHTS_FILES + WEIGHTS_INDEX_FILES)}): save the model with "
            "`model.save_pretrained(...)`."
        )

    missing = [name for name in required_files if not (model_dir / name).is_file()]
    if require_video_processor and not has_any(model_dir, VIDEO_PROCESSOR_FILES):
        missing.append(" or ".join(VIDEO_PROCESSOR_FILES))
    if missing:
        raise FileNotFoundError(f"The model folder {model_dir} lacks {missing}.")
    if not has_any(model_dir, VIDEO_PROCESSOR_FILES):  # the pipeline needs it
        logger.warning(
            f"{model_dir} has no video processor config: `pipeline('video-classification', ...)` will not load from "
            "this repository. Save the processor with `video_processor.save_pretrained(...)` into the folder."
        )
    if not (model_dir / "README.md").is_file():
        logger.warning(
            f"{model_dir} has no README.md: render a model card with "
            "`modeling_msqnet.publishing.model_card.render_model_card`."
        )
    return model_dir


def default_video_processor(config):
    """The paper's test-time processor scaled to the model's input size (resize to 256/224 of the crop, crop)."""
    return MSQNetVideoProcessor.for_model(config)


def load_model_folder(model_dir, argument: str = "--model", dtype=None):
    """
    Load a saved MSQNet folder (checked first: config, weights): the model, its video processor (the default one sized
    for the model, with a warning, when the folder has none) and its tokenizer (`None` when the folder has none).
    With `dtype` (a `torch.dtype`, e.g. from `precision.resolve_dtype`), the model runs in it (`precision.apply_dtype`).
    """
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        problem = "is not a folder" if model_dir.exists() else "does not exist"
        raise FileNotFoundError(
            f"{argument} {model_dir} {problem} (expected a saved MSQNet folder: config.json, model.safetensors)."
        )
    read_config_dict(model_dir, argument)
    check_weights(model_dir, argument)
    try:
        model = MSQNetForVideoClassification.from_pretrained(model_dir)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, SafetensorError) as error:
        raise ModelFolderError(f"{argument} {model_dir} could not be loaded: {one_line(error)}") from error
    if dtype is not None:
        apply_dtype(model, dtype)
    if has_any(model_dir, VIDEO_PROCESSOR_FILES):
        video_processor = MSQNetVideoProcessor.from_pretrained(model_dir)
    else:
        logger.warning(f"{model_dir} has no video processor config; using the default one sized for the model.")
        video_processor = default_video_processor(model.config)
    tokenizer = AutoTokenizer.from_pretrained(model_dir) if has_any(model_dir, TOKENIZER_FILES) else None
    return model, video_processor, tokenizer


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
    if tokenizer is not None and model.config.label_text_init:
        names = ordered_label_names(model.config.id2label)
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
    current = ordered_label_names(model.config.id2label)
    if label_names is not None and label_names != current:
        relabel_model(model, label_names, tokenizer)
    return ModelSetup(model, tokenizer, video_processor)


def relabel_model(model, names: list[str], tokenizer=None):
    """
    Give a trained model the labels `names`: known names keep their trained queries and head weights; new ones are
    embedded by the text encoder when the model has one (and a tokenizer), else (or with `label_text_init: false`)
    initialised at random. Text-derived label queries always come from the text encoder.
    """
    from_text = model.config.label_text_init or model.msqnet.label_embeddings is None
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


def _has_default_labels(config) -> bool:
    return all(re.fullmatch(r"LABEL_\d+", str(name)) for name in config.id2label.values())


__all__ = [
    "ModelSetup",
    "attach_text_model",
    "build_model",
    "compose_model_from_parts",
    "load_label_names",
    "load_pretrained_model",
    "new_model_from_config",
    "relabel_model",
    "CONFIG_FILE",
    "NOT_UPLOADED_PATTERNS",
    "TRAINING_OUTPUT_FILES",
    "ModelFolderError",
    "SAFE_WEIGHTS_FILES",
    "TOKENIZER_FILES",
    "VIDEO_PROCESSOR_FILES",
    "WEIGHTS_FILES",
    "WEIGHTS_INDEX_FILES",
    "check_model_folder",
    "check_weights",
    "default_video_processor",
    "has_any",
    "load_model_folder",
    "read_config_dict",
]
