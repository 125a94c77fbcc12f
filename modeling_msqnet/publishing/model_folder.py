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
"""What a saved MSQNet folder holds, how to check and load one, and how to write one atomically.

Training, evaluation, the demo and the Hub upload all use these names and checks, so they agree on what a complete
folder is: a `config.json` of model type `msqnet`, the weights (one file, or every shard of an index), the Hub code its
`auto_map` names and, for the pipeline, a video processor config.
"""

import contextlib
import json
import os
import shutil
from pathlib import Path

from safetensors import SafetensorError
from transformers.utils import logging


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


def one_line(error: Exception) -> str:
    """An exception's message on one line (for command-line errors)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return " ".join(lines).rstrip(".") or type(error).__name__


def has_any(folder, names) -> bool:
    """Whether `folder` holds one of the files `names`."""
    return any((Path(folder) / name).is_file() for name in names)


def has_weights(folder) -> bool:
    """Whether `folder` holds safetensors weights (a single file or an index)."""
    return has_any(folder, SAFE_WEIGHTS_FILES)


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
    from ..hub_code.video_processing_msqnet import MSQNetVideoProcessor

    return MSQNetVideoProcessor.for_model(config)


def load_model_folder(model_dir, argument: str = "--model"):
    """
    Load a saved MSQNet folder (checked first: config, weights): the model, its video processor (the default one sized
    for the model, with a warning, when the folder has none) and its tokenizer (`None` when the folder has none).
    """
    from transformers import AutoTokenizer

    from ..hub_code.modeling_msqnet import MSQNetForVideoClassification
    from ..hub_code.video_processing_msqnet import MSQNetVideoProcessor

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
    if has_any(model_dir, VIDEO_PROCESSOR_FILES):
        video_processor = MSQNetVideoProcessor.from_pretrained(model_dir)
    else:
        logger.warning(f"{model_dir} has no video processor config; using the default one sized for the model.")
        video_processor = default_video_processor(model.config)
    tokenizer = AutoTokenizer.from_pretrained(model_dir) if has_any(model_dir, TOKENIZER_FILES) else None
    return model, video_processor, tokenizer


@contextlib.contextmanager
def atomic_output(path, suffix: str):
    """Yields a temporary path beside `path` (which must end with `suffix`, kept so that writers that go by the
    suffix pick the format) and renames it to `path` on success: a file is never seen half-written."""
    path = Path(path)
    if path.suffix.lower() != suffix:
        raise ValueError(f"`path` must end with {suffix}, got {str(path)!r}.")
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.stem}.tmp{suffix}")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()


def temporary_sibling(path, tag: str = "saving") -> Path:
    """The hidden path `.<name>.<tag>` next to `path` (same file system, so that a rename is atomic)."""
    path = Path(path)
    return path.parent / f".{path.name}.{tag}"


def replace_folder(staged, final, keep_old_entries: bool = True) -> Path:
    """
    Put the complete folder `staged` in place of `final` with renames. With `keep_old_entries`, the entries of the old
    `final` that `staged` does not hold (checkpoints, logs, ...) move into the new one. A run killed at any point
    leaves `final` either as it was or complete (and the old folder as `.<name>.old`), never new files beside old
    ones.
    """
    staged, final = Path(staged), Path(final)
    if not final.exists():
        os.replace(staged, final)
        return final
    backup = temporary_sibling(final, "old")
    shutil.rmtree(backup, ignore_errors=True)
    os.replace(final, backup)
    os.replace(staged, final)
    if keep_old_entries:
        for entry in backup.iterdir():
            if not (final / entry.name).exists():
                os.replace(entry, final / entry.name)
    shutil.rmtree(backup, ignore_errors=True)
    return final


__all__ = [
    "CONFIG_FILE",
    "atomic_output",
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
    "has_weights",
    "load_model_folder",
    "one_line",
    "read_config_dict",
    "replace_folder",
    "temporary_sibling",
]
