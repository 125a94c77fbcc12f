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
"""
The video encoders MSQNet can use, each behind one small adapter (a [`VideoBackbone`] subclass, registered by its
`model_type`).

What MSQNet needs from a backbone, and what each adapter says:

- how to build it from its config (`build`) and run it on `(batch_size, num_frames, 3, H, W)` frames (`encode`),
  giving a `last_hidden_state` of token vectors of width `hidden_size`;
- the layout of those tokens: whether there is a leading CLS token (`num_prefix_tokens`), whether the tokens are
  time-major (all tokens of time slot 0, then slot 1, ...) or patch-major (TimeSformer), and how many frames one time
  slot spans (`time_slot_size`: the tubelet depth, 1 for frame-wise tokens), so that [`pool_frame_tokens`] can turn
  them into frame tokens;
- the frame count it was built for (`num_frames_key` in its config) and whether its position/time embeddings follow
  another frame count (`follows_frame_count`: TimeSformer interpolates its learned time embeddings, V-JEPA 2's rotary
  positions extend to any count, per-frame image encoders never see time) or not (VideoMAE's and ViViT's position
  tables are sized by the frame count: another count is an error naming the expected one);
- whether it returns attention weights (`exposes_attentions`) for the explanations.

Per-frame image encoders (CLIP, SigLIP, DINOv2 vision towers) encode each frame on its own; their tokens are laid out
time-major with one time slot per frame. `config.image_frame_tokens` picks what each frame contributes: `"patch"`
(default: all its tokens, pooled per frame by MSQNet's frame pooling, as the paper pools TimeSformer's patch tokens) or
`"cls"` (one token per frame: the encoder's pooled output, i.e. its post-normed CLS token, or SigLIP's attention-pooling
head). The image encoder's cost is the same either way; `"patch"` adds only the pooling of `num_frames * num_tokens`
vectors (a mean) and keeps where things are for `frame_pooling="official"`'s neighbouring-token averages.
"""

from dataclasses import dataclass

import torch
from torch import nn
from transformers import AutoModel, CLIPVisionModel, SiglipVisionModel
from transformers.utils import ModelOutput, logging

from .token_merging import encode_without_static_patches


logger = logging.get_logger(__name__)

IMAGE_FRAME_TOKENS = ("patch", "cls")


@dataclass
class VideoBackboneOutput(ModelOutput):
    """
    What a backbone adapter's `encode` returns.

    Args:
        last_hidden_state (`torch.FloatTensor` of shape `(batch_size, num_tokens, hidden_size)`):
            The backbone's tokens for each clip, in the adapter's layout (see [`VideoBackbone`]).
        hidden_states (`tuple(torch.FloatTensor)`, *optional*):
            The backbone's own hidden states (per frame, `(batch_size * num_frames, ...)`, for image encoders).
        attentions (`tuple(torch.FloatTensor)`, *optional*):
            The backbone's own attention weights (per frame for image encoders).
    """

    last_hidden_state: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None


def pool_tokens(
    last_hidden_state,
    num_frames,
    frame_pooling,
    num_prefix_tokens=0,
    patch_major=False,
    time_slot_size=1,
    num_prefix_tokens_per_slot=0,
):
    """
    Frame tokens from a backbone's tokens `(batch_size, num_tokens, hidden_size)`. `"official"`: 1-D adaptive average
    pooling of the whole sequence (CLS included) to `num_frames` tokens, as the authors' code. `"per_frame"`: the mean
    of each time slot's patch tokens (the paper's eq. 3), `num_frames // time_slot_size` tokens; the leading
    `num_prefix_tokens` (a video CLS) and each slot's first `num_prefix_tokens_per_slot` (a frame CLS) are left out.
    """
    if frame_pooling == "official":
        return nn.functional.adaptive_avg_pool1d(last_hidden_state.transpose(1, 2), num_frames).transpose(1, 2)
    batch_size, _, hidden_size = last_hidden_state.shape
    tokens = last_hidden_state[:, num_prefix_tokens:]
    num_time_slots = num_frames // time_slot_size
    if patch_major:
        return tokens.reshape(batch_size, -1, num_time_slots, hidden_size).mean(dim=1)
    tokens = tokens.reshape(batch_size, num_time_slots, -1, hidden_size)
    return tokens[:, :, num_prefix_tokens_per_slot:].mean(dim=2)


