"""Join short clips into one longer video (re-encoded with libx264 at the first clip's size and frame rate), e.g. to
try the timeline on the demo's 1 s test clips. Prints each clip's time range, and its labels when `--manifest` is given.

    python examples/concatenate_clips.py --output long.mp4 --manifest demo_output/benchmark/test.jsonl --first 8
    python examples/concatenate_clips.py --output long.mp4 a.mp4 b.mp4 c.mp4
"""

import argparse
import json
import sys
from fractions import Fraction
from pathlib import Path

import av


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
    output = Path(args.output)
    temporary = output.with_name(f".{output.name}.tmp{output.suffix}")
    time, stream = 0.0, None
    with av.open(str(temporary), "w") as container:
        for path, labels in clips:
            with av.open(path) as source:
                frames = [frame.to_ndarray(format="rgb24") for frame in source.decode(video=0)]
                rate = source.streams.video[0].average_rate or Fraction(25)
            if stream is None:
                stream = container.add_stream("libx264", rate=rate)
                stream.height, stream.width = frames[0].shape[:2]
                stream.pix_fmt = "yuv420p"
                stream.options = {"crf": "18"}
            for array in frames:
                for packet in stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")):
                    container.mux(packet)
            duration = len(frames) / float(stream.codec_context.framerate or rate)
            print(f"{time:7.2f}-{time + duration:7.2f} s  {Path(path).name}  {', '.join(labels or [])}")
            time += duration
        for packet in stream.encode():
            container.mux(packet)
    temporary.replace(output)
    print(f"wrote {output} ({time:.2f} s)")


if __name__ == "__main__":
    main()
