"""Convert `state_dict`s in the layout of the authors' code (README, "Official parameter names") to ours."""

import re
from pathlib import Path

import torch
from transformers.utils import logging


logger = logging.get_logger(__name__)

# Official prefix -> our prefix, for parameters whose inner names are unchanged.
PREFIX_MAP = {
    "backbone.": "msqnet.video_model.",
    "image_model.": "msqnet.image_model.",
    "transformer.encoder.norm.": "msqnet.encoder.layer_norm.",
    "transformer.decoder.norm.": "msqnet.decoder.layer_norm.",
}
NAME_MAP = {
    "linear1.weight": "msqnet.frame_projection.weight",
    "linear2.weight": "msqnet.query_projection.weight",
    "query_embed": "msqnet.label_embeddings",
    "group_linear.W": "classifier.weight",
    "group_linear.b": "classifier.bias",
}
# Inner names of `nn.TransformerEncoderLayer` / `nn.TransformerDecoderLayer` -> ours.
LAYER_MAP = {
    "encoder": {
        "self_attn.out_proj.": "self_attn.out_proj.",
        "linear1.": "feed_forward.fc1.",
        "linear2.": "feed_forward.fc2.",
        "norm1.": "self_attn_layer_norm.",
        "norm2.": "final_layer_norm.",
    },
    "decoder": {
        "self_attn.out_proj.": "self_attn.out_proj.",
        "multihead_attn.out_proj.": "encoder_attn.out_proj.",
        "linear1.": "feed_forward.fc1.",
        "linear2.": "feed_forward.fc2.",
        "norm1.": "self_attn_layer_norm.",
        "norm2.": "encoder_attn_layer_norm.",
        "norm3.": "final_layer_norm.",
    },
}
IN_PROJ_ATTENTIONS = {"self_attn": "self_attn", "multihead_attn": "encoder_attn"}
LAYER_KEY = re.compile(r"^transformer\.(encoder|decoder)\.layers\.(\d+)\.(.+)$")
WRAPPER_KEYS = ("state_dict", "model_state_dict", "model")


def unwrap_state_dict(checkpoint):
    """Return the tensors of a checkpoint saved as a bare `state_dict`, under a wrapper key, or by DDP (`module.`)."""
    if not isinstance(checkpoint, dict):
        raise ValueError(f"Expected a dict of tensors, got {type(checkpoint).__name__}.")
    for key in WRAPPER_KEYS:
        if key in checkpoint and isinstance(checkpoint[key], dict):
            logger.info(f"Reading the weights under the checkpoint's `{key}` key.")
            checkpoint = checkpoint[key]
            break
    if checkpoint and all(key.startswith("module.") for key in checkpoint):
        checkpoint = {key[len("module.") :]: value for key, value in checkpoint.items()}
    non_tensors = [key for key, value in checkpoint.items() if not isinstance(value, torch.Tensor)]
    if non_tensors:
        raise ValueError(f"The checkpoint has entries that are not tensors: {non_tensors[:10]}.")
    return checkpoint


def convert_official_state_dict(official_state_dict):
    """
    Map the official parameter names to ours. `nn.MultiheadAttention`'s packed `in_proj_weight`/`in_proj_bias` are split
    into `q_proj`, `k_proj` and `v_proj`. Any key that has no counterpart raises an error listing it.
    """
    converted = {}
    unknown = []
    for key, value in official_state_dict.items():
        if key in NAME_MAP:
            converted[NAME_MAP[key]] = value
            continue
        prefix = next((p for p in PREFIX_MAP if key.startswith(p)), None)
        if prefix is not None:
            converted[PREFIX_MAP[prefix] + key[len(prefix) :]] = value
            continue
        match = LAYER_KEY.match(key)
        if match is None:
            unknown.append(key)
            continue
        stack, index, inner = match.groups()
        target = f"msqnet.{stack}.layers.{index}."
        attention, _, packed = inner.partition(".in_proj_")
        if packed in ("weight", "bias") and attention in IN_PROJ_ATTENTIONS:
            for name, chunk in zip(("q_proj", "k_proj", "v_proj"), value.chunk(3, dim=0)):
                converted[f"{target}{IN_PROJ_ATTENTIONS[attention]}.{name}.{packed}"] = chunk.clone()
            continue
        layer_prefix = next((p for p in LAYER_MAP[stack] if inner.startswith(p)), None)
        if layer_prefix is None:
            unknown.append(key)
            continue
        converted[target + LAYER_MAP[stack][layer_prefix] + inner[len(layer_prefix) :]] = value
    if unknown:
        raise ValueError(
            f"{len(unknown)} keys of the official checkpoint have no counterpart in MSQNet: {unknown[:10]}."
        )
    return converted


