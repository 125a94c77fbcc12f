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
"""
Review decisions on an archive's segments: `OUT/reviews.jsonl`, one JSON object per line, appended by the app's review
tab and read by the exporter.

```json
{"video": "site_a/day1.mp4", "label": "Eating", "start": 12.0, "end": 18.0, "decision": "accept"}
{"video": "site_a/day1.mp4", "label": "Eating", "start": 30.0, "end": 34.0, "decision": "relabel", "new_label": "Drinking"}
{"video": "site_a/day1.mp4", "label": "Walking", "start": 40.0, "end": 44.5, "decision": "add"}
```

- `video`: the video's path relative to the archive's input folder (as in `segments.parquet`);
- `label`, `start`, `end` (seconds, `end` exclusive): the segment decided on;
- `decision`: `"accept"` (the label is right over the span), `"reject"` (it is not), `"relabel"` (another label,
  `new_label`, is right instead), `"add"` (a segment the model missed);
- `new_label`: only with `"relabel"`.

The file is a log: nothing is ever rewritten, and a later decision on the same segment (same video, label, start and
end) replaces an earlier one (see [`latest_decisions`]). Appends hold a lock (threads of one process and, through
`flock`, other processes), write each line with one `write` on a file opened for appending, then flush and `fsync`: two
browser tabs or two apps reviewing at once lose no decision, lines never interleave, and a decision is on disk when
the app says so. A line that cannot be read is an error naming the file and line, never skipped.
"""

import json
import math
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .layout import REVIEWS_FILE, label_thresholds, read_segments, read_summary, video_paths


try:
    import fcntl
except ImportError:  # Windows: the in-process lock still serialises the app's threads
    fcntl = None


DECISIONS = ("accept", "reject", "relabel", "add")
# Reviews name segments by their start and end as read from segments.parquet; JSON keeps floats exactly, this absorbs
# a hand-edited file's rounding.
TIME_TOLERANCE = 1e-6
REVIEW_KEYS = ("video", "label", "start", "end", "decision", "new_label")

_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


class ReviewsError(ValueError):
    """A review that cannot be used; the message names the file and line (or the argument) at fault."""


def _lock_for(path: Path) -> threading.Lock:
    key = os.path.realpath(path)
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(key, threading.Lock())


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_review(entry, where: str) -> dict:
    """
    Check one review (a decoded line, or the arguments of [`ReviewStore.append`]) and return it with only its keys, in
    the file's key order; `where` (`file:line` or the caller) starts the `ReviewsError` message.
    """
    if not isinstance(entry, dict):
        raise ReviewsError(f"{where}: expected a JSON object, got {type(entry).__name__}.")
    unknown = sorted(set(entry) - set(REVIEW_KEYS))
    if unknown:
        raise ReviewsError(f"{where}: unknown key(s) {unknown}; a review has {list(REVIEW_KEYS)}.")
    for key in ("video", "label"):
        if not isinstance(entry.get(key), str) or not entry[key].strip():
            raise ReviewsError(f"{where}: '{key}' must be a non-empty string, got {entry.get(key)!r}.")
    for key in ("start", "end"):
        if not _is_number(entry.get(key)):
            raise ReviewsError(f"{where}: '{key}' must be a finite number of seconds, got {entry.get(key)!r}.")
    start, end = float(entry["start"]), float(entry["end"])
    if start < 0 or start >= end:
        raise ReviewsError(f"{where}: expected 0 <= start < end, got start {start} and end {end}.")
    decision = entry.get("decision")
    if decision not in DECISIONS:
        raise ReviewsError(f"{where}: 'decision' must be one of {list(DECISIONS)}, got {decision!r}.")
    review = {"video": entry["video"], "label": entry["label"], "start": start, "end": end, "decision": decision}
    new_label = entry.get("new_label")
    if decision == "relabel":
        if not isinstance(new_label, str) or not new_label.strip():
            raise ReviewsError(f"{where}: a relabel needs 'new_label' (a non-empty string), got {new_label!r}.")
        if new_label == entry["label"]:
            raise ReviewsError(f"{where}: a relabel's 'new_label' must differ from 'label' ({new_label!r}).")
        review["new_label"] = new_label
    elif new_label is not None:
        raise ReviewsError(f"{where}: 'new_label' belongs to a relabel only, not to {decision!r}.")
    return review