class VideoBackbone:
    """
    Adapter between MSQNet and one family of video or image encoders of transformers. Holds only the backbone's config
    (no weights, no state changed by calls), so one adapter serves every call of a model.

    Class attributes a family sets: `model_type` (its config's), `hub_ids` (checkpoints users pass), `num_prefix_tokens`
    (CLS tokens before the video's tokens), `patch_major`, `follows_frame_count`, `exposes_attentions`,
    `num_frames_key`, `image_size_key`, `num_channels_key`.
    """

    model_type = None
    hub_ids = ()
    num_prefix_tokens = 0
    # CLS tokens at the start of each time slot (per-frame image encoders)
    num_prefix_tokens_per_slot = 0
    patch_major = False
    per_frame = False
    # a dual encoder's model type whose vision tower is this family (`clip` for `clip_vision_model`)
    parent_model_type = None
    pretrained_class = AutoModel
    follows_frame_count = False
    exposes_attentions = True
    num_frames_key = "num_frames"
    image_size_key = "image_size"
    num_channels_key = "num_channels"
    # Keys of the pretrained checkpoint that MSQNet does not keep (V-JEPA 2's predictor).
    dropped_prefixes = ()
    # Whether pretrained weights are sized by the frame count (ViViT's position table), and what a change does.
    frame_count_sized_weights = False
    frame_count_change = ""
    # Extra keyword arguments of every backbone call (read only; V-JEPA 2 skips its predictor).
    call_kwargs = {}

    def __init__(self, config, image_frame_tokens="patch"):
        self.config = config
        self.image_frame_tokens = image_frame_tokens

    # -- what the backbone is ---------------------------------------------------------------------------------------
    @property
    def hidden_size(self):
        """Width of the backbone's tokens."""
        return self.config.hidden_size

    @property
    def image_size(self):
        """Frame size (pixels, square) the backbone expects, or `None` when it takes any multiple of its patch size."""
        return getattr(self.config, self.image_size_key, None) if self.image_size_key else None

    @property
    def num_channels(self):
        return getattr(self.config, self.num_channels_key, 3)

    @property
    def time_slot_size(self):
        """Frames per time slot of the token layout (the tubelet depth; 1 for frame-wise tokens)."""
        return 1

    @property
    def expected_num_frames(self):
        """The frame count the backbone was built for (`None` for image encoders)."""
        return getattr(self.config, self.num_frames_key, None) if self.num_frames_key else None

    @classmethod
    def prepare_config(cls, config, num_frames):
        """The backbone config MSQNet stores, its frame count set to `num_frames` (when it has one)."""
        if cls.num_frames_key and getattr(config, cls.num_frames_key, num_frames) != num_frames:
            logger.info(f"Setting `video_config.{cls.num_frames_key}` to `num_frames`={num_frames}.")
        if cls.num_frames_key:
            setattr(config, cls.num_frames_key, num_frames)
        return config

    # -- building and running ---------------------------------------------------------------------------------------
    def build(self, attn_implementation=None):
        """A randomly initialised backbone; `attn_implementation` (e.g. `"sdpa"`) as transformers takes it."""
        kwargs = {"attn_implementation": attn_implementation} if attn_implementation is not None else {}
        return AutoModel.from_config(self.config, **kwargs)

    def init_weights(self, video_model):
        """Initialisation MSQNet adds on top of the backbone's own `_init_weights` (none by default)."""

    def call_backbone(self, video_model, pixel_values, output_attentions, output_hidden_states):
        return video_model(
            pixel_values,
            **self.call_kwargs,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )

    def encode(self, video_model, pixel_values, output_attentions=False, output_hidden_states=False):
        """Run the backbone on `(batch_size, num_frames, 3, H, W)` frames: a [`VideoBackboneOutput`]."""
        outputs = self.call_backbone(video_model, pixel_values, output_attentions, output_hidden_states)
        return VideoBackboneOutput(
            last_hidden_state=outputs.last_hidden_state,
            hidden_states=getattr(outputs, "hidden_states", None),
            attentions=getattr(outputs, "attentions", None),
        )

    def pool_frame_tokens(self, last_hidden_state, num_frames, frame_pooling):
        """Frame tokens from the backbone's tokens (see [`pool_tokens`])."""
        return pool_tokens(
            last_hidden_state,
            num_frames,
            frame_pooling,
            num_prefix_tokens=self.num_prefix_tokens,
            patch_major=self.patch_major,
            time_slot_size=self.time_slot_size,
            num_prefix_tokens_per_slot=self.num_prefix_tokens_per_slot,
        )

    # -- frame counts -----------------------------------------------------------------------------------------------
    def check_num_frames(self, num_frames, model_num_frames, expected_shape):
        """Refuse (or warn about) `num_frames` frames given to a model built for `model_num_frames`."""
        if num_frames % self.time_slot_size:
            raise ValueError(
                f"`pixel_values` must have shape {expected_shape}: {self.model_type} groups frames in tubelets of "
                f"{self.time_slot_size}, so the frame count must be a multiple of {self.time_slot_size}, got "
                f"{num_frames}."
            )
        if num_frames == model_num_frames:
            return
        if not self.follows_frame_count:
            raise ValueError(
                f"`pixel_values` must have shape {expected_shape}: {self.model_type} takes exactly "
                f"`config.num_frames`={model_num_frames} frames, got {num_frames}."
            )
        # The backbone runs (its time embeddings are interpolated or extended), but not as it was trained.
        logger.warning_once(
            f"`pixel_values` has {num_frames} frames but the model was built for `config.num_frames`="
            f"{model_num_frames} (expected shape {expected_shape}); check the video processor's `num_frames`."
        )

    # Whether the backbone runs at another frame size with the same weights (rotary or interpolated positions).
    follows_image_size = False

    @classmethod
    def match_image_size(cls, config, image_size, source):
        """
        Make the backbone config `config` take frames of `image_size` pixels (those of the CLIP query encoder, which
        sees the same frames): changed with a warning where the family can follow, else a clear error.
        """
        own_size = getattr(config, cls.image_size_key, None) if cls.image_size_key else None
        if own_size in (None, image_size):
            return config
        if not cls.follows_image_size:
            raise ValueError(
                f"{source} takes {own_size}x{own_size} frames but the CLIP image encoder of the video query takes "
                f"{image_size}x{image_size}, and both read the same frames: pick a CLIP checkpoint of {own_size} "
                "pixels, or pass `use_video_query=False`."
            )
        logger.warning(
            f"{source} was trained on {own_size}x{own_size} frames; it takes {image_size}x{image_size} frames here, "
            "the size of the CLIP image encoder of the video query (its positions follow the frame size)."
        )
        setattr(config, cls.image_size_key, image_size)
        return config

    def pretrained_state_dict(self, pretrained_model, num_frames):
        """
        The weights of a pretrained backbone for a model of `num_frames` frames: what MSQNet does not keep dropped,
        and (where the family can) the time embeddings resampled to `num_frames`, with a warning.
        """
        pretrained_frames = (
            getattr(pretrained_model.config, self.num_frames_key, None) if self.num_frames_key else None
        )
        if pretrained_frames is not None and pretrained_frames != num_frames:
            if not self.follows_frame_count and self.frame_count_sized_weights:
                raise ValueError(
                    f"The pretrained {self.model_type} backbone was trained on {pretrained_frames} frames and its "
                    f"position embeddings are sized by that count; use `num_frames={pretrained_frames}`."
                )
            if self.follows_frame_count:
                logger.warning(
                    f"The pretrained {self.model_type} backbone was trained on {pretrained_frames} frames; "
                    f"{self.frame_count_change} for `num_frames`={num_frames}."
                )
        state = pretrained_model.state_dict()
        return {
            key: self.resize_weight(key, value, num_frames)
            for key, value in state.items()
            if not key.startswith(self.dropped_prefixes)
        }

    def resize_weight(self, key, value, num_frames):
        return value


