"""Text-derived label queries that train: centred and normalised text embeddings, an orthogonal start for the map, a
learned logit scale on the shared head; and configs without these fields, which build the original design."""

import json
from pathlib import Path

import pytest
import torch
from tiny_models import LABELS, tiny_config
from torch import nn

from modeling_msqnet import MSQNetConfig, MSQNetForVideoClassification
from modeling_msqnet.hub_code.configuration_msqnet import LABEL_QUERY_OPTION_DEFAULTS
from modeling_msqnet.hub_code.modeling_msqnet import MSQNetSharedLinear


TEXT_WIDTH = 16
CONDITIONED = dict(
    label_text_centering=True,
    label_text_normalize=True,
    label_query_map_init="orthogonal",
    label_query_map_gain=4.0,
    classifier_logit_scale=1.0,
)


def close_text_embeddings(num_names, seed=1):
    """Embeddings of names of one domain: a large shared direction and small differences (cosines about 0.99)."""
    generator = torch.Generator().manual_seed(seed)
    common = 3 * torch.randn(TEXT_WIDTH, generator=generator)
    return common + 0.3 * torch.randn(num_names, TEXT_WIDTH, generator=generator)


def text_derived_model(seed=0, names=LABELS, **overrides):
    torch.manual_seed(seed)
    config = tiny_config(
        classifier_head="shared",
        label_query_mode="text_derived",
        label_text_embed_dim=TEXT_WIDTH,
        use_video_query=False,
        dropout=0.0,
        **overrides,
    )
    model = MSQNetForVideoClassification(config)
    model.set_labels(names, label_embeddings=close_text_embeddings(len(names)))
    return model