def read_reviews(path) -> list[dict]:
    """
    The reviews of a `reviews.jsonl`, in file order, each with its `line` number; `[]` when the file does not exist.

    Raises:
        `ReviewsError`: for a line that is not valid JSON or not a valid review (a line cut short by a crash too),
        naming the file and line.
    """
    path = Path(path)
    if not path.exists():
        return []
    reviews = []
    with open(path, "rb") as file:
        for line_number, raw in enumerate(file, start=1):
            where = f"{path}:{line_number}"
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise ReviewsError(f"{where}: not UTF-8 text ({error.reason}).") from None
            if not text.strip():
                continue
            if not text.endswith("\n"):
                raise ReviewsError(f"{where}: the last line is cut short (no line end): {text[:80]!r}.")
            try:
                entry = json.loads(text)
            except json.JSONDecodeError as error:
                raise ReviewsError(f"{where}: invalid JSON ({error.msg} at column {error.colno}).") from None
            review = check_review(entry, where)
            review["line"] = line_number
            reviews.append(review)
    return reviews


def segment_key(review: dict) -> tuple:
    """What identifies the segment a review is about: `(video, label, start, end)`."""
    return (review["video"], review["label"], float(review["start"]), float(review["end"]))


def latest_decisions(reviews: Iterable[dict]) -> dict[tuple, dict]:
    """`{segment_key: review}` keeping, for each segment, the last review in file order."""
    latest = {}
    for review in reviews:
        latest[segment_key(review)] = review
    return latest


class ReviewStore:
    """
    The `reviews.jsonl` of an archive, appended to safely from many threads (and processes) at once.

    Args:
        path (`str` or `os.PathLike`): The file (created on the first decision).

    Raises:
        `ReviewsError`: on opening, when the existing file has a line that cannot be read.
    """

    def __init__(self, path):
        self.path = Path(path)
        self._lock = _lock_for(self.path)
        read_reviews(self.path)  # a corrupt file is an error now, not after the reviewer's first click

    def read(self) -> list[dict]:
        """All the reviews in the file, in order (see [`read_reviews`])."""
        with self._lock:
            return read_reviews(self.path)

    def append(self, video, label, start, end, decision, new_label=None) -> dict:
        """
        Check one decision, append it as one line and `fsync` it before returning it.

        Raises:
            `ReviewsError`: for a decision that is not valid, or when the file does not end with a line end (a
            partial line written by something else: appending would glue the decision to it).
        """
        entry = {"video": video, "label": label, "start": start, "end": end, "decision": decision}
        if new_label is not None:
            entry["new_label"] = new_label
        review = check_review(entry, f"A review for {self.path}")
        data = (json.dumps(review, ensure_ascii=False) + "\n").encode("utf-8")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            created = not self.path.exists()
            descriptor = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                if fcntl is not None:
                    fcntl.flock(descriptor, fcntl.LOCK_EX)
                self._check_line_end(descriptor)
                written = 0
                while written < len(data):
                    written += os.write(descriptor, data[written:])
                os.fsync(descriptor)
            finally:
                os.close(descriptor)  # also releases the flock
            if created:
                _fsync_folder(self.path.parent)
        return review

    def _check_line_end(self, descriptor: int):
        size = os.fstat(descriptor).st_size
        if size and os.pread(descriptor, 1, size - 1) != b"\n":
            raise ReviewsError(
                f"{self.path} does not end with a line end: its last line is cut short. Fix or remove that line "
                "before adding decisions."
            )


