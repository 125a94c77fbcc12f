"""The demo's last step: an archive of "recordings" made of unseen-actor test clips, annotated by the trained model
as `examples/annotate.py` does, into review-ready outputs (timelines, segments, summary, plots)."""

import json
from pathlib import Path

from transformers.utils import logging

from ..timeline.concatenate import concatenate_clips


logger = logging.get_logger(__name__)

# Recordings of the demo archive: (relative path, number of consecutive test clips of 1 s).
DEMO_RECORDINGS = (("camera_a/morning.mp4", 12), ("camera_a/evening.mp4", 12), ("camera_b/day1.mp4", 16))


def write_demo_recordings(test_records, folder) -> list[dict]:
    """
    Join consecutive test clips into the videos of `DEMO_RECORDINGS` under `folder`; returns, per clip, where it lies
    (`{"video", "start", "end", "labels"}`), written to `folder/clip_ranges.json` (the true labels, for review).
    """
    folder, truth, first = Path(folder), [], 0
    for name, count in DEMO_RECORDINGS:
        records = test_records[first : first + count]
        first += count
        ranges = concatenate_clips([record["video"] for record in records], folder / name)
        truth += [
            {"video": name, "start": r["start"], "end": r["end"], "labels": record["labels"]}
            for r, record in zip(ranges, records)
        ]
    (folder / "clip_ranges.json").write_text(json.dumps(truth, indent=2) + "\n", encoding="utf-8")
    return truth


def annotate_demo_archive(model_dir, test_records, output_dir) -> dict:
    """Write the demo recordings into `output_dir/recordings` and annotate them into `output_dir/annotations`."""
    from ..archive.cli import main as annotate
    from ..archive.layout import read_summary

    output_dir = Path(output_dir)
    recordings, annotations = output_dir / "recordings", output_dir / "annotations"
    write_demo_recordings(test_records, recordings)
    argv = ["--model", str(model_dir), "--videos", str(recordings), "--output_dir", str(annotations)]
    argv += ["--window_seconds", "1", "--stride_seconds", "0.5", "--overwrite", "--no_progress"]
    status = annotate(argv)
    summary = read_summary(annotations)
    logger.info(
        "Archive: %d recordings (%.1f min) annotated into %s (segments.parquet, summary.json, plots/); review with "
        "`python examples/app.py --annotations %s`.",
        summary["num_done"],
        summary["hours"] * 60,
        annotations,
        annotations,
    )
    if status != 0:
        raise RuntimeError(f"The demo archive run failed: see {annotations / 'summary.json'}.")
    return {"annotations": str(annotations), "num_done": summary["num_done"], "hours": summary["hours"]}


__all__ = ["DEMO_RECORDINGS", "annotate_demo_archive", "write_demo_recordings"]
