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
"""MSQNet model configuration"""

from transformers import AutoConfig, CLIPVisionConfig, PretrainedConfig
from transformers.utils import logging

from .backbones_msqnet import IMAGE_FRAME_TOKENS, prepare_video_config


logger = logging.get_logger(__name__)

# The Hub code: the files of this folder that `save_pretrained` writes next to the weights, and the only packages
# (besides the standard library and each other) that they may import, so that a saved folder loads with
# `trust_remote_code=True` where this package is not installed.
HUB_CODE_FILES = (
    "configuration_msqnet.py",
    "backbones_msqnet.py",
    "modeling_msqnet.py",
    "video_processing_msqnet.py",
    "processing_msqnet.py",
    "video_decoding.py",
    "pipeline_msqnet.py",
    "token_merging.py",
)
HUB_CODE_IMPORTS = ("transformers", "torch", "av", "numpy")

FRAME_POOLING_TYPES = ("official", "per_frame")
CLASSIFIER_HEAD_TYPES = ("per_class", "shared")
LABEL_TEXT_POOLING_TYPES = ("pooler", "mean")
LABEL_QUERY_MODES = ("learned", "text_derived")
AUTOCAST_DTYPES = ("bfloat16", "float16")
VIDEO_ATTN_IMPLEMENTATIONS = ("eager", "sdpa")
LABEL_QUERY_MAP_INITS = ("xavier", "orthogonal")
# Options of the text-derived label queries and of the shared head, read from `**kwargs`; these defaults (also for a
# config saved before they existed) build the original design: a xavier-initialised linear map of the raw text
# embeddings and a head without a logit scale.
LABEL_QUERY_OPTION_DEFAULTS = {
    "label_text_centering": False,
    "label_text_normalize": False,
    "label_query_map_init": "xavier",
    "label_query_map_gain": 1.0,
    "classifier_logit_scale": None,
}
# `config.problem_type` values MSQNet supports; tooling (label sets, manifests, metrics, cards) imports these.
MULTI_LABEL_CLASSIFICATION = "multi_label_classification"
SINGLE_LABEL_CLASSIFICATION = "single_label_classification"
PROBLEM_TYPES = (MULTI_LABEL_CLASSIFICATION, SINGLE_LABEL_CLASSIFICATION)

# TimeSformer-base (facebook/timesformer-base-finetuned-k400) and CLIP ViT-B/16 (openai/clip-vit-base-patch16) sizes.
DEFAULT_VIDEO_CONFIG = {"model_type": "timesformer", "image_size": 224, "patch_size": 16, "hidden_size": 768}
DEFAULT_VISION_CONFIG = {
    "image_size": 224,
    "patch_size": 16,
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "projection_dim": 512,
}


def ordered_label_names(id2label: dict) -> list[str]:
    """The label names of `id2label` (`{index: name}`, indices 0..K-1) in index order: column k of the logits is name k."""
    return [id2label[index] for index in range(len(id2label))]


def _to_config(value, name, default=None, default_model_type=None):
    """
    Turn a sub-config given as a dict or a config object into a config object. A dict without `model_type` is read
    as `default_model_type` (as X-CLIP reads its `vision_config`); without one, the dict must name its `model_type`.
    """
    if value is None:
        value = dict(default) if default is not None else None
    if value is None or isinstance(value, PretrainedConfig):
        return value
    if not isinstance(value, dict):
        raise TypeError(f"`{name}` must be a dict or a `PretrainedConfig`, got {type(value).__name__}.")
    value = dict(value)
    value.pop("transformers_version", None)
    if default_model_type is not None:
        value.setdefault("model_type", default_model_type)
    if "model_type" not in value:
        raise ValueError(f"`{name}` needs a `model_type` key (for example 'clip_text_model' or 'bert').")
    return AutoConfig.for_model(**value)


def _check_choices(allow_none: bool = False, **values):
    """Raise a `ValueError` naming the option whose value (`values[name] = (value, allowed)`) is not allowed."""
    for name, (value, allowed) in values.items():
        if allow_none and value is None:
            continue
        if value not in allowed:
            alternatives = f"None or one of {allowed}" if allow_none else f"one of {allowed}"
            raise ValueError(f"`{name}` must be {alternatives}, got {value!r}.")


