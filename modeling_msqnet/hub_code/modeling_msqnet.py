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
"""PyTorch MSQNet model: actor-agnostic multi-label action recognition with multi-modal label queries."""

import contextlib
import math
import os
import shutil
from dataclasses import dataclass

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, AutoTokenizer, CLIPTextModel, CLIPVisionModel
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS, PreTrainedModel
from transformers.utils import ModelOutput, logging

from .backbones_msqnet import (
    MSQNetTimesformerSdpaSelfAttention,  # noqa: F401  (re-exported: its home was this module)
    interpolate_time_embeddings,  # noqa: F401
    load_pretrained_video_model,
    pool_tokens,
    video_backbone,
    video_backbone_class,
)
from .configuration_msqnet import (
    HUB_CODE_FILES,
    MULTI_LABEL_CLASSIFICATION,
    SINGLE_LABEL_CLASSIFICATION,
    MSQNetConfig,
)
from .token_merging import use_timesformer_token_merging


logger = logging.get_logger(__name__)

ZERO_SHOT_TASK = "zero-shot-video-classification"
# `config.custom_pipelines` entry: `pipeline(ZERO_SHOT_TASK, model=folder, trust_remote_code=True)` finds the class.
ZERO_SHOT_PIPELINE_INFO = {
    "impl": "pipeline_msqnet.MSQNetZeroShotVideoClassificationPipeline",
    "pt": ["AutoModelForVideoClassification"],
}


@dataclass
class MSQNetModelOutput(ModelOutput):
    """
    Output of [`MSQNetModel`].

    Args:
        last_hidden_state (`torch.FloatTensor` of shape `(batch_size, num_labels, hidden_size)`):
            Label-wise states of the last decoder layer (after the decoder's final layer norm).
        encoder_last_hidden_state (`torch.FloatTensor` of shape `(batch_size, num_frame_tokens, hidden_size)`):
            Frame tokens after the transformer encoder, the memory the label queries attend to.
        video_query_embeds (`torch.FloatTensor` of shape `(batch_size, vision_hidden_size)`, *optional*):
            The CLIP image embedding of the video (pooled output averaged over frames), when `use_video_query=True`.
        video_hidden_states (`tuple(torch.FloatTensor)`, *optional*):
            Hidden states of the video encoder, returned when `output_hidden_states=True`.
        video_attentions (`tuple(torch.FloatTensor)`, *optional*):
            Attention weights of the video encoder, returned when `output_attentions=True`.
        encoder_hidden_states (`tuple(torch.FloatTensor)`, *optional*):
            Input and per-layer outputs of the transformer encoder, returned when `output_hidden_states=True`.
        encoder_attentions (`tuple(torch.FloatTensor)`, *optional*):
            Self-attention weights of the transformer encoder, returned when `output_attentions=True`.
        decoder_hidden_states (`tuple(torch.FloatTensor)`, *optional*):
            Input queries and per-layer outputs of the decoder, returned when `output_hidden_states=True`.
        decoder_attentions (`tuple(torch.FloatTensor)`, *optional*):
            Self-attention weights of the decoder, returned when `output_attentions=True`.
        cross_attentions (`tuple(torch.FloatTensor)`, *optional*):
            Label-to-frame attention weights of the decoder, returned when `output_attentions=True`.
    """

    last_hidden_state: torch.FloatTensor | None = None
    encoder_last_hidden_state: torch.FloatTensor | None = None
    video_query_embeds: torch.FloatTensor | None = None
    video_hidden_states: tuple[torch.FloatTensor, ...] | None = None
    video_attentions: tuple[torch.FloatTensor, ...] | None = None
    encoder_hidden_states: tuple[torch.FloatTensor, ...] | None = None
    encoder_attentions: tuple[torch.FloatTensor, ...] | None = None
    decoder_hidden_states: tuple[torch.FloatTensor, ...] | None = None
    decoder_attentions: tuple[torch.FloatTensor, ...] | None = None
    cross_attentions: tuple[torch.FloatTensor, ...] | None = None


