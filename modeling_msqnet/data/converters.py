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
"""Converters from the official annotation files of MSQNet's datasets to manifests (see `manifest.py`).

Every converter reads the dataset's own files, maps its class ids or names to the names of
`configuration/datasets/<name>.json` (official index order) and returns a [`ConversionResult`]: the manifest entries
and, per reason, the annotations it did not turn into entries. Malformed annotation lines raise a `ValueError` naming
the file and line.

Media (`media_root`) are looked up per video: with `media_format="auto"` a frame folder `<media_root>/<name>` or a
video file `<media_root>/<name>.<ext>` (mp4, avi, mkv, webm, mov), whichever exists, and a video found in neither form
is skipped (reason "media not found"); `media_format="frames"` or an extension such as `".mp4"` fixes the form, and
`check_media=False` then writes the paths without looking at the disk.
"""

import csv
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from transformers.utils import logging

from ..hub_code.video_decoding import natural_sort_key, probe_video, sample_frame_indices
from ..video_files import VIDEO_EXTENSIONS, is_video_file_name
from .manifest import load_label_set


logger = logging.get_logger(__name__)

MAX_EXAMPLES_PER_REASON = 5

# The Volleyball dataset's official split (Ibrahim et al., CVPR 2016), by video folder number.
VOLLEYBALL_SPLITS = {
    "train": (1, 3, 6, 7, 10, 13, 15, 16, 18, 22, 23, 31, 32, 36, 38, 39, 40, 41, 42, 48, 50, 52, 53, 54),
    "val": (0, 2, 8, 12, 17, 19, 24, 26, 27, 28, 30, 33, 46, 49, 51),
    "test": (4, 5, 9, 11, 14, 20, 21, 25, 29, 34, 35, 37, 43, 44, 45, 47),
}
VOLLEYBALL_SPLITS["trainval"] = tuple(sorted(VOLLEYBALL_SPLITS["train"] + VOLLEYBALL_SPLITS["val"]))


@dataclass
class ConversionResult:
    """
    What a converter produced.

    Args:
        dataset (`str`):
            Name of the label set used.
        entries (`list[dict]`):
            Manifest entries (`video`, `labels`, and `start`, `end`, `fps`, `id` where they apply).
        skipped (`collections.Counter`):
            Number of annotations left out, per reason.
        skipped_examples (`dict[str, list[str]]`):
            A few of the annotations left out, per reason (file:line or video name).
        notes (`list[str]`):
            Facts worth reporting that are not skips (e.g. segments annotated with two classes).
    """

    dataset: str
    entries: list = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)
    skipped_examples: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)

    def skip(self, reason: str, example: str, count: int = 1):
        self.skipped[reason] += count
        examples = self.skipped_examples.setdefault(reason, [])
        if len(examples) < MAX_EXAMPLES_PER_REASON:
            examples.append(example)

    def add_labelled_media(
        self,
        name: str,
        labels: list,
        media_root,
        media_format: str,
        check_media: bool,
        keep_unlabelled: bool,
        unlabelled_reason: str,
    ):
        """Add the entry of clip `name`, or count it as skipped when it has no labels (unless kept) or no media."""
        if not labels and not keep_unlabelled:
            self.skip(unlabelled_reason, name)
            return
        video = resolve_media(media_root, name, media_format, check_media)
        if video is None:
            self.skip("media not found", name)
            return
        self.entries.append({"video": video, "labels": labels, "id": name})

    @property
    def num_skipped(self) -> int:
        return sum(self.skipped.values())

    def summary(self) -> str:
        """A readable report: entries written, annotations skipped per reason (with examples), notes."""
        lines = [f"{self.dataset}: {len(self.entries)} entries, {self.num_skipped} skipped."]
        for reason, count in self.skipped.most_common():
            examples = ", ".join(self.skipped_examples.get(reason, []))
            lines.append(f"  skipped {count}: {reason} (e.g. {examples})")
        lines.extend(f"  note: {note}" for note in self.notes)
        return "\n".join(lines)