class TimesformerBackbone(VideoBackbone):
    """TimeSformer: CLS, then patch-major tokens (all frames of patch 0, ...); learned time embeddings (interpolated)."""

    model_type = "timesformer"
    hub_ids = ("facebook/timesformer-base-finetuned-k400", "facebook/timesformer-base-finetuned-k600")
    num_prefix_tokens = 1
    patch_major = True
    follows_frame_count = True
    frame_count_change = "its time embeddings are linearly interpolated"

    def build(self, attn_implementation=None):
        video_model = AutoModel.from_config(self.config)
        if attn_implementation == "sdpa":
            use_sdpa_timesformer_attention(video_model)
        return video_model

    def call_backbone(self, video_model, pixel_values, output_attentions, output_hidden_states):
        if getattr(video_model.encoder, "static_patch_threshold", None) is None or output_attentions:
            return super().call_backbone(video_model, pixel_values, output_attentions, output_hidden_states)
        return encode_without_static_patches(video_model, pixel_values, output_hidden_states)

    def init_weights(self, video_model):
        # TimeSformer's `_init_weights` leaves its temporal embeddings out; building the model gives zeros.
        nn.init.zeros_(video_model.embeddings.time_embeddings)

    def resize_weight(self, key, value, num_frames):
        if key == "embeddings.time_embeddings":
            return interpolate_time_embeddings(value, num_frames)
        return value