@dataclass
class MSQNetVideoClassifierOutput(ModelOutput):
    """
    Output of [`MSQNetForVideoClassification`].

    Args:
        loss (`torch.FloatTensor` of shape `(1,)`, *optional*, returned when `labels` is provided):
            Binary cross-entropy (multi-label) or cross-entropy (single-label) loss.
        logits (`torch.FloatTensor` of shape `(batch_size, num_labels)`):
            Classification scores (before sigmoid or softmax).
        Other fields: see [`MSQNetModelOutput`].
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    last_hidden_state: torch.FloatTensor | None = None
    encoder_last_hidden_state: torch.FloatTensor | None = None
    video_query_embeds: torch.FloatTensor | None = None
    video_hidden_states: tuple[torch.FloatTensor, ...] | None = None
    video_attentions: tuple[torch.FloatTensor, ...] | None = None
    encoder_hidden_states: tuple[torch.FloatTensor, ...] | None = None
    encoder_attentions: tuple[torch.FloatTensor, ...] | None = None
    decoder_hidden_states: tuple[torch.FloatTensor, ...] | None = None
    decoder_attentions: tuple[torch.FloatTensor, ...] | None = None
    cross_attentions: tuple[torch.FloatTensor, ...] | None = None


def sinusoidal_position_encoding(length, dim, device=None, dtype=None):
    """The fixed sin/cos table of "Attention is all you need": sin on even channels, cos on odd ones."""
    position = torch.arange(length, dtype=torch.float32, device=device).unsqueeze(1)
    div_term = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32, device=device) * (-math.log(10000.0) / dim))
    encoding = torch.zeros(length, dim, device=device)
    encoding[:, 0::2] = torch.sin(position * div_term)
    encoding[:, 1::2] = torch.cos(position * div_term)
    return encoding.to(dtype) if dtype is not None else encoding


def check_pixel_values(pixel_values, config, video_backbone):
    """Refuse `pixel_values` the encoders cannot take, naming the expected shape, before any encoder runs."""
    if not isinstance(pixel_values, torch.Tensor):
        raise ValueError(f"`pixel_values` must be a tensor, got {type(pixel_values).__name__}.")
    if not pixel_values.is_floating_point():
        raise ValueError(
            f"`pixel_values` must be floating point frames normalised by the video processor, got "
            f"{pixel_values.dtype} (raw frames?)."
        )
    num_channels = video_backbone.num_channels
    sizes = {video_backbone.image_size} - {None}
    if config.use_video_query:
        sizes.add(config.vision_config.image_size)
    image_size = min(sizes) if sizes else None
    num_frames = config.num_frames
    expected = f"(batch_size, {num_frames}, {num_channels}, {image_size}, {image_size})"
    shape = tuple(pixel_values.shape)
    if pixel_values.dim() != 5:
        raise ValueError(
            f"`pixel_values` must have shape (batch_size, num_frames, num_channels, height, width) = {expected}, "
            f"got {shape}."
        )
    if shape[2] != num_channels:
        hint = (
            " It looks channels-last: permute it with `pixel_values.permute(0, 1, 4, 2, 3)`."
            if shape[-1] == num_channels
            else ""
        )
        raise ValueError(f"`pixel_values` must have shape {expected} (channels on axis 2), got {shape}.{hint}")
    if any(tuple(shape[3:]) != (size, size) for size in sizes):
        raise ValueError(
            f"`pixel_values` must have shape {expected}: frames of {image_size}x{image_size} pixels, got "
            f"{shape[4]}x{shape[3]}. Resize and crop them with the model's video processor (`crop_size`)."
        )
    video_backbone.check_num_frames(shape[1], num_frames, expected)
    check_finite_pixel_values(pixel_values)


def check_finite_pixel_values(pixel_values):
    """
    Refuse `pixel_values` holding NaN or infinity, saying how many and in which clips. One reduction over the frames
    (a sum, whose result is finite exactly when every value is, barring float overflow) decides; the counts are
    computed only for the error. Skipped while tracing or compiling, where a data-dependent check cannot run, and on
    the meta device (shapes only).
    """
    if torch.jit.is_tracing() or torch.compiler.is_compiling() or pixel_values.device.type == "meta":
        return
    if torch.isfinite(pixel_values.sum(dtype=torch.float32)):
        return
    non_finite = (~torch.isfinite(pixel_values)).flatten(1).sum(dim=1)
    if not non_finite.any():  # a float overflow of the sum, not a bad value
        return
    clips = non_finite.nonzero().flatten().tolist()
    per_clip = ", ".join(f"clip {clip}: {int(non_finite[clip])}" for clip in clips[:10])
    raise ValueError(
        f"`pixel_values` holds {int(non_finite.sum())} non-finite values (NaN or infinity) in {len(clips)} of "
        f"{pixel_values.shape[0]} clip(s) ({per_clip}{', ...' if len(clips) > 10 else ''}); the frames must be finite "
        "(check the decoding and normalisation of those videos)."
    )


def pool_frame_tokens(last_hidden_state, num_frames, frame_pooling, video_model_type, tubelet_size=1):
    """
    Turn the tokens of a video encoder of family `video_model_type` into frame tokens (see
    [`VideoBackbone.pool_frame_tokens`]): `"official"` pools the whole sequence (CLS included) to `num_frames`
    tokens, `"per_frame"` averages the patch tokens of each frame or tubelet (`tubelet_size` frames).
    """
    backbone = video_backbone_class(video_model_type)
    return pool_tokens(
        last_hidden_state, num_frames, frame_pooling, backbone.num_prefix_tokens, backbone.patch_major, tubelet_size
    )


def eager_attention_forward(module, query, key, value, attention_mask, scaling, dropout=0.0, **kwargs):
    """
    Softmax attention over `(batch, heads, length, head_dim)` states, the eager function of transformers' attention
    interface: returns the output `(batch, query_length, heads, head_dim)` and the attention weights.
    """
    attn_weights = torch.matmul(query * scaling, key.transpose(-1, -2))
    if attention_mask is not None:
        attn_weights = attn_weights + attention_mask
    attn_weights = attn_weights.softmax(dim=-1)
    attn_output = torch.matmul(nn.functional.dropout(attn_weights, p=dropout, training=module.training), value)
    return attn_output.transpose(1, 2).contiguous(), attn_weights


class MSQNetAttention(nn.Module):
    """
    Multi-head attention with the parametrisation of `torch.nn.MultiheadAttention` (biased q/k/v/out maps), computed by
    the function of `config._attn_implementation` (`"eager"` or `"sdpa"`) from transformers' attention interface.
    Attention weights, when asked for, are computed the eager way.
    """

    def __init__(self, config: MSQNetConfig):
        super().__init__()
        self.embed_dim = config.hidden_size
        self.num_heads = config.num_attention_heads
        self.head_dim = self.embed_dim // self.num_heads
        self.scaling = self.head_dim**-0.5
        self.dropout = config.dropout
        self.is_causal = False
        self.config = config

        self.q_proj = nn.Linear(self.embed_dim, self.embed_dim)
        self.k_proj = nn.Linear(self.embed_dim, self.embed_dim)
        self.v_proj = nn.Linear(self.embed_dim, self.embed_dim)
        self.out_proj = nn.Linear(self.embed_dim, self.embed_dim)

    def _split_heads(self, states):
        batch_size, length, _ = states.shape
        return states.view(batch_size, length, self.num_heads, self.head_dim).transpose(1, 2)

    def forward(self, hidden_states, key_value_states=None, output_attentions=False):
        key_value_states = hidden_states if key_value_states is None else key_value_states
        batch_size, query_length, _ = hidden_states.shape

        query_states = self._split_heads(self.q_proj(hidden_states))
        key_states = self._split_heads(self.k_proj(key_value_states))
        value_states = self._split_heads(self.v_proj(key_value_states))

        attention_interface = eager_attention_forward
        if not output_attentions and self.config._attn_implementation != "eager":
            attention_interface = ALL_ATTENTION_FUNCTIONS[self.config._attn_implementation]
        attn_output, attn_weights = attention_interface(
            self,
            query_states,
            key_states,
            value_states,
            None,
            dropout=self.dropout if self.training else 0.0,
            scaling=self.scaling,
        )
        attn_output = self.out_proj(attn_output.reshape(batch_size, query_length, self.embed_dim))
        return attn_output, (attn_weights if output_attentions else None)


class MSQNetFeedForward(nn.Module):
    def __init__(self, config: MSQNetConfig):
        super().__init__()
        self.fc1 = nn.Linear(config.hidden_size, config.intermediate_size)
        self.fc2 = nn.Linear(config.intermediate_size, config.hidden_size)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, hidden_states):
        return self.fc2(self.dropout(nn.functional.relu(self.fc1(hidden_states))))


class MSQNetEncoderLayer(GradientCheckpointingLayer):
    """Post-norm transformer encoder layer (`torch.nn.TransformerEncoderLayer` defaults)."""

    def __init__(self, config: MSQNetConfig):
        super().__init__()
        self.self_attn = MSQNetAttention(config)
        self.self_attn_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.feed_forward = MSQNetFeedForward(config)
        self.final_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, hidden_states, output_attentions=False):
        attn_output, attn_weights = self.self_attn(hidden_states, output_attentions=output_attentions)
        hidden_states = self.self_attn_layer_norm(hidden_states + self.dropout(attn_output))
        hidden_states = self.final_layer_norm(hidden_states + self.dropout(self.feed_forward(hidden_states)))
        return hidden_states, attn_weights


class MSQNetDecoderLayer(GradientCheckpointingLayer):
    """Post-norm transformer decoder layer (`torch.nn.TransformerDecoderLayer` defaults), with no masks."""

    def __init__(self, config: MSQNetConfig):
        super().__init__()
        self.self_attn = MSQNetAttention(config)
        self.self_attn_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.encoder_attn = MSQNetAttention(config)
        self.encoder_attn_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.feed_forward = MSQNetFeedForward(config)
        self.final_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, hidden_states, encoder_hidden_states, output_attentions=False):
        attn_output, self_attn_weights = self.self_attn(hidden_states, output_attentions=output_attentions)
        hidden_states = self.self_attn_layer_norm(hidden_states + self.dropout(attn_output))
        attn_output, cross_attn_weights = self.encoder_attn(
            hidden_states, key_value_states=encoder_hidden_states, output_attentions=output_attentions
        )
        hidden_states = self.encoder_attn_layer_norm(hidden_states + self.dropout(attn_output))
        hidden_states = self.final_layer_norm(hidden_states + self.dropout(self.feed_forward(hidden_states)))
        return hidden_states, self_attn_weights, cross_attn_weights


class MSQNetEncoder(nn.Module):
    """Stack of encoder layers over the frame tokens, with a final layer norm."""

    def __init__(self, config: MSQNetConfig):
        super().__init__()
        self.layers = nn.ModuleList([MSQNetEncoderLayer(config) for _ in range(config.num_encoder_layers)])
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden_states, output_attentions=False, output_hidden_states=False):
        all_hidden_states = () if output_hidden_states else None
        all_attentions = () if output_attentions else None
        for layer in self.layers:
            if output_hidden_states:
                all_hidden_states += (hidden_states,)
            hidden_states, attn_weights = layer(hidden_states, output_attentions=output_attentions)
            if output_attentions:
                all_attentions += (attn_weights,)
        hidden_states = self.layer_norm(hidden_states)
        if output_hidden_states:
            all_hidden_states += (hidden_states,)
        return hidden_states, all_hidden_states, all_attentions


class MSQNetDecoder(nn.Module):
    """Stack of decoder layers: label queries attend to each other and to the frame tokens; final layer norm."""

    def __init__(self, config: MSQNetConfig):
        super().__init__()
        self.layers = nn.ModuleList([MSQNetDecoderLayer(config) for _ in range(config.num_decoder_layers)])
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden_states, encoder_hidden_states, output_attentions=False, output_hidden_states=False):
        all_hidden_states = () if output_hidden_states else None
        all_self_attentions = () if output_attentions else None
        all_cross_attentions = () if output_attentions else None
        for layer in self.layers:
            if output_hidden_states:
                all_hidden_states += (hidden_states,)
            hidden_states, self_attn_weights, cross_attn_weights = layer(
                hidden_states, encoder_hidden_states, output_attentions=output_attentions
            )
            if output_attentions:
                all_self_attentions += (self_attn_weights,)
                all_cross_attentions += (cross_attn_weights,)
        hidden_states = self.layer_norm(hidden_states)
        if output_hidden_states:
            all_hidden_states += (hidden_states,)
        return hidden_states, all_hidden_states, all_self_attentions, all_cross_attentions


class MSQNetGroupWiseLinear(nn.Module):
    """The paper's per-class head (eq. 7): `logit_k = <W_k, h_k> + b_k`, one weight vector and bias per label."""

    def __init__(self, num_labels, hidden_size):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(1, num_labels, hidden_size))
        self.bias = nn.Parameter(torch.empty(1, num_labels))

    def forward(self, hidden_states):
        return (self.weight * hidden_states).sum(dim=-1) + self.bias


