"""Tiny MSQNet configurations, models, inputs and pretrained parts that tests build and save locally (no Hub access).

[`MSQNetModelTester`] is the one builder of tiny models and their inputs for the model tests, in the way of
transformers' `*ModelTester` classes; `tiny_config`, `LABELS`, `IMAGE_SIZE` and `VIDEO_CONFIG` are its sizes.
"""

from pathlib import Path

import torch
from transformers import (
    AutoConfig,
    AutoModel,
    CLIPConfig,
    CLIPModel,
    CLIPTokenizer,
    TimesformerConfig,
    TimesformerModel,
)

from modeling_msqnet import MSQNetConfig, MSQNetForVideoClassification, MSQNetProcessor, MSQNetVideoProcessor


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
VISION_CONFIG = dict(VIDEO_CONFIG, model_type="clip_vision_model")
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
VIDEOMAE_CONFIG = dict(VIDEO_CONFIG, model_type="videomae", tubelet_size=2)
VIVIT_CONFIG = dict(VIDEO_CONFIG, model_type="vivit", tubelet_size=[2, 8, 8])
VIVIT_CONFIG.pop("patch_size")
VJEPA2_CONFIG = dict(VIDEO_CONFIG, model_type="vjepa2", crop_size=IMAGE_SIZE, tubelet_size=2, mlp_ratio=2.0)
VJEPA2_CONFIG.update(num_pooler_layers=1, pred_hidden_size=16, pred_num_attention_heads=4, pred_num_hidden_layers=1)
for key in ("image_size", "intermediate_size"):  # V-JEPA 2 names them `crop_size` and `mlp_ratio`
    VJEPA2_CONFIG.pop(key)
SIGLIP_VISION_CONFIG = dict(VISION_CONFIG, model_type="siglip_vision_model")
DINOV2_CONFIG = dict(VISION_CONFIG, model_type="dinov2", mlp_ratio=2)
DINOV2_CONFIG.pop("intermediate_size")
# One tiny config per video encoder family MSQNet supports (the keys are their `model_type`s).
BACKBONE_CONFIGS = {
    "timesformer": VIDEO_CONFIG,
    "videomae": VIDEOMAE_CONFIG,
    "vivit": VIVIT_CONFIG,
    "vjepa2": VJEPA2_CONFIG,
    "clip_vision_model": VISION_CONFIG,
    "siglip_vision_model": SIGLIP_VISION_CONFIG,
    "dinov2": DINOV2_CONFIG,
}
BERT_TEXT_CONFIG = dict(
    model_type="bert", vocab_size=99, hidden_size=16, num_hidden_layers=1, num_attention_heads=4, intermediate_size=32
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


def tiny_model(seed=0, **overrides):
    """A new tiny `MSQNetForVideoClassification` of [`tiny_config`] (`overrides`), in eval mode, seeded by `seed`."""
    torch.manual_seed(seed)
    return MSQNetForVideoClassification(tiny_config(**overrides)).eval()


def tiny_processor():
    """The video processor of [`tiny_model`]: 4 frames of 32x32 pixels."""
    return MSQNetVideoProcessor(num_frames=4, size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})


def save_tiny_model_folder(folder, seed=0, **overrides):
    """Save [`tiny_model`] (`seed`, `overrides`) with [`tiny_processor`] in `folder`, as training does; returns it."""
    tiny_model(seed, **overrides).save_pretrained(folder)
    tiny_processor().save_pretrained(folder)
    return folder


