"""Join short clips into one longer video (re-encoded with libx264 at the first clip's size and frame rate), e.g. to
try the timeline on the demo's 1 s test clips. Prints each clip's time range, and its labels when `--manifest` is given.

    python examples/concatenate_clips.py --output long.mp4 --manifest demo_output/benchmark/test.jsonl --first 8
    python examples/concatenate_clips.py --output long.mp4 a.mp4 b.mp4 c.mp4
"""

import argparse
import json
import sys
from pathlib import Path

from modeling_msqnet.timeline.concatenate import concatenate_clips


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clips", nargs="*", help="Video files, in order.")
    parser.add_argument("--manifest", default=None, help="Take the clips (and their labels) from this manifest.")
    parser.add_argument("--first", type=int, default=8, help="With --manifest: how many of its clips.")
    parser.add_argument("--output", required=True, help="The video to write (.mp4).")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    clips = [(path, None) for path in args.clips]
    if args.manifest:
        base = Path(args.manifest).resolve().parent
        with open(args.manifest) as file:
            rows = [json.loads(line) for line in file if line.strip()][: args.first]
        clips += [(str(base / row["video"]), row.get("labels")) for row in rows]
    if not clips:
        sys.exit("Give clips, or --manifest.")
    ranges = concatenate_clips([path for path, _ in clips], args.output)
    for entry, (path, labels) in zip(ranges, clips):
        print(f"{entry['start']:7.2f}-{entry['end']:7.2f} s  {Path(path).name}  {', '.join(labels or [])}")
    print(f"wrote {args.output} ({ranges[-1]['end']:.2f} s)")


if __name__ == "__main__":
    main()
