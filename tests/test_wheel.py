"""The wheel installs and works outside the checkout: it carries the label sets, presets and model-card template, and
trains and saves a model with `accelerate launch -m modeling_msqnet.training` (the command line of
`examples/train.py`), the label set and presets given by name.

The wheel goes into a fresh virtual environment that reuses this environment's third-party packages (a `.pth` line)
but neither sees the checkout nor the editable install, and runs from a folder outside the checkout.
"""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from video_fixtures import write_video


ROOT = Path(__file__).resolve().parents[1]
# What `pip wheel` needs from the checkout; copying it keeps build outputs out of the checkout.
BUILD_INPUTS = ("pyproject.toml", "setup.py", "README.md", "modeling_msqnet", "configuration", "hub_cards")
SHIPPED_FILES = (
    "modeling_msqnet/configuration/datasets/hmdb51.json",
    "modeling_msqnet/configuration/models/msqnet-demo.json",
    "modeling_msqnet/configuration/training/paper.json",
    "modeling_msqnet/configuration/accelerate/cpu.yaml",
    "modeling_msqnet/hub_cards/msqnet_model_card_template.md",
)
LABELS = ("brush_hair", "cartwheel", "catch")  # from the hmdb51 label set

# Run inside the fresh environment: where the package and its shipped files come from.
WHERE_SCRIPT = """
import json, sys
import modeling_msqnet
from modeling_msqnet.data.manifest import LABEL_SETS_DIR, load_label_set
from modeling_msqnet.publishing.model_card import DEFAULT_TEMPLATE_PATH
from modeling_msqnet.resources import preset_path
print(json.dumps({
    "package": modeling_msqnet.__file__,
    "label_sets": str(LABEL_SETS_DIR),
    "template": str(DEFAULT_TEMPLATE_PATH),
    "preset": str(preset_path("msqnet-demo", "models")),
    "hmdb51_labels": load_label_set("hmdb51")["num_labels"],
    "sys_path": sys.path,
}))
"""


def run(command, cwd, env, timeout=600):
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{command} failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """Build the wheel from a copy of the checkout and install it into a fresh venv; returns (python, wheel, env)."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    for name in BUILD_INPUTS:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            source.mkdir(exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env.update(
        OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", PIP_DISABLE_PIP_VERSION_CHECK="1"
    )
    pip = [sys.executable, "-m", "pip", "--no-input", "--quiet"]
    run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "--wheel-dir", str(root / "dist"), str(source)], root, env
    )
    (wheel,) = (root / "dist").glob("msqnet-*.whl")

    venv = root / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], root, env)
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    site_packages = Path(
        run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], root, env).stdout.strip()
    )
    # `--target` unpacks the wheel without looking at (or uninstalling) what this environment has installed.
    run([*pip, "install", "--no-deps", "--target", str(site_packages), str(wheel)], root, env)
    # This environment's third-party packages, as a plain path: its `.pth` files (the editable install) are not read.
    (site_packages / "third_party.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python, wheel, env, site_packages


@pytest.mark.slow
def test_wheel_ships_the_label_sets_presets_and_card_template(installed):
    python, wheel, env, site_packages = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    assert set(SHIPPED_FILES) <= names, sorted(set(SHIPPED_FILES) - names)
    shipped_label_sets = {name for name in names if name.startswith("modeling_msqnet/configuration/datasets/")}
    assert len(shipped_label_sets) == len(list((ROOT / "configuration" / "datasets").glob("*.json")))

    outside = site_packages.parent
    where = json.loads(run([str(python), "-c", WHERE_SCRIPT], outside, env).stdout.strip().splitlines()[-1])
    package_dir = site_packages / "modeling_msqnet"
    assert Path(where["package"]).parent == package_dir
    assert Path(where["label_sets"]) == package_dir / "configuration" / "datasets"
    assert Path(where["template"]) == package_dir / "hub_cards" / "msqnet_model_card_template.md"
    assert Path(where["preset"]) == package_dir / "configuration" / "models" / "msqnet-demo.json"
    assert where["hmdb51_labels"] == 51
    assert not [entry for entry in where["sys_path"] if entry and Path(entry).resolve() == ROOT]


@pytest.mark.slow
def test_installed_wheel_trains_and_saves_a_model_with_its_card(installed, tmp_path):
    """`accelerate launch -m modeling_msqnet.training --model msqnet-demo --config_file paper --labels hmdb51`."""
    python, _, env, site_packages = installed
    data = tmp_path / "data"
    data.mkdir()
    rows = []
    for index, label in enumerate(LABELS * 2):
        write_video(data / f"clip_{index}.mp4", 8, width=32, height=32)
        rows.append(json.dumps({"video": f"clip_{index}.mp4", "labels": [label]}))
    (data / "train.jsonl").write_text("\n".join(rows) + "\n")
    output_dir = tmp_path / "model"
    launch = [str(python), "-m", "accelerate.commands.launch", "--cpu", "--num_processes", "1", "--num_machines", "1"]
    launch += ["--mixed_precision", "no", "--dynamo_backend", "no", "-m", "modeling_msqnet.training"]
    launch += ["--model", "msqnet-demo", "--config_file", "paper", "--labels", "hmdb51"]
    launch += ["--train_manifest", str(data / "train.jsonl"), "--eval_manifest", str(data / "train.jsonl")]
    launch += ["--output_dir", str(output_dir), "--num_train_epochs", "1", "--per_device_train_batch_size", "3"]
    launch += ["--per_device_eval_batch_size", "6", "--checkpointing_steps", "100"]
    run(launch, tmp_path, env)

    config = json.loads((output_dir / "config.json").read_text())
    assert config["problem_type"] == "single_label_classification" and len(config["id2label"]) == 51
    assert config["id2label"]["0"] == "brush_hair" and config["video_config"]["model_type"] == "videomae"
    assert (output_dir / "model.safetensors").is_file() and (output_dir / "configuration_msqnet.py").is_file()
    card = (output_dir / "README.md").read_text()
    assert "over 51 action classes, trained on **HMDB51**" in card and "{{" not in card
    history = json.loads((output_dir / "training_history.json").read_text())["history"]
    assert history and "train_loss" in history[-1]
    # The evaluation ran with the metrics shipped in the wheel (`evaluate` modules loaded from the package folder).
    report = json.loads((output_dir / "eval_report.json").read_text())
    assert report["num_videos"] == len(rows) and 0.0 <= report["top1"] <= 1.0

    # The saved folder loads with the installed package, from outside the checkout.
    check = "from modeling_msqnet import MSQNetForVideoClassification as M; import sys; m = M.from_pretrained(sys.argv[1]); print(m.num_labels)"
    assert run([str(python), "-c", check, str(output_dir)], tmp_path, env).stdout.strip().splitlines()[-1] == "51"
