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
"""Zero-shot class splits: which classes a model is trained on (seen) and which it is tested on (unseen).

A split file (`configuration/zero_shot/<dataset>.json`) holds, for each setting (`"50_seen"`, `"75_seen"`: the
percentage of classes seen in training), a list of splits `{"seen": [...], "unseen": [...]}`, names in the label
set's index order:

```json
{"dataset": "hmdb51", "label_set": "hmdb51", "seed": 0, "command": "python -m modeling_msqnet.zero_shot.generate_splits ...",
 "splits": {"50_seen": [{"seed": 0, "seen": ["brush_hair", ...], "unseen": [...]}, ...], "75_seen": [...]}}
```

Random splits draw `round_half_up(K * fraction)` seen classes uniformly without replacement with
`numpy.random.default_rng(seed + index)` (index of the split in its setting, plus 1000 for `75_seen`), so each split
can be regenerated on its own. Command line: `python -m modeling_msqnet.zero_shot.generate_splits --help`.
"""

import json
import math
import os
from pathlib import Path

import numpy as np
from transformers.utils import logging

from ..data import load_label_set
from ..resources import resource_path


logger = logging.get_logger(__name__)

SPLITS_DIR = resource_path("configuration", "zero_shot")
SETTINGS = {"50_seen": 0.5, "75_seen": 0.75}
# Seed offset of each setting, so that the splits of the two settings are drawn independently.
SETTING_SEED_OFFSETS = {"50_seen": 0, "75_seen": 1000}
NUM_SPLITS = 10
# The generated benchmark's label set (`modeling_msqnet.data.synthetic_actions.ACTIONS`), by name.
SYNTHETIC_ACTIONS = "synthetic_actions"


class SplitError(ValueError):
    """A split file that does not match its label set; the message names the file, setting and split."""


def num_seen_classes(num_labels: int, fraction: float) -> int:
    """`K * fraction` rounded half up (51 classes at 50%: 26 seen, 25 unseen)."""
    return int(math.floor(num_labels * fraction + 0.5))


def random_split(label_names, fraction: float, seed: int) -> dict:
    """One seeded random split of `label_names`: `{"seed", "seen", "unseen"}`, both in the label set's order."""
    label_names = list(label_names)
    num_seen = num_seen_classes(len(label_names), fraction)
    if not 0 < num_seen < len(label_names):
        raise ValueError(f"{fraction:.0%} of {len(label_names)} classes leaves no seen or no unseen class.")
    chosen = set(np.random.default_rng(seed).choice(len(label_names), size=num_seen, replace=False).tolist())
    return {
        "seed": int(seed),
        "seen": [name for index, name in enumerate(label_names) if index in chosen],
        "unseen": [name for index, name in enumerate(label_names) if index not in chosen],
    }


def generate_split_file(label_set, *, dataset=None, seed: int = 0, num_splits: int = NUM_SPLITS, command=None) -> dict:
    """
    The content of a split file with `num_splits` seeded random splits per setting of `SETTINGS`.

    Args:
        label_set (`str`, `os.PathLike` or `list[str]`):
            A label set name or file (see [`~modeling_msqnet.data.load_label_set`]), or the class names.
        dataset (`str`, *optional*):
            Dataset name written in the file (defaults to the label set's name).
        seed (`int`, *optional*, defaults to 0):
            Base seed; split `i` of a setting uses `seed + SETTING_SEED_OFFSETS[setting] + i`.
        num_splits (`int`, *optional*, defaults to 10):
            Splits per setting.
        command (`str`, *optional*):
            The command that generated the file, recorded in it.
    """
    if label_set == SYNTHETIC_ACTIONS:
        from ..data.synthetic_actions import ACTIONS

        label_names, name = list(ACTIONS), dataset or SYNTHETIC_ACTIONS
    elif isinstance(label_set, (list, tuple)):
        label_names, name = list(label_set), dataset
    else:
        loaded = load_label_set(label_set)
        label_names, name = loaded["labels"], dataset or loaded["name"]
    if num_splits < 1:
        raise ValueError(f"`num_splits` must be >= 1, got {num_splits}.")
    splits = {
        setting: [
            random_split(label_names, fraction, seed + SETTING_SEED_OFFSETS[setting] + index)
            for index in range(num_splits)
        ]
        for setting, fraction in SETTINGS.items()
    }
    return {
        "dataset": name,
        "label_set": None if isinstance(label_set, (list, tuple)) else str(label_set),
        "num_labels": len(label_names),
        "source": "seeded random class splits (numpy.random.default_rng(seed + setting offset + split index))",
        "seed": int(seed),
        "setting_seed_offsets": dict(SETTING_SEED_OFFSETS),
        "command": command,
        "splits": splits,
    }