class VideoMAEBackbone(VideoBackbone):
    """VideoMAE: time-major tubelet tokens, no CLS; a fixed sinusoidal table sized by the frame count."""

    model_type = "videomae"
    hub_ids = ("MCG-NJU/videomae-base-finetuned-kinetics", "MCG-NJU/videomae-base")

    @property
    def time_slot_size(self):
        return self.config.tubelet_size


class VivitBackbone(VideoBackbone):
    """ViViT: CLS, then time-major tubelet tokens; learned position embeddings sized by the frame count."""

    model_type = "vivit"
    hub_ids = ("google/vivit-b-16x2-kinetics400",)
    num_prefix_tokens = 1
    frame_count_sized_weights = True

    @property
    def time_slot_size(self):
        return self.config.tubelet_size[0]


class VJEPA2Backbone(VideoBackbone):
    """
    V-JEPA 2's encoder (its predictor is dropped): time-major tubelet tokens, no CLS; 3-D rotary positions, so any
    frame count (a multiple of the tubelet depth) runs.
    """

    model_type = "vjepa2"
    hub_ids = ("facebook/vjepa2-vitl-fpc64-256", "facebook/vjepa2-vith-fpc64-256")
    follows_frame_count = True
    num_frames_key = "frames_per_clip"
    image_size_key = "crop_size"
    num_channels_key = "in_chans"
    dropped_prefixes = ("predictor.",)
    follows_image_size = True
    frame_count_change = "its rotary time positions are extended (not interpolated: they are computed, not learned)"
    call_kwargs = {"skip_predictor": True}

    @property
    def time_slot_size(self):
        return self.config.tubelet_size

    def build(self, attn_implementation=None):
        video_model = super().build(attn_implementation)
        video_model.predictor = None  # MSQNet uses the encoder only
        return video_model


