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
"""Label sets and video manifests: the files that describe a training or evaluation set.

A manifest is a JSON Lines file with one video (or one clip of a video) per line:

```json
{"video": "clips/abc.mp4", "labels": ["Eating", "Walking"]}
{"video": "/data/Charades_v1_rgb/46GP8", "labels": ["Holding a phone/camera"], "start": 0.0, "end": 12.6, "fps": 24}
```

- `video` (required): a video file or a folder of frame images. A relative path resolves against the folder that holds
  the manifest.
- `labels` (required): the class names of the clip, each one a name of the model's `label2id`. An empty list is a clip
  with no action (a negative for every class of a multi-label set).
- `start`, `end` (optional, seconds, `end` exclusive): the clip inside the video; the whole video when left out.
- `fps` (optional): the frame rate of a frame folder, needed to use `start`/`end` on one; ignored for video files.
- `id` (optional): a free-form identifier kept for reports.
"""

import difflib
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path

from transformers.utils import logging

from ..hub_code.configuration_msqnet import PROBLEM_TYPES, SINGLE_LABEL_CLASSIFICATION
from ..resources import resource_path


logger = logging.get_logger(__name__)

MANIFEST_KEYS = ("video", "labels", "start", "end", "fps", "id")

# Training and evaluation fail when a larger share of a manifest's videos cannot be read (`--max_skipped_fraction`).
DEFAULT_MAX_SKIPPED_FRACTION = 0.2

LABEL_SETS_DIR = resource_path("configuration", "datasets")


class ManifestError(ValueError):
    """Raised for a manifest that cannot be read; the message names the file and line."""


def check_label_names(names, source: str) -> list[str]:
    """
    Check a list of class names (non-empty strings, none repeated) and return it as a list; the `ValueError` names
    `source` (the file or argument the names come from).
    """
    if not isinstance(names, (list, tuple)) or not names:
        raise ValueError(f"{source} must hold a non-empty list of class names (strings), got {names!r}.")
    bad = [index for index, name in enumerate(names) if not isinstance(name, str) or not name.strip()]
    if bad:
        raise ValueError(f"{source} must hold class names as non-empty strings; those at indices {bad[:10]} are not.")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"{source} repeats the class names {duplicates}.")
    return list(names)


def multi_hot(label_ids, num_labels: int):
    """
    `(num_clips, num_labels)` int64 0/1 targets (a numpy array) from each clip's class indices (a list of lists, as
    the `label_ids` of [`read_manifest`]).
    """
    import numpy as np

    targets = np.zeros((len(label_ids), num_labels), dtype=np.int64)
    for row, ids in enumerate(label_ids):
        targets[row, list(ids)] = 1
    return targets


def check_skipped_share(
    num_skipped: int,
    num_videos: int,
    manifest,
    problem: str,
    max_skipped_fraction: float = DEFAULT_MAX_SKIPPED_FRACTION,
    examples=(),
):
    """
    Raise a [`ManifestError`] when none of the `num_videos` videos of `manifest` is usable, or more than
    `max_skipped_fraction` of them are not (`problem` says why, e.g. "do not exist"); `examples` are listed.
    """
    listed = "".join(f"\n  {example}" for example in list(examples)[:10])
    more = f"\n  ... and {num_skipped - 10} more" if num_skipped > 10 else ""
    if num_videos == 0 or num_skipped >= num_videos:
        raise ManifestError(f"{manifest}: all {num_videos} videos {problem}; there is nothing to use.{listed}{more}")
    if num_skipped / num_videos > max_skipped_fraction:
        raise ManifestError(
            f"{manifest}: {num_skipped} of {num_videos} videos ({num_skipped / num_videos:.0%}) {problem}, more than "
            f"--max_skipped_fraction {max_skipped_fraction:g} allows; fix the manifest or raise the bound.{listed}{more}"
        )


