"""Tiny MSQNet configurations and pretrained parts that tests build and save locally (no Hub access)."""

from pathlib import Path

from transformers import CLIPConfig, CLIPModel, CLIPTokenizer, TimesformerConfig, TimesformerModel

from modeling_msqnet import MSQNetConfig


IMAGE_SIZE = 32
VIDEO_CONFIG = dict(
    model_type="timesformer",
    image_size=IMAGE_SIZE,
    patch_size=8,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=64,
)
VISION_CONFIG = dict(
    model_type="clip_vision_model",
    image_size=IMAGE_SIZE,
    patch_size=8,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=64,
)
TEXT_CONFIG = dict(
    model_type="clip_text_model",
    vocab_size=99,
    hidden_size=16,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=32,
    max_position_embeddings=32,
    bos_token_id=97,
    eos_token_id=98,
    pad_token_id=1,
)
LABELS = ["walking", "jumping", "eating", "sleeping", "running"]


def tiny_config(**overrides):
    """A tiny TimeSformer + CLIP MSQNet (D=16, 2+2 layers, 4 frames of 32x32) with LABELS."""
    kwargs = dict(
        video_config=dict(VIDEO_CONFIG),
        vision_config=dict(VISION_CONFIG),
        hidden_size=16,
        num_encoder_layers=2,
        num_decoder_layers=2,
        num_attention_heads=4,
        intermediate_size=32,
        num_frames=4,
        id2label=dict(enumerate(LABELS)),
        label2id={name: i for i, name in enumerate(LABELS)},
    )
    kwargs.update(overrides)
    return MSQNetConfig(**kwargs)


def write_tiny_clip_tokenizer(folder):
    """A CLIP BPE tokenizer over a handful of tokens (the vocabulary transformers' own CLIP tests use)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocab = [
        "l",
        "o",
        "w",
        "e",
        "r",
        "s",
        "t",
        "i",
        "d",
        "n",
        "lo",
        "l</w>",
        "w</w>",
        "r</w>",
        "t</w>",
        "low</w>",
        "er</w>",
        "lowest</w>",
        "newer</w>",
        "wider",
        "<unk>",
        "<|startoftext|>",
        "<|endoftext|>",
    ]
    merges = [("l", "o"), ("lo", "w</w>"), ("e", "r</w>")]
    tokenizer = CLIPTokenizer(
        vocab={token: i for i, token in enumerate(vocab)}, merges=merges, unk_token="<unk>", pad_token="<|endoftext|>"
    )
    tokenizer.save_pretrained(folder)
    return tokenizer


def save_tiny_timesformer(folder, num_frames=2, seed=0):
    """A tiny pretrained-looking TimeSformer checkpoint (random weights) with its own frame count."""
    import torch

    torch.manual_seed(seed)
    config = TimesformerConfig(**{k: v for k, v in VIDEO_CONFIG.items() if k != "model_type"}, num_frames=num_frames)
    model = TimesformerModel(config)
    with torch.no_grad():
        model.embeddings.time_embeddings.normal_()
    model.save_pretrained(folder)
    return model


def save_tiny_clip(folder, seed=0):
    """A tiny CLIP checkpoint (image and text towers, random weights) with a tiny tokenizer."""
    import torch

    torch.manual_seed(seed)
    text = {k: v for k, v in TEXT_CONFIG.items() if k != "model_type"}
    text["vocab_size"] = 23
    text["bos_token_id"], text["eos_token_id"], text["pad_token_id"] = 21, 22, 22
    vision = {k: v for k, v in VISION_CONFIG.items() if k != "model_type"}
    model = CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=16))
    model.save_pretrained(folder)
    write_tiny_clip_tokenizer(folder)
    return model