def load_official_checkpoint(path):
    """Load an official checkpoint file (`.pth`/`.pt` via `torch.load(weights_only=True)`, or `.safetensors`)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Checkpoint file not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return unwrap_state_dict(load_file(str(path)))
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ValueError(f"Could not read {path} as a PyTorch weights file (weights only): {error}") from error
    return unwrap_state_dict(checkpoint)


def match_clip_vision_layout(state_dict, expected_keys):
    """
    Official checkpoints were saved with transformers 4.x, whose `CLIPVisionModel` nests its weights under
    `vision_model.`; transformers 5 flattens them. Add or strip that level to match the model at hand.
    """
    prefix, nested = "msqnet.image_model.", "msqnet.image_model.vision_model."
    model_is_nested = any(key.startswith(nested) for key in expected_keys)
    matched = {}
    for key, value in state_dict.items():
        if key.startswith(nested) and not model_is_nested:
            key = prefix + key[len(nested) :]
        elif key.startswith(prefix) and not key.startswith(nested) and model_is_nested:
            key = nested + key[len(prefix) :]
        matched[key] = value
    return matched


def load_official_into(model, official_state_dict):
    """Convert `official_state_dict` and load it into `model` (an `MSQNetForVideoClassification`), strictly."""
    expected = model.state_dict()
    converted = match_clip_vision_layout(convert_official_state_dict(official_state_dict), expected)
    missing = sorted(set(expected) - set(converted))
    unexpected = sorted(set(converted) - set(expected))
    mismatched = [
        f"{key}: checkpoint {tuple(converted[key].shape)} vs model {tuple(expected[key].shape)}"
        for key in set(converted) & set(expected)
        if converted[key].shape != expected[key].shape
    ]
    if missing or unexpected or mismatched:
        details = []
        if missing:
            details.append(f"missing from the checkpoint: {missing[:10]}")
        if unexpected:
            details.append(f"not in the model: {unexpected[:10]}")
        if mismatched:
            details.append(f"shape mismatches: {mismatched[:10]}")
        raise ValueError(
            "The official checkpoint does not fit this MSQNet configuration (check num_labels, hidden sizes, num_frames, "
            "and that the config has no text encoder unless you load one separately): " + "; ".join(details)
        )
    model.load_state_dict(converted, strict=True)
    return model


def load_msqnet_config(config_path):
    """An `MSQNetConfig` from a saved folder (`config.json` inside) or a JSON file."""
    from ..hub_code.configuration_msqnet import MSQNetConfig

    config_path = Path(config_path)
    if config_path.is_dir():
        return MSQNetConfig.from_pretrained(config_path)
    if config_path.is_file():
        return MSQNetConfig.from_json_file(str(config_path))
    raise FileNotFoundError(f"Config not found: {config_path} (expected a folder with config.json or a JSON file).")


def convert_official_checkpoint(checkpoint_path, config_path, output_dir, text_model_path=None, tokenizer_path=None):
    """
    Convert an official checkpoint into a Hub-ready folder: model weights and config (with the remote code), and the
    video processor (plus the processor with its tokenizer when `tokenizer_path` is given). Returns the model.

    The official layout has no text encoder: a config with a `text_config` also needs `text_model_path`, a pretrained
    text encoder whose weights are copied in (e.g. CLIP's text tower, for relabelling with new label names).
    """
    from transformers import AutoModel, AutoTokenizer, CLIPTextModel

    from ..hub_code.modeling_msqnet import MSQNetForVideoClassification
    from ..hub_code.processing_msqnet import MSQNetProcessor
    from ..hub_code.video_processing_msqnet import MSQNetVideoProcessor

    config = load_msqnet_config(config_path)
    if config.text_config is not None and text_model_path is None:
        raise ValueError(
            f"The config at {config_path} has a `text_config`, but official checkpoints hold no text encoder: pass "
            "`text_model_path` (e.g. the CLIP checkpoint) or remove `text_config` from the config."
        )
    model = MSQNetForVideoClassification(config)
    load_official_into(model, load_official_checkpoint(checkpoint_path))
    if text_model_path is not None:
        if model.msqnet.text_model is None:
            raise ValueError(f"`text_model_path` was given but the config at {config_path} has no `text_config`.")
        text_class = CLIPTextModel if config.text_config.model_type == "clip_text_model" else AutoModel
        model.msqnet.text_model.load_state_dict(text_class.from_pretrained(text_model_path).state_dict())

    output_dir = Path(output_dir)
    model.save_pretrained(output_dir)
    video_processor = MSQNetVideoProcessor(num_frames=config.num_frames)
    if tokenizer_path is not None:
        MSQNetProcessor(
            video_processor=video_processor, tokenizer=AutoTokenizer.from_pretrained(tokenizer_path)
        ).save_pretrained(output_dir)
    else:
        video_processor.save_pretrained(output_dir)
    logger.info(f"Saved the converted model to {output_dir}")
    return model
