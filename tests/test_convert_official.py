"""`examples/convert_official_checkpoint.py`: an official-layout checkpoint becomes a Hub-ready folder that computes
the same logits as an independent implementation of the published model
(`modeling_msqnet/conversion/official_reference.py`)."""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tiny_models import IMAGE_SIZE, MSQNetModelTester, tiny_config
from transformers import AutoModelForVideoClassification, AutoVideoProcessor

from modeling_msqnet import MSQNetForVideoClassification, MSQNetVideoProcessor


SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "convert_official_checkpoint.py"
build_official_pair = MSQNetModelTester().create_official_pair


def run_converter(*args):
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, env=env, timeout=300
    )


def official_checkpoint(official):
    """The state_dict as the authors' code saved it: DataParallel `module.` prefix, transformers 4.x CLIP nesting."""
    state = {}
    for key, value in official.state_dict().items():
        if key.startswith("image_model."):
            key = "image_model.vision_model." + key[len("image_model.") :]
        state["module." + key] = value
    return {"state_dict": state}


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    root = tmp_path_factory.mktemp("convert")
    official, _ = build_official_pair(seed=7)
    torch.save(official_checkpoint(official), root / "official.pth")
    tiny_config().to_json_file(root / "config.json")
    completed = run_converter(
        "--checkpoint", root / "official.pth", "--config", root / "config.json", "--output", root / "converted"
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return official, root


def test_converted_folder_matches_the_reference_forward(converted):
    official, root = converted
    model = AutoModelForVideoClassification.from_pretrained(root / "converted").eval()
    assert type(model) is MSQNetForVideoClassification
    pixel_values = torch.randn(3, 4, 3, IMAGE_SIZE, IMAGE_SIZE, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = official(pixel_values)
        actual = model(pixel_values).logits
    assert actual.shape == (3, 5)
    assert (actual - expected).abs().max().item() < 1e-4
    assert not any(p.requires_grad for p in model.msqnet.image_model.parameters())


def test_converted_folder_is_hub_ready(converted):
    _, root = converted
    files = {path.name for path in (root / "converted").iterdir()}
    assert {"config.json", "model.safetensors", "modeling_msqnet.py", "configuration_msqnet.py"} <= files
    assert json.loads((root / "converted" / "config.json").read_text())["id2label"]["0"] == "walking"
    video_processor = AutoVideoProcessor.from_pretrained(root / "converted")
    assert isinstance(video_processor, MSQNetVideoProcessor) and video_processor.num_frames == 4


def test_checkpoint_that_does_not_fit_the_config_fails_clearly(converted, tmp_path):
    _, root = converted
    tiny_config(id2label={0: "a", 1: "b"}, label2id={"a": 0, "b": 1}).to_json_file(tmp_path / "config.json")
    completed = run_converter(
        "--checkpoint", root / "official.pth", "--config", tmp_path / "config.json", "--output", tmp_path / "out"
    )
    assert completed.returncode == 1
    assert "does not fit this MSQNet configuration" in completed.stderr and "Traceback" not in completed.stderr
    assert not (tmp_path / "out").exists()


def test_pickled_objects_are_refused(tmp_path):
    # Any pickled object that is not plain data (here an argparse Namespace) must never be unpickled.
    torch.save({"state_dict": {"w": torch.zeros(1)}, "args": argparse.Namespace(lr=1e-5)}, tmp_path / "unsafe.pth")
    tiny_config().to_json_file(tmp_path / "config.json")
    completed = run_converter(
        "--checkpoint", tmp_path / "unsafe.pth", "--config", tmp_path / "config.json", "--output", tmp_path / "out"
    )
    assert completed.returncode == 1
    assert "weights only" in completed.stderr and "unsafe.pth" in completed.stderr


def test_missing_files_are_named(tmp_path):
    completed = run_converter(
        "--checkpoint", tmp_path / "absent.pth", "--config", tmp_path / "absent.json", "--output", tmp_path / "out"
    )
    assert completed.returncode == 1
    assert "absent" in completed.stderr and "Traceback" not in completed.stderr