def check_videos_exist(dataset, manifest, max_skipped_fraction: float = DEFAULT_MAX_SKIPPED_FRACTION) -> int:
    """
    Count the videos of a manifest dataset ([`load_manifest_dataset`], or the entries of [`read_manifest`]) that do
    not exist, warn about them and fail as [`check_skipped_share`] does. Returns the number missing.
    """
    rows = (
        zip(dataset["video"], dataset["line"])
        if hasattr(dataset, "column_names")
        else ((entry["video"], entry["line"]) for entry in dataset)
    )
    rows = list(rows)
    missing = [f"{manifest}:{line}: {video}" for video, line in rows if not os.path.exists(video)]
    if missing:
        logger.warning(f"{len(missing)} of the {len(rows)} videos of {manifest} do not exist; they will be skipped.")
    check_skipped_share(len(missing), len(rows), manifest, "do not exist", max_skipped_fraction, missing)
    return len(missing)


def available_label_sets() -> list[str]:
    """Names of the label sets shipped in `configuration/datasets/`."""
    if not LABEL_SETS_DIR.is_dir():
        return []
    return sorted(path.stem for path in LABEL_SETS_DIR.glob("*.json"))


def load_label_set(name_or_path: str | os.PathLike) -> dict:
    """
    Load a dataset's label set: its class names in the official index order and what training needs to know about it.

    Args:
        name_or_path (`str` or `os.PathLike`):
            A name from `configuration/datasets/` (`"animal_kingdom"`, `"charades"`, `"hockey"`, `"thumos14"`,
            `"hmdb51"`, `"volleyball"`) or the path of a JSON file with the same layout.

    Returns:
        `dict`: the JSON content (`name`, `problem_type`, `metric`, `num_labels`, `labels`, ...) plus `label2id`
        (`dict[str, int]`) and `id2label` (`dict[int, str]`) built from `labels`.

    Example:

    ```python
    >>> label_set = load_label_set("animal_kingdom")
    >>> label_set["num_labels"], label_set["labels"][:2], label_set["problem_type"]
    (140, ['Abseiling', 'Attacking'], 'multi_label_classification')
    ```
    """
    path = Path(name_or_path)
    if not path.is_file():
        candidate = LABEL_SETS_DIR / f"{name_or_path}.json"
        if os.sep in str(name_or_path) or str(name_or_path).endswith(".json") or not candidate.is_file():
            raise FileNotFoundError(
                f"No label set file {name_or_path!r}: expected a JSON file or one of the names "
                f"{available_label_sets()} (from {LABEL_SETS_DIR})."
            )
        path = candidate
    try:
        with open(path, encoding="utf-8-sig") as file:
            label_set = json.load(file)
    except json.JSONDecodeError as error:
        raise ValueError(f"The label set file {path} is not valid JSON: {error}") from error

    if not isinstance(label_set, dict) or "labels" not in label_set:
        raise ValueError(f"The label set file {path} must hold a non-empty list of class names under 'labels'.")
    labels = check_label_names(label_set["labels"], f"The label set file {path}")
    if label_set.get("num_labels", len(labels)) != len(labels):
        raise ValueError(
            f"The label set file {path} says num_labels={label_set['num_labels']} but lists {len(labels)} labels."
        )
    problem_type = label_set.setdefault("problem_type", PROBLEM_TYPES[0])
    if problem_type not in PROBLEM_TYPES:
        raise ValueError(
            f"The label set file {path} has problem_type={problem_type!r}; expected one of {PROBLEM_TYPES}."
        )
    label_set.setdefault("name", path.stem)
    label_set["num_labels"] = len(labels)
    label_set["label2id"] = {label: index for index, label in enumerate(labels)}
    label_set["id2label"] = dict(enumerate(labels))
    return label_set