class MSQNetSharedLinear(nn.Module):
    """Class-agnostic head: one weight vector and bias shared by all labels, so any label query can be scored."""

    def __init__(self, hidden_size):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(hidden_size))
        self.bias = nn.Parameter(torch.empty(1))

    def forward(self, hidden_states):
        return hidden_states @ self.weight + self.bias


class MSQNetScaledSharedLinear(MSQNetSharedLinear):
    """
    The shared head with a learned logit scale (`config.classifier_logit_scale`): `logit = exp(s) * <w, h> + b`, `s`
    stored as a log, as CLIP's temperature. Lets the scores of nearly equal label states spread apart early in training.
    """

    def __init__(self, hidden_size, initial_logit_scale):
        super().__init__(hidden_size)
        self.initial_logit_scale = float(initial_logit_scale)
        self.logit_scale = nn.Parameter(torch.empty(()))

    def forward(self, hidden_states):
        return self.logit_scale.exp() * (hidden_states @ self.weight) + self.bias


class MSQNetLabelQueryMap(nn.Linear):
    """
    The text-derived mode's map from a label name's frozen text embedding to its label query, with optional
    conditioning of the embedding first (`config.label_text_centering`, `config.label_text_normalize`):

    - centring subtracts `text_center`, the mean text embedding of the label set the model was first given (a buffer
      saved with the weights, fitted once by `set_labels`), so that the names' shared direction no longer dominates
      their queries; any new name is centred with the same vector, whatever the other candidates;
    - L2 normalisation gives every name a query of the same size;
    - `init="orthogonal"` starts from a scaled orthogonal matrix (gain `init_gain`), which keeps the names' angles.
    """

    def __init__(self, in_features, out_features, centering=False, normalize=False, init="xavier", init_gain=1.0):
        super().__init__(in_features, out_features)
        self.centering = centering
        self.normalize = normalize
        self.init = init
        self.init_gain = float(init_gain)
        if centering:
            self.register_buffer("text_center", torch.zeros(in_features))

    @property
    def center_fitted(self) -> bool:
        return not self.centering or bool(self.text_center.any())

    @torch.no_grad()
    def fit_center(self, text_embeds):
        """Set `text_center` to the mean of `text_embeds` (`(num_labels, in_features)`), the trained label set's."""
        if self.centering:
            self.text_center.copy_(text_embeds.float().mean(dim=0).to(self.text_center.dtype))

    def condition(self, text_embeds):
        text_embeds = text_embeds.to(self.weight.dtype)
        if self.centering:
            text_embeds = text_embeds - self.text_center.to(self.weight.dtype)
        if self.normalize:
            text_embeds = nn.functional.normalize(text_embeds, dim=-1)
        return text_embeds

    def forward(self, text_embeds):
        return super().forward(self.condition(text_embeds))


def build_label_query_map(config) -> nn.Linear:
    """The text-derived mode's map; a plain `nn.Linear` (the original design) unless the config asks for more."""
    centering = config.label_text_centering
    normalize = config.label_text_normalize
    init = config.label_query_map_init
    if not (centering or normalize or init != "xavier"):
        return nn.Linear(config.label_text_embed_dim, config.hidden_size)
    gain = config.label_query_map_gain
    return MSQNetLabelQueryMap(config.label_text_embed_dim, config.hidden_size, centering, normalize, init, gain)


def copy_hub_code(save_directory):
    """
    Copies every Hub code file (`HUB_CODE_FILES`) into `save_directory`, also those no saved class imports, replacing
    older copies so that a folder saved again never keeps stale code.
    """
    source_dir = os.path.dirname(os.path.abspath(__file__))
    for file_name in HUB_CODE_FILES:
        source = os.path.join(source_dir, file_name)
        target = os.path.join(save_directory, file_name)
        if not os.path.isfile(source) or (os.path.isfile(target) and os.path.samefile(source, target)):
            continue
        shutil.copyfile(source, target)