@dataclass
class ReviewedArchive:
    """
    What reviews of an archive are checked against: the output folder of `examples/annotate.py`, read once.

    Attributes:
        output_dir (`Path`): The folder.
        labels (`list[str]`): The model's labels, in order.
        videos (`dict[str, dict]`): `{relative path: {"path": file path, "duration": seconds}}` of the videos done.
        segments (`list[dict]`): The rows of `segments.parquet`.
        thresholds (`dict[str, float]`): The per-label thresholds the segments were found with.
        settings (`dict`): The run's settings (window, stride, ...).
    """

    output_dir: Path
    labels: list
    videos: dict
    segments: list
    thresholds: dict
    settings: dict = field(default_factory=dict)

    def __post_init__(self):
        self._segments_by_name = {}
        for segment in self.segments:
            self._segments_by_name.setdefault((segment["video"], segment["label"]), []).append(segment)

    @classmethod
    def load(cls, output_dir, thresholds: dict | None = None) -> "ReviewedArchive":
        """Read `summary.json` and `segments.parquet` of `output_dir`; `thresholds` replaces the run's own."""
        summary = read_summary(output_dir)
        durations = {entry["video"]: entry.get("duration") for entry in summary["videos"]}
        videos = {
            video: {"path": os.path.abspath(path), "duration": durations[video]}
            for video, path in video_paths(summary).items()
        }
        return cls(
            output_dir=Path(output_dir),
            labels=list(summary["labels"]),
            videos=videos,
            segments=read_segments(output_dir),
            thresholds=dict(thresholds) if thresholds is not None else label_thresholds(summary),
            settings=dict(summary.get("settings", {})),
        )

    @property
    def reviews_path(self) -> Path:
        return self.output_dir / REVIEWS_FILE

    def find_segment(self, video: str, label: str, start: float, end: float) -> dict | None:
        """The row of `segments.parquet` with this video, label and span (to `TIME_TOLERANCE`), or `None`."""
        for segment in self._segments_by_name.get((video, label), ()):
            if abs(segment["start"] - start) <= TIME_TOLERANCE and abs(segment["end"] - end) <= TIME_TOLERANCE:
                return segment
        return None

    def check_review(self, review: dict, where: str, added=frozenset()):
        """
        Refuse (`ReviewsError` starting with `where`) a review of a video or label the archive does not have, a span
        past the end of the video, or an accept/reject/relabel of a segment that is neither in `segments.parquet` nor
        one of the `added` segments (`segment_key`s of earlier "add" decisions).
        """
        video = self.videos.get(review["video"])
        if video is None:
            raise ReviewsError(f"{where}: the video {review['video']!r} is not in the archive {self.output_dir}.")
        for key in ("label", "new_label"):
            if key in review and review[key] not in self.labels:
                raise ReviewsError(
                    f"{where}: the {key.replace('_', ' ')} {review[key]!r} is not one of the archive's labels "
                    f"{self.labels}."
                )
        duration = video["duration"]
        if duration is not None and review["end"] > duration + TIME_TOLERANCE:
            raise ReviewsError(
                f"{where}: the span ends at {review['end']} s, after the end of {review['video']!r} ({duration} s)."
            )
        key = segment_key(review)
        if review["decision"] != "add" and key not in added and self.find_segment(*key) is None:
            raise ReviewsError(
                f"{where}: no segment {review['label']!r} [{review['start']}, {review['end']}) of {review['video']!r} "
                f"in {self.output_dir}; a {review['decision']} names a segment of the archive or one added before it."
            )

    def read_reviews(self) -> list[dict]:
        """The archive's `reviews.jsonl`, each review checked against the archive (errors name the line)."""
        reviews, added = read_reviews(self.reviews_path), set()
        for review in reviews:
            self.check_review(review, f"{self.reviews_path}:{review['line']}", added)
            if review["decision"] == "add":
                added.add(segment_key(review))
        return reviews


def _fsync_folder(folder: Path):
    """Make a new file's directory entry durable (POSIX); a no-op where folders cannot be opened."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


__all__ = [
    "DECISIONS",
    "REVIEW_KEYS",
    "ReviewStore",
    "ReviewedArchive",
    "ReviewsError",
    "check_review",
    "latest_decisions",
    "read_reviews",
    "segment_key",
]