def _as_label2id(label2id) -> dict[str, int]:
    if isinstance(label2id, (list, tuple)):
        label2id = {label: index for index, label in enumerate(label2id)}
    if not isinstance(label2id, Mapping) or not label2id:
        raise ValueError(
            "`label2id` must be a non-empty dict of class name -> index (`model.config.label2id`, or "
            "`{name: int(i) for i, name in model.config.id2label.items()}` where that is not set) or the list of "
            f"class names in index order; got {label2id!r}."
        )
    return {str(label): int(index) for label, index in label2id.items()}


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _parse_entry(entry, label2id: dict, base_dir: Path, where: str, single_label: bool) -> dict:
    """Validate one decoded manifest line and resolve its video path; `where` is `file:line` for the messages."""
    if not isinstance(entry, dict):
        raise ManifestError(f"{where}: expected a JSON object, got {type(entry).__name__}.")
    video = entry.get("video")
    if video is None:
        raise ManifestError(f"{where}: missing the required key 'video' (a video file or frame folder).")
    if not isinstance(video, str) or not video.strip():
        raise ManifestError(f"{where}: 'video' must be a non-empty string path, got {video!r}.")
    if "labels" not in entry:
        raise ManifestError(f"{where}: missing the required key 'labels' (a list of class names).")
    labels = entry["labels"]
    if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
        raise ManifestError(f"{where}: 'labels' must be a list of class names (strings), got {labels!r}.")
    for label in labels:
        if label not in label2id:
            close = difflib.get_close_matches(label, list(label2id), n=3)
            hint = f" Did you mean {close}?" if close else ""
            raise ManifestError(f"{where}: unknown label {label!r}; it is not one of the model's labels.{hint}")
    labels = list(dict.fromkeys(labels))  # a repeated name is the same class
    if single_label and len(labels) != 1:
        raise ManifestError(
            f"{where}: a single-label dataset needs exactly one label per video, got {len(labels)}: {labels}."
        )

    times = {}
    for key in ("start", "end", "fps"):
        value = entry.get(key)
        if value is not None and not _is_number(value):
            raise ManifestError(f"{where}: '{key}' must be a finite number (or null), got {value!r}.")
        times[key] = float(value) if value is not None else None
    start, end, fps = times["start"], times["end"], times["fps"]
    if start is not None and start < 0:
        raise ManifestError(f"{where}: 'start' must be >= 0 seconds, got {start}.")
    if end is not None and end <= 0:
        raise ManifestError(f"{where}: 'end' must be > 0 seconds, got {end}.")
    if start is not None and end is not None and start >= end:
        raise ManifestError(f"{where}: 'start' ({start} s) must be before 'end' ({end} s).")
    if fps is not None and fps <= 0:
        raise ManifestError(f"{where}: 'fps' must be > 0, got {fps}.")
    identifier = entry.get("id")
    if identifier is not None and not isinstance(identifier, (str, int)):
        raise ManifestError(f"{where}: 'id' must be a string or an integer, got {identifier!r}.")

    path = Path(os.path.expanduser(video))
    if not path.is_absolute():
        path = base_dir / path
    return {
        "video": os.path.normpath(str(path)),
        "labels": labels,
        "label_ids": [label2id[label] for label in labels],
        "start": start,
        "end": end,
        "fps": fps,
        "id": None if identifier is None else str(identifier),
    }


def read_manifest(
    path: str | os.PathLike,
    label2id: dict[str, int],
    *,
    problem_type: str | None = None,
    check_files: bool = False,
    extra_keys: tuple[str, ...] = (),
) -> list[dict]:
    """
    Read and validate a manifest (see the module docstring for the format).

    Args:
        path (`str` or `os.PathLike`):
            The JSON Lines manifest.
        label2id (`dict[str, int]` or `list[str]`):
            The model's class names and indices (`model.config.label2id`), or the class names in index order.
        problem_type (`str`, *optional*):
            `"single_label_classification"` checks that every line has exactly one label.
        check_files (`bool`, *optional*, defaults to `False`):
            Whether to check that every video file or frame folder exists (an error lists the missing ones).
        extra_keys (`tuple[str]`, *optional*):
            Keys of a manifest of your own to keep as they are in the entries (`None` where a line lacks one), e.g.
            the `actor` of the generated benchmark's manifests.

    Returns:
        `list[dict]`: one dict per line with `video` (absolute path), `labels`, `label_ids`, `start`, `end`, `fps`,
        `id`, `line` (its line number in the file) and the `extra_keys`.

    Raises:
        `ManifestError`: bad JSON, a missing `video` or `labels`, labels not a list, an unknown label, `start >= end`,
        ...; the message names the file and line.
    """
    path = Path(path)
    label2id = _as_label2id(label2id)
    if problem_type is not None and problem_type not in PROBLEM_TYPES:
        raise ValueError(f"`problem_type` must be one of {PROBLEM_TYPES}, got {problem_type!r}.")
    if not path.is_file():
        raise FileNotFoundError(f"The manifest {path} does not exist.")
    base_dir = path.resolve().parent
    single_label = problem_type == SINGLE_LABEL_CLASSIFICATION

    entries = []
    unknown_keys = set()
    with open(path, encoding="utf-8-sig") as file:  # a byte order mark (Windows editors) is not part of the JSON
        for line_number, line in enumerate(file, start=1):
            if not line.strip():
                continue
            where = f"{path}:{line_number}"
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as error:
                raise ManifestError(f"{where}: invalid JSON ({error.msg} at column {error.colno}).") from error
            if isinstance(entry, dict):
                unknown_keys.update(set(entry) - set(MANIFEST_KEYS) - set(extra_keys))
            parsed = _parse_entry(entry, label2id, base_dir, where, single_label)
            parsed["line"] = line_number
            parsed.update({key: entry.get(key) for key in extra_keys})
            entries.append(parsed)
    if not entries:
        raise ManifestError(f"{path}: the manifest holds no entries.")
    if unknown_keys:
        logger.warning(f"{path}: ignored the keys {sorted(unknown_keys)} (known keys: {list(MANIFEST_KEYS)}).")
    if check_files:
        missing = [entry for entry in entries if not os.path.exists(entry["video"])]
        if missing:
            listed = "\n".join(f"  {path}:{entry['line']}: {entry['video']}" for entry in missing[:10])
            more = f"\n  ... and {len(missing) - 10} more" if len(missing) > 10 else ""
            raise ManifestError(f"{len(missing)} video(s) of the manifest {path} do not exist:\n{listed}{more}")
    return entries