class MSQNetModelTester:
    """
    Builds the tiny models of [`tiny_config`] and their inputs: `batch_size` clips of `num_frames` frames of
    `image_size` pixels, labelled with `LABELS`. Each test states only what it changes (`**overrides` of the config).
    """

    batch_size = 2
    num_frames = 4
    image_size = IMAGE_SIZE
    hidden_size = 16
    video_hidden_size = VIDEO_CONFIG["hidden_size"]
    vision_hidden_size = VISION_CONFIG["hidden_size"]
    num_attention_heads = 4
    num_layers = 2  # of every stack: video encoder, MSQNet encoder and decoder
    labels = LABELS
    num_labels = len(LABELS)

    def get_config(self, **overrides) -> MSQNetConfig:
        return tiny_config(**overrides)

    def prepare_pixel_values(self, batch_size=None, seed=0) -> torch.Tensor:
        """`(batch_size, num_frames, 3, image_size, image_size)` frames drawn from a seeded generator."""
        generator = torch.Generator().manual_seed(seed)
        shape = (batch_size or self.batch_size, self.num_frames, 3, self.image_size, self.image_size)
        return torch.randn(*shape, generator=generator)

    def prepare_labels(self, problem_type="multi_label_classification", batch_size=None, seed=0) -> torch.Tensor:
        """Multi-hot float targets, or class indices for `"single_label_classification"`."""
        generator = torch.Generator().manual_seed(seed)
        batch_size = batch_size or self.batch_size
        if problem_type == "single_label_classification":
            return torch.randint(self.num_labels, (batch_size,), generator=generator)
        return (torch.rand(batch_size, self.num_labels, generator=generator) > 0.5).float()

    def create_model(self, seed=0, model_class=MSQNetForVideoClassification, **overrides):
        """A model in eval mode whose random weights depend only on `seed`."""
        torch.manual_seed(seed)
        return model_class(self.get_config(**overrides)).eval()

    def create_video_processor(self) -> MSQNetVideoProcessor:
        return MSQNetVideoProcessor(
            num_frames=self.num_frames,
            size={"shortest_edge": self.image_size},
            crop_size={"height": self.image_size, "width": self.image_size},
        )

    def save_model_with_processor(self, folder, seed=0, **overrides):
        """Save a model with an `MSQNetProcessor` (video processor + tiny CLIP tokenizer); returns both."""
        model = self.create_model(seed=seed, **overrides)
        video_processor = self.create_video_processor()
        tokenizer = write_tiny_clip_tokenizer(Path(folder).parent / f"{Path(folder).name}-tokenizer")
        model.save_pretrained(folder)
        MSQNetProcessor(video_processor=video_processor, tokenizer=tokenizer).save_pretrained(folder)
        return model, video_processor

    def create_official_pair(self, seed=0, **overrides):
        """The independent implementation of the official model (`conversion/official_reference.py`) and ours with
        its weights, converted by the official-layout converter."""
        from modeling_msqnet.conversion.convert_official import load_official_into
        from modeling_msqnet.conversion.official_reference import OfficialMSQNet

        torch.manual_seed(seed)
        config = self.get_config(**overrides)
        official = OfficialMSQNet.sized_like(config).eval()
        ours = load_official_into(MSQNetForVideoClassification(config), official.state_dict()).eval()
        return official, ours


# The vocabulary and merges of transformers' own CLIP tokenizer tests.
CLIP_VOCAB = [
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
CLIP_MERGES = [("l", "o"), ("lo", "w</w>"), ("e", "r</w>")]


def tiny_clip_tokenizer() -> CLIPTokenizer:
    """A CLIP BPE tokenizer over a handful of tokens."""
    vocab = {token: index for index, token in enumerate(CLIP_VOCAB)}
    return CLIPTokenizer(vocab=vocab, merges=CLIP_MERGES, unk_token="<unk>", pad_token="<|endoftext|>")


def write_tiny_clip_tokenizer(folder):
    """Saves [`tiny_clip_tokenizer`] into `folder` and returns it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = tiny_clip_tokenizer()
    tokenizer.save_pretrained(folder)
    return tokenizer


def save_tiny_timesformer(folder, num_frames=2, seed=0):
    """A tiny pretrained-looking TimeSformer checkpoint (random weights) with its own frame count."""
    torch.manual_seed(seed)
    config = TimesformerConfig(**{k: v for k, v in VIDEO_CONFIG.items() if k != "model_type"}, num_frames=num_frames)
    model = TimesformerModel(config)
    with torch.no_grad():
        model.embeddings.time_embeddings.normal_()
    model.save_pretrained(folder)
    return model


def save_tiny_parts(root, num_frames=4):
    """The pretrained parts `from_pretrained_parts` composes: `root/timesformer` and `root/clip`; returns `root`."""
    save_tiny_timesformer(Path(root) / "timesformer", num_frames=num_frames)
    save_tiny_clip(Path(root) / "clip")
    return Path(root)


def save_tiny_backbone(folder, model_type, num_frames=4, seed=0):
    """A tiny pretrained-looking backbone checkpoint of family `model_type` (random weights; a video encoder's frame
    count is `num_frames`), as `from_pretrained_parts` reads it."""
    if model_type == "timesformer":
        return save_tiny_timesformer(folder, num_frames=num_frames, seed=seed)
    torch.manual_seed(seed)
    kwargs = dict(BACKBONE_CONFIGS[model_type])
    kwargs.pop("model_type")
    if model_type == "vjepa2":
        kwargs["frames_per_clip"] = num_frames
    elif model_type in ("videomae", "vivit"):
        kwargs["num_frames"] = num_frames
    model = AutoModel.from_config(AutoConfig.for_model(model_type, **kwargs))
    model.save_pretrained(folder)
    return model


def save_tiny_clip(folder, seed=0):
    """A tiny CLIP checkpoint (image and text towers, random weights) with a tiny tokenizer."""
    torch.manual_seed(seed)
    text = {k: v for k, v in TEXT_CONFIG.items() if k != "model_type"}
    text["vocab_size"] = 23
    text["bos_token_id"], text["eos_token_id"], text["pad_token_id"] = 21, 22, 22
    vision = {k: v for k, v in VISION_CONFIG.items() if k != "model_type"}
    model = CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=16))
    model.save_pretrained(folder)
    write_tiny_clip_tokenizer(folder)
    return model
