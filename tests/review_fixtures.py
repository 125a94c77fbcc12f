"""A small annotated archive written by hand in the layout of `modeling_msqnet.archive.layout` (summary.json and
segments.parquet, with real video files), for the review store, the exporter and the review tab."""

import json
from pathlib import Path

from video_fixtures import write_video

from modeling_msqnet.archive.layout import SEGMENT_COLUMNS, SEGMENTS_FILE, SUMMARY_FILE


LABELS = ["walking", "jumping", "eating", "sleeping", "running"]
THRESHOLDS = {"walking": 0.5, "jumping": 0.5, "eating": 0.3, "sleeping": 0.5, "running": 0.5}
WINDOW_SECONDS = 4.0
# 12 s videos (300 frames at 25 fps): (video, label, start, end, peak_score, peak_time)
SEGMENTS = [
    ("site_a/day1.mp4", "walking", 0.0, 6.0, 0.91, 2.0),
    ("site_a/day1.mp4", "eating", 2.0, 10.0, 0.35, 5.0),
    ("site_a/day1.mp4", "jumping", 8.0, 12.0, 0.52, 10.0),
    ("site_b/day2.mp4", "sleeping", 0.0, 4.0, 0.60, 2.0),
    ("site_b/day2.mp4", "running", 4.0, 12.0, 0.97, 8.0),
]


def write_archive(root, segments=SEGMENTS, *, num_frames: int = 300, fps: int = 25) -> tuple[Path, Path]:
    """Write the videos under `root/videos` and the archive under `root/out`; returns `(videos_dir, out_dir)`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = Path(root)
    videos_dir, out_dir = root / "videos", root / "out"
    names = sorted({segment[0] for segment in segments})
    videos = []
    for name in names:
        path = videos_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        write_video(path, num_frames, fps=fps)
        videos.append({"video": name, "path": str(path), "duration": num_frames / fps})
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = {
        "input": {"videos": str(videos_dir), "kind": "folder", "root": str(videos_dir)},
        "model": "tiny",
        "settings": {"window_seconds": WINDOW_SECONDS, "stride_seconds": 2.0, "thresholds": dict(THRESHOLDS)},
        "labels": list(LABELS),
        "videos": videos,
        "num_videos": len(videos),
        "num_done": len(videos),
        "hours": sum(video["duration"] for video in videos) / 3600,
        "failed": [],
        "time_budget": {},
    }
    (out_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=2), encoding="utf-8")
    columns = {name: [segment[index] for segment in segments] for index, name in enumerate(SEGMENT_COLUMNS)}
    pq.write_table(pa.table(columns), out_dir / SEGMENTS_FILE)
    return videos_dir, out_dir
