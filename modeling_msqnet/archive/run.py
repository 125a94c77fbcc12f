"""
Annotate an archive across processes and machines (Accelerate): each process computes the timelines of its share of
the videos, balanced by duration, and writes each one as soon as it is done; the main process then merges them into
`segments.parquet`, `summary.json` and plots.

A relaunch with the same command into the same output folder skips the videos whose timeline is written (a timeline
is the unit of work) and retries those that failed; the merge is recomputed from the timelines, so its outputs equal
those of a run that was never interrupted. The first run records its input, model and settings in
`run_settings.json`; a relaunch with others is refused unless `overwrite`.
"""

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

from tqdm.auto import tqdm
from transformers.utils import logging

from ..hub_code.video_decoding import probe_video
from ..publishing.model_folder import atomic_output
from ..timeline import compute_timeline, per_label_thresholds
from .inputs import ArchiveInput, ArchiveVideo
from .layout import (
    FAILED_DIR,
    PLOTS_DIR,
    RUN_SETTINGS_FILE,
    SEGMENTS_FILE,
    SUMMARY_FILE,
    TIMELINES_DIR,
    failure_path,
    timeline_path,
)
from .merge import merge_archive


logger = logging.get_logger(__name__)

# Files of a model folder that do not change what the model computes (thresholds are recorded on their own).
MODEL_FILES_NOT_HASHED = ("README.md", "thresholds.json")
POLL_SECONDS = 0.5
HOURS_BAR_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {n:.3f}/{total:.3f} h of footage [{elapsed}<{remaining}]"


class ArchiveSettingsError(ValueError):
    """A relaunch into an output folder whose first run used another input, model or settings."""


def model_identity(timeline_model) -> dict:
    """
    What identifies the model of a run: `kind` (`"msqnet"`, `"onnx"` or `"onnx-int8"`), `dtype`, `source` (the
    folder, for information) and `sha256`, a hash of the folder's files (weights, config, processor config), or
    `None` for a Hub id (then `source` identifies it).
    """
    source = timeline_model.source
    kind = timeline_model.dtype if timeline_model.dtype.startswith("onnx") else "msqnet"
    digest = None
    if os.path.isdir(source):
        hasher = hashlib.sha256()
        for path in sorted(Path(source).iterdir()):
            if path.is_file() and not path.name.startswith(".") and path.name not in MODEL_FILES_NOT_HASHED:
                hasher.update(path.name.encode() + b"\0")
                with open(path, "rb") as file:
                    for block in iter(lambda: file.read(1 << 20), b""):
                        hasher.update(block)
        digest = hasher.hexdigest()
    return {"kind": kind, "dtype": timeline_model.dtype, "source": os.path.abspath(source), "sha256": digest}


def run_settings(archive_input: ArchiveInput, timeline_model, timeline_options: dict) -> dict:
    """The input, model and settings a run records (`run_settings.json`) and a relaunch must match."""
    threshold = timeline_options["threshold"]
    num_frames = getattr(timeline_model.scorer or timeline_model.model, "config").num_frames
    settings = {
        "window_seconds": float(timeline_options["window_seconds"]),
        "stride_seconds": float(timeline_options["stride_seconds"]),
        "num_frames": int(num_frames),
        "threshold": None if isinstance(threshold, dict) else float(threshold),
        "thresholds": per_label_thresholds(threshold, timeline_model.labels),
        "min_duration": float(timeline_options["min_duration"]),
        "merge_gap": float(timeline_options["merge_gap"]),
    }
    return {
        "input": archive_input.description(),
        "model": model_identity(timeline_model),
        "labels": list(timeline_model.labels),
        "settings": settings,
    }


def _comparable(settings: dict) -> dict:
    """The recorded settings without what may differ between equal runs (`--videos` as typed, the model's path when
    its files are hashed)."""
    comparable = json.loads(json.dumps(settings))
    comparable["input"].pop("videos", None)
    if comparable["model"].get("sha256") is not None:
        comparable["model"].pop("source", None)
    return comparable


def settings_differences(recorded: dict, current: dict) -> list[str]:
    """`"key: recorded -> current"` for each setting that differs (empty when a relaunch may go on)."""
    recorded, current = _comparable(recorded), _comparable(current)
    differences = []
    for section in sorted(set(recorded) | set(current)):
        old, new = recorded.get(section), current.get(section)
        if isinstance(old, dict) and isinstance(new, dict):
            for key in sorted(set(old) | set(new)):
                if old.get(key) != new.get(key):
                    differences.append(f"{section}.{key}: {old.get(key)!r} -> {new.get(key)!r}")
        elif old != new:
            differences.append(f"{section}: {old!r} -> {new!r}")
    return differences