class MSQNetPreTrainedModel(PreTrainedModel):
    config_class = MSQNetConfig
    base_model_prefix = "msqnet"
    main_input_name = "pixel_values"
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _no_split_modules = [
        "MSQNetEncoderLayer",
        "MSQNetDecoderLayer",
        "TimesformerLayer",
        "VideoMAELayer",
        "VivitLayer",
        "VJEPA2Layer",
        "CLIPEncoderLayer",
        "SiglipEncoderLayer",
        "Dinov2Layer",
    ]

    @classmethod
    def is_custom_code(cls) -> bool:
        # transformers skips modules without parameters of their own (CLIP's `CLIPAttention`, `CLIPMLP`, whose
        # `_init_weights` sets their linears) when it initialises missing weights of custom code, because custom code
        # may write weights in place. MSQNet initialises only through `nn.init`, which transformers guards, so every
        # sub-model gets its own init on loading exactly as when the model is built.
        return False

    def _init_weights(self, module):
        # `nn.init` is looked up at call time: transformers guards its functions so loaded weights are never re-drawn.
        std = self.config.initializer_range
        if isinstance(module, MSQNetLabelQueryMap):
            if module.init == "orthogonal":
                nn.init.orthogonal_(module.weight, gain=module.init_gain)
            else:
                nn.init.xavier_uniform_(module.weight, gain=module.init_gain)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, (MSQNetGroupWiseLinear, MSQNetSharedLinear)):
            bound = 1.0 / math.sqrt(module.weight.shape[-1])
            nn.init.uniform_(module.weight, -bound, bound)
            nn.init.uniform_(module.bias, -bound, bound)
            if isinstance(module, MSQNetScaledSharedLinear):
                nn.init.constant_(module.logit_scale, math.log(module.initial_logit_scale))
        elif isinstance(module, MSQNetModel) and module.label_embeddings is not None:
            nn.init.normal_(module.label_embeddings, std=std)
            module.video_backbone.init_weights(module.video_model)

    def _autocast_context(self, device_type):
        """`torch.autocast` to `config.autocast_dtype` (fast path), or no change at all in exact mode."""
        if self.config.autocast_dtype is None:
            return contextlib.nullcontext()
        if self.config.autocast_dtype not in ("bfloat16", "float16"):
            raise ValueError(
                f"`config.autocast_dtype` must be None, 'bfloat16' or 'float16', got {self.config.autocast_dtype!r}."
            )
        return torch.autocast(device_type=device_type, dtype=getattr(torch, self.config.autocast_dtype))

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        # Loading re-creates parameters (and their `requires_grad`), so the image encoder is frozen again afterwards.
        loaded = super().from_pretrained(*args, **kwargs)
        model = loaded[0] if isinstance(loaded, tuple) else loaded
        for module in model.modules():
            if isinstance(module, MSQNetModel):
                module.freeze_image_model()
        return loaded

    def save_pretrained(self, save_directory, *args, **kwargs):
        # `save_pretrained` maps only the saved class in `auto_map`; a folder holds weights both model classes load,
        # so list both for remote code (`AutoModel` and `AutoModelForVideoClassification` with `trust_remote_code`).
        module = self.__class__.__module__.split(".")[-1]
        auto_map = dict(getattr(self.config, "auto_map", None) or {})
        auto_map.setdefault("AutoModel", f"{module}.MSQNetModel")
        auto_map.setdefault("AutoModelForVideoClassification", f"{module}.MSQNetForVideoClassification")
        self.config.auto_map = auto_map
        # The zero-shot pipeline ships in the folder too (`pipeline_msqnet.py`, one of `HUB_CODE_FILES`).
        custom_pipelines = dict(getattr(self.config, "custom_pipelines", None) or {})
        custom_pipelines.setdefault(ZERO_SHOT_TASK, ZERO_SHOT_PIPELINE_INFO)
        self.config.custom_pipelines = custom_pipelines
        result = super().save_pretrained(save_directory, *args, **kwargs)
        copy_hub_code(save_directory)
        return result


