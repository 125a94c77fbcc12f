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
"""Reading chosen frames of a long video in one pass, front to back, with no seek.

[`StreamingVideoReader`] takes the frame index of `video_decoding.VideoReader` (built by demuxing the packets without
decoding them: the presentation time of every frame, so that `start`/`end` windows select the same frames as a
manifest's `start`/`end`), then decodes the file once from the start. Frames that are neither wanted nor references
for other frames are skipped by the decoder; only the wanted ones are converted to RGB. A wanted frame that never comes
out of the decoder (a corrupt stretch) is yielded as `None`, so the caller can report it.
"""

import os
from collections.abc import Iterator

import av
import numpy as np
from transformers.utils import logging

from ..hub_code.video_decoding import (
    VideoDecodingError,
    VideoReader,
    decoded_frame_position,
    frame_to_rgb,
    frames_in_window,
)


logger = logging.get_logger(__name__)


class StreamingVideoReader:
    """
    One video file, indexed on opening and decoded front to back by [`~StreamingVideoReader.iter_frames`].

    Args:
        source (`str` or `os.PathLike`):
            A video file (anything FFmpeg reads). Frame folders are not supported.

    Attributes:
        num_frames (`int`), fps (`float` or `None`), duration (`float` or `None`):
            Frame count, average frame rate and duration in seconds, as `VideoReader` reports them.
        times (`np.ndarray`):
            Presentation time of each frame in seconds from the first frame, in presentation order.
    """

    def __init__(self, source: str | os.PathLike):
        self.failed_packet_times = []
        self._reader = VideoReader(source)
        self.path = self._reader.path
        if self._reader.is_frame_folder:
            raise VideoDecodingError(f"{self.path} is a folder; the timeline reads video files only.")
        index = self._reader.frame_index()
        self.times, self._pts, self._skip_frames = index.times, index.pts, index.skip_frames
        self.has_timestamps = self._pts is not None
        self.num_frames, self.fps, self.duration = self._reader.num_frames, self._reader.fps, self._reader.duration
        if self.duration is None:
            raise VideoDecodingError(
                f"The duration of the video {self.path} is unknown; it cannot be cut into windows."
            )

    def frame_range(self, start: float, end: float) -> tuple[int, int]:
        """Indices `[first, last)` of the frames whose presentation time lies in `[start, end)` seconds."""
        return frames_in_window(self.times, start, end)

    def iter_frames(self, indices) -> Iterator[tuple[int, np.ndarray | None]]:
        """
        Decode the file once and yield `(index, frame)` for each of `indices`, in increasing order.

        `frame` is an upright `(height, width, 3)` uint8 RGB array, or `None` for a frame the decoder did not return
        (corrupt data). The presentation times of the packets that failed to decode are collected in
        `failed_packet_times` (and counted in a warning).
        """
        self.failed_packet_times = []
        wanted = np.unique(np.asarray(indices, dtype=np.int64))
        if wanted.size and (wanted[0] < 0 or wanted[-1] >= self.num_frames):
            raise ValueError(f"Frame indices must be in [0, {self.num_frames}) for {self.path}.")
        if not wanted.size:
            return
        wanted_pts = set(self._pts[wanted].tolist()) if self.has_timestamps and self._skip_frames else None
        wanted_list = wanted.tolist()
        next_wanted = 0  # position in `wanted_list` of the next frame to yield
        count = -1  # presentation index of the last decoded frame, when frames are counted
        num_failed_packets = 0
        container, stream = self._reader.open_stream()
        codec_context = stream.codec_context
        try:
            for packet in container.demux(stream):
                if wanted_pts is not None:
                    keep = packet.pts is None or packet.pts in wanted_pts
                    codec_context.skip_frame = "DEFAULT" if keep else "NONREF"
                try:
                    frames = packet.decode()
                except av.FFmpegError as error:
                    num_failed_packets += 1
                    if packet.pts is not None and self.has_timestamps:
                        self.failed_packet_times.append(float((packet.pts - self._pts[0]) * packet.time_base))
                    logger.debug(f"Could not decode a packet of {self.path} (pts {packet.pts}): {error}")
                    continue
                for frame in frames:
                    position = self._position(frame, count)
                    if position is None:
                        continue
                    count = position
                    # Frames come out in presentation order: wanted frames before this one were lost.
                    while next_wanted < len(wanted_list) and wanted_list[next_wanted] < position:
                        yield wanted_list[next_wanted], None
                        next_wanted += 1
                    if next_wanted < len(wanted_list) and wanted_list[next_wanted] == position:
                        yield position, frame_to_rgb(frame, None)
                        next_wanted += 1
                    if next_wanted == len(wanted_list):
                        return
        finally:
            container.close()
            if num_failed_packets:
                logger.warning(f"{num_failed_packets} packet(s) of the video {self.path} could not be decoded.")
        for index in wanted_list[next_wanted:]:
            yield index, None

    def _position(self, frame: "av.VideoFrame", count: int) -> int | None:
        return decoded_frame_position(frame.pts, self._pts if self.has_timestamps else None, count)