def prepare_output_dir(output_dir, settings: dict, overwrite: bool):
    """
    On the main process, before any work: record `settings` in a new output folder, check them against those of a
    run that wrote there before (or, with `overwrite`, delete that run's outputs; `reviews.jsonl` is kept), and remove
    what a killed run left half-written.
    """
    output_dir = Path(output_dir)
    settings_file = output_dir / RUN_SETTINGS_FILE
    if settings_file.is_file():
        with open(settings_file, encoding="utf-8") as file:
            recorded = json.load(file)
        differences = settings_differences(recorded, settings)
        if differences and not overwrite:
            raise ArchiveSettingsError(
                f"{output_dir} holds a run with other settings ({'; '.join(differences)}). Relaunch with the same "
                "input, model and flags to finish it, choose another --output_dir, or pass --overwrite to start over."
            )
        if differences:
            logger.warning(f"--overwrite: deleting the outputs of the earlier run in {output_dir} ({differences}).")
            _delete_outputs(output_dir)
    elif (output_dir / TIMELINES_DIR).exists() and not overwrite:
        raise ArchiveSettingsError(
            f"{output_dir} holds timelines but no {RUN_SETTINGS_FILE}: it was not written by this command. Choose "
            "another --output_dir or pass --overwrite."
        )
    elif overwrite:
        _delete_outputs(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    with atomic_output(settings_file, ".json") as temporary, open(temporary, "w", encoding="utf-8") as file:
        json.dump(settings, file, indent=2)
    for folder in (TIMELINES_DIR, FAILED_DIR, PLOTS_DIR):
        for leftover in (output_dir / folder).rglob(".*.tmp.*"):
            leftover.unlink()


def _delete_outputs(output_dir: Path):
    for folder in (TIMELINES_DIR, FAILED_DIR, PLOTS_DIR):
        shutil.rmtree(output_dir / folder, ignore_errors=True)
    for name in (SEGMENTS_FILE, SUMMARY_FILE, RUN_SETTINGS_FILE):
        (output_dir / name).unlink(missing_ok=True)


def split_by_duration(durations: dict[str, float], num_processes: int) -> list[list[str]]:
    """
    Share videos among processes so that each gets about the same footage: longest first, each to the process with
    the least so far (ties to the lowest rank). Deterministic: every process computes the same split.
    """
    shares, loads = [[] for _ in range(num_processes)], [0.0] * num_processes
    for name, duration in sorted(durations.items(), key=lambda item: (-item[1], item[0])):
        process = min(range(num_processes), key=lambda rank: (loads[rank], rank))
        shares[process].append(name)
        loads[process] += duration
    return shares


def probe_durations(videos: list[ArchiveVideo], accelerator) -> tuple[dict, dict]:
    """`({name: seconds}, {name: error})` of `videos`, each process probing a strided share, gathered on all."""
    from accelerate.utils import gather_object

    probed = []
    for video in videos[accelerator.process_index :: accelerator.num_processes]:
        try:
            info = probe_video(video.path)
            duration = info.duration if info.duration is not None else info.num_frames / (info.fps or 1.0)
            probed.append((video.name, float(duration), None))
        except Exception as error:  # any file the decoder cannot open is reported, and the run goes on
            probed.append((video.name, None, _error_message(error)))
    if accelerator.num_processes > 1:
        probed = gather_object(probed)
    durations = {name: duration for name, duration, error in probed if error is None}
    errors = {name: error for name, _, error in probed if error is not None}
    return durations, errors


def _error_message(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"


def write_failure(output_dir, video: ArchiveVideo, error: str):
    """Record (atomically) that `video` could not be annotated, and why."""
    with atomic_output(failure_path(output_dir, video.name), ".json") as temporary:
        with open(temporary, "w", encoding="utf-8") as file:
            json.dump({"video": video.name, "path": video.path, "error": error}, file, indent=2)
    logger.warning(f"{video.name} could not be annotated: {error}")


def annotate_video(video: ArchiveVideo, timeline_model, timeline_options: dict, output_dir) -> bool:
    """Compute and write the timeline of one video (as `examples/timeline.py` would); record a failure instead."""
    try:
        timeline = compute_timeline(
            timeline_model.model,
            timeline_model.video_processor,
            video.path,
            scorer=timeline_model.scorer,
            progress=False,
            **timeline_options,
        )
    except Exception as error:  # a truncated, unreadable or non-video file: reported, and the run goes on
        write_failure(output_dir, video, _error_message(error))
        return False
    timeline.save_json(timeline_path(output_dir, video.name))
    failure_path(output_dir, video.name).unlink(missing_ok=True)
    logger.info(f"annotated {video.name} ({timeline.duration:.1f} s, {len(timeline.segments)} segments)")
    return True


def _hours_bar(total_seconds: float, desc: str, position: int, disable: bool):
    return tqdm(total=total_seconds / 3600, desc=desc, position=position, bar_format=HOURS_BAR_FORMAT, disable=disable)


def run_share(names, videos_by_name, durations, timeline_model, timeline_options, output_dir, *, rank, progress):
    """Annotate this process's share, with a progress bar in hours of footage."""
    with _hours_bar(sum(durations[n] for n in names), f"process {rank}", rank + 1, not progress) as bar:
        for name in names:
            annotate_video(videos_by_name[name], timeline_model, timeline_options, output_dir)
            bar.update(durations[name] / 3600)


def wait_for_all(names, durations, output_dir, *, progress):
    """On the main process: wait until every video of the launch has a timeline or a failure record, with a
    progress bar of the whole launch's footage."""
    remaining = set(names)
    with _hours_bar(sum(durations[n] for n in names), "all processes", 0, not progress) as bar:
        while True:
            done = {
                n for n in remaining if timeline_path(output_dir, n).exists() or failure_path(output_dir, n).exists()
            }
            remaining -= done
            bar.update(sum(durations[n] for n in done) / 3600)
            if not remaining:
                return
            time.sleep(POLL_SECONDS)


def annotate_archive(
    archive_input: ArchiveInput,
    timeline_model,
    timeline_options: dict,
    output_dir,
    *,
    accelerator,
    overwrite: bool = False,
    progress: bool = True,
) -> dict | None:
    """
    Annotate every video of `archive_input` into `output_dir` (see the module docstring).

    Args:
        archive_input ([`ArchiveInput`]): The videos (`read_archive_input`).
        timeline_model (`timeline.cli.TimelineModel`): What scores the windows, loaded on this process's device.
        timeline_options (`dict`): `compute_timeline`'s window and segment options (`timeline.cli.timeline_options`).
        output_dir (`str` or `os.PathLike`): The output folder (see `archive.layout`).
        accelerator (`accelerate.Accelerator`): Gives this process's rank and the number of processes.
        overwrite (`bool`, *optional*): Start over in an output folder whose run used other settings.
        progress (`bool`, *optional*): Show the progress bars.

    Returns:
        `dict` or `None`: the summary, on the main process (`None` on the others).
    """
    settings = run_settings(archive_input, timeline_model, timeline_options)
    refused = None
    if accelerator.is_main_process:
        try:
            prepare_output_dir(output_dir, settings, overwrite)
            shutil.rmtree(Path(output_dir) / FAILED_DIR, ignore_errors=True)  # failed videos are retried
        except ArchiveSettingsError as error:
            refused = error
    accelerator.wait_for_everyone()
    if refused is not None:
        raise refused
    # The other processes check too, so that a refused relaunch stops them all.
    with open(Path(output_dir) / RUN_SETTINGS_FILE, encoding="utf-8") as file:
        differences = settings_differences(json.load(file), settings)
    if differences:
        raise ArchiveSettingsError(
            f"Process {accelerator.process_index} runs other settings than {output_dir}'s run: {differences}."
        )

    videos_by_name = {video.name: video for video in archive_input.videos}
    pending = [video for video in archive_input.videos if not timeline_path(output_dir, video.name).exists()]
    logger.info(f"{len(archive_input.videos) - len(pending)} of {len(archive_input.videos)} videos already annotated.")
    # All processes list the pending videos before the gather below, so before any of them writes a timeline.
    durations, probe_errors = probe_durations(pending, accelerator)
    shares = split_by_duration(durations, accelerator.num_processes)
    if accelerator.is_main_process:
        for name, error in probe_errors.items():
            write_failure(output_dir, videos_by_name[name], error)
    run_share(
        shares[accelerator.process_index],
        videos_by_name,
        durations,
        timeline_model,
        timeline_options,
        output_dir,
        rank=accelerator.process_index,
        progress=progress,
    )
    if not accelerator.is_main_process:
        return None
    wait_for_all(list(durations), durations, output_dir, progress=progress and accelerator.num_processes > 1)
    return merge_archive(output_dir, archive_input, settings)


__all__ = [
    "ArchiveSettingsError",
    "annotate_archive",
    "annotate_video",
    "model_identity",
    "prepare_output_dir",
    "run_settings",
    "settings_differences",
    "split_by_duration",
]