def pixel_values(batch_size, seed=0):
    return torch.randn(batch_size, 4, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


def test_config_without_the_new_fields_builds_the_original_design():
    config = tiny_config(classifier_head="shared", label_query_mode="text_derived", label_text_embed_dim=TEXT_WIDTH)
    for name, default in LABEL_QUERY_OPTION_DEFAULTS.items():
        assert getattr(config, name) == default
    model = MSQNetForVideoClassification(config)
    assert type(model.msqnet.label_query_map) is nn.Linear
    assert type(model.classifier) is MSQNetSharedLinear
    keys = set(model.state_dict())
    assert {"msqnet.label_query_map.weight", "msqnet.label_query_map.bias"} <= keys
    assert not any(key.endswith(("text_center", "logit_scale")) for key in keys)


def test_folder_saved_before_the_new_fields_loads_and_scores_as_before(tmp_path):
    model = text_derived_model().eval()
    model.save_pretrained(tmp_path)
    config_file = tmp_path / "config.json"
    saved = json.loads(config_file.read_text())
    # A folder written before the fields existed has none of them.
    config_file.write_text(json.dumps({k: v for k, v in saved.items() if k not in LABEL_QUERY_OPTION_DEFAULTS}))
    loaded = MSQNetForVideoClassification.from_pretrained(tmp_path).eval()
    assert type(loaded.msqnet.label_query_map) is nn.Linear
    inputs = pixel_values(2)
    with torch.no_grad():
        torch.testing.assert_close(loaded(inputs).logits, model(inputs).logits, rtol=0, atol=0)


def test_conditioned_queries_differ_where_the_text_embeddings_are_close():
    def mean_cosine(queries):
        cosines = nn.functional.cosine_similarity(queries[:, None], queries[None], dim=-1)
        return cosines[~torch.eye(len(queries), dtype=torch.bool)].mean().item()

    with torch.no_grad():
        original = text_derived_model().msqnet.get_label_embeddings()
        conditioned = text_derived_model(**CONDITIONED).msqnet.get_label_embeddings()
    assert mean_cosine(original) > 0.9
    assert mean_cosine(conditioned) < 0.3
    torch.testing.assert_close(conditioned.norm(dim=-1), torch.full((len(LABELS),), 4.0))


def test_text_center_is_fitted_once_saved_and_independent_of_later_label_sets(tmp_path):
    model = text_derived_model(**CONDITIONED).eval()
    center = model.msqnet.label_query_map.text_center.clone()
    torch.testing.assert_close(center, close_text_embeddings(len(LABELS)).mean(dim=0))
    # A later label set (new names to score, or to fine-tune on) is centred with the trained label set's centre.
    model.set_labels(["a", "b"], label_embeddings=close_text_embeddings(2, seed=7))
    torch.testing.assert_close(model.msqnet.label_query_map.text_center, center, rtol=0, atol=0)

    model.save_pretrained(tmp_path)
    loaded = MSQNetForVideoClassification.from_pretrained(tmp_path).eval()
    for name, value in CONDITIONED.items():
        assert getattr(loaded.config, name) == value
    torch.testing.assert_close(loaded.msqnet.label_query_map.text_center, center, rtol=0, atol=0)
    inputs = pixel_values(2)
    with torch.no_grad():
        torch.testing.assert_close(loaded(inputs).logits, model(inputs).logits, rtol=0, atol=0)


def test_logit_scale_is_learned_from_its_initial_value():
    model = text_derived_model(**dict(CONDITIONED, classifier_logit_scale=5.0))
    assert model.classifier.logit_scale.exp().item() == pytest.approx(5.0)
    labels = torch.zeros(2, len(LABELS))
    model(pixel_values(2), labels=labels).loss.backward()
    assert model.classifier.logit_scale.grad is not None and model.classifier.logit_scale.grad != 0


@pytest.mark.parametrize(
    "options, message",
    [
        (
            dict(label_query_mode="learned", label_text_centering=True),
            "only apply to `label_query_mode='text_derived'`",
        ),
        (dict(classifier_head="per_class", classifier_logit_scale=10.0), "needs `classifier_head='shared'`"),
        (dict(classifier_head="shared", classifier_logit_scale=0.0), "must be > 0"),
        (
            dict(
                classifier_head="shared",
                label_query_mode="text_derived",
                label_text_embed_dim=8,
                label_query_map_init="eye",
            ),
            "must be one of",
        ),
    ],
)
def test_bad_options_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        MSQNetConfig(**options)


def train_on_one_label_per_pattern(model, steps=60, seed=1):
    """Clips of 5 noisy fixed patterns, one label each; returns (first loss, mean of the last 10, accuracy)."""
    generator = torch.Generator().manual_seed(seed)
    patterns = torch.randn(len(LABELS), 1, 3, 32, 32, generator=generator)
    classes = torch.arange(40) % len(LABELS)
    clips = patterns[classes].expand(-1, 4, -1, -1, -1) + 0.5 * torch.randn(40, 4, 3, 32, 32, generator=generator)
    labels = nn.functional.one_hot(classes, len(LABELS)).float()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    losses = []
    for step in range(steps):
        batch = torch.arange(step * 8, step * 8 + 8) % len(clips)
        loss = model(clips[batch], labels=labels[batch]).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    model.eval()
    with torch.no_grad():
        accuracy = (model(clips).logits.argmax(-1) == classes).float().mean().item()
    return losses[0], sum(losses[-10:]) / 10, accuracy


@pytest.mark.slow
def test_conditioned_text_derived_mode_leaves_the_label_prior():
    # Names whose text embeddings are close (cosines about 0.99) gave the original map nearly equal queries, and
    # training stayed at the label prior (binary cross-entropy 0.50 for one label in 5); conditioned, it fits.
    _, final_loss, accuracy = train_on_one_label_per_pattern(text_derived_model(**CONDITIONED))
    assert final_loss < 0.2
    assert accuracy == 1.0


def test_label_embeds_given_per_call_go_through_the_trained_centre():
    model = text_derived_model(**CONDITIONED).eval()
    center = model.msqnet.label_query_map.text_center.clone()
    candidates = close_text_embeddings(3, seed=5)
    with torch.no_grad():
        logits = model(pixel_values(2), label_embeds=candidates).logits
        alone = model.msqnet.get_label_embeddings(candidates[:1])
        with_others = model.msqnet.get_label_embeddings(candidates)
    assert logits.shape == (2, 3)
    torch.testing.assert_close(model.msqnet.label_query_map.text_center, center, rtol=0, atol=0)
    # A name's query does not depend on the other candidates.
    torch.testing.assert_close(alone[0], with_others[0])


def test_protocol_trains_the_compositional_variant_with_its_recipe_by_default():
    from modeling_msqnet.zero_shot.driver import DEMO_TRAINING_CONFIG, DEMO_VARIANTS, training_config_for

    recipe = training_config_for("synthetic_actions_compositional")
    assert Path(recipe).name == "zero-shot-compositional.json" and Path(recipe).is_file()
    assert training_config_for("synthetic_actions") == str(DEMO_TRAINING_CONFIG)
    assert training_config_for("synthetic_actions_compositional", "mine.json") == "mine.json"
    # The text-derived preset is the conditioned design; it loads into a config.
    preset = json.loads(DEMO_VARIANTS["text_derived"].read_text())
    config = MSQNetConfig(**preset)
    assert config.label_text_centering and config.label_text_normalize
    assert config.label_query_map_init == "orthogonal"