def resolve_media(root: str | os.PathLike, name: str, media_format: str = "auto", check_media: bool = True):
    """
    Path of the video `name` under `root`, as a frame folder or a video file (see the module docstring).

    Args:
        root (`str` or `os.PathLike`):
            Folder holding the videos.
        name (`str`):
            Video name, with or without a video extension (`"46GP8"`, `"clip.avi"`).
        media_format (`str`, *optional*, defaults to `"auto"`):
            `"auto"`, `"frames"` or a file extension such as `".mp4"`.
        check_media (`bool`, *optional*, defaults to `True`):
            Whether the path must exist (with `"auto"` it always must).

    Returns:
        `str` or `None`: the path, or `None` when it does not exist (and existence is checked).
    """
    root = os.fspath(root)
    stem, extension = os.path.splitext(name)
    if extension.lower() not in VIDEO_EXTENSIONS:
        stem, extension = name, ""
    if media_format == "frames":
        path = os.path.join(root, stem)
        return path if not check_media or os.path.isdir(path) else None
    if media_format != "auto":
        if not media_format.startswith("."):
            raise ValueError(
                f"`media_format` must be 'auto', 'frames' or an extension like '.mp4', got {media_format!r}."
            )
        path = os.path.join(root, stem + media_format)
        return path if not check_media or os.path.isfile(path) else None
    candidates = [os.path.join(root, stem)]
    if extension:
        candidates.append(os.path.join(root, name))
    candidates.extend(os.path.join(root, stem + suffix) for suffix in VIDEO_EXTENSIONS)
    for path in candidates:
        if os.path.isdir(path) or os.path.isfile(path):
            return path
    return None


def _label_names(label_set: dict, label_ids, where: str) -> list[str]:
    names = label_set["labels"]
    for label_id in label_ids:
        if not 0 <= label_id < len(names):
            raise ValueError(
                f"{where}: class id {label_id} is out of range for the {len(names)} {label_set['name']} classes."
            )
    return [names[label_id] for label_id in sorted(set(label_ids))]


def _get_label_set(label_set, name: str) -> dict:
    return load_label_set(name) if label_set is None else label_set


def convert_animal_kingdom(
    annotation_file: str | os.PathLike,
    media_root: str | os.PathLike,
    *,
    media_format: str = "auto",
    check_media: bool = True,
    keep_unlabelled: bool = True,
    label_set: dict | None = None,
) -> ConversionResult:
    """
    Animal Kingdom, action recognition task (`action_recognition/annotation/{train,val}.csv`).

    Format (Animal Kingdom's README: "annotations follow Charades format"; the SlowFast frame-list layout): a
    space-separated file with the header `original_vido_id video_id frame_id path labels` (some copies add a `type`
    column), one line per frame, e.g. `AAACXZTV 145 1 AAACXZTV/AAACXZTV_t000001.jpg 2,40`. `labels` lists the
    0-based class ids active in the frame, comma-separated (`""` for none); ids index the classes in the order of
    `df_action.xlsx`, which is `configuration/datasets/animal_kingdom.json`. The MSQNet authors' "light" copies
    (`train_light.csv`, `;`-separated, header `video_id;labels`, one line per clip) are read too.

    One entry per clip (`original_vido_id`) with the union of its frames' labels. Media: the frame folders
    `action_recognition/dataset/image/<clip>/` or the videos `action_recognition/dataset/video/<clip>.mp4`.

    Args:
        annotation_file (`str` or `os.PathLike`):
            `train.csv`, `val.csv` or a `*_light.csv`.
        media_root (`str` or `os.PathLike`):
            The folder of frame folders or of video files.
        media_format (`str`, *optional*, defaults to `"auto"`), check_media (`bool`, *optional*, defaults to `True`):
            See [`resolve_media`].
        keep_unlabelled (`bool`, *optional*, defaults to `True`):
            Keep clips without any label (negatives for every class); otherwise skip them.
        label_set (`dict`, *optional*):
            The label set; `load_label_set("animal_kingdom")` when not given.
    """
    label_set = _get_label_set(label_set, "animal_kingdom")
    result = ConversionResult(dataset=label_set["name"])
    annotation_file = Path(annotation_file)
    clips: dict[str, tuple[set, str]] = {}
    with open(annotation_file, encoding="utf-8", newline="") as file:
        header = file.readline()
        if header.startswith("original_vido_id"):
            columns = header.split()
            for line_number, line in enumerate(file, start=2):
                if not line.strip():
                    continue
                where = f"{annotation_file}:{line_number}"
                values = line.split()
                if len(values) != len(columns):
                    raise ValueError(
                        f"{where}: expected {len(columns)} space-separated fields {columns}, got {len(values)}."
                    )
                clip, labels = values[0], values[columns.index("labels")].strip('"')
                label_ids, _ = clips.setdefault(clip, (set(), where))
                label_ids.update(_parse_int_list(labels, where))
        elif [name.strip() for name in header.split(";")] == ["video_id", "labels"]:
            for line_number, row in enumerate(csv.reader(file, delimiter=";"), start=2):
                if not row:
                    continue
                where = f"{annotation_file}:{line_number}"
                if len(row) != 2:
                    raise ValueError(f"{where}: expected 'video_id;labels', got {row}.")
                label_ids, _ = clips.setdefault(row[0], (set(), where))
                label_ids.update(_parse_int_list(row[1].strip('"'), where))
        else:
            raise ValueError(
                f"{annotation_file}: unknown header {header.strip()!r}; expected Animal Kingdom's "
                "'original_vido_id video_id frame_id path labels' or 'video_id;labels'."
            )

    for clip, (label_ids, where) in clips.items():
        labels = _label_names(label_set, label_ids, where)
        result.add_labelled_media(
            clip, labels, media_root, media_format, check_media, keep_unlabelled, "clip without labels"
        )
    return result