def validate_split_file(content: dict, label_names, where: str = "split file") -> None:
    """
    Check every split of a split file against the label set: seen and unseen are disjoint, non-empty, together cover
    exactly `label_names`, and have the sizes of their setting (`round_half_up(K * fraction)` seen classes).

    Raises:
        `SplitError` naming `where`, the setting and the split index.
    """
    label_names = list(label_names)
    known = set(label_names)
    splits = content.get("splits") if isinstance(content, dict) else None
    if not isinstance(splits, dict) or not splits:
        raise SplitError(f"{where}: expected a 'splits' object of settings ({list(SETTINGS)}) to lists of splits.")
    for setting, entries in splits.items():
        if setting not in SETTINGS:
            raise SplitError(f"{where}: unknown setting {setting!r}; expected one of {list(SETTINGS)}.")
        if not isinstance(entries, list) or not entries:
            raise SplitError(f"{where}: setting {setting!r} must be a non-empty list of splits.")
        expected_seen = num_seen_classes(len(label_names), SETTINGS[setting])
        for index, split in enumerate(entries):
            at = f"{where}: {setting}[{index}]"
            seen, unseen = split.get("seen"), split.get("unseen")
            if not isinstance(seen, list) or not isinstance(unseen, list):
                raise SplitError(f"{at}: needs 'seen' and 'unseen' lists of class names.")
            for part, names in (("seen", seen), ("unseen", unseen)):
                unknown = sorted(set(names) - known)
                if unknown:
                    raise SplitError(f"{at}: {part} has names that are not in the label set: {unknown}.")
                if len(set(names)) != len(names):
                    raise SplitError(f"{at}: {part} repeats class names.")
            overlap = sorted(set(seen) & set(unseen))
            if overlap:
                raise SplitError(f"{at}: seen and unseen share {overlap}.")
            missing = [name for name in label_names if name not in set(seen) | set(unseen)]
            if missing:
                raise SplitError(f"{at}: the classes {missing} are neither seen nor unseen.")
            if len(seen) != expected_seen:
                raise SplitError(
                    f"{at}: {len(seen)} seen classes, expected {expected_seen} of {len(label_names)} for {setting}."
                )


def resolve_split_file(name_or_path) -> Path:
    """A split file path, or the name of one in `configuration/zero_shot/` (e.g. `"thumos14"`)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    candidate = SPLITS_DIR / f"{name_or_path}.json"
    if candidate.is_file() and os.sep not in str(name_or_path):
        return candidate
    available = sorted(p.stem for p in SPLITS_DIR.glob("*.json")) if SPLITS_DIR.is_dir() else []
    raise FileNotFoundError(f"No split file {name_or_path!r}: expected a JSON file or one of {available}.")


def load_split(name_or_path, setting: str, index: int, label_names=None) -> dict:
    """
    One split of a split file: `{"seen", "unseen", "setting", "index", "file", "dataset"}`. With `label_names`, the
    whole file is validated against them first (see [`validate_split_file`]).
    """
    path = resolve_split_file(name_or_path)
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise SplitError(f"{path} is not valid JSON: {error}") from None
    if label_names is not None:
        validate_split_file(content, label_names, where=str(path))
    splits = content.get("splits", {})
    if setting not in splits:
        raise SplitError(f"{path} has no setting {setting!r}; it has {sorted(splits)}.")
    if not 0 <= index < len(splits[setting]):
        raise SplitError(f"{path}: split index {index} out of range; {setting} has {len(splits[setting])} splits.")
    split = splits[setting][index]
    return {
        "seen": list(split["seen"]),
        "unseen": list(split["unseen"]),
        "setting": setting,
        "index": int(index),
        "file": str(path),
        "dataset": content.get("dataset"),
    }


def write_json_atomically(content, path) -> Path:
    """Write `content` as indented JSON to `path` (written to a temporary file, then renamed)."""
    from ..file_utils import atomic_output

    with atomic_output(path, ".json") as temporary:
        temporary.write_text(json.dumps(content, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return Path(path)