def _check_sizes(hidden_size: int, num_attention_heads: int, num_frames: int, query_num_frames: int | None):
    if hidden_size % num_attention_heads != 0:
        raise ValueError(
            f"`hidden_size` ({hidden_size}) must be divisible by `num_attention_heads` ({num_attention_heads})."
        )
    if query_num_frames is not None and not 1 <= query_num_frames <= num_frames:
        raise ValueError(
            f"`query_num_frames` must be between 1 and `num_frames` ({num_frames}), got {query_num_frames}."
        )


def _text_derived_embed_dim(classifier_head: str, label_text_embed_dim: int | None, text_config) -> int:
    """The width of the text embeddings that `label_query_mode="text_derived"` maps to label queries."""
    if classifier_head != "shared":
        raise ValueError(
            "`label_query_mode='text_derived'` scores label names through one shared head; set "
            f"`classifier_head='shared'` (got {classifier_head!r})."
        )
    if label_text_embed_dim is None and text_config is not None:
        label_text_embed_dim = text_config.hidden_size
    if label_text_embed_dim is None:
        raise ValueError(
            "`label_query_mode='text_derived'` needs the width of the text embeddings: give `text_config` or "
            "`label_text_embed_dim` (e.g. 384 for all-MiniLM-L6-v2, 512 for CLIP ViT-B/16's text tower)."
        )
    return label_text_embed_dim


def pop_label_query_options(kwargs, label_query_mode, classifier_head) -> dict:
    """Take the options of `LABEL_QUERY_OPTION_DEFAULTS` out of `kwargs`, checked, with their defaults filled in."""
    options = {name: kwargs.pop(name, default) for name, default in LABEL_QUERY_OPTION_DEFAULTS.items()}
    changed = [name for name, value in options.items() if value != LABEL_QUERY_OPTION_DEFAULTS[name]]
    map_options = [name for name in changed if name != "classifier_logit_scale"]
    if map_options and label_query_mode != "text_derived":
        raise ValueError(f"{map_options} only apply to `label_query_mode='text_derived'` (got {label_query_mode!r}).")
    if options["classifier_logit_scale"] is not None:
        if classifier_head != "shared":
            raise ValueError(f"`classifier_logit_scale` needs `classifier_head='shared'` (got {classifier_head!r}).")
        if not options["classifier_logit_scale"] > 0:
            raise ValueError(f"`classifier_logit_scale` must be > 0, got {options['classifier_logit_scale']!r}.")
    if options["label_query_map_init"] not in LABEL_QUERY_MAP_INITS:
        raise ValueError(
            f"`label_query_map_init` must be one of {LABEL_QUERY_MAP_INITS}, got {options['label_query_map_init']!r}."
        )
    if not options["label_query_map_gain"] > 0:
        raise ValueError(f"`label_query_map_gain` must be > 0, got {options['label_query_map_gain']!r}.")
    return options


