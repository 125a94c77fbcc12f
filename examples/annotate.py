"""Annotate an archive: an action timeline for every video of a folder (searched recursively), a manifest or a list,
across processes and machines, resumable; then segments, time budgets and plots ready for review.

    python examples/annotate.py --model DIR --videos FOLDER --output_dir OUT [--thresholds thresholds.json] \
        [--window_seconds 4 --stride_seconds 2 --min_duration 0 --merge_gap 0 --batch_size 8 --dtype auto]
    accelerate launch [--num_machines N ...] examples/annotate.py ...   (same flags; relaunch the same to resume)

OUT holds timelines/<video>.json (as examples/timeline.py writes), segments.parquet, summary.json and plots/.
"""

import sys

from modeling_msqnet.archive.cli import main


if __name__ == "__main__":
    sys.exit(main(description=__doc__))
