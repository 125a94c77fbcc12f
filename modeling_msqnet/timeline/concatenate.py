"""Long footage from short clips: join clips into one video, to try the timeline (and the archive annotator) on
labelled clips whose time ranges are known."""

import os
from fractions import Fraction
from pathlib import Path

import av

from ..file_utils import atomic_output


def concatenate_clips(clips, output) -> list[dict]:
    """
    Join video clips into one video (re-encoded with libx264 at the first clip's size and frame rate), atomically.

    Args:
        clips (`list`): Video files, in order.
        output (`str` or `os.PathLike`): The `.mp4` file to write.

    Returns:
        `list[dict]`: per clip, `{"clip", "start", "end"}`: where it lies in the output, in seconds.
    """
    output = Path(output)
    ranges, time, stream = [], 0.0, None
    with atomic_output(output, output.suffix.lower()) as temporary, av.open(str(temporary), "w") as container:
        for clip in clips:
            with av.open(os.fspath(clip)) as source:
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
            ranges.append({"clip": os.fspath(clip), "start": time, "end": time + duration})
            time += duration
        if stream is None:
            raise ValueError("`clips` is empty: give at least one video clip.")
        for packet in stream.encode():
            container.mux(packet)
    return ranges


__all__ = ["concatenate_clips"]