class ImageBackbone(VideoBackbone):
    """A per-frame image encoder: each frame is encoded on its own; tokens time-major, one time slot per frame."""

    per_frame = True
    follows_frame_count = True
    num_frames_key = None
    cls_token = True

    @classmethod
    def prepare_config(cls, config, num_frames):
        return config

    @property
    def num_prefix_tokens_per_slot(self):
        return int(self.cls_token) if self.image_frame_tokens == "patch" else 0

    def encode(self, video_model, pixel_values, output_attentions=False, output_hidden_states=False):
        batch_size, num_frames = pixel_values.shape[:2]
        outputs = self.call_backbone(video_model, pixel_values.flatten(0, 1), output_attentions, output_hidden_states)
        if self.image_frame_tokens == "cls":
            tokens = outputs.pooler_output
            if tokens is None:  # e.g. SigLIP without its pooling head
                tokens = outputs.last_hidden_state.mean(dim=1)
            tokens = tokens.reshape(batch_size, num_frames, -1)
        else:
            tokens = outputs.last_hidden_state.reshape(batch_size, -1, outputs.last_hidden_state.shape[-1])
        return VideoBackboneOutput(
            last_hidden_state=tokens, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )


class CLIPVisionBackbone(ImageBackbone):
    """CLIP's image tower per frame: CLS + patch tokens; `"cls"` takes the post-normed CLS (its pooled output)."""

    model_type = "clip_vision_model"
    parent_model_type = "clip"
    pretrained_class = CLIPVisionModel
    hub_ids = ("openai/clip-vit-base-patch16", "openai/clip-vit-large-patch14")


class SiglipVisionBackbone(ImageBackbone):
    """SigLIP's image tower per frame: patch tokens only (no CLS); `"cls"` takes its attention-pooling head's output."""

    model_type = "siglip_vision_model"
    parent_model_type = "siglip"
    pretrained_class = SiglipVisionModel
    hub_ids = ("google/siglip-base-patch16-224",)
    cls_token = False


class Dinov2Backbone(ImageBackbone):
    """DINOv2 per frame: CLS + patch tokens; position embeddings interpolated to any multiple of the patch size."""

    model_type = "dinov2"
    hub_ids = ("facebook/dinov2-small", "facebook/dinov2-base")
    image_size_key = None  # its `image_size` (518) is the pretraining size; it interpolates to any frame size


VIDEO_BACKBONES = {
    backbone.model_type: backbone
    for backbone in (
        TimesformerBackbone,
        VideoMAEBackbone,
        VivitBackbone,
        VJEPA2Backbone,
        CLIPVisionBackbone,
        SiglipVisionBackbone,
        Dinov2Backbone,
    )
}
# Dual-encoder configs whose vision tower is a supported backbone (`clip` -> `clip_vision_model`).
PARENT_MODEL_TYPES = {
    backbone.parent_model_type: backbone for backbone in VIDEO_BACKBONES.values() if backbone.parent_model_type
}
SUPPORTED_VIDEO_MODEL_TYPES = tuple(VIDEO_BACKBONES) + tuple(PARENT_MODEL_TYPES)


def video_backbone_class(model_type, source="`video_config.model_type`"):
    """The adapter class of `model_type` (a dual encoder's type gives its vision tower's), or a clear error."""
    backbone = VIDEO_BACKBONES.get(model_type) or PARENT_MODEL_TYPES.get(model_type)
    if backbone is None:
        raise ValueError(
            f"{source} is {model_type!r}, which MSQNet cannot use as its video encoder. Supported: "
            f"{', '.join(VIDEO_BACKBONES)} (and the vision tower of a full {' or '.join(PARENT_MODEL_TYPES)} config)."
        )
    return backbone


