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
"""Hub model cards (README.md with metadata and `model-index`) for saved MSQNet folders."""

import dataclasses
import math
import shutil
from dataclasses import dataclass
from numbers import Integral, Real
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData
from transformers.utils import logging

from ..data.manifest import check_label_names
from ..file_utils import atomic_output
from ..hub_code.configuration_msqnet import MULTI_LABEL_CLASSIFICATION, PROBLEM_TYPES
from ..resources import resource_path


logger = logging.get_logger(__name__)

VIDEO_ENCODER_NAMES = {
    "timesformer": "TimeSformer (divided space-time attention)",
    "videomae": "VideoMAE (joint space-time attention over tubelets)",
    "vivit": "ViViT (joint space-time attention over tubelets)",
    "vjepa2": "V-JEPA 2 encoder (joint space-time attention over tubelets, rotary positions)",
    "clip_vision_model": "CLIP image encoder run on each frame",
    "siglip_vision_model": "SigLIP image encoder run on each frame",
    "dinov2": "DINOv2 image encoder run on each frame",
}
DEFAULT_TEMPLATE_PATH = resource_path("hub_cards", "msqnet_model_card_template.md")
TASK_TYPE = "video-classification"
TASK_NAME = "Video Classification"
DEFAULT_TAGS = ("msqnet", "video-classification", "action-recognition", "custom_code")

# Evaluation report key -> (model-index metric type, display name, how it is computed).
METRIC_SPECS = {
    "mAP_macro": (
        "mAP",
        "mAP (macro)",
        "average precision of each class over the whole evaluation set (classes without positives left out), then the "
        "mean over classes; the datasets' standard metric and the paper's headline figure.",
    ),
    "AP_micro": (
        "average_precision",
        "AP (micro, official-code compatible)",
        "all (clip, class) pairs of the whole evaluation set pooled into one binary problem; the authors' code "
        "averages this over batches instead, which makes it depend on the batch size.",
    ),
    "top1": ("accuracy", "Top-1 accuracy", None),
    "top5": ("top_5_accuracy", "Top-5 accuracy", None),
    # Names `modeling_msqnet.metrics.top_k_accuracy` returns.
    "top1_accuracy": ("accuracy", "Top-1 accuracy", None),
    "top5_accuracy": ("top_5_accuracy", "Top-5 accuracy", None),
    "multilabel_accuracy": (
        "accuracy",
        "Multi-label accuracy",
        "fraction of correct (clip, class) decisions with the sigmoid thresholded at 0.5 (micro average).",
    ),
    "loss": ("loss", "Loss", None),
}
REPORT_KEY_PREFIXES = ("eval_", "test_")
# The fields of a `ModelCardInfo` that the template reads as they are.
TEMPLATE_FIELDS = (
    "problem_type",
    "num_frames",
    "dataset_name",
    "dataset_id",
    "eval_split",
    "base_models",
    "classifier_head",
    "video_encoder",
    "use_video_query",
    "license",
    "extra_text",
)


def _check_id2label(id2label) -> list[str]:
    """Label names in index order, from a `{index: name}` mapping whose keys are 0..K-1 (ints or digit strings)."""
    if not isinstance(id2label, dict) or not id2label:
        raise ValueError(f"`id2label` must be a non-empty dict {{index: label name}}, got {id2label!r}.")
    try:
        by_index = {int(index): name for index, name in id2label.items()}
    except (TypeError, ValueError):
        raise ValueError(f"`id2label` keys must be integers, got {sorted(map(repr, id2label))[:5]}.") from None
    if sorted(by_index) != list(range(len(by_index))):
        raise ValueError(
            f"`id2label` keys must be 0..{len(by_index) - 1} without gaps, got {sorted(by_index)[:10]}..."
        )
    return check_label_names([by_index[i] for i in range(len(by_index))], "`id2label`")


def _check_eval_results(eval_results) -> dict[str, float]:
    if not isinstance(eval_results, dict):
        raise ValueError(f"`eval_results` must be a dict {{metric name: value}}, got {type(eval_results).__name__}.")
    for key, value in eval_results.items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"`eval_results` keys must be metric names (strings), got {key!r}.")
        if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
            raise ValueError(f"`eval_results[{key!r}]` must be a finite number, got {value!r}.")
    # Plain Python numbers, so that numpy scalars dump to YAML like floats.
    return {key: int(value) if isinstance(value, Integral) else float(value) for key, value in eval_results.items()}