def _parse_int_list(text: str, where: str) -> list[int]:
    text = text.strip()
    if not text:
        return []
    try:
        return [int(value) for value in text.split(",")]
    except ValueError:
        raise ValueError(f"{where}: expected comma-separated class ids, got {text!r}.") from None


def convert_charades(
    annotation_file: str | os.PathLike,
    media_root: str | os.PathLike,
    *,
    media_format: str = "auto",
    check_media: bool = True,
    keep_unlabelled: bool = True,
    classes_file: str | os.PathLike | None = None,
    label_set: dict | None = None,
) -> ConversionResult:
    """
    Charades v1 (`Charades_v1_train.csv`, `Charades_v1_test.csv`).

    Format: a comma-separated CSV with the header
    `id,subject,scene,quality,relevance,verified,script,objects,descriptions,actions,length`; `actions` lists the
    action instances as `c092 11.90 21.20;c147 0.00 12.60` (class id `cNNN`, start and end in seconds), empty for a
    video without actions. Class `cNNN` is line NNN of `Charades_v1_classes.txt` (`c000 Holding some clothes`), the
    order of `configuration/datasets/charades.json`.

    One entry per video with the union of its actions' classes (the video-level labels of Charades' own
    `Charades_v1_classify` evaluation). Videos without actions are kept as all-negative examples by default, as in the
    official evaluation; the MSQNet authors' loader drops them and also keeps only the frames inside an action, which
    a manifest entry does not express. Media: frame folders `Charades_v1_rgb/<id>/` (24 fps JPEGs) or the videos
    `Charades_v1_480/<id>.mp4`.

    Args:
        annotation_file (`str` or `os.PathLike`):
            `Charades_v1_train.csv` or `Charades_v1_test.csv`.
        media_root (`str` or `os.PathLike`):
            `Charades_v1_rgb` or `Charades_v1_480` (or any folder of `<id>` folders / `<id>.<ext>` files).
        media_format (`str`, *optional*, defaults to `"auto"`), check_media (`bool`, *optional*, defaults to `True`):
            See [`resolve_media`].
        keep_unlabelled (`bool`, *optional*, defaults to `True`):
            Keep videos without actions; otherwise skip them (as the MSQNet authors' loader does).
        classes_file (`str` or `os.PathLike`, *optional*):
            `Charades_v1_classes.txt`, to check that its names match the label set.
        label_set (`dict`, *optional*):
            The label set; `load_label_set("charades")` when not given.
    """
    label_set = _get_label_set(label_set, "charades")
    result = ConversionResult(dataset=label_set["name"])
    if classes_file is not None:
        _check_charades_classes(classes_file, label_set)
    annotation_file = Path(annotation_file)
    with open(annotation_file, encoding="utf-8", newline="") as file:
        reader = csv.DictReader(file)
        missing = {"id", "actions"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(
                f"{annotation_file}: missing the Charades columns {sorted(missing)} (got {reader.fieldnames})."
            )
        for row in reader:
            where = f"{annotation_file}:{reader.line_num}"
            video_id = row["id"].strip()
            label_ids = []
            for action in filter(None, (row["actions"] or "").split(";")):
                parts = action.split()
                if len(parts) != 3 or not re.fullmatch(r"c\d{3}", parts[0]):
                    raise ValueError(f"{where}: expected actions like 'c092 11.90 21.20', got {action!r}.")
                label_ids.append(int(parts[0][1:]))
            labels = _label_names(label_set, label_ids, where)
            result.add_labelled_media(
                video_id, labels, media_root, media_format, check_media, keep_unlabelled, "video without actions"
            )
    num_unlabelled = sum(1 for entry in result.entries if not entry["labels"])
    if num_unlabelled:
        result.notes.append(f"{num_unlabelled} videos without actions kept as all-negative examples.")
    return result


def _check_charades_classes(classes_file, label_set: dict):
    with open(classes_file, encoding="utf-8") as file:
        for line_number, line in enumerate(file, start=1):
            if not line.strip():
                continue
            class_id, _, name = line.strip().partition(" ")
            index = int(class_id[1:])
            if index >= len(label_set["labels"]) or label_set["labels"][index] != name:
                raise ValueError(
                    f"{classes_file}:{line_number}: class {class_id} {name!r} does not match the label set "
                    f"({label_set['labels'][index] if index < len(label_set['labels']) else 'out of range'!r})."
                )


def convert_hockey(
    annotation_dir: str | os.PathLike,
    media_root: str | os.PathLike | None = None,
    *,
    split: str = "test",
    test_part: int = 6,
    clip_length: int = 30,
    stride: int | None = None,
    fps: float | None = None,
    label_num_frames: int | None = None,
    media_format: str = "auto",
    check_media: bool = True,
    label_set: dict | None = None,
) -> ConversionResult:
    """
    Hockey (the ETS/Concordia multi-label hockey activity dataset, `ets_dataset_concordia1_v1`).

    Format: sequences `period<P>-<G>-<part>-gray` (a video `.avi`, or a folder of its frames), each with a
    `period<P>-<G>-<part>-gray-label.txt` holding one line per frame of 12 comma-separated 0/1 flags, in the order of
    `configuration/datasets/hockey.json`. As in the MSQNet authors' loader, the sequences whose `<part>` is `test_part`
    (6 by default) form the test set and the others the training set, and each sequence is cut into clips of
    `clip_length` (30) frames every `stride` frames (10 for training, 45 for testing). A clip's labels are the classes
    flagged in any of its frames; the authors' loader uses only the frames it samples, which `label_num_frames=16`
    reproduces for the test-time (middle-of-segment) frames.

    Entries carry `start`/`end` in seconds, half a frame inside the clip's bounds. A frame folder has no frame rate of
    its own: it gets the nominal `fps` (30 when not given), written in the entry; a video file's rate is read from the
    file unless `fps` is given.

    Args:
        annotation_dir (`str` or `os.PathLike`):
            Folder holding the `*-gray-label.txt` files.
        media_root (`str` or `os.PathLike`, *optional*):
            Folder holding the sequences' frame folders or videos; `annotation_dir` when not given.
        split (`str`, *optional*, defaults to `"test"`):
            `"train"`, `"test"` or `"all"`.
        test_part (`int`, *optional*, defaults to 6):
            The `<part>` number of the test sequences.
        clip_length (`int`, *optional*, defaults to 30):
            Frames per clip.
        stride (`int`, *optional*):
            Frames between clip starts; 10 for `"train"`, 45 otherwise.
        fps (`float`, *optional*):
            Frame rate of the sequences (see above).
        label_num_frames (`int`, *optional*):
            Take the labels from this many middle-of-segment frames of the clip instead of all its frames.
        media_format (`str`, *optional*, defaults to `"auto"`), check_media (`bool`, *optional*, defaults to `True`):
            See [`resolve_media`].
        label_set (`dict`, *optional*):
            The label set; `load_label_set("hockey")` when not given.
    """
    if split not in ("train", "test", "all"):
        raise ValueError(f"`split` must be 'train', 'test' or 'all', got {split!r}.")
    if clip_length < 1:
        raise ValueError(f"`clip_length` must be at least 1, got {clip_length}.")
    stride = stride if stride is not None else (10 if split == "train" else 45)
    if stride < 1:
        raise ValueError(f"`stride` must be at least 1, got {stride}.")
    label_set = _get_label_set(label_set, "hockey")
    num_labels = label_set["num_labels"]
    result = ConversionResult(dataset=label_set["name"])
    annotation_dir = Path(annotation_dir)
    media_root = annotation_dir if media_root is None else Path(media_root)
    label_files = sorted(annotation_dir.glob("*-gray-label.txt"), key=lambda path: natural_sort_key(path.name))
    if not label_files:
        raise FileNotFoundError(f"No Hockey label files (*-gray-label.txt) in {annotation_dir}.")

    for label_file in label_files:
        sequence = label_file.name[: -len("-label.txt")]
        match = re.search(r"-(\d+)-gray$", sequence)
        if match is None:
            raise ValueError(f"{label_file}: expected a name like 'period1-1-6-gray-label.txt'.")
        is_test = int(match.group(1)) == test_part
        if (split == "train" and is_test) or (split == "test" and not is_test):
            continue
        flags = []
        with open(label_file, encoding="utf-8") as file:
            for line_number, line in enumerate(file, start=1):
                if not line.strip():
                    continue
                where = f"{label_file}:{line_number}"
                values = _parse_int_list(line, where)
                if len(values) != num_labels or any(value not in (0, 1) for value in values):
                    raise ValueError(
                        f"{where}: expected {num_labels} comma-separated 0/1 flags, got {line.strip()!r}."
                    )
                flags.append(values)
        flags = np.asarray(flags, dtype=bool).reshape(-1, num_labels)
        if len(flags) < clip_length:
            result.skip(f"sequence shorter than clip_length={clip_length} frames", sequence)
            continue

        video = resolve_media(media_root, sequence, media_format, check_media)
        if video is None:
            result.skip("media not found", sequence)
            continue
        is_folder = os.path.isdir(video) if check_media or media_format == "auto" else media_format == "frames"
        if is_folder:
            sequence_fps = float(fps) if fps is not None else 30.0
        elif fps is not None:
            sequence_fps = float(fps)
        elif check_media:
            sequence_fps = probe_video(video).fps
            if not sequence_fps:
                raise ValueError(f"{video}: the frame rate is unknown; pass `fps`.")
        else:
            raise ValueError(f"{video}: pass `fps` to convert Hockey videos without reading them (check_media=False).")

        label_offsets = (
            np.arange(clip_length)
            if label_num_frames is None
            else sample_frame_indices(clip_length, label_num_frames, mode="middle")
        )
        for first in range(0, len(flags) - clip_length + 1, stride):
            active = flags[first + label_offsets].any(axis=0)
            entry = {
                "video": video,
                "labels": [label_set["labels"][index] for index in np.flatnonzero(active)],
                "start": round(max(first - 0.5, 0.0) / sequence_fps, 6),
                "end": round((first + clip_length - 0.5) / sequence_fps, 6),
                "id": f"{sequence}@{first}",
            }
            if is_folder:
                entry["fps"] = sequence_fps
            result.entries.append(entry)
    return result


def convert_thumos14(
    annotation_dir: str | os.PathLike,
    media_root: str | os.PathLike,
    *,
    split: str | None = None,
    fps: float | None = None,
    media_format: str = "auto",
    check_media: bool = True,
    label_set: dict | None = None,
) -> ConversionResult:
    """
    THUMOS14 validation or test set: the trimmed action instances of the untrimmed videos.

    Format (THUMOS14 readme): one file per class, `<Class>_val.txt` or `<Class>_test.txt`, one instance per line as
    `video_name start end` (seconds, one decimal; fields separated by one or more spaces), e.g.
    `video_validation_0000051  67.5 75.9`; `Ambiguous_<split>.txt` marks ambiguous segments, which are not a class.
    Media: `video_validation_XXXXXXX.mp4` / `video_test_XXXXXXX.mp4`.

    One single-label entry per instance, with its `start`/`end`. All CliffDiving instances are also annotated as
    Diving: like the MSQNet authors' loader, both are kept (same segment, two entries), which the result's notes count.
    The training set of THUMOS14 (UCF101's trimmed videos) is converted by [`convert_thumos14_trimmed`].

    Args:
        annotation_dir (`str` or `os.PathLike`):
            Folder holding the `<Class>_<split>.txt` files.
        media_root (`str` or `os.PathLike`):
            Folder holding the videos.
        split (`str`, *optional*):
            `"val"` or `"test"`; inferred from the file names when only one is present.
        fps (`float`, *optional*):
            Frame rate written for frame-folder media (needed for their `start`/`end`).
        media_format (`str`, *optional*, defaults to `"auto"`), check_media (`bool`, *optional*, defaults to `True`):
            See [`resolve_media`].
        label_set (`dict`, *optional*):
            The label set; `load_label_set("thumos14")` when not given.
    """
    label_set = _get_label_set(label_set, "thumos14")
    result = ConversionResult(dataset=label_set["name"])
    annotation_dir = Path(annotation_dir)
    files = {}
    for path in annotation_dir.glob("*.txt"):
        match = re.fullmatch(r"(.+)_(val|test)\.txt", path.name)
        if match:
            files.setdefault(match.group(2), {})[match.group(1)] = path
    if split is None:
        if len(files) != 1:
            raise ValueError(
                f"{annotation_dir}: found annotation files of the splits {sorted(files) or 'none'}; "
                "pass `split='val'` or `split='test'`."
            )
        split = next(iter(files))
    if split not in ("val", "test"):
        raise ValueError(f"`split` must be 'val' or 'test', got {split!r}.")
    class_files = files.get(split, {})
    if not class_files:
        raise FileNotFoundError(f"No THUMOS14 annotation files <Class>_{split}.txt in {annotation_dir}.")
    missing = [name for name in label_set["labels"] if name not in class_files]
    if missing:
        result.notes.append(f"no annotation file for the classes {missing}.")

    segment_classes = Counter()
    media_cache = {}
    for class_name in list(label_set["labels"]) + sorted(set(class_files) - set(label_set["labels"])):
        if class_name not in class_files:
            continue
        path = class_files[class_name]
        with open(path, encoding="utf-8") as file:
            lines = [(line_number, line.split()) for line_number, line in enumerate(file, start=1) if line.strip()]
        for line_number, values in lines:
            where = f"{path}:{line_number}"
            if len(values) != 3:
                raise ValueError(f"{where}: expected 'video_name start end', got {' '.join(values)!r}.")
            try:
                start, end = float(values[1]), float(values[2])
            except ValueError:
                raise ValueError(f"{where}: start and end must be numbers of seconds, got {values[1:]}.") from None
            if class_name not in label_set["label2id"]:
                reason = (
                    "ambiguous segment" if class_name == "Ambiguous" else f"class {class_name!r} not in the label set"
                )
                result.skip(reason, where)
                continue
            if not end > start or start < 0:
                result.skip("empty or negative segment (end <= start)", where)
                continue
            name = values[0]
            if name not in media_cache:
                media_cache[name] = resolve_media(media_root, name, media_format, check_media)
            video = media_cache[name]
            if video is None:
                result.skip("media not found", name)
                continue
            entry = {"video": video, "labels": [class_name], "start": start, "end": end, "id": f"{name}@{start}-{end}"}
            if os.path.isdir(video) or media_format == "frames":
                if fps is None:
                    raise ValueError(
                        f"{video} is a frame folder: pass `fps` (its frame rate) to use the segment times."
                    )
                entry["fps"] = float(fps)
            segment_classes[(video, start, end)] += 1
            result.entries.append(entry)
    num_shared = sum(1 for count in segment_classes.values() if count > 1)
    if num_shared:
        result.notes.append(
            f"{num_shared} segments are annotated with more than one class (CliffDiving is also Diving); each class "
            "got its own entry, as in the MSQNet authors' loader."
        )
    return result


def convert_thumos14_trimmed(media_root: str | os.PathLike, *, label_set: dict | None = None) -> ConversionResult:
    """
    THUMOS14 training set: UCF101's trimmed videos of the 20 THUMOS14 classes, in folders named after the classes
    (`<media_root>/<Class>/v_<Class>_gXX_cYY.avi`, or one frame folder per video, as in the MSQNet authors'
    `frames/train/<Class>/<video>/`).

    One single-label entry per video file or frame folder; class folders that are not THUMOS14 classes (the other
    UCF101 classes) are skipped and counted.

    Args:
        media_root (`str` or `os.PathLike`):
            Folder holding one folder per class.
        label_set (`dict`, *optional*):
            The label set; `load_label_set("thumos14")` when not given.
    """
    label_set = _get_label_set(label_set, "thumos14")
    result = ConversionResult(dataset=label_set["name"])
    media_root = Path(media_root)
    class_dirs = sorted((path for path in media_root.iterdir() if path.is_dir()), key=lambda path: path.name)
    if not class_dirs:
        raise FileNotFoundError(f"No class folders in {media_root}.")
    for class_dir in class_dirs:
        items = sorted(
            (item for item in class_dir.iterdir() if item.is_dir() or is_video_file_name(item)),
            key=lambda item: natural_sort_key(item.name),
        )
        if class_dir.name not in label_set["label2id"]:
            if items:
                result.skip("class folder not in the label set", class_dir.name, count=len(items))
            continue
        for item in items:
            result.entries.append({"video": str(item), "labels": [class_dir.name], "id": item.stem})
    return result


def convert_hmdb51(
    split_dir: str | os.PathLike,
    media_root: str | os.PathLike,
    *,
    split: str = "test",
    split_number: int = 1,
    media_format: str = "auto",
    check_media: bool = True,
    label_set: dict | None = None,
) -> ConversionResult:
    """
    HMDB51 with its official splits (`testTrainMulti_7030_splits/`).

    Format: one file per class and split, `<class>_test_split<N>.txt` (N = 1, 2, 3), one video per line as
    `<video>.avi <flag>`: 1 = training, 2 = testing, 0 = not used in this split. The class is the file name's prefix;
    the classes are ordered alphabetically (`configuration/datasets/hmdb51.json`). Media:
    `<media_root>/<class>/<video>.avi` (or a frame folder `<media_root>/<class>/<video>/`). Lines of the other split
    and flag-0 lines are counted as skipped.

    Args:
        split_dir (`str` or `os.PathLike`):
            Folder holding the split files.
        media_root (`str` or `os.PathLike`):
            Folder holding one folder per class.
        split (`str`, *optional*, defaults to `"test"`):
            `"train"` (flag 1) or `"test"` (flag 2).
        split_number (`int`, *optional*, defaults to 1):
            Which of the three official splits.
        media_format (`str`, *optional*, defaults to `"auto"`), check_media (`bool`, *optional*, defaults to `True`):
            See [`resolve_media`].
        label_set (`dict`, *optional*):
            The label set; `load_label_set("hmdb51")` when not given.
    """
    if split not in ("train", "test"):
        raise ValueError(f"`split` must be 'train' or 'test', got {split!r}.")
    if split_number not in (1, 2, 3):
        raise ValueError(f"`split_number` must be 1, 2 or 3, got {split_number}.")
    label_set = _get_label_set(label_set, "hmdb51")
    result = ConversionResult(dataset=label_set["name"])
    split_dir = Path(split_dir)
    suffix = f"_test_split{split_number}.txt"
    split_files = sorted(split_dir.glob(f"*{suffix}"))
    if not split_files:
        raise FileNotFoundError(f"No HMDB51 split files *{suffix} in {split_dir}.")
    wanted_flag = 1 if split == "train" else 2
    other_split = "test" if split == "train" else "train"
    found_classes = set()
    for split_file in split_files:
        class_name = split_file.name[: -len(suffix)]
        if class_name not in label_set["label2id"]:
            raise ValueError(
                f"{split_file}: class {class_name!r} is not one of the {label_set['num_labels']} HMDB51 classes."
            )
        found_classes.add(class_name)
        with open(split_file, encoding="utf-8") as file:
            for line_number, line in enumerate(file, start=1):
                if not line.strip():
                    continue
                where = f"{split_file}:{line_number}"
                values = line.split()
                if len(values) != 2 or values[1] not in ("0", "1", "2"):
                    raise ValueError(f"{where}: expected '<video>.avi <0|1|2>', got {line.strip()!r}.")
                flag = int(values[1])
                if flag == 0:
                    result.skip(f"not used in split {split_number} (flag 0)", where)
                    continue
                if flag != wanted_flag:
                    result.skip(f"in the {other_split} split", where)
                    continue
                video = resolve_media(Path(media_root) / class_name, values[0], media_format, check_media)
                if video is None:
                    result.skip("media not found", f"{class_name}/{values[0]}")
                    continue
                result.entries.append({"video": video, "labels": [class_name], "id": Path(values[0]).stem})
    missing = [name for name in label_set["labels"] if name not in found_classes]
    if missing:
        result.notes.append(f"no split file for the classes {missing}.")
    return result


def convert_volleyball(
    annotation_root: str | os.PathLike,
    media_root: str | os.PathLike | None = None,
    *,
    split: str = "test",
    check_media: bool = True,
    label_set: dict | None = None,
) -> ConversionResult:
    """
    Volleyball (Ibrahim et al., CVPR 2016), individual player actions as a multi-label clip task.

    Format: the dataset root holds one folder per video (`0` ... `54`), each with an `annotations.txt` and one folder
    of 41 frames per annotated frame (`<video>/<frame_id>/<frame_id - 20 ... frame_id + 20>.jpg`). Each line of
    `annotations.txt` is `<frame_id>.jpg <group_activity>` followed, per player, by `x y w h <action>` (the layout the
    dataset's reference reader and the MSQNet authors' loader parse). Actions are lower-case (`waiting`, `setting`,
    ...); the label set holds them capitalised, in the reference reader's order.

    One entry per annotated frame: the 41-frame folder, labelled with the set of its players' actions. The split is
    the official one by video folder (`VOLLEYBALL_SPLITS`: 24 train, 15 val, 16 test videos; `"trainval"` joins the
    first two).

    Args:
        annotation_root (`str` or `os.PathLike`):
            The dataset root (the folder holding `0/`, `1/`, ...).
        media_root (`str` or `os.PathLike`, *optional*):
            Where the frame folders are; `annotation_root` when not given.
        split (`str`, *optional*, defaults to `"test"`):
            `"train"`, `"val"`, `"test"` or `"trainval"`.
        check_media (`bool`, *optional*, defaults to `True`):
            Whether to skip annotated frames whose frame folder does not exist.
        label_set (`dict`, *optional*):
            The label set; `load_label_set("volleyball")` when not given.
    """
    if split not in VOLLEYBALL_SPLITS:
        raise ValueError(f"`split` must be one of {sorted(VOLLEYBALL_SPLITS)}, got {split!r}.")
    label_set = _get_label_set(label_set, "volleyball")
    result = ConversionResult(dataset=label_set["name"])
    annotation_root = Path(annotation_root)
    media_root = annotation_root if media_root is None else Path(media_root)
    for video_number in VOLLEYBALL_SPLITS[split]:
        annotation_file = annotation_root / str(video_number) / "annotations.txt"
        if not annotation_file.is_file():
            result.skip("video folder without annotations.txt", str(annotation_file))
            continue
        with open(annotation_file, encoding="utf-8") as file:
            for line_number, line in enumerate(file, start=1):
                if not line.strip():
                    continue
                where = f"{annotation_file}:{line_number}"
                values = line.split()
                if len(values) < 2 or (len(values) - 2) % 5 or not values[0].endswith(".jpg"):
                    raise ValueError(
                        f"{where}: expected '<frame_id>.jpg <group_activity>' and 'x y w h <action>' per player."
                    )
                label_ids = []
                for action in values[6::5]:
                    name = action.capitalize()
                    if name not in label_set["label2id"]:
                        raise ValueError(f"{where}: unknown player action {action!r}.")
                    label_ids.append(label_set["label2id"][name])
                frame_id = values[0][: -len(".jpg")]
                video = os.path.join(media_root, str(video_number), frame_id)
                if check_media and not os.path.isdir(video):
                    result.skip("media not found", f"{video_number}/{frame_id}")
                    continue
                labels = _label_names(label_set, label_ids, where)
                result.entries.append({"video": video, "labels": labels, "id": f"{video_number}/{frame_id}"})
    return result


CONVERTERS = {
    "animal_kingdom": convert_animal_kingdom,
    "charades": convert_charades,
    "hockey": convert_hockey,
    "thumos14": convert_thumos14,
    "thumos14_trimmed": convert_thumos14_trimmed,
    "hmdb51": convert_hmdb51,
    "volleyball": convert_volleyball,
}


def convert_dataset(name: str, annotations, media_root=None, **kwargs) -> ConversionResult:
    """
    Run the converter of dataset `name` (a key of `CONVERTERS`) on its official annotations.

    `annotations` is the annotation file or folder the converter expects; for `"thumos14_trimmed"`, whose annotations
    are its class folders, it is the media folder itself and `media_root` is ignored.
    """
    if name not in CONVERTERS:
        raise ValueError(f"Unknown dataset {name!r}; expected one of {sorted(CONVERTERS)}.")
    if name == "thumos14_trimmed":
        return convert_thumos14_trimmed(annotations, **kwargs)
    if media_root is None and name not in ("hockey", "volleyball"):
        raise ValueError(f"The {name} converter needs the folder of the videos (`media_root`).")
    return CONVERTERS[name](annotations, media_root, **kwargs)