def prepare_video_config(config, num_frames):
    """
    Check that `config` (a backbone's config) is a supported family and return the config MSQNet stores: a dual
    encoder's vision tower, the frame count set to `num_frames`.
    """
    backbone = video_backbone_class(config.model_type)
    if config.model_type == backbone.parent_model_type:
        config = config.vision_config
    return backbone.prepare_config(config, num_frames)


def video_backbone(config):
    """The adapter of an MSQNet config's video encoder."""
    backbone = video_backbone_class(config.video_config.model_type)
    return backbone(config.video_config, image_frame_tokens=getattr(config, "image_frame_tokens", "patch"))


def load_pretrained_video_model(name_or_path, model_type):
    """A pretrained backbone of family `model_type` (a dual encoder's checkpoint gives its vision tower)."""
    backbone = video_backbone_class(model_type, source=f"{name_or_path!r}'s `model_type`")
    return backbone.pretrained_class.from_pretrained(name_or_path)


def interpolate_time_embeddings(time_embeddings, num_frames):
    """Linearly resample TimeSformer's learned temporal embeddings `(1, T0, C)` to `num_frames` positions."""
    if time_embeddings.shape[1] == num_frames:
        return time_embeddings
    resized = nn.functional.interpolate(
        time_embeddings.transpose(1, 2).float(), size=num_frames, mode="linear", align_corners=False
    )
    return resized.transpose(1, 2).to(time_embeddings.dtype)


class MSQNetTimesformerSdpaSelfAttention(nn.Module):
    """
    TimeSformer's self-attention (transformers' `TimesformerSelfAttention`: one `qkv` map, softmax attention scaled by
    `head_dim**-0.5`, dropout on the attention probabilities) computed with `scaled_dot_product_attention`. It takes
    over the `qkv` layer of the module it replaces, so parameter names and checkpoints are unchanged. Attention weights,
    when asked for, are computed the eager way.
    """

    def __init__(self, eager_attention: nn.Module):
        super().__init__()
        self.num_heads = eager_attention.num_heads
        self.scale = eager_attention.scale
        self.qkv = eager_attention.qkv
        self.attn_drop = eager_attention.attn_drop

    def forward(self, hidden_states, output_attentions: bool = False):
        batch_size, sequence_length, hidden_size = hidden_states.shape
        qkv = (
            self.qkv(hidden_states)
            .reshape(batch_size, sequence_length, 3, self.num_heads, hidden_size // self.num_heads)
            .permute(2, 0, 3, 1, 4)
        )
        query, key, value = qkv[0], qkv[1], qkv[2]

        if output_attentions:
            attention_probs = self.attn_drop(((query @ key.transpose(-2, -1)) * self.scale).softmax(dim=-1))
            context_layer = attention_probs @ value
        else:
            attention_probs = None
            context_layer = nn.functional.scaled_dot_product_attention(
                query, key, value, dropout_p=self.attn_drop.p if self.training else 0.0, scale=self.scale
            )
        context_layer = context_layer.transpose(1, 2).reshape(batch_size, sequence_length, hidden_size)
        return (context_layer, attention_probs) if output_attentions else (context_layer,)


def use_sdpa_timesformer_attention(video_model):
    """Swap every spatial and temporal self-attention of a transformers `TimesformerModel` for the SDPA version."""
    for layer in video_model.encoder.layer:
        for attention in (layer.attention, getattr(layer, "temporal_attention", None)):
            if attention is not None:
                attention.attention = MSQNetTimesformerSdpaSelfAttention(attention.attention)


__all__ = [
    "IMAGE_FRAME_TOKENS",
    "SUPPORTED_VIDEO_MODEL_TYPES",
    "VIDEO_BACKBONES",
    "VideoBackbone",
    "VideoBackboneOutput",
    "interpolate_time_embeddings",
    "load_pretrained_video_model",
    "pool_tokens",
    "prepare_video_config",
    "use_sdpa_timesformer_attention",
    "video_backbone",
    "video_backbone_class",
]