def _metric_spec(key: str):
    return METRIC_SPECS.get(key, (key, key, None))


def _table_cell(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _collect_plots(model_dir: Path, plots) -> list[dict]:
    """Plots as paths relative to `model_dir` (copying in those that live elsewhere) with a caption each."""
    collected = []
    for plot in plots:
        source = Path(plot)
        if not source.is_absolute():
            source = model_dir / source
        if not source.is_file():
            raise FileNotFoundError(f"Plot {str(plot)!r} not found (looked for {source}).")
        source = source.resolve()
        if not source.is_relative_to(model_dir):
            target = model_dir / source.name
            if not target.exists():
                shutil.copyfile(source, target)
                logger.info(f"Copied plot {source} into {model_dir}.")
            elif target.read_bytes() != source.read_bytes():  # an earlier copy of the same plot is reused
                raise FileExistsError(
                    f"Plot {source} lives outside {model_dir} and a different {target} already exists: move the plot "
                    "into the folder."
                )
            source = target
        caption = source.stem.replace("_", " ").replace("-", " ").strip().capitalize()
        collected.append({"path": source.relative_to(model_dir).as_posix(), "caption": caption})
    return collected


@dataclass
class ModelCardInfo:
    """
    What a model card says about a saved MSQNet: [`render_model_card`] renders it. [`ModelCardInfo.from_config`] fills
    the model's fields from a trained model's config, video processor and evaluation report.

    Args:
        id2label (`dict[int, str]`):
            The model's labels, `config.id2label` (keys 0..K-1; digit-string keys are accepted).
        problem_type (`str`):
            `"multi_label_classification"` or `"single_label_classification"` (`config.problem_type`).
        num_frames (`int`):
            Frames per clip (`config.num_frames`).
        dataset_name (`str`, *optional*):
            Pretty name of the training/evaluation dataset, e.g. `"Animal Kingdom"`. Required with `eval_results`.
        eval_results (`dict[str, float]`, *optional*):
            Evaluation figures by metric key. `mAP_macro`, `AP_micro`, `top1` (or `top1_accuracy`), `top5` (or
            `top5_accuracy`), `multilabel_accuracy` and `loss` get their model-index metric types and names (see
            `METRIC_SPECS`); other keys are used as they are. Values are not rescaled.
        base_models (`list[str]`, *optional*):
            Hub ids the weights were initialised from (e.g. `facebook/timesformer-base-finetuned-k400`,
            `openai/clip-vit-base-patch16`). Empty or `None` for a model trained from scratch.
        training_hyperparameters (`dict`, *optional*):
            Shown as a table.
        plots (`list[str]`, *optional*):
            PNG files to embed: paths relative to the model folder, or elsewhere (then copied into it).
        repo_id (`str`, *optional*):
            Hub repository id used in the usage examples and as the model-index name.
        license (`str`, *optional*, defaults to `"apache-2.0"`):
            Hub license identifier.
        template_path (`str`, *optional*):
            Jinja template; defaults to the repository's `hub_cards/msqnet_model_card_template.md`.
        extra_text (`str`, *optional*):
            Markdown appended before the citation.
        dataset_id (`str`, *optional*):
            Hub dataset id for the `datasets` metadata and the model-index; defaults to `dataset_name`.
        eval_split (`str`, *optional*):
            Dataset split the figures were computed on (e.g. `"validation"`).
        classifier_head (`str`, *optional*):
            `config.classifier_head` (`"per_class"` or `"shared"`), to describe the head.
        tags (`list[str]`, *optional*):
            Tags added to the default ones.
        video_encoder (`str`, *optional*, defaults to `"TimeSformer (divided space-time attention)"`):
            How the card names the video encoder.
        use_video_query (`bool`, *optional*, defaults to `True`):
            `config.use_video_query`: whether the label queries are fused with the CLIP video embedding.
        frame_size (`tuple[int, int]`, *optional*, defaults to `(224, 224)`):
            `(height, width)` of the model's input frames (the video processor's `crop_size`).
        model_name (`str`, *optional*):
            The model's name in the card; defaults to the last part of `repo_id`, else the folder's name.
    """

    id2label: dict
    problem_type: str
    num_frames: int
    dataset_name: str | None = None
    eval_results: dict | None = None
    base_models: list | None = None
    training_hyperparameters: dict | None = None
    plots: list | None = None
    repo_id: str | None = None
    license: str = "apache-2.0"
    template_path: str | None = None
    extra_text: str | None = None
    dataset_id: str | None = None
    eval_split: str | None = None
    classifier_head: str | None = None
    tags: list | None = None
    video_encoder: str = VIDEO_ENCODER_NAMES["timesformer"]
    use_video_query: bool = True
    frame_size: tuple = (224, 224)
    model_name: str | None = None

    @classmethod
    def from_config(cls, config, eval_report: dict | None = None, video_processor=None, **fields) -> "ModelCardInfo":
        """
        The card of a trained model's `config` (reads `id2label`, `problem_type`, `num_frames`, `classifier_head` and
        `use_video_query`), its `video_processor` (the frame size: its `crop_size`, else the video encoder's
        `image_size`) and its evaluation report (see [`eval_report_to_results`]); `fields` set or override the rest.
        """
        for name in ("id2label", "problem_type", "num_frames"):
            if getattr(config, name, None) is None:
                raise ValueError(f"`config.{name}` is not set: pass the trained MSQNet model's config.")
        if video_processor is not None and getattr(video_processor, "crop_size", None):
            frame_size = (video_processor.crop_size["height"], video_processor.crop_size["width"])
        else:
            image_size = getattr(config.video_config, "image_size", 224)
            frame_size = tuple(image_size) if isinstance(image_size, (list, tuple)) else (image_size, image_size)
        model_type = config.video_config.model_type
        defaults = {
            "eval_results": eval_report_to_results(eval_report) if eval_report else None,
            "classifier_head": config.classifier_head,
            "video_encoder": VIDEO_ENCODER_NAMES.get(model_type, model_type),
            "use_video_query": config.use_video_query,
            "frame_size": frame_size,
        }
        return cls(
            id2label=config.id2label,
            problem_type=config.problem_type,
            num_frames=config.num_frames,
            **{**defaults, **fields},
        )

    def checked(self) -> "ModelCardInfo":
        """A copy with the values checked and normalised; a `ValueError` names a bad one."""
        if self.problem_type not in PROBLEM_TYPES:
            raise ValueError(f"`problem_type` must be one of {PROBLEM_TYPES}, got {self.problem_type!r}.")
        num_frames = self.num_frames
        if isinstance(num_frames, bool) or not isinstance(num_frames, int) or num_frames < 1:
            raise ValueError(f"`num_frames` must be a positive integer, got {num_frames!r}.")
        base_models = list(self.base_models or [])
        if not all(isinstance(name, str) and name for name in base_models):
            raise ValueError(f"`base_models` must be a list of Hub model ids, got {base_models!r}.")
        eval_results = _check_eval_results(self.eval_results) if self.eval_results else {}
        if eval_results and not self.dataset_name:
            raise ValueError(
                "`eval_results` need `dataset_name` (the dataset they were computed on) for the model-index."
            )
        hyperparameters = self.training_hyperparameters
        if hyperparameters is not None and not isinstance(hyperparameters, dict):
            raise ValueError(f"`training_hyperparameters` must be a dict, got {type(hyperparameters).__name__}.")
        frame_size = self.frame_size
        if (
            not isinstance(frame_size, (tuple, list))
            or len(frame_size) != 2
            or not all(isinstance(side, Integral) and not isinstance(side, bool) and side > 0 for side in frame_size)
        ):
            raise ValueError(f"`frame_size` must be (height, width) in pixels, got {frame_size!r}.")
        return dataclasses.replace(
            self,
            base_models=base_models,
            eval_results=eval_results,
            dataset_id=self.dataset_id or self.dataset_name,
        )


def _model_index_results(info: ModelCardInfo) -> list[dict]:
    """One [`~huggingface_hub.EvalResult`] per evaluation figure, with its display name, value and description."""
    results = []
    for key, value in info.eval_results.items():
        metric_type, metric_name, description = _metric_spec(key)
        results.append(
            {
                "result": EvalResult(
                    task_type=TASK_TYPE,
                    task_name=TASK_NAME,
                    dataset_type=info.dataset_id,
                    dataset_name=info.dataset_name,
                    dataset_split=info.eval_split,
                    metric_type=metric_type,
                    metric_name=metric_name,
                    metric_value=value,
                ),
                "name": metric_name,
                "display_value": f"{value:.4f}" if isinstance(value, float) else str(value),
                "description": description,
            }
        )
    return results


def _card_data(info: ModelCardInfo, model_name: str, results: list[dict]) -> ModelCardData:
    """The card's metadata: library, task, license, tags, base models, dataset, metrics and the model-index."""
    card_tags = list(DEFAULT_TAGS)
    if info.problem_type == MULTI_LABEL_CLASSIFICATION:
        card_tags.insert(3, "multi-label-action-recognition")
    card_tags += [tag for tag in (info.tags or []) if tag not in card_tags]
    return ModelCardData(
        library_name="transformers",
        pipeline_tag=TASK_TYPE,
        license=info.license,
        tags=card_tags,
        base_model=info.base_models or None,
        datasets=[info.dataset_id] if info.dataset_id else None,
        metrics=list(dict.fromkeys(result["result"].metric_type for result in results)) or None,
        model_name=model_name,
        eval_results=[result["result"] for result in results] or None,
    )


def render_model_card(model_dir, info: ModelCardInfo) -> ModelCard:
    """
    Render the MSQNet model card template with `info` into `model_dir/README.md` and return the card.

    The metadata has `library_name: transformers`, `pipeline_tag: video-classification`, tags, `datasets`, `metrics`,
    `base_model`, `license` and a `model-index` with one [`~huggingface_hub.EvalResult`] per entry of
    `info.eval_results`.

    Args:
        model_dir (`str` or `os.PathLike`):
            Saved model folder; the card is written to its `README.md` (overwriting it).
        info ([`ModelCardInfo`]):
            What the card says.

    Returns:
        [`~huggingface_hub.ModelCard`]: the rendered card.
    """
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise FileNotFoundError(f"`model_dir` {model_dir} is not a directory: save the model there first.")
    model_dir = model_dir.resolve()
    template_path = Path(info.template_path) if info.template_path is not None else DEFAULT_TEMPLATE_PATH
    if not template_path.is_file():
        raise FileNotFoundError(
            f"Model card template not found at {template_path}. Pass `template_path=` (the template ships in the "
            "msqnet repository as hub_cards/msqnet_model_card_template.md)."
        )
    label_names = _check_id2label(info.id2label)
    info = info.checked()
    model_name = info.model_name or (info.repo_id.split("/")[-1] if info.repo_id else model_dir.name)
    results = _model_index_results(info)
    card = ModelCard.from_template(
        _card_data(info, model_name, results),
        template_str=template_path.read_text(encoding="utf-8"),
        model_id=info.repo_id or "your-username/your-msqnet-model",
        model_name=model_name,
        multi_label=info.problem_type == MULTI_LABEL_CLASSIFICATION,
        num_labels=len(label_names),
        labels=[{"id": i, "name": name} for i, name in enumerate(label_names)],
        frame_height=int(info.frame_size[0]),
        frame_width=int(info.frame_size[1]),
        results=results,
        hyperparameters=[(_table_cell(k), _table_cell(v)) for k, v in (info.training_hyperparameters or {}).items()],
        plots=_collect_plots(model_dir, info.plots or []),
        **{name: getattr(info, name) for name in TEMPLATE_FIELDS},
    )
    readme_path = model_dir / "README.md"
    if readme_path.exists():
        logger.info(f"Overwriting {readme_path}.")
    with atomic_output(readme_path, ".md") as temporary:
        card.save(temporary)
    return card


def eval_report_to_results(eval_report: dict) -> dict[str, float]:
    """
    The metrics of an evaluation report that have a model-index entry (the keys of `METRIC_SPECS`, optionally with an
    `eval_`/`test_` prefix as `Trainer` writes them). Entries left out (per-class tables, counts, unknown names) are
    named in a warning.
    """
    if not isinstance(eval_report, dict):
        raise ValueError(f"`eval_report` must be a dict, got {type(eval_report).__name__}.")
    results, left_out = {}, []
    for key, value in eval_report.items():
        name = key
        for prefix in REPORT_KEY_PREFIXES:
            if isinstance(name, str) and name.startswith(prefix) and name[len(prefix) :] in METRIC_SPECS:
                name = name[len(prefix) :]
        is_number = isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)
        if name in METRIC_SPECS and is_number:
            results[name] = value
        else:
            left_out.append(key)
    if left_out:
        logger.warning(
            f"{len(left_out)} evaluation report entries are not model-index metrics and stay out of the model card's "
            f"results: {left_out}."
        )
    return results


__all__ = ["ModelCardInfo", "render_model_card", "eval_report_to_results", "METRIC_SPECS"]