class MSQNetModel(MSQNetPreTrainedModel):
    """
    MSQNet without a classification head: returns one decoder state per label, `(batch_size, num_labels, hidden_size)`.

    Modules: `video_model` (a video encoder, or an image encoder run per frame, run through its family's adapter
    `video_backbone`), `image_model` (the frozen CLIP image encoder of the video query), `text_model` (optional, embeds
    label names), `frame_projection`, `label_embeddings`, `query_projection`, `encoder` and `decoder`.

    The default configuration computes exactly what the published model computes. Faster options, each changing the
    outputs a little: `config.autocast_dtype="bfloat16"` (or a `torch.autocast` context) and bfloat16 weights
    (`from_pretrained(..., dtype=torch.bfloat16)`), on GPUs and CPUs with bfloat16 instructions; `query_num_frames`
    (CLIP query over fewer frames); `video_attn_implementation="sdpa"` (inference; on CPU its attention backward is
    slower than the eager one); TimeSformer token merging and, for fixed cameras, static patch positions left out
    (`video_token_merge_per_layer`, `video_static_patch_threshold`); `torch.compile(model)`.
    `gradient_checkpointing_enable()` trades training time for memory.
    """

    def __init__(self, config: MSQNetConfig):
        super().__init__(config)
        # The adapter of the video encoder's family (no weights, no state): see `backbones_msqnet.py`.
        self.video_backbone = video_backbone(config)
        self.video_model = self.video_backbone.build(config.video_attn_implementation)
        if config.video_token_merge_per_layer is not None or config.video_static_patch_threshold is not None:
            use_timesformer_token_merging(
                self.video_model,
                config.video_token_merge_per_layer,
                config.video_token_merge_start_layer,
                config.video_static_patch_threshold,
            )
        self.image_model = CLIPVisionModel(config.vision_config) if config.use_video_query else None
        self.text_model = AutoModel.from_config(config.text_config) if config.text_config is not None else None

        self.frame_projection = nn.Linear(config.video_config.hidden_size, config.hidden_size, bias=False)
        self.frame_dropout = nn.Dropout(config.dropout)
        if getattr(config, "label_query_mode", "learned") == "text_derived":
            # The frozen text encoder's embeddings of the current label names (a cache: no text encoder runs per step)
            # and the trained map that turns any name's embedding into its label query.
            self.label_embeddings = None
            self.register_buffer("label_text_embeds", torch.zeros(config.num_labels, config.label_text_embed_dim))
            self.label_query_map = build_label_query_map(config)
        else:
            self.label_embeddings = nn.Parameter(torch.empty(config.num_labels, config.hidden_size))
        self.query_projection = (
            nn.Linear(config.hidden_size + config.vision_config.hidden_size, config.hidden_size, bias=False)
            if config.use_video_query
            else None
        )
        self.encoder = MSQNetEncoder(config)
        self.decoder = MSQNetDecoder(config)

        self.post_init()
        self.freeze_image_model()

    def freeze_image_model(self):
        """Stop gradients to the CLIP image encoder when `config.freeze_vision_model` is set (the paper's recipe)."""
        if self.image_model is not None and self.config.freeze_vision_model:
            self.image_model.requires_grad_(False)

    def get_input_embeddings(self):
        return self.video_model.get_input_embeddings()

    def get_query_frame_indices(self, num_frames, query_num_frames=None, device=None):
        """
        Which of a clip's `num_frames` frames the video query embeds: all of them, or `query_num_frames` evenly spaced
        ones (defaults to `config.query_num_frames`). Returns `None` for all frames, else a `LongTensor` of indices.
        """
        query_num_frames = query_num_frames or self.config.query_num_frames or num_frames
        if query_num_frames == num_frames:
            return None
        return torch.linspace(0, num_frames - 1, query_num_frames, device=device).round().long()

    def get_frame_query_embeds(self, frames):
        """CLIP's pooled image embedding of each frame: `(num_images, 3, H, W)` -> `(num_images, vision_hidden_size)`."""
        frozen = self.config.freeze_vision_model
        with torch.set_grad_enabled(torch.is_grad_enabled() and not frozen):
            return self.image_model(pixel_values=frames, return_dict=True).pooler_output

    def get_video_query_embeds(self, pixel_values, query_num_frames=None):
        """
        The video query: CLIP's pooled image embedding of each frame, averaged over frames, `(batch_size, vision_hidden_size)`.
        With `query_num_frames`, only that many evenly spaced frames are embedded (fast path).
        """
        batch_size, num_frames = pixel_values.shape[:2]
        frame_indices = self.get_query_frame_indices(num_frames, query_num_frames, device=pixel_values.device)
        if frame_indices is not None:
            pixel_values = pixel_values[:, frame_indices]
        pooled = self.get_frame_query_embeds(pixel_values.flatten(0, 1))
        return pooled.view(batch_size, pixel_values.shape[1], -1).mean(dim=1)

    @property
    def label_input_dim(self):
        """Width of the per-label inputs (`label_embeds`): text embeddings (`"text_derived"`) or label embeddings."""
        return self.label_text_embeds.shape[-1] if self.label_embeddings is None else self.config.hidden_size

    def get_label_embeddings(self, label_embeds=None):
        """
        The label queries before the fusion with the video query, `(num_labels, hidden_size)`. Without `label_embeds`,
        those of the trained label set: the learned label embeddings, or (`label_query_mode="text_derived"`) the trained
        map of the cached text embeddings of the names. With `label_embeds` (`(num_texts, label_input_dim)`, see
        [`get_label_embeds`]), those of the given labels: the embeddings themselves, or their map.
        """
        if label_embeds is None:
            label_embeds = self.label_embeddings if self.label_embeddings is not None else self.label_text_embeds
        if self.label_embeddings is not None:
            return label_embeds.to(self.dtype)
        return self.label_query_map(label_embeds.to(self.dtype))

    def get_label_queries(self, batch_size, video_query_embeds=None, label_embeds=None):
        """
        Label embeddings (of the trained label set, or of `label_embeds`), fused with the video query when the model
        uses one: `(batch_size, num_labels, hidden_size)`.
        """
        queries = self.get_label_embeddings(label_embeds).unsqueeze(0).expand(batch_size, -1, -1)
        if video_query_embeds is None:
            return queries
        video_query = video_query_embeds.unsqueeze(1).expand(-1, queries.shape[1], -1).to(queries.dtype)
        return self.query_projection(torch.cat([queries, video_query], dim=-1))

    def _check_has_text_model(self):
        if self.text_model is None:
            raise ValueError(
                "This model has no text encoder (`config.text_config` is None), so it cannot embed label texts. "
                "Pass `label_embeds` instead, or build the model with a text encoder."
            )

    @torch.no_grad()
    def get_label_embeds(self, input_ids, attention_mask=None, token_type_ids=None):
        """
        Embed label texts with the frozen text encoder, as CLIP's `get_text_features` does: CLIP's pooled output, or
        (`config.label_text_pooling="mean"`) the masked mean of the token states.

        Args:
            input_ids (`torch.LongTensor` of shape `(num_texts, sequence_length)`):
                The tokenized label texts (see [`MSQNetProcessor`]'s `text=`).
            attention_mask (`torch.LongTensor` of shape `(num_texts, sequence_length)`, *optional*):
                Mask of the padding tokens.

        Returns:
            `torch.FloatTensor` of shape `(num_texts, label_input_dim)`: the `label_embeds` that [`forward`] takes.
        """
        self._check_has_text_model()
        device = next(self.text_model.parameters()).device
        inputs = {"input_ids": input_ids.to(device)}
        if attention_mask is not None:
            inputs["attention_mask"] = attention_mask.to(device)
        if token_type_ids is not None:
            inputs["token_type_ids"] = token_type_ids.to(device)
        outputs = self.text_model(**inputs, return_dict=True)
        if self.config.label_text_pooling == "pooler":
            embeddings = outputs.pooler_output
        else:
            mask = (
                inputs["attention_mask"] if attention_mask is not None else torch.ones_like(inputs["input_ids"])
            ).unsqueeze(-1)
            mask = mask.to(outputs.last_hidden_state.dtype)
            embeddings = (outputs.last_hidden_state * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)
        if embeddings.shape[-1] != self.label_input_dim:
            name = "hidden_size" if self.label_embeddings is not None else "label_text_embed_dim"
            raise ValueError(
                f"The text encoder's embeddings have width {embeddings.shape[-1]} but `{name}` is "
                f"{self.label_input_dim}; build the model with `{name}={embeddings.shape[-1]}`."
            )
        return embeddings.to(self.dtype)

    def embed_label_names(self, label_names, tokenizer):
        """
        [`get_label_embeds`] of `label_names` tokenized with `tokenizer`: `(len(label_names), label_input_dim)`. Label
        embeddings must not depend on dropout, so a text encoder in training mode (a model being built for training)
        runs in eval mode here; a model in eval mode is left untouched.
        """
        self._check_has_text_model()
        if tokenizer is None:
            raise ValueError("`tokenizer` is required to embed label names with the text encoder.")
        inputs = tokenizer(list(label_names), padding=True, return_tensors="pt")
        was_training = self.text_model.training
        if was_training:
            self.text_model.eval()
        try:
            return self.get_label_embeds(
                inputs["input_ids"], inputs.get("attention_mask"), inputs.get("token_type_ids")
            )
        finally:
            if was_training:
                self.text_model.train()

    def label_embeds_for_names(self, label_names, tokenizer=None):
        """
        The `label_embeds` that score `label_names`, `(len(label_names), label_input_dim)`. Text-derived label queries
        embed every name with the text encoder (the function training used; without `tokenizer` or text encoder, the
        trained names take their cached embeddings). Learned label queries keep the trained embeddings of the names
        the model knows and embed new names with the text encoder.
        """
        label2id = self.config.label2id
        trained = self.label_embeddings if self.label_embeddings is not None else self.label_text_embeds
        can_embed = self.text_model is not None and tokenizer is not None
        if self.label_embeddings is None and can_embed:
            return self.embed_label_names(label_names, tokenizer)
        new_names = [name for name in label_names if name not in label2id]
        if new_names and not can_embed:
            raise ValueError(
                f"This model cannot embed the new label names {new_names[:10]}: it has no text encoder or no "
                f"tokenizer was given. It scores only the labels it was trained on ({list(label2id)[:10]}...); keep "
                "the text encoder in the saved model (`examples/train.py --keep_text_model`) to score new names."
            )
        embeddings = trained.detach().new_empty(len(label_names), trained.shape[-1])
        known = [i for i, name in enumerate(label_names) if name in label2id]
        if known:
            embeddings[known] = trained.detach()[[label2id[label_names[i]] for i in known]]
        if new_names:
            unknown = [i for i, name in enumerate(label_names) if name not in label2id]
            embeddings[unknown] = self.embed_label_names(new_names, tokenizer).to(embeddings.dtype)
        return embeddings

    def resolve_label_embeds(self, input_ids=None, attention_mask=None, label_embeds=None):
        """The `label_embeds` of one forward call: given, computed from `input_ids`, or `None` (the trained labels)."""
        if input_ids is not None and label_embeds is not None:
            raise ValueError("Pass label texts either as `input_ids` or as `label_embeds`, not both.")
        if input_ids is not None:
            return self.get_label_embeds(input_ids, attention_mask)
        if label_embeds is not None and (label_embeds.dim() != 2 or label_embeds.shape[-1] != self.label_input_dim):
            raise ValueError(
                f"`label_embeds` must have shape (num_labels, {self.label_input_dim}), got {tuple(label_embeds.shape)}."
            )
        return label_embeds

    def forward(
        self,
        pixel_values: torch.FloatTensor,
        query_num_frames: int | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        video_query_embeds: torch.FloatTensor | None = None,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.LongTensor | None = None,
        label_embeds: torch.FloatTensor | None = None,
        **kwargs,
    ) -> tuple | MSQNetModelOutput:
        r"""
        pixel_values (`torch.FloatTensor` of shape `(batch_size, num_frames, num_channels, height, width)`):
            Video frames, as returned by [`MSQNetVideoProcessor`]. The same tensor feeds both visual encoders.
        query_num_frames (`int`, *optional*):
            Embed the video query from this many evenly spaced frames (defaults to `config.query_num_frames`, or all).
        video_query_embeds (`torch.FloatTensor` of shape `(batch_size, vision_hidden_size)`, *optional*):
            A video query computed beforehand (e.g. [`~MSQNetModel.get_frame_query_embeds`] of each frame, averaged
            over the frames [`~MSQNetModel.get_query_frame_indices`] picks), used instead of running the image encoder
            on `pixel_values`. Lets overlapping clips of one video embed each frame once.
        input_ids (`torch.LongTensor` of shape `(num_labels, sequence_length)`, *optional*):
            Label texts to score in this call, tokenized (see [`MSQNetProcessor`]'s `text=`), shared by every video
            of the batch; embedded by the text encoder ([`get_label_embeds`]). Without them (and without
            `label_embeds`), the model scores the label set it was trained on.
        attention_mask (`torch.LongTensor` of shape `(num_labels, sequence_length)`, *optional*):
            Mask of the padding tokens of `input_ids`.
        label_embeds (`torch.FloatTensor` of shape `(num_labels, label_input_dim)`, *optional*):
            The label texts already embedded ([`get_label_embeds`] or [`label_embeds_for_names`]), e.g. cached.
        """
        output_attentions = output_attentions if output_attentions is not None else self.config.output_attentions
        output_hidden_states = (
            output_hidden_states if output_hidden_states is not None else self.config.output_hidden_states
        )
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        check_pixel_values(pixel_values, self.config, self.video_backbone)
        label_embeds = self.resolve_label_embeds(input_ids, attention_mask, label_embeds)
        batch_size, num_frames = pixel_values.shape[:2]
        # Lets a model loaded in half precision (`dtype=torch.bfloat16`) take float32 frames; a no-op otherwise.
        pixel_values = pixel_values.to(self.video_model.dtype)

        with self._autocast_context(pixel_values.device.type):
            video_outputs = self.video_backbone.encode(
                self.video_model,
                pixel_values,
                output_attentions=output_attentions,
                output_hidden_states=output_hidden_states,
            )
            frame_tokens = self.video_backbone.pool_frame_tokens(
                video_outputs.last_hidden_state, num_frames, self.config.frame_pooling
            )
            frame_embeds = self.frame_projection(frame_tokens)
            if frame_embeds.shape[1] > self.config.max_position_embeddings:
                raise ValueError(
                    f"{frame_embeds.shape[1]} frame tokens exceed `max_position_embeddings` "
                    f"({self.config.max_position_embeddings})."
                )
            frame_embeds = frame_embeds + sinusoidal_position_encoding(
                frame_embeds.shape[1], frame_embeds.shape[2], device=frame_embeds.device, dtype=frame_embeds.dtype
            )
            frame_embeds = self.frame_dropout(frame_embeds)

            if not self.config.use_video_query:
                if video_query_embeds is not None:
                    raise ValueError("`video_query_embeds` was given but this model has no video query.")
            elif video_query_embeds is None:
                video_query_embeds = self.get_video_query_embeds(pixel_values, query_num_frames)
            elif tuple(video_query_embeds.shape) != (batch_size, self.config.vision_config.hidden_size):
                raise ValueError(
                    "`video_query_embeds` must have shape (batch_size, vision_hidden_size) = "
                    f"{(batch_size, self.config.vision_config.hidden_size)}, got {tuple(video_query_embeds.shape)}."
                )
            queries = self.get_label_queries(batch_size, video_query_embeds, label_embeds)

            encoder_last_hidden_state, encoder_hidden_states, encoder_attentions = self.encoder(
                frame_embeds, output_attentions=output_attentions, output_hidden_states=output_hidden_states
            )
            last_hidden_state, decoder_hidden_states, decoder_attentions, cross_attentions = self.decoder(
                queries,
                encoder_last_hidden_state,
                output_attentions=output_attentions,
                output_hidden_states=output_hidden_states,
            )

        output = MSQNetModelOutput(
            last_hidden_state=last_hidden_state,
            encoder_last_hidden_state=encoder_last_hidden_state,
            video_query_embeds=video_query_embeds,
            video_hidden_states=video_outputs.hidden_states,
            video_attentions=video_outputs.attentions,
            encoder_hidden_states=encoder_hidden_states,
            encoder_attentions=encoder_attentions,
            decoder_hidden_states=decoder_hidden_states,
            decoder_attentions=decoder_attentions,
            cross_attentions=cross_attentions,
        )
        return output if return_dict else output.to_tuple()


