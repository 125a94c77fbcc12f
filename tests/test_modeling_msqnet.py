"""Tiny-config model tests in the style of transformers' own (shapes, losses, round trips, initialisation, freezing,
checkpointing)."""

import contextlib

import pytest
import torch
from tiny_models import (
    BACKBONE_CONFIGS,
    BERT_TEXT_CONFIG,
    LABELS,
    TEXT_CONFIG,
    VIDEOMAE_CONFIG,
    MSQNetModelTester,
    tiny_config,
)
from torch.nn import BCEWithLogitsLoss, CrossEntropyLoss
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForVideoClassification,
    CLIPVisionConfig,
    PreTrainedModel,
    TimesformerConfig,
    set_seed,
)

from modeling_msqnet import MSQNetConfig, MSQNetForVideoClassification, MSQNetModel
from modeling_msqnet.hub_code.modeling_msqnet import pool_frame_tokens, sinusoidal_position_encoding


tester = MSQNetModelTester()
BATCH, FRAMES, NUM_LABELS, HIDDEN = tester.batch_size, tester.num_frames, tester.num_labels, tester.hidden_size
pixel_values = tester.prepare_pixel_values
build = tester.create_model


@contextlib.contextmanager
def seeded_weight_init():
    """Reseed before every module's init, so a module gets the same random draw whichever way it is initialised."""
    original = PreTrainedModel._initialize_weights

    def seeded(self, module, is_custom_code=False):
        set_seed(0)
        original(self, module, is_custom_code)

    PreTrainedModel._initialize_weights = seeded
    try:
        yield
    finally:
        PreTrainedModel._initialize_weights = original


