"""The one place that finds the files shipped with msqnet: label sets, presets and the model-card template."""

from pathlib import Path

import pytest

from modeling_msqnet.data.manifest import LABEL_SETS_DIR
from modeling_msqnet.publishing.model_card import DEFAULT_TEMPLATE_PATH
from modeling_msqnet.resources import available_presets, preset_path, resource_path


ROOT = Path(__file__).resolve().parents[1]


def test_a_checkout_reads_the_top_level_folders():
    assert resource_path("configuration", "datasets") == ROOT / "configuration" / "datasets" == LABEL_SETS_DIR
    assert DEFAULT_TEMPLATE_PATH == ROOT / "hub_cards" / "msqnet_model_card_template.md"
    with pytest.raises(ValueError, match="configuration"):
        resource_path("examples", "train.py")


def test_presets_are_found_by_name_and_paths_pass_through(tmp_path):
    assert preset_path("msqnet-demo", "models") == ROOT / "configuration" / "models" / "msqnet-demo.json"
    assert preset_path("paper", "training") == ROOT / "configuration" / "training" / "paper.json"
    assert {"msqnet-demo", "msqnet-paper"} <= set(available_presets("models"))
    assert "hmdb51" in available_presets("datasets")
    own = tmp_path / "paper"
    own.mkdir()
    # An existing path wins over a preset of the same name; unknown names come back unchanged for the caller's error.
    assert preset_path(own, "training") == own
    assert preset_path("no-such-preset", "models") == Path("no-such-preset")
    assert preset_path("configuration/models/msqnet-demo.json", "models") == Path(
        "configuration/models/msqnet-demo.json"
    )
    with pytest.raises(ValueError, match="kind"):
        preset_path("paper", "recipes")


def test_training_reads_presets_by_name():
    from modeling_msqnet.training.arguments import parse_args

    args = parse_args(
        ["--model", "msqnet-demo", "--config_file", "paper", "--train_manifest", "train.jsonl", "--output_dir", "out"]
    )
    assert args.num_train_epochs == 100 and args.learning_rate == 1e-5
