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
"""Atomic writes: a file or a folder is replaced in one rename, so that a reader never sees it half-written."""

import contextlib
import os
import shutil
from pathlib import Path


@contextlib.contextmanager
def atomic_output(path, suffix: str):
    """Yields a temporary path beside `path` (which must end with `suffix`, kept so that writers that go by the
    suffix pick the format) and renames it to `path` on success: a file is never seen half-written."""
    path = Path(path)
    if path.suffix.lower() != suffix:
        raise ValueError(f"`path` must end with {suffix}, got {str(path)!r}.")
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.stem}.tmp{suffix}")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()


def temporary_sibling(path, tag: str = "saving") -> Path:
    """The hidden path `.<name>.<tag>` next to `path` (same file system, so that a rename is atomic)."""
    path = Path(path)
    return path.parent / f".{path.name}.{tag}"


def replace_folder(staged, final, keep_old_entries: bool = True) -> Path:
    """
    Put the complete folder `staged` in place of `final` with renames. With `keep_old_entries`, the entries of the old
    `final` that `staged` does not hold (checkpoints, logs, ...) move into the new one. A run killed at any point
    leaves `final` either as it was or complete (and the old folder as `.<name>.old`), never new files beside old
    ones.
    """
    staged, final = Path(staged), Path(final)
    if not final.exists():
        os.replace(staged, final)
        return final
    backup = temporary_sibling(final, "old")
    shutil.rmtree(backup, ignore_errors=True)
    os.replace(final, backup)
    os.replace(staged, final)
    if keep_old_entries:
        for entry in backup.iterdir():
            if not (final / entry.name).exists():
                os.replace(entry, final / entry.name)
    shutil.rmtree(backup, ignore_errors=True)
    return final


__all__ = ["atomic_output", "replace_folder", "temporary_sibling"]