def test_config_defaults_are_the_papers():
    config = MSQNetConfig()
    assert (config.hidden_size, config.num_encoder_layers, config.num_decoder_layers) == (512, 6, 6)
    assert (config.num_attention_heads, config.intermediate_size, config.dropout) == (8, 2048, 0.1)
    assert (config.num_frames, config.frame_pooling, config.use_video_query) == (16, "official", True)
    assert config.video_config.model_type == "timesformer" and config.video_config.num_frames == 16
    assert config.video_config.hidden_size == 768 and config.video_config.patch_size == 16
    assert config.vision_config.hidden_size == 768 and config.vision_config.patch_size == 16
    assert config.text_config is None and config.classifier_head == "per_class"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(frame_pooling="max"), "frame_pooling"),
        (dict(classifier_head="mlp"), "classifier_head"),
        (dict(video_config=dict(model_type="vit")), "video_config.model_type"),
        (dict(text_config=dict(hidden_size=8)), "text_config.*model_type"),
        (dict(hidden_size=10), "divisible"),
        (dict(query_num_frames=20), "query_num_frames"),
    ],
)
def test_config_rejects_bad_values(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        MSQNetConfig(**kwargs)


def test_vision_config_dict_without_model_type_is_clips_vision_tower(tmp_path):
    """As X-CLIP reads its `vision_config`: the image encoder is always CLIP's."""
    vision = dict(image_size=32, patch_size=8, hidden_size=24, intermediate_size=48, num_hidden_layers=1)
    config = tiny_config(vision_config=dict(vision, num_attention_heads=4))
    assert isinstance(config.vision_config, CLIPVisionConfig) and config.vision_config.hidden_size == 24
    model = MSQNetForVideoClassification(config)
    assert type(model.msqnet.image_model).__name__ == "CLIPVisionModel"
    assert model.msqnet.query_projection.in_features == HIDDEN + 24
    config.save_pretrained(tmp_path)
    assert MSQNetConfig.from_pretrained(tmp_path).vision_config.hidden_size == 24


def test_video_config_dict_without_model_type_is_timesformer():
    video = {key: value for key, value in tester.get_config().video_config.to_dict().items() if key != "model_type"}
    config = tiny_config(video_config=dict(video, hidden_size=48))
    assert isinstance(config.video_config, TimesformerConfig) and config.video_config.hidden_size == 48
    assert type(MSQNetModel(config).video_model).__name__ == "TimesformerModel"


@pytest.mark.parametrize(
    "overrides",
    [
        dict(),
        dict(video_config=dict(VIDEOMAE_CONFIG)),
        dict(text_config=dict(TEXT_CONFIG)),
        dict(text_config=dict(BERT_TEXT_CONFIG), classifier_head="shared"),
        *(
            dict(video_config=dict(BACKBONE_CONFIGS[name]))
            for name in ("vivit", "vjepa2", "siglip_vision_model", "dinov2")
        ),
    ],
    ids=["timesformer-clip", "videomae", "clip-text", "bert-text", "vivit", "vjepa2", "siglip", "dinov2"],
)
@pytest.mark.parametrize("model_class", [MSQNetModel, MSQNetForVideoClassification])
def test_can_init_all_missing_weights(model_class, overrides):
    """Loading without weights gives exactly the init that building the model gives, for every sub-model (CLIP's
    attention and MLP inits, TimeSformer's temporal embeddings), as transformers' common test of the same name."""
    config = tiny_config(**overrides)
    with seeded_weight_init():
        built = model_class(config)
        loaded = model_class.from_pretrained(None, config=config, state_dict={})
    loaded_state = loaded.state_dict()
    assert set(loaded_state) == set(built.state_dict())
    different = sorted(name for name, value in built.state_dict().items() if not value.equal(loaded_state[name]))
    assert not different, different
    if config.video_config.model_type == "timesformer":
        assert not loaded.base_model.video_model.embeddings.time_embeddings.any()


def test_config_round_trip(tmp_path):
    config = tiny_config(text_config=dict(model_type="clip_text_model", hidden_size=16), classifier_head="shared")
    config.save_pretrained(tmp_path)
    loaded = AutoConfig.from_pretrained(tmp_path)
    assert type(loaded).__name__ == "MSQNetConfig"
    ignored = {"_name_or_path"}
    assert {k: v for k, v in loaded.to_dict().items() if k not in ignored} == {
        k: v for k, v in config.to_dict().items() if k not in ignored
    }
    assert loaded.id2label == dict(enumerate(LABELS)) and loaded.text_config.hidden_size == 16


def test_output_shapes_attentions_and_hidden_states():
    model = build()
    with torch.no_grad():
        out = model(pixel_values(), output_attentions=True, output_hidden_states=True)
    assert out.logits.shape == (BATCH, NUM_LABELS)
    assert out.last_hidden_state.shape == (BATCH, NUM_LABELS, HIDDEN)
    assert out.encoder_last_hidden_state.shape == (BATCH, FRAMES, HIDDEN)
    assert out.video_query_embeds.shape == (BATCH, tester.vision_hidden_size)
    num_video_tokens = 1 + (tester.image_size // 8) ** 2 * FRAMES
    layers, heads = tester.num_layers, tester.num_attention_heads
    assert len(out.video_hidden_states) == layers + 1
    assert out.video_hidden_states[-1].shape == (BATCH, num_video_tokens, tester.video_hidden_size)
    assert len(out.video_attentions) == layers
    assert len(out.encoder_hidden_states) == layers + 1 and len(out.encoder_attentions) == layers
    assert out.encoder_attentions[0].shape == (BATCH, heads, FRAMES, FRAMES)
    assert len(out.decoder_hidden_states) == layers + 1
    assert out.decoder_attentions[0].shape == (BATCH, heads, NUM_LABELS, NUM_LABELS)
    assert out.cross_attentions[0].shape == (BATCH, heads, NUM_LABELS, FRAMES)
    assert torch.allclose(out.cross_attentions[0].sum(-1), torch.ones(BATCH, heads, NUM_LABELS), atol=1e-5)
    assert out.decoder_hidden_states[-1].equal(out.last_hidden_state)


def test_return_dict_false_gives_tuple_with_same_logits():
    model = build()
    with torch.no_grad():
        as_dict = model(pixel_values())
        as_tuple = model(pixel_values(), return_dict=False)
    assert isinstance(as_tuple, tuple) and as_tuple[0].equal(as_dict.logits)


def test_eager_and_sdpa_attention_agree():
    model = build()
    with torch.no_grad():
        model.config._attn_implementation = "sdpa"
        sdpa = model(pixel_values()).logits
        model.config._attn_implementation = "eager"
        eager = model(pixel_values()).logits
    assert torch.allclose(sdpa, eager, atol=1e-5)


def test_multi_label_loss_is_bce():
    model = build()
    labels = tester.prepare_labels()
    out = model(pixel_values(), labels=labels)
    assert torch.allclose(out.loss, BCEWithLogitsLoss()(out.logits, labels))
    with pytest.raises(ValueError, match="multi-hot"):
        model(pixel_values(), labels=torch.tensor([1, 2]))


def test_single_label_loss_is_cross_entropy():
    model = build(problem_type="single_label_classification")
    labels = tester.prepare_labels("single_label_classification")
    out = model(pixel_values(), labels=labels)
    assert torch.allclose(out.loss, CrossEntropyLoss()(out.logits, labels))


def test_save_load_round_trip(tmp_path):
    model = build(seed=3)
    with torch.no_grad():
        # Built as zeros; loading must keep trained values, not re-initialise them.
        model.msqnet.video_model.embeddings.time_embeddings.normal_()
    model.save_pretrained(tmp_path)
    loaded = MSQNetForVideoClassification.from_pretrained(tmp_path).eval()
    state, loaded_state = model.state_dict(), loaded.state_dict()
    assert set(state) == set(loaded_state)
    for name, tensor in state.items():
        assert tensor.equal(loaded_state[name]), name
    with torch.no_grad():
        assert model(pixel_values()).logits.equal(loaded(pixel_values()).logits)
    auto = AutoModelForVideoClassification.from_pretrained(tmp_path).eval()
    assert type(auto).__name__ == "MSQNetForVideoClassification"
    base = AutoModel.from_pretrained(tmp_path).eval()
    assert type(base).__name__ == "MSQNetModel"
    with torch.no_grad():
        assert base(pixel_values()).last_hidden_state.equal(model.msqnet(pixel_values()).last_hidden_state)


def test_frozen_image_encoder_gets_no_gradient(tmp_path):
    model = build()
    model.save_pretrained(tmp_path)
    for candidate in (model, MSQNetForVideoClassification.from_pretrained(tmp_path)):
        candidate.train()
        candidate(pixel_values(), labels=torch.ones(BATCH, NUM_LABELS)).loss.backward()
        image_params = list(candidate.msqnet.image_model.parameters())
        assert image_params and all(not p.requires_grad and p.grad is None for p in image_params)
        assert candidate.msqnet.query_projection.weight.grad.abs().sum() > 0
        assert candidate.msqnet.video_model.embeddings.cls_token.grad.abs().sum() > 0
        assert candidate.classifier.weight.grad.abs().sum() > 0


def test_unfrozen_image_encoder_trains():
    model = build(freeze_vision_model=False).train()
    model(pixel_values(), labels=torch.ones(BATCH, NUM_LABELS)).loss.backward()
    assert model.msqnet.image_model.post_layernorm.weight.grad.abs().sum() > 0
    assert model.msqnet.image_model.encoder.layers[0].self_attn.q_proj.weight.grad.abs().sum() > 0


def test_batch_independence():
    model = build()
    batch = pixel_values(batch_size=3)
    with torch.no_grad():
        together = model(batch).logits
        alone = torch.cat([model(batch[i : i + 1]).logits for i in range(3)])
    assert torch.allclose(together, alone, atol=1e-5)


def test_determinism_in_eval_and_dropout_in_train():
    model = build()
    with torch.no_grad():
        assert model(pixel_values()).logits.equal(model(pixel_values()).logits)
        model.train()
        assert not model(pixel_values()).logits.equal(model(pixel_values()).logits)


def test_gradient_checkpointing_gives_same_loss_and_gradients():
    labels = torch.ones(BATCH, NUM_LABELS)
    results = []
    for checkpointing in (False, True):
        model = build(seed=5, dropout=0.0).train()
        if checkpointing:
            # `activation_checkpointing_enable` is the newer name of `gradient_checkpointing_enable`.
            getattr(model, "activation_checkpointing_enable", model.gradient_checkpointing_enable)()
            layers = [*model.msqnet.encoder.layers, *model.msqnet.decoder.layers]
            assert all(layer.gradient_checkpointing for layer in layers)  # GradientCheckpointingLayer
        loss = model(pixel_values(), labels=labels).loss
        loss.backward()
        results.append((loss.detach(), model.msqnet.frame_projection.weight.grad.clone()))
    assert torch.allclose(results[0][0], results[1][0], atol=1e-6)
    assert results[0][1].abs().sum() > 0 and torch.allclose(results[0][1], results[1][1], atol=1e-6)


def test_per_frame_pooling_averages_each_frames_patches():
    batch, patches, hidden = 2, 3, 5
    tokens = torch.randn(batch, 1 + patches * FRAMES, hidden)
    pooled = pool_frame_tokens(tokens, FRAMES, "per_frame", "timesformer")
    # TimeSformer orders tokens patch-major: token 1 + p * T + t is patch p of frame t.
    expected = torch.stack([tokens[:, [1 + p * FRAMES + t for p in range(patches)]].mean(1) for t in range(FRAMES)], 1)
    assert torch.allclose(pooled, expected, atol=1e-6)
    official = pool_frame_tokens(tokens, FRAMES, "official", "timesformer")
    assert torch.allclose(
        official, torch.nn.functional.adaptive_avg_pool1d(tokens.transpose(1, 2), FRAMES).transpose(1, 2)
    )


def test_sinusoidal_position_encoding_values():
    table = sinusoidal_position_encoding(7, 6)
    assert torch.allclose(table[3, 0], torch.tensor(3.0).sin()) and torch.allclose(
        table[3, 1], torch.tensor(3.0).cos()
    )
    assert torch.allclose(table[5, 4], torch.tensor(5 / 10000 ** (4 / 6)).sin())


@pytest.mark.parametrize("frame_pooling", ["official", "per_frame"])
def test_videomae_backbone(frame_pooling):
    model = build(video_config=dict(VIDEOMAE_CONFIG), frame_pooling=frame_pooling)
    with torch.no_grad():
        out = model(pixel_values())
    assert type(model.msqnet.video_model).__name__ == "VideoMAEModel"
    assert out.logits.shape == (BATCH, NUM_LABELS)
    assert out.encoder_last_hidden_state.shape[1] == (FRAMES if frame_pooling == "official" else FRAMES // 2)


def test_without_video_query_there_is_no_image_encoder():
    model = build(use_video_query=False)
    assert model.msqnet.image_model is None and model.msqnet.query_projection is None
    with torch.no_grad():
        out = model(pixel_values())
    assert out.video_query_embeds is None and out.logits.shape == (BATCH, NUM_LABELS)


def test_query_num_frames_uses_a_subset_of_frames():
    model = build()
    frames = pixel_values()
    with torch.no_grad():
        full = model.msqnet.get_video_query_embeds(frames)
        subset = model.msqnet.get_video_query_embeds(frames, query_num_frames=2)
        expected = model.msqnet.get_video_query_embeds(frames[:, [0, 3]])
    assert torch.allclose(subset, expected, atol=1e-6) and not torch.allclose(subset, full)
    assert torch.allclose(full, model.msqnet.get_video_query_embeds(frames, query_num_frames=FRAMES))


def test_model_without_text_encoder_cannot_embed_new_names():
    model = build(classifier_head="shared")
    with pytest.raises(ValueError, match="no text encoder"):
        model.set_labels(["flying"])


def test_per_class_head_keeps_known_labels_and_rejects_new_ones():
    model = build()
    frames = pixel_values()
    with torch.no_grad():
        before = model(frames).logits
    order = ["running", "walking", "eating"]
    model.set_labels(order)
    with torch.no_grad():
        after = model(frames).logits
    # The decoder's label self-attention mixes queries, so only a permutation (not a subset) keeps logits exact.
    assert model.config.id2label == {0: "running", 1: "walking", 2: "eating"} and after.shape == (BATCH, 3)
    permutation = ["sleeping", "running", "walking", "eating", "jumping"]
    model = build()
    model.set_labels(permutation)
    with torch.no_grad():
        permuted = model(frames).logits
    assert torch.allclose(permuted, before[:, [LABELS.index(name) for name in permutation]], atol=1e-5)
    assert model.config.label2id["sleeping"] == 0 and model.num_labels == 5
    with pytest.raises(ValueError, match="per-class head has no trained weights.*flying"):
        model.set_labels(["walking", "flying"])
    with pytest.raises(ValueError, match="duplicates"):
        model.set_labels(["walking", "walking"])


def test_set_labels_with_explicit_embeddings_and_reinitialized_head():
    model = build()
    embeddings = torch.randn(2, HIDDEN)
    model.set_labels(["flying", "walking"], label_embeddings=embeddings, reinitialize_head=True)
    assert model.msqnet.label_embeddings.data.equal(embeddings)
    assert model.classifier.weight.shape == (1, 2, HIDDEN)
    with torch.no_grad():
        assert model(pixel_values()).logits.shape == (BATCH, 2)
    with pytest.raises(ValueError, match="shape"):
        model.set_labels(["a", "b"], label_embeddings=torch.randn(3, HIDDEN))


def test_label2id_follows_id2label_when_only_id2label_is_given(tmp_path):
    config = MSQNetConfig(id2label={0: "eating", 1: "walking"})
    assert config.label2id == {"eating": 0, "walking": 1}
    config.save_pretrained(tmp_path)
    assert MSQNetConfig.from_pretrained(tmp_path).label2id == {"eating": 0, "walking": 1}
