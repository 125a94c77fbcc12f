"""The videos of an archive: a folder searched recursively, a manifest (JSON Lines with `video`), or a text file of
paths; each video named by its path relative to the input folder."""

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from transformers.utils import logging

from ..video_files import VIDEO_EXTENSIONS, is_video_file_name
from .layout import relative_video_name


logger = logging.get_logger(__name__)

MANIFEST_SUFFIXES = (".jsonl", ".json")


class ArchiveInputError(ValueError):
    """`--videos` cannot be read: an empty folder, a manifest line without `video`, ...; the message says where."""


@dataclass(frozen=True)
class ArchiveVideo:
    """One video of the archive: `name`, its path relative to the input (forward slashes), and `path`, the file."""

    name: str
    path: str


@dataclass
class ArchiveInput:
    """
    The videos to annotate.

    Args:
        source (`str`): `--videos` as given.
        kind (`str`): `"folder"`, `"manifest"` or `"list"`.
        root (`str`): The folder the video names are relative to (the folder, or the folder of the manifest/list).
        videos (`list[ArchiveVideo]`): Sorted by name.
        skipped (`list[dict]`): Paths listed but not followed, each `{"video", "path", "reason"}` (links that lead
            out of the input folder, linked folders).
    """

    source: str
    kind: str
    root: str
    videos: list
    skipped: list = field(default_factory=list)

    def description(self) -> dict:
        return {"videos": self.source, "kind": self.kind, "root": self.root}


def read_archive_input(source) -> ArchiveInput:
    """
    The videos of `--videos`: a folder (searched recursively for files with one of `VIDEO_EXTENSIONS`, in any case),
    a manifest (`.jsonl`: one JSON object with `video` per line) or a text file of paths (one per line; blank lines
    and lines starting with `#` ignored). Relative paths in a manifest or list resolve against its folder.
    """
    path = Path(source)
    if path.is_dir():
        return _read_folder(path, os.fspath(source))
    if not path.is_file():
        raise ArchiveInputError(
            f"--videos {source} does not exist: give a folder of videos, a manifest (.jsonl) or a text file of paths."
        )
    if path.suffix.lower() in MANIFEST_SUFFIXES:
        paths, kind = _manifest_paths(path), "manifest"
    else:
        paths, kind = _list_paths(path), "list"
    if not paths:
        raise ArchiveInputError(f"--videos {source} lists no video.")
    root = path.resolve().parent
    videos = {}
    for line_number, video_path in paths:
        video_path = video_path if os.path.isabs(video_path) else os.path.normpath(root / video_path)
        video = ArchiveVideo(relative_video_name(video_path, root), os.fspath(video_path))
        if videos.setdefault(video.name, video) != video:
            raise ArchiveInputError(f"{source}, line {line_number}: {video.name!r} names two different files.")
    duplicates = len(paths) - len(videos)
    if duplicates:
        logger.info(f"--videos {source}: {duplicates} line(s) repeat a video listed before; each video runs once.")
    return ArchiveInput(os.fspath(source), kind, os.fspath(root), sorted(videos.values(), key=_by_name))


def _by_name(video: ArchiveVideo):
    return video.name


def _read_folder(folder: Path, source: str) -> ArchiveInput:
    root = folder.resolve()
    videos, skipped = [], []
    for directory, subdirectories, files in os.walk(root, followlinks=False):
        directory = Path(directory)
        for name in sorted(subdirectories):
            if (directory / name).is_symlink():
                skipped.append(_skipped(directory / name, root, "a linked folder: not followed"))
        for name in sorted(files):
            path = directory / name
            if not is_video_file_name(name):
                continue
            if path.is_symlink() and not _inside(path.resolve(), root):
                skipped.append(_skipped(path, root, f"a link to {path.resolve()}, outside the input folder"))
                continue
            videos.append(ArchiveVideo(relative_video_name(path, root), os.fspath(path)))
    for entry in skipped:
        logger.warning(f"--videos {source}: {entry['video']} is {entry['reason']}.")
    if not videos:
        raise ArchiveInputError(
            f"--videos {source} holds no video file (searched recursively for {', '.join(VIDEO_EXTENSIONS)}, in any "
            "case)."
        )
    return ArchiveInput(source, "folder", os.fspath(root), sorted(videos, key=_by_name), skipped)


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _skipped(path: Path, root: Path, reason: str) -> dict:
    return {"video": relative_video_name(path, root), "path": os.fspath(path), "reason": reason}


def _manifest_paths(path: Path) -> list[tuple[int, str]]:
    paths = []
    with open(path, encoding="utf-8") as file:
        for line_number, line in enumerate(file, start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as error:
                raise ArchiveInputError(f"{path}, line {line_number}: not a JSON object ({error}).") from None
            if not isinstance(entry, dict) or not isinstance(entry.get("video"), str) or not entry["video"]:
                raise ArchiveInputError(
                    f"{path}, line {line_number}: expected a JSON object with a 'video' path, got {line.strip()!r}."
                )
            paths.append((line_number, entry["video"]))
    return paths


def _list_paths(path: Path) -> list[tuple[int, str]]:
    with open(path, encoding="utf-8") as file:
        lines = [(number, line.strip()) for number, line in enumerate(file, start=1)]
    return [(number, line) for number, line in lines if line and not line.startswith("#")]


__all__ = ["ArchiveInput", "ArchiveInputError", "ArchiveVideo", "read_archive_input"]