def infer_problem_type(labels: torch.Tensor) -> str:
    """The problem type `labels` imply when the config sets none: class indices are single-label, else multi-label."""
    if labels.dtype in (torch.long, torch.int) and labels.dim() == 1:
        return SINGLE_LABEL_CLASSIFICATION
    return MULTI_LABEL_CLASSIFICATION


def scores_from_logits(logits, problem_type: str | None) -> torch.Tensor:
    """
    MSQNet's scores from its logits `(..., num_labels)` (a tensor or array; the dtype is kept): softmax over the labels
    for a single-label model, sigmoid per label otherwise (multi-label, the default).
    """
    logits = torch.as_tensor(logits)
    if problem_type == SINGLE_LABEL_CLASSIFICATION:
        return logits.softmax(dim=-1)
    return logits.sigmoid()


def classification_loss(
    logits: torch.Tensor, labels: torch.Tensor, problem_type: str, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """
    MSQNet's loss: binary cross-entropy averaged over classes and videos (`"multi_label_classification"`, multi-hot
    `labels` of the shape of `logits`) or cross-entropy (`"single_label_classification"`, class indices).

    `weights` (`(batch_size,)`, optional) weighs each video (0 leaves one out, such as a padded row of an unreadable
    video); the loss is then the weighted mean over videos, and a batch whose weights are all 0 gives 0, still
    computed from the logits so that every process of a distributed run takes part in the gradient all-reduce.
    """
    if problem_type == SINGLE_LABEL_CLASSIFICATION:
        per_video = nn.functional.cross_entropy(
            logits.view(-1, logits.shape[-1]), labels.view(-1).long(), reduction="none"
        )
    elif problem_type == MULTI_LABEL_CLASSIFICATION:
        if labels.shape != logits.shape:
            raise ValueError(
                f"Multi-label `labels` must have shape {tuple(logits.shape)} (multi-hot), got {tuple(labels.shape)}."
            )
        per_video = nn.functional.binary_cross_entropy_with_logits(
            logits, labels.to(logits.dtype), reduction="none"
        ).mean(-1)
    else:
        raise ValueError(f"Unsupported `problem_type` {problem_type!r} for MSQNet.")
    if weights is None:
        return per_video.mean()
    weights = weights.to(per_video.dtype)
    return (per_video * weights).sum() / weights.sum().clamp(min=1.0)


class MSQNetForVideoClassification(MSQNetPreTrainedModel):
    """
    MSQNet with its label-wise classification head: `logits` of shape `(batch_size, num_labels)`. Sigmoid scores for
    multi-label problems (`problem_type="multi_label_classification"`, the default), softmax for single-label ones.
    """

    def __init__(self, config: MSQNetConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.msqnet = MSQNetModel(config)
        self.classifier = self._build_classifier(config.num_labels)
        self.post_init()

    def _build_classifier(self, num_labels):
        if self.config.classifier_head == "shared":
            logit_scale = self.config.classifier_logit_scale
            if logit_scale is not None:
                return MSQNetScaledSharedLinear(self.config.hidden_size, logit_scale)
            return MSQNetSharedLinear(self.config.hidden_size)
        return MSQNetGroupWiseLinear(num_labels, self.config.hidden_size)

    def get_input_embeddings(self):
        return self.msqnet.get_input_embeddings()

    def set_labels(self, label_names, tokenizer=None, label_embeddings=None, reinitialize_head=False):
        """
        Change the trained label set, before fine-tuning on it: rebuilds the label queries, the head and
        `id2label`/`label2id` for `label_names`. To score other labels without changing the model, pass them to
        [`forward`] instead (`input_ids` or `label_embeds`).

        The label inputs are [`MSQNetModel.label_embeds_for_names`] (known names keep their trained embeddings; new
        names, and every name of a `"text_derived"` model given `tokenizer`, are embedded by the text encoder), or
        `label_embeddings` (`(len(label_names), label_input_dim)`). A per-class head has no trained weights for new
        names: they raise an error unless `reinitialize_head=True`, which draws fresh head weights for them.
        """
        label_names = list(label_names)
        if not label_names or not all(isinstance(name, str) and name for name in label_names):
            raise ValueError("`label_names` must be a non-empty list of non-empty strings.")
        duplicates = sorted({name for name in label_names if label_names.count(name) > 1})
        if duplicates:
            raise ValueError(f"`label_names` has duplicates: {duplicates}.")
        width = self.msqnet.label_input_dim
        if label_embeddings is not None and tuple(label_embeddings.shape) != (len(label_names), width):
            raise ValueError(
                f"`label_embeddings` must have shape ({len(label_names)}, {width}), "
                f"got {tuple(label_embeddings.shape)}."
            )
        old_label2id = dict(self.config.label2id)
        if not reinitialize_head:
            self.trained_label_columns(label_names, check_only=True)

        if label_embeddings is None:
            label_embeddings = self.msqnet.label_embeds_for_names(label_names, tokenizer)
        msqnet = self.msqnet
        current = msqnet.label_text_embeds if msqnet.label_embeddings is None else msqnet.label_embeddings
        new_embeddings = label_embeddings.detach().to(dtype=current.dtype, device=current.device).clone()
        if msqnet.label_embeddings is None:
            msqnet.label_text_embeds = new_embeddings
            # The centre of the text embeddings is part of the trained function: fitted on the first label set only.
            if isinstance(msqnet.label_query_map, MSQNetLabelQueryMap) and not msqnet.label_query_map.center_fitted:
                msqnet.label_query_map.fit_center(new_embeddings)
        else:
            msqnet.label_embeddings = nn.Parameter(new_embeddings, requires_grad=current.requires_grad)

        if self.config.classifier_head == "per_class":
            self.classifier = self._head_for_label_names(label_names, old_label2id)
        self.config.id2label = dict(enumerate(label_names))
        self.config.label2id = {name: i for i, name in enumerate(label_names)}
        self.num_labels = len(label_names)

    def _head_for_label_names(self, label_names, old_label2id):
        """A per-class head for `label_names`: trained rows for known names, freshly drawn rows for new ones."""
        old_head = self.classifier
        head = MSQNetGroupWiseLinear(len(label_names), self.config.hidden_size).to(
            device=old_head.weight.device, dtype=old_head.weight.dtype
        )
        self._init_weights(head)
        with torch.no_grad():
            for i, name in enumerate(label_names):
                if name in old_label2id:
                    head.weight[0, i] = old_head.weight[0, old_label2id[name]]
                    head.bias[0, i] = old_head.bias[0, old_label2id[name]]
        return head

    def trained_label_columns(self, label_names, check_only=False):
        """
        The logit columns of the trained label set that answer `label_names`, for a per-class head (which scores only
        the labels it was trained on); `None` for the shared head, which scores any label inputs. New names are an
        error for a per-class head.
        """
        if self.config.classifier_head != "per_class":
            return None
        label2id = self.config.label2id
        new_names = [name for name in label_names if name not in label2id]
        if new_names:
            raise ValueError(
                f"The per-class head has no trained weights for {new_names[:10]}{'...' if len(new_names) > 10 else ''}. "
                f"Known labels: {len(label2id)}. Use a subset of the known labels; to score new label names, "
                "train a model with `classifier_head='shared'` and `label_query_mode='text_derived'` (label queries "
                "computed from the text encoder's embeddings of the names); or pass `reinitialize_head=True` to "
                "`set_labels` to fine-tune on the new label set."
            )
        return None if check_only else [label2id[name] for name in label_names]

    def label_inputs_for_names(self, label_names, tokenizer=None):
        """
        How to score `label_names` without changing the model: `(label_embeds, columns)`. The shared head takes the
        names as `label_embeds` ([`MSQNetModel.label_embeds_for_names`]) and `columns` is `None`; a per-class head
        scores its trained label set (`label_embeds` is `None`) and `columns` picks the names' logits.
        """
        columns = self.trained_label_columns(label_names)
        if columns is not None:
            return None, columns
        return self.msqnet.label_embeds_for_names(label_names, tokenizer), None

    @classmethod
    def from_pretrained_parts(
        cls,
        video_model_name_or_path,
        clip_model_name_or_path,
        label_names,
        num_frames=16,
        text_model_name_or_path=None,
        keep_text_model=True,
        **config_kwargs,
    ):
        """
        Compose a new MSQNet from a pretrained video backbone (e.g. `facebook/timesformer-base-finetuned-k400`,
        `MCG-NJU/videomae-base-finetuned-kinetics`, `google/vivit-b-16x2-kinetics400`, `facebook/vjepa2-vitl-fpc64-256`,
        or an image encoder run per frame: `openai/clip-vit-base-patch16`, `google/siglip-base-patch16-224`,
        `facebook/dinov2-base`), a CLIP checkpoint (e.g. `openai/clip-vit-base-patch16`; its image tower embeds the video
        query, its text tower and tokenizer embed `label_names`) and a list of label names. Hub ids or local folders.

        `text_model_name_or_path` replaces CLIP's text tower with another text encoder (e.g. a sentence-transformers
        BERT); set `label_text_pooling="mean"` for those. When `num_frames` differs from the backbone's, TimeSformer's
        pretrained temporal embeddings are linearly interpolated (not re-initialised) and V-JEPA 2's rotary positions
        extended, with a warning; ViViT's position table is sized by its frame count, so another count is an error.
        `config_kwargs` go to [`MSQNetConfig`] (e.g. `problem_type`, `classifier_head`, `hidden_size`,
        `image_frame_tokens`); with `label_text_init=False` the learned label embeddings are drawn at random instead of
        embedding the names.
        """
        video_model_type = AutoConfig.from_pretrained(video_model_name_or_path).model_type
        video_model = load_pretrained_video_model(video_model_name_or_path, video_model_type)
        image_model = CLIPVisionModel.from_pretrained(clip_model_name_or_path)
        text_source = text_model_name_or_path or clip_model_name_or_path
        text_model = (
            AutoModel.from_pretrained(text_model_name_or_path)
            if text_model_name_or_path
            else CLIPTextModel.from_pretrained(clip_model_name_or_path)
        )
        tokenizer = AutoTokenizer.from_pretrained(text_source)

        # The backbone's own classification labels (e.g. Kinetics-400) are not ours.
        video_config = video_model.config.__class__.from_dict(
            {
                k: v
                for k, v in video_model.config.to_dict().items()
                if k not in ("id2label", "label2id", "architectures")
            }
        )
        if config_kwargs.get("use_video_query", True):
            video_config = video_backbone_class(video_config.model_type).match_image_size(
                video_config, image_model.config.image_size, repr(str(video_model_name_or_path))
            )
        config_kwargs.setdefault("hidden_size", text_model.config.hidden_size)
        config = MSQNetConfig(
            video_config=video_config,
            vision_config=image_model.config.to_dict(),
            text_config=text_model.config.to_dict(),
            num_frames=num_frames,
            **config_kwargs,
        )
        model = cls(config)

        video_state = model.msqnet.video_backbone.pretrained_state_dict(video_model, num_frames)
        model.msqnet.video_model.load_state_dict(video_state)
        if model.msqnet.image_model is not None:
            model.msqnet.image_model.load_state_dict(image_model.state_dict())
        model.msqnet.text_model.load_state_dict(text_model.state_dict())

        if config.label_text_init or config.label_query_mode == "text_derived":
            model.set_labels(label_names, tokenizer=tokenizer, reinitialize_head=True)
        else:  # the "vanilla" label queries: drawn at random, not from the names
            random_embeddings = torch.randn(len(label_names), config.hidden_size) * config.initializer_range
            model.set_labels(label_names, label_embeddings=random_embeddings, reinitialize_head=True)
        if not keep_text_model:
            model.msqnet.text_model = None
            model.config.text_config = None
        return model

    def forward(
        self,
        pixel_values: torch.FloatTensor | None = None,
        labels: torch.Tensor | None = None,
        query_num_frames: int | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        video_query_embeds: torch.FloatTensor | None = None,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.LongTensor | None = None,
        label_embeds: torch.FloatTensor | None = None,
        **kwargs,
    ) -> tuple | MSQNetVideoClassifierOutput:
        r"""
        labels (`torch.Tensor`, *optional*):
            Multi-hot targets of shape `(batch_size, num_labels)` for multi-label problems (binary cross-entropy), or class
            indices of shape `(batch_size,)` for single-label problems (cross-entropy).
        video_query_embeds (`torch.FloatTensor` of shape `(batch_size, vision_hidden_size)`, *optional*):
            A precomputed video query (see [`MSQNetModel.forward`]).
        input_ids, attention_mask, label_embeds (*optional*):
            Label texts to score in this call instead of the trained label set (see [`MSQNetModel.forward`]); the
            logits then have one column per text. Needs the shared head (`classifier_head="shared"`).
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        if (input_ids is not None or label_embeds is not None) and self.config.classifier_head == "per_class":
            raise ValueError(
                "A per-class head scores only the labels it was trained on, so it takes no label texts "
                "(`input_ids`/`label_embeds`); select the columns of its logits instead "
                "(`trained_label_columns`), or train a model with `classifier_head='shared'`."
            )
        outputs = self.msqnet(
            pixel_values,
            query_num_frames=query_num_frames,
            video_query_embeds=video_query_embeds,
            input_ids=input_ids,
            attention_mask=attention_mask,
            label_embeds=label_embeds,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        with self._autocast_context(outputs.last_hidden_state.device.type):
            logits = self.classifier(outputs.last_hidden_state)
        if self.config.autocast_dtype is not None:
            logits = logits.float()

        loss = None
        if labels is not None:
            loss = classification_loss(logits, labels, self.config.problem_type or infer_problem_type(labels))

        output = MSQNetVideoClassifierOutput(loss=loss, logits=logits, **dict(outputs.items()))
        return output if return_dict else output.to_tuple()


MSQNetModel.register_for_auto_class("AutoModel")
MSQNetForVideoClassification.register_for_auto_class("AutoModelForVideoClassification")

__all__ = [
    "MSQNetPreTrainedModel",
    "MSQNetModel",
    "MSQNetForVideoClassification",
    "classification_loss",
    "infer_problem_type",
    "scores_from_logits",
]