class MSQNetConfig(PretrainedConfig):
    r"""
    This is the configuration class to store the configuration of a [`MSQNetModel`] or a
    [`MSQNetForVideoClassification`]. It composes three sub-configurations, the way X-CLIP does: the video encoder
    (`video_config`), the frozen CLIP image encoder that embeds the video query (`vision_config`) and, optionally, the
    text encoder that turns label names into label queries (`text_config`). The defaults reproduce the paper's
    configuration: TimeSformer-base over 16 frames, CLIP ViT-B/16, a 512-wide transformer decoder with 6 encoder and 6
    decoder layers, 8 heads, feed-forward 2048 and dropout 0.1.

    Args:
        video_config (`dict` or `PretrainedConfig`, *optional*):
            Configuration of the video encoder. Its `model_type` selects the backbone: a video encoder
            (`"timesformer"`, the default, also for a dict without `model_type`; `"videomae"`, `"vivit"`, `"vjepa2"`)
            or an image encoder run on each frame (`"clip_vision_model"`, `"siglip_vision_model"`, `"dinov2"`; a full
            `"clip"` or `"siglip"` config gives its vision tower). Its frame count (`num_frames`, V-JEPA 2's
            `frames_per_clip`) is kept equal to `num_frames`.
        vision_config (`dict` or `CLIPVisionConfig`, *optional*):
            Configuration of the CLIP image encoder whose pooled output, averaged over frames, is the video query. A
            dict is read as a [`CLIPVisionConfig`] (`model_type` may be left out).
        text_config (`dict` or `PretrainedConfig`, *optional*):
            Configuration of the text encoder that embeds label names ([`MSQNetModel.get_label_embeds`]: label texts
            given to `forward`, and the names of the trained label set), for example a `clip_text_model` or a
            BERT-style sentence encoder. When `None`, the model has no text encoder and label embeddings must be given
            directly.
        hidden_size (`int`, *optional*, defaults to 512):
            Width D of the label queries and of the transformer decoder.
        num_encoder_layers (`int`, *optional*, defaults to 6):
            Number of transformer encoder layers over the frame tokens.
        num_decoder_layers (`int`, *optional*, defaults to 6):
            Number of transformer decoder layers over the label queries.
        num_attention_heads (`int`, *optional*, defaults to 8):
            Number of attention heads in the encoder and decoder layers.
        intermediate_size (`int`, *optional*, defaults to 2048):
            Width of the feed-forward layers of the encoder and decoder.
        dropout (`float`, *optional*, defaults to 0.1):
            Dropout probability of the frame tokens, attention weights and residual branches.
        num_frames (`int`, *optional*, defaults to 16):
            Number of frames T sampled from each video.
        frame_pooling (`str`, *optional*, defaults to `"official"`):
            How the video encoder's tokens become T frame tokens. `"official"`: the authors' code, 1-D adaptive average
            pooling over the whole token sequence (CLS included). `"per_frame"`: the paper's eq. (3), the mean of each
            frame's patch tokens.
        image_frame_tokens (`str`, *optional*, defaults to `"patch"`):
            What each frame gives when the video encoder is an image encoder run per frame (CLIP, SigLIP, DINOv2).
            `"patch"`: all its tokens (CLS and patches), pooled per frame by `frame_pooling`; `"cls"`: one token per
            frame, the encoder's pooled output (CLIP's and DINOv2's normed CLS, SigLIP's attention-pooling head). The
            image encoder costs the same either way; `"patch"` keeps the spatial detail the paper's pooling averages.
        use_video_query (`bool`, *optional*, defaults to `True`):
            Whether label queries are fused with the CLIP image embedding of the video (the paper's multi-modal query).
        classifier_head (`str`, *optional*, defaults to `"per_class"`):
            `"per_class"`: the paper's group-wise linear head, one weight vector and bias per label. `"shared"`: one
            weight vector and bias shared by all labels; only this head can score label names not seen in training.
        label_text_pooling (`str`, *optional*, defaults to `"pooler"`):
            How the text encoder's output becomes a label embedding: `"pooler"` takes its pooled output (CLIP's), `"mean"`
            averages token states over the attention mask (sentence-transformers' models).
        label_query_mode (`str`, *optional*, defaults to `"learned"`):
            Where the label queries come from. `"learned"`: the paper's learnable label embeddings (initialised from
            the text embeddings of the names when a text encoder is given). `"text_derived"`: each query is a trained
            linear map of the frozen text encoder's embedding of the label name; the embeddings of the current label
            set are cached in the model (the `label_text_embeds` buffer, refreshed by `set_labels`), and label texts
            given to `forward` go through the same map. Needs `classifier_head="shared"`.
        label_text_embed_dim (`int`, *optional*):
            Width of the text encoder's label embeddings in the `"text_derived"` mode. Defaults to
            `text_config.hidden_size` (CLIP's pooled output and sentence-transformers' mean pooling have that width).
        label_text_init (`bool`, *optional*, defaults to `True`):
            Whether training initialises learned label embeddings from the text encoder's embeddings of the names (the
            paper). `False` draws them at random (the "vanilla" variant of the paper's zero-shot table); a text encoder
            given to training is then only kept to embed new names later.
        label_text_centering (`bool`, *optional*, defaults to `False`):
            `"text_derived"` mode: subtract from every name's text embedding the mean text embedding of the label set
            the model is first given (the `label_query_map.text_center` buffer, fitted once and saved with the
            weights), so that new names are centred with the same vector whatever the other candidates. Names of one
            domain share most of their embedding; centring leaves the parts that tell them apart.
        label_text_normalize (`bool`, *optional*, defaults to `False`):
            `"text_derived"` mode: L2-normalise the (centred) text embeddings before the map.
        label_query_map_init (`str`, *optional*, defaults to `"xavier"`):
            `"text_derived"` mode: initialisation of the map, `"xavier"` (uniform) or `"orthogonal"` (keeps the angles
            between the names' embeddings), scaled by `label_query_map_gain`.
        label_query_map_gain (`float`, *optional*, defaults to 1.0):
            Gain of the map's initialisation; with normalised text embeddings it is the norm of the initial queries.
        classifier_logit_scale (`float`, *optional*):
            Initial value of a learned scale of the shared head's logits (stored as a log, as CLIP's temperature).
            `None` (default): no scale.
        freeze_vision_model (`bool`, *optional*, defaults to `True`):
            Whether the CLIP image encoder is frozen (no gradient, run without building a graph), as in the paper.
        query_num_frames (`int`, *optional*):
            Fast path: run the CLIP image encoder on this many evenly spaced frames instead of all `num_frames`.
        autocast_dtype (`str`, *optional*):
            Fast path: run the forward pass under `torch.autocast` with this dtype (`"bfloat16"` or `"float16"`) on
            the device of the inputs; logits and loss stay in float32. `None` (default) computes in the weights' dtype,
            the exact mode. Wrapping the call in `torch.autocast` yourself does the same. Faster on GPUs and on CPUs with
            bfloat16 instructions (AVX512-BF16, AMX); CPUs without them (e.g. AVX2-only x86) emulate bfloat16 matmuls
            and run many times slower than in float32.
        video_attn_implementation (`str`, *optional*):
            Attention of the video encoder. For TimeSformer, `None` or `"eager"` keeps transformers' attention and
            `"sdpa"` computes the same divided space-time attention with `scaled_dot_product_attention` (same weights,
            outputs equal within float rounding; attention weights, when asked for, are computed eagerly). For the
            other families it is passed on as the backbone's `attn_implementation` (`None`: transformers' default,
            SDPA). Read when
            the model is built, e.g. `from_pretrained(path, video_attn_implementation="sdpa")`.
        video_token_merge_per_layer (`int`, *optional*):
            Fast path (TimeSformer only): after each layer from `video_token_merge_start_layer` on, merge this many
            patch positions (a position's tokens in all frames at once) into the most similar remaining ones, so the
            later layers run on fewer tokens; the encoder's output is spread back to every position (see
            `token_merging.py`). A multiple of the patch grid width (`image_size // patch_size`, 14 for the paper's
            model). `None` (default): no merging, the exact mode. Read when the model is built. Not applied when
            attention weights are asked for (the maps need every token).
        video_token_merge_start_layer (`int`, *optional*, defaults to 0):
            The first TimeSformer layer after which positions are merged.
        video_static_patch_threshold (`float`, *optional*):
            Fast path (TimeSformer only), for fixed cameras: the patch positions whose pixels change by at most this
            much over a clip (the largest, over frames, mean absolute difference from the first frame, in normalised
            pixel units) are left out of every TimeSformer layer, in whole rows of the patch grid, and each takes the
            output token of the most similar kept position (see `token_merging.py`). Each clip of a batch runs on its
            own, leaving out its own static positions. The saving depends on the video: none when the camera moves.
            `None` (default): every position is kept, the exact mode. Read when the model is built; not applied when
            attention weights are asked for.
        max_position_embeddings (`int`, *optional*, defaults to 2000):
            Length of the sinusoidal position table added to the frame tokens.
        layer_norm_eps (`float`, *optional*, defaults to 1e-05):
            Epsilon of the layer normalisation layers of the transformer encoder and decoder.
        initializer_range (`float`, *optional*, defaults to 0.02):
            Standard deviation of the normal initialisation of new learned label embeddings (the linear layers get
            Xavier-uniform weights and zero biases, the heads PyTorch's uniform default).

    Example:

    ```python
    >>> from modeling_msqnet import MSQNetConfig, MSQNetForVideoClassification

    >>> configuration = MSQNetConfig(id2label={0: "running", 1: "jumping"}, problem_type="multi_label_classification")
    >>> model = MSQNetForVideoClassification(configuration)
    ```"""

    model_type = "msqnet"
    sub_configs = {"video_config": AutoConfig, "vision_config": CLIPVisionConfig, "text_config": AutoConfig}

    def __init__(
        self,
        video_config=None,
        vision_config=None,
        text_config=None,
        hidden_size=512,
        num_encoder_layers=6,
        num_decoder_layers=6,
        num_attention_heads=8,
        intermediate_size=2048,
        dropout=0.1,
        num_frames=16,
        frame_pooling="official",
        image_frame_tokens="patch",
        use_video_query=True,
        classifier_head="per_class",
        label_text_pooling="pooler",
        label_query_mode="learned",
        label_text_embed_dim=None,
        label_text_init=True,
        freeze_vision_model=True,
        query_num_frames=None,
        autocast_dtype=None,
        video_attn_implementation=None,
        video_token_merge_per_layer=None,
        video_token_merge_start_layer=0,
        video_static_patch_threshold=None,
        max_position_embeddings=2000,
        layer_norm_eps=1e-5,
        initializer_range=0.02,
        **kwargs,
    ):
        video_config = _to_config(video_config, "video_config", DEFAULT_VIDEO_CONFIG, default_model_type="timesformer")
        video_config = prepare_video_config(video_config, num_frames)
        if image_frame_tokens not in IMAGE_FRAME_TOKENS:
            raise ValueError(f"`image_frame_tokens` must be one of {IMAGE_FRAME_TOKENS}, got {image_frame_tokens!r}.")

        vision_config = _to_config(
            vision_config, "vision_config", DEFAULT_VISION_CONFIG, default_model_type="clip_vision_model"
        )
        text_config = _to_config(text_config, "text_config")
        _check_choices(
            frame_pooling=(frame_pooling, FRAME_POOLING_TYPES),
            classifier_head=(classifier_head, CLASSIFIER_HEAD_TYPES),
            label_text_pooling=(label_text_pooling, LABEL_TEXT_POOLING_TYPES),
            label_query_mode=(label_query_mode, LABEL_QUERY_MODES),
        )
        _check_choices(
            allow_none=True,
            autocast_dtype=(autocast_dtype, AUTOCAST_DTYPES),
            video_attn_implementation=(video_attn_implementation, VIDEO_ATTN_IMPLEMENTATIONS),
        )
        _check_sizes(hidden_size, num_attention_heads, num_frames, query_num_frames)
        if label_query_mode == "text_derived":
            label_text_embed_dim = _text_derived_embed_dim(classifier_head, label_text_embed_dim, text_config)
        if video_token_merge_per_layer is not None and video_config.model_type != "timesformer":
            raise ValueError(
                "`video_token_merge_per_layer` merges TimeSformer patch positions; the video encoder is "
                f"{video_config.model_type!r}."
            )
        if video_static_patch_threshold is not None and (
            video_config.model_type != "timesformer"
            or not isinstance(video_static_patch_threshold, (int, float))
            or video_static_patch_threshold < 0
        ):
            raise ValueError(
                "`video_static_patch_threshold` leaves static TimeSformer patch positions out and must be a number "
                f">= 0; got {video_static_patch_threshold!r} with a {video_config.model_type!r} video encoder."
            )
        if not 0 <= video_token_merge_start_layer < video_config.num_hidden_layers:
            raise ValueError(
                f"`video_token_merge_start_layer` must be a layer index of the video encoder (0 to "
                f"{video_config.num_hidden_layers - 1}), got {video_token_merge_start_layer}."
            )

        self.video_config = video_config
        self.vision_config = vision_config
        self.text_config = text_config
        self.hidden_size = hidden_size
        self.num_encoder_layers = num_encoder_layers
        self.num_decoder_layers = num_decoder_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.dropout = dropout
        self.num_frames = num_frames
        self.frame_pooling = frame_pooling
        self.image_frame_tokens = image_frame_tokens
        self.use_video_query = use_video_query
        self.classifier_head = classifier_head
        self.label_text_pooling = label_text_pooling
        self.label_query_mode = label_query_mode
        self.label_text_embed_dim = label_text_embed_dim
        self.label_text_init = label_text_init
        self.freeze_vision_model = freeze_vision_model
        self.query_num_frames = query_num_frames
        self.autocast_dtype = autocast_dtype
        self.video_attn_implementation = video_attn_implementation
        self.video_token_merge_per_layer = video_token_merge_per_layer
        self.video_token_merge_start_layer = video_token_merge_start_layer
        self.video_static_patch_threshold = video_static_patch_threshold
        self.max_position_embeddings = max_position_embeddings
        self.layer_norm_eps = layer_norm_eps
        self.initializer_range = initializer_range
        for name, value in pop_label_query_options(kwargs, label_query_mode, classifier_head).items():
            setattr(self, name, value)
        kwargs.setdefault("problem_type", MULTI_LABEL_CLASSIFICATION)
        super().__init__(**kwargs)
        # transformers 5 leaves `label2id` unset when only `id2label` is given; the label set is one mapping.
        if self.id2label is not None and not self.label2id:
            self.label2id = {label: int(index) for index, label in self.id2label.items()}


MSQNetConfig.register_for_auto_class()

__all__ = ["MSQNetConfig", "ordered_label_names"]