def manifest_features():
    """The `datasets.Features` of [`load_manifest_dataset`]."""
    import datasets

    return datasets.Features(
        {
            "video": datasets.Value("string"),
            "labels": datasets.Sequence(datasets.Value("string")),
            "label_ids": datasets.Sequence(datasets.Value("int64")),
            "start": datasets.Value("float64"),
            "end": datasets.Value("float64"),
            "fps": datasets.Value("float64"),
            "id": datasets.Value("string"),
            "line": datasets.Value("int64"),
            "index": datasets.Value("int64"),
        }
    )


def load_manifest_dataset(
    path: str | os.PathLike,
    label2id: dict[str, int],
    *,
    problem_type: str | None = None,
    check_files: bool = False,
):
    """
    Read a manifest into a Hugging Face `datasets.Dataset` (in memory, nothing written to a cache). The arguments are
    those of [`read_manifest`], which reads and checks the lines.

    Returns:
        `datasets.Dataset`: columns `video` (absolute path), `labels` (names), `label_ids`, `start`, `end`, `fps`
        (null where not given), `id`, `line` (line number in the manifest) and `index` (row number, which seeds the
        per-example randomness of [`~modeling_msqnet.data.MSQNetVideoTransform`]).

    Example:

    ```python
    >>> dataset = load_manifest_dataset("train.jsonl", model.config.label2id)
    >>> dataset.set_transform(MSQNetVideoTransform(video_processor, model.config, train=True))
    ```
    """
    import datasets

    entries = read_manifest(path, label2id, problem_type=problem_type, check_files=check_files)
    for index, entry in enumerate(entries):
        entry["index"] = index
    return datasets.Dataset.from_list(entries, features=manifest_features())


def write_manifest(entries, path: str | os.PathLike, *, relative_paths: bool = False) -> int:
    """
    Write manifest entries (dicts with at least `video` and `labels`) as JSON Lines.

    Args:
        entries (`Iterable[dict]`):
            The entries; `None` values of the optional keys are left out.
        path (`str` or `os.PathLike`):
            The manifest to write (its folder is created).
        relative_paths (`bool`, *optional*, defaults to `False`):
            Write the video paths relative to the manifest's folder (a portable dataset folder) instead of absolute.

    Returns:
        `int`: the number of lines written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    base_dir = path.resolve().parent
    num_written = 0
    with open(path, "w", encoding="utf-8") as file:
        for entry in entries:
            video = os.path.abspath(entry["video"])
            if relative_paths:
                video = os.path.relpath(video, base_dir)
            line = {"video": video, "labels": list(entry["labels"])}
            for key in ("start", "end", "fps", "id"):
                if entry.get(key) is not None:
                    line[key] = entry[key]
            file.write(json.dumps(line, ensure_ascii=False) + "\n")
            num_written += 1
    return num_written
