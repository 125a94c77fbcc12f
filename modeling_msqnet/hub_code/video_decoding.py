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
"""Reading the frames MSQNet needs from video files and frame folders with PyAV.

Only the requested frames are decoded: the packets of the video stream are demuxed once (no decoding) to learn the
presentation timestamp of every frame and which frames are keyframes, then for each wanted frame the reader seeks to
the keyframe at or before it and decodes forward, going on without a new seek while the next wanted frame comes before
the next keyframe. Only the frames that are kept are converted to RGB (optionally downscaled by swscale on the way).

The frames returned are exactly the requested ones, in every container, or a `VideoDecodingError` says which frame
could not be decoded: decoded frames are matched to the index by timestamp; a seek that lands after its keyframe (as in
MPEG-TS, whose demuxer seeks by decoding timestamp) is retried by decoding timestamp, then from an earlier keyframe;
containers without presentation timestamps (AVI) are read in decoding order. Inputs that are not videos (pipes,
devices, text files, playlists, audio files with cover art) and files shorter than their header says (truncated) are
refused.

This module is shared by the video processor and the training data pipeline. It imports only the standard library,
`numpy`, `av` and `transformers` (for logging), so that it can travel to the Hub as remote code.
"""

import math
import os
import re
import stat
import threading
from dataclasses import dataclass

import av
import av.video.reformatter
import numpy as np
from transformers.utils import logging


logger = logging.get_logger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
SAMPLING_MODES = ("middle", "random")
# FFmpeg demuxers and decoders that render text or binary dumps as "video" (e.g. the `tty` demuxer opens any .txt or
# .nfo file as ANSI art): such files are not videos.
NON_VIDEO_FORMATS = frozenset({"tty", "bin", "xbin", "adf", "idf", "ansi"})
NON_VIDEO_CODECS = frozenset({"ansi", "bintext", "xbin", "idf"})
# Demuxers that read other files or network streams listed in the given file (playlists, concat lists, stream
# descriptions): a dataset names its video files itself.
PLAYLIST_FORMATS = frozenset({"concat", "hls", "dash", "sdp", "rtp", "rtsp"})
PLAYLIST_EXTENSIONS = (".m3u8", ".m3u", ".ffconcat", ".mpd", ".sdp")
# Demuxers whose seek index is by decoding timestamp: seeking to a keyframe's presentation timestamp (later, with
# B-frames) lands after the keyframe.
DTS_SEEK_FORMATS = frozenset({"mpegts", "mpeg", "mpegvideo"})
# FFmpeg's own decoders that apply `skip_frame` packet by packet; others (e.g. libdav1d for AV1) read it once, and
# skipping would drop wanted frames, so they decode every frame.
SKIP_FRAME_DECODERS = frozenset(
    {"h264", "hevc", "mpeg1video", "mpeg2video", "mpeg4", "h263", "msmpeg4v3", "vc1", "wmv3", "vp8", "vp9"}
)


class VideoDecodingError(ValueError):
    """Raised when a video file or frame folder is missing, empty, corrupt or cannot be decoded."""


class _TimestampsOutOfOrder(Exception):
    """Decoded frames came out with falling timestamps: the container's timestamps cannot locate frames."""


@dataclass
class VideoInfo:
    """
    What a video (or the `start`/`end` window of it that was asked for) holds.

    Args:
        path (`str`):
            The video file or frame folder.
        num_frames (`int`):
            Number of frames (in the window, when one was asked for).
        fps (`float`, *optional*):
            Average frame rate. `None` for a frame folder read without `folder_fps`.
        duration (`float`, *optional*):
            Duration in seconds (of the window, when one was asked for). `None` when `fps` is unknown.
        width (`int`):
            Width of the upright frames, after the display rotation is applied.
        height (`int`):
            Height of the upright frames, after the display rotation is applied.
        rotation (`int`, *optional*, defaults to 0):
            The display rotation of the video (0, 90, 180 or -90 degrees counter-clockwise, PyAV's
            `VideoFrame.rotation` convention; -90 is a phone's portrait video), which the reader applies to make the
            frames upright.
        is_frame_folder (`bool`, *optional*, defaults to `False`):
            Whether `path` is a folder of frame images.
    """

    path: str
    num_frames: int
    fps: float | None
    duration: float | None
    width: int
    height: int
    rotation: int = 0
    is_frame_folder: bool = False


@dataclass
class FrameIndex:
    """
    Where the frames of a video file are, as [`VideoReader`] indexes them (see [`VideoReader.frame_index`]).

    Args:
        times (`np.ndarray`):
            Presentation time of each frame in seconds from the first frame, in presentation order: the times that
            `start`/`end` select frames by.
        pts (`np.ndarray`, *optional*):
            Their presentation timestamps (stream time base), which match decoded frames to indices; `None` when the
            file has no reliable ones: frames then count in the order the decoder returns them.
        skip_frames (`bool`):
            Whether the decoder may be told to skip frames that are neither wanted nor references.
    """

    times: np.ndarray
    pts: np.ndarray | None
    skip_frames: bool


def decoded_frame_position(frame_pts, pts: np.ndarray | None, previous_position: int) -> int | None:
    """
    Index (in presentation order) of a decoded frame: where its timestamp `frame_pts` stands in the sorted timestamps
    `pts` of the file's frames, `None` if it is not one of them; without reliable timestamps (`pts=None`), the frame
    after `previous_position` (the decoder returns frames in presentation order).
    """
    if pts is None:
        return previous_position + 1
    if frame_pts is None:
        return None
    position = int(np.searchsorted(pts, frame_pts))
    if position < len(pts) and pts[position] == frame_pts:
        return position
    return None


def sample_frame_indices(
    num_source_frames: int,
    num_frames: int,
    *,
    mode: str = "middle",
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """
    Indices of `num_frames` frames out of `num_source_frames`, the way MSQNet samples clips (TSN-style segments).

    The clip is cut into `num_frames` equal segments (integer boundaries `linspace(0, num_source_frames,
    num_frames + 1)` truncated) and one frame is taken from each: the middle one (`mode="middle"`, test time) or a
    uniformly random one (`mode="random"`, train time). A clip with at most `num_frames` frames gets evenly spaced,
    repeated indices (`linspace(0, num_source_frames - 1, num_frames)` truncated) in both modes.

    Args:
        num_source_frames (`int`):
            Number of frames in the clip.
        num_frames (`int`):
            Number of frames to sample (T).
        mode (`str`, *optional*, defaults to `"middle"`):
            `"middle"` or `"random"`.
        rng (`np.random.Generator`, *optional*):
            Random generator for `mode="random"`; a fresh `np.random.default_rng()` when not given.

    Returns:
        `np.ndarray`: `int64` indices of shape `(num_frames,)`, non-decreasing, in `[0, num_source_frames)`.
    """
    num_source_frames = int(num_source_frames)
    num_frames = int(num_frames)
    if num_source_frames < 1:
        raise ValueError(f"`num_source_frames` must be at least 1, got {num_source_frames}.")
    if num_frames < 1:
        raise ValueError(f"`num_frames` must be at least 1, got {num_frames}.")
    if mode not in SAMPLING_MODES:
        raise ValueError(f"`mode` must be one of {SAMPLING_MODES}, got {mode!r}.")

    if num_source_frames <= num_frames:
        return np.linspace(0, num_source_frames - 1, num_frames, dtype=np.int64)

    ticks = np.linspace(0, num_source_frames, num_frames + 1, dtype=np.int64)
    segment_lengths = ticks[1:] - ticks[:-1]
    if mode == "middle":
        offsets = segment_lengths // 2
    else:
        rng = rng if rng is not None else np.random.default_rng()
        offsets = rng.integers(segment_lengths)
    return (ticks[:-1] + offsets).astype(np.int64)


def natural_sort_key(name: str):
    """
    Sort key that orders names by the numbers in them (`frame_2.jpg` before `frame_10.jpg`), case-insensitively.

    The one definition of "natural order" in the package: frame folders and the dataset converters both use it.
    """
    # The (0, int) / (1, str) pairs never compare an int with a str; the name itself breaks ties deterministically.
    parts = re.split(r"(\d+)", name)
    return [(0, int(part)) if part.isdigit() else (1, part.lower()) for part in parts], name


def _check_frame_numbering(folder: str, names: list[str]):
    """
    Refuse frame folders whose numbering is ambiguous (two images with one number, e.g. `frame_6.png` beside
    `frame_6.jpg` or `frame_06.jpg`) or has gaps (a missing frame). The frame number is the last number in the names
    that changes from file to file (`clip3_frame_12_v2.jpg`: 12).
    """
    stems = [os.path.splitext(name)[0] for name in names]
    runs = [[int(run) for run in re.findall(r"\d+", stem)] for stem in stems]
    if len({len(numbers) for numbers in runs}) > 1:
        shortest = min(range(len(names)), key=lambda i: len(runs[i]))
        longest = max(range(len(names)), key=lambda i: len(runs[i]))
        raise VideoDecodingError(
            f"The images of the frame folder {folder} do not follow one numbering ({names[shortest]} and "
            f"{names[longest]}); name every frame with its number (frame_1.jpg, frame_2.jpg, ...)."
        )
    by_key = {}
    for name, stem in zip(names, stems):
        by_key.setdefault(tuple(natural_sort_key(stem)[0]), []).append(name)
    duplicates = sorted(sorted(files) for files in by_key.values() if len(files) > 1)
    if duplicates:
        raise VideoDecodingError(
            f"The frame folder {folder} has {len(duplicates)} frame(s) with more than one image (e.g. "
            f"{', '.join(duplicates[0])}); keep one image per frame."
        )
    varying = [i for i in range(len(runs[0])) if len({numbers[i] for numbers in runs}) > 1]
    if not varying:
        return  # unnumbered frames (ordered by name), or a single frame
    numbers = {numbers[varying[-1]] for numbers in runs}
    first, last = min(numbers), max(numbers)
    if len(varying) == 1 and last - first + 1 != len(numbers):
        missing = sorted(set(range(first, last + 1)) - numbers)
        shown = ", ".join(str(number) for number in missing[:10]) + (", ..." if len(missing) > 10 else "")
        raise VideoDecodingError(
            f"The frame folder {folder} is missing {len(missing)} of the frames numbered {first} to {last} "
            f"(frame {shown}); frame positions and `start`/`end` windows would shift. Fill or renumber the frames."
        )


def list_frame_files(folder: str | os.PathLike) -> list[str]:
    """
    The image files of a frame folder, sorted naturally by the numbers in their names (`2.jpg` before `10.jpg`).

    Files that are not images (by extension) are left out and counted in a warning. The frame numbers (the last
    number in the names that changes from file to file) must be consecutive and unique: a missing frame, two images
    with one number (e.g. `frame_6.png` beside `frame_6.jpg`) or an image outside the numbering raise a
    [`VideoDecodingError`].
    """
    folder = os.fspath(folder)
    try:
        names = os.listdir(folder)
    except OSError as error:
        raise VideoDecodingError(f"Could not list the frame folder {folder}: {error}") from error
    image_names = [name for name in names if name.lower().endswith(IMAGE_EXTENSIONS) and not name.startswith(".")]
    num_ignored = len(names) - len(image_names)
    if num_ignored:
        logger.warning(
            f"Ignored {num_ignored} file(s) in the frame folder {folder} that are not images "
            f"(expected one of {', '.join(IMAGE_EXTENSIONS)})."
        )
    if not image_names:
        raise VideoDecodingError(f"The frame folder {folder} holds no image files ({', '.join(IMAGE_EXTENSIONS)}).")
    not_files = [name for name in image_names if not os.path.isfile(os.path.join(folder, name))]
    if not_files:
        # A named pipe (or a folder) called `frame_1.png` would block or fail deep inside FFmpeg.
        raise VideoDecodingError(
            f"The frame folder {folder} has {len(not_files)} image name(s) that are not regular files (e.g. "
            f"{sorted(not_files)[0]})."
        )
    _check_frame_numbering(folder, image_names)
    return [os.path.join(folder, name) for name in sorted(image_names, key=natural_sort_key)]


def _output_size(height: int, width: int, shortest_edge: int | None) -> tuple[int, int]:
    """(height, width) with the shortest edge resized to `shortest_edge`, rounded like transformers' resize."""
    if shortest_edge is None:
        return height, width
    short, long = (height, width) if height <= width else (width, height)
    new_short, new_long = int(shortest_edge), int(shortest_edge * long / short)
    return (new_short, new_long) if height <= width else (new_long, new_short)


def _rotation_turns(rotation: int) -> int:
    """Number of counter-clockwise quarter turns (`np.rot90`'s `k`) that make a frame with this rotation upright."""
    turns = int(round(rotation / 90.0))
    if rotation != turns * 90:
        logger.warning(f"Display rotation of {rotation} degrees is not a multiple of 90; rotating by {turns * 90}.")
    return turns % 4


_reformatters = threading.local()


def _reformat_to_rgb(frame: "av.VideoFrame", **kwargs) -> np.ndarray:
    # `VideoFrame.to_ndarray` builds a new swscale context for every frame, which costs more than decoding a small
    # frame; one reformatter per thread keeps its context (the output is identical).
    reformatter = getattr(_reformatters, "reformatter", None)
    if reformatter is None:
        reformatter = _reformatters.reformatter = av.video.reformatter.VideoReformatter()
    return reformatter.reformat(frame, format="rgb24", **kwargs).to_ndarray()


def frame_to_rgb(frame: "av.VideoFrame", shortest_edge: int | None) -> np.ndarray:
    """Convert a decoded frame to an upright `(H, W, 3)` uint8 RGB array, downscaled by swscale if asked."""
    turns = _rotation_turns(frame.rotation)
    if shortest_edge is None:
        array = _reformat_to_rgb(frame)
    else:
        # The target size is for the upright frame; swscale works on the coded (not yet rotated) frame.
        upright_height, upright_width = (frame.width, frame.height) if turns % 2 else (frame.height, frame.width)
        height, width = _output_size(upright_height, upright_width, shortest_edge)
        if turns % 2:
            height, width = width, height
        array = _reformat_to_rgb(frame, width=width, height=height, interpolation="BILINEAR")
    if turns:
        array = np.rot90(array, k=turns)
    return np.ascontiguousarray(array)


def _check_source(source) -> str:
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"A video must be given as a path (str or os.PathLike), got {type(source).__name__}.")
    path = os.fspath(source)
    if path.startswith(("http://", "https://")):
        return path
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise VideoDecodingError(f"The video file or frame folder {path} does not exist.") from None
    except OSError as error:
        raise VideoDecodingError(f"Could not access the video {path}: {error}") from error
    if stat.S_ISDIR(mode):
        return path
    if not stat.S_ISREG(mode):
        # Opening a named pipe, a device or a socket would block or read forever.
        kind = "a named pipe (FIFO)" if stat.S_ISFIFO(mode) else "not a regular file"
        raise VideoDecodingError(f"{path} is {kind}: a video must be a regular file or a frame folder.")
    if os.path.getsize(path) == 0:
        raise VideoDecodingError(f"The video file {path} is empty (0 bytes).")
    return path


def _tagged_duration(tag: str | None) -> float | None:
    """Seconds in a Matroska `DURATION` tag (`HH:MM:SS.nnnnnnnnn`), the duration of one track."""
    match = re.fullmatch(r"(\d+):(\d{2}):(\d{2}(?:\.\d+)?)", tag.strip()) if tag else None
    if match is None:
        return None
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def _ffmpeg_path(path: str) -> str:
    """The path to give FFmpeg: local files as absolute paths, so that a name like `12:30:00.mp4` is no protocol."""
    return path if path.startswith(("http://", "https://")) else os.path.abspath(path)


def _check_window(start: float | None, end: float | None):
    if start is not None and (not math.isfinite(start) or start < 0):
        raise ValueError(f"`start` must be a finite number of seconds >= 0, got {start}.")
    if end is not None and start is not None and end <= start:
        raise ValueError(f"`end` ({end} s) must be after `start` ({start} s).")
    if end is not None and end <= 0:
        raise ValueError(f"`end` must be > 0 seconds, got {end}.")


def open_video_stream(path: str):
    """
    Open the video file `path`: `(container, stream)` of its video stream. Playlists, files that FFmpeg renders as
    text, audio files with only a cover picture and files without a video stream raise a `VideoDecodingError`.
    Close the container.
    """
    if path.lower().endswith(PLAYLIST_EXTENSIONS):
        # Refused before FFmpeg opens it, which would already open what it lists.
        raise VideoDecodingError(
            f"The file {path} is a playlist or stream description, not a video file: give the video files themselves."
        )
    try:
        container = av.open(_ffmpeg_path(path))
    except (av.FFmpegError, OSError) as error:
        raise VideoDecodingError(f"Could not open the video {path}: {error}") from error
    format_names = set(container.format.name.split(","))
    # Cover art of an audio file is a one-picture "video" stream: not a video.
    streams = [
        stream
        for stream in container.streams.video
        if not stream.disposition & av.stream.Disposition.attached_pic
        and stream.codec_context.name not in NON_VIDEO_CODECS
    ]
    if format_names & PLAYLIST_FORMATS:
        format_description = container.format.long_name
        container.close()
        raise VideoDecodingError(
            f"The file {path} is a playlist or stream description ({format_description!r}), not a video "
            "file: give the video files themselves."
        )
    if format_names & NON_VIDEO_FORMATS:
        format_description = container.format.long_name
        container.close()
        raise VideoDecodingError(f"The file {path} is not a video (FFmpeg reads it as {format_description!r}).")
    if not streams:
        what = "only a cover picture, no video stream" if container.streams.video else "no video stream"
        container.close()
        raise VideoDecodingError(f"The file {path} has {what}.")
    return container, streams[0]


@dataclass
class _Packets:
    """What demuxing a video stream (without decoding) tells: per frame in decoding order, and the header's claims."""

    pts: list
    dts: list
    is_key: list
    durations: list
    time_base: object
    average_rate: object
    header_num_frames: int
    header_duration: object
    seek_by_dts: bool
    can_skip_frames: bool


def _demux_packets(path: str) -> _Packets:
    """The timestamps, keyframe flags and durations of every frame of the video file `path`, from its packets."""
    container, stream = open_video_stream(path)
    try:
        pts, dts, is_key, durations = [], [], [], []
        num_packets = 0
        for packet in container.demux(stream):
            if packet.size == 0 and packet.pts is None and packet.dts is None:
                continue  # the empty packet that flushes the demuxer at the end
            num_packets += 1
            if packet.size == 0:
                continue  # a dropped frame (e.g. an empty AVI chunk): nothing to decode
            if packet.is_discard:
                continue  # never shown (e.g. cut by an edit list)
            pts.append(packet.pts)
            dts.append(packet.dts)
            is_key.append(packet.is_keyframe)
            durations.append(packet.duration or 0)
        time_base = stream.time_base
        average_rate = stream.average_rate
        header_num_frames = stream.frames
        header_duration = stream.duration * time_base if stream.duration and time_base else None
        if header_duration is None:
            header_duration = _tagged_duration(stream.metadata.get("DURATION"))
        if header_duration is None and container.duration:
            # The whole file's duration (all streams): only used with a tolerance.
            header_duration = container.duration / av.time_base
        seek_by_dts = bool(set(container.format.name.split(",")) & DTS_SEEK_FORMATS)
        can_skip_frames = stream.codec_context.name in SKIP_FRAME_DECODERS
    except av.FFmpegError as error:
        raise VideoDecodingError(f"Could not read the packets of the video {path}: {error}") from error
    finally:
        container.close()
    if not pts:
        raise VideoDecodingError(f"The video {path} has no frames.")
    if header_num_frames and num_packets < header_num_frames:
        raise VideoDecodingError(
            f"The video {path} is truncated: its header lists {header_num_frames} frames but the file holds "
            f"only {num_packets}."
        )
    pts, dts, is_key, durations = _without_leading_frames(path, pts, dts, is_key, durations)
    return _Packets(
        pts,
        dts,
        is_key,
        durations,
        time_base,
        average_rate,
        header_num_frames,
        header_duration,
        seek_by_dts,
        can_skip_frames,
    )


def _without_leading_frames(path: str, pts: list, dts: list, is_key: list, durations: list) -> tuple:
    """
    Leave out the frames before the first keyframe (a recording cut or started inside a GOP, common in MPEG-TS):
    they reference frames that are not in the file, so decoders drop them. The count is reported.
    """
    first_key = next((i for i, key in enumerate(is_key) if key), None)
    if first_key is None:
        return pts, dts, is_key, durations  # no keyframe flags at all: nothing to go by
    key_pts = pts[first_key]
    keep = [i >= first_key and (key_pts is None or pts[i] is None or pts[i] >= key_pts) for i in range(len(pts))]
    num_left_out = keep.count(False)
    if not num_left_out:
        return pts, dts, is_key, durations
    logger.warning_once(
        f"The video {path} starts inside a group of pictures: its first {num_left_out} frame(s) come before "
        "the first keyframe, cannot be decoded and are left out."
    )
    return tuple([values[i] for i in range(len(pts)) if keep[i]] for values in (pts, dts, is_key, durations))


def _has_reliable_timestamps(path: str, pts: list, dts: list, time_base) -> bool:
    """Whether the presentation timestamps `pts` (in decoding order) locate frames; else frames are read in order."""
    if not (all(value is not None for value in pts) and time_base is not None):
        return False
    if len(pts) > 1:
        decoding_order_pts = np.asarray(pts, dtype=np.int64)
        known_dts = all(value is not None for value in dts)
        if (
            known_dts
            and (np.diff(decoding_order_pts) > 0).all()
            and (decoding_order_pts != np.asarray(dts, dtype=np.int64)).any()
        ):
            # Timestamps that rise in decoding order yet differ from the decoding timestamps were guessed by
            # FFmpeg (AVI stores none): with B-frames they do not follow the presentation order.
            logger.info(f"The video {path} has no reliable presentation timestamps; reading it in order.")
            return False
    return True


def _check_header_duration(path: str, packets: _Packets, total_duration: float | None):
    """Refuse a file whose header says it lasts clearly longer than its frames span (truncated)."""
    header_duration = packets.header_duration
    if (
        not packets.header_num_frames
        and header_duration is not None
        and total_duration is not None
        and float(header_duration) > total_duration + max(1.0, 0.1 * total_duration)
    ):
        raise VideoDecodingError(
            f"The video {path} is truncated: its header says it lasts {float(header_duration):.2f} s but "
            f"its frames span only {total_duration:.2f} s."
        )


def frames_in_window(times: np.ndarray, start: float | None, end: float | None) -> tuple[int, int]:
    """The frames `[first, last)` whose times fall in the window `[start, end)` (either bound may be open)."""
    first = int(np.searchsorted(times, start, side="left")) if start is not None else 0
    last = int(np.searchsorted(times, end, side="left")) if end is not None else len(times)
    return first, last


class VideoReader:
    """
    Reads chosen frames of one video file or frame folder, decoding as little as possible.

    `VideoReader(source, ...)` opens a [`VideoFileReader`] for a video file and a [`FrameFolderReader`] for a folder of
    frame images; both have this interface. A video file is opened once; its frame index (presentation timestamps and
    keyframes) is built by demuxing the packets without decoding them, so that `num_frames` is exact, also for
    variable frame rate videos. Use it as a context manager, or call [`~VideoReader.close`].

    Args:
        source (`str` or `os.PathLike`):
            A video file (anything FFmpeg reads) or a folder of frame images (jpg, png, ...), sorted naturally by the
            numbers in their names.
        start (`float`, *optional*):
            Start of the window to read, in seconds from the first frame. Frame indices count inside the window.
        end (`float`, *optional*):
            End of the window to read (exclusive), in seconds from the first frame.
        folder_fps (`float`, *optional*):
            Frame rate of a frame folder; needed to use `start`/`end` on one. Ignored for video files.

    Attributes:
        num_frames (`int`), fps (`float` or `None`), duration (`float` or `None`):
            Frame count, average frame rate and duration of the video (of the window, when one was asked for), known
            without decoding. [`~VideoReader.info`] adds the upright frame size and the rotation.

    Example:

    ```python
    >>> with VideoReader("video.mp4", start=2.0, end=6.0) as reader:
    ...     indices = sample_frame_indices(reader.num_frames, 16)
    ...     frames = reader.read(indices, shortest_edge=256)
    ```
    """

    is_frame_folder = False

    def __new__(cls, source=None, **kwargs):
        if cls is VideoReader:
            path = _check_source(source)
            cls = FrameFolderReader if os.path.isdir(path) else VideoFileReader
        return super().__new__(cls)

    def __init__(
        self,
        source: str | os.PathLike,
        *,
        start: float | None = None,
        end: float | None = None,
        folder_fps: float | None = None,
    ):
        self.path = _check_source(source)
        _check_window(start, end)
        self.start = start
        self.end = end
        self._info = None
        self._index(folder_fps)

    @property
    def info(self) -> VideoInfo:
        """
        The [`VideoInfo`] of the video (or of its window). The display rotation and the frame size are only known
        from a decoded frame: the first frame of the window is decoded (and kept) unless a frame was read already.
        """
        if self._info is None:
            self._set_info(self._first_frame())
        return self._info

    def _set_info(self, frame: "av.VideoFrame"):
        turns = _rotation_turns(frame.rotation)
        rotation = turns * 90 if turns <= 2 else -90
        width, height = (frame.height, frame.width) if turns % 2 else (frame.width, frame.height)
        timing = (self.num_frames, self.fps, self.duration)
        self._info = VideoInfo(self.path, *timing, width, height, rotation, is_frame_folder=self.is_frame_folder)

    def close(self):
        """Release the open file, if any."""

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __del__(self):
        self.close()

    def read(self, indices, *, shortest_edge: int | None = None) -> np.ndarray:
        """
        Decode the frames at `indices` (counted inside the window).

        Args:
            indices (`Sequence[int]` or `np.ndarray`):
                Frame indices in `[0, num_frames)`, in any order; duplicates are allowed.
            shortest_edge (`int`, *optional*):
                Resize the frames (with swscale, while converting them to RGB) so that their shortest edge has this
                length, keeping the aspect ratio.

        Returns:
            `np.ndarray`: `(len(indices), height, width, 3)` uint8 RGB frames, upright, in the order of `indices`.
        """
        indices = np.asarray(indices)
        if indices.ndim != 1 or (indices.size and not np.issubdtype(indices.dtype, np.integer)):
            raise ValueError(f"Frame indices must be a 1-D sequence of integers, got {indices!r}.")
        indices = indices.astype(np.int64)
        if shortest_edge is not None and int(shortest_edge) < 1:
            raise ValueError(f"`shortest_edge` must be a positive number of pixels, got {shortest_edge}.")
        num_frames = self.num_frames
        out_of_range = indices[(indices < 0) | (indices >= num_frames)]
        if out_of_range.size:
            raise ValueError(
                f"Frame indices {out_of_range.tolist()} are out of range for {self.path}, which has {num_frames} "
                "frames" + (" in the requested window." if self.start is not None or self.end is not None else ".")
            )
        if indices.size == 0:
            height, width = _output_size(self.info.height, self.info.width, shortest_edge)
            return np.zeros((0, height, width, 3), dtype=np.uint8)

        unique_indices, inverse = np.unique(indices, return_inverse=True)
        frames = self._read_unique(unique_indices, shortest_edge)
        shapes = {frame.shape for frame in frames}
        if len(shapes) > 1:
            raise VideoDecodingError(
                f"The frames read from {self.path} have different sizes {sorted(shapes)}; they cannot be stacked."
            )
        return np.stack(frames)[inverse.reshape(-1)]

    def _index(self, folder_fps: float | None):
        """Find the frames of the video and of the window: sets `num_frames`, `fps` and `duration`."""
        raise NotImplementedError

    def _first_frame(self) -> "av.VideoFrame":
        """The first frame of the window, decoded (it gives the frame size and rotation)."""
        raise NotImplementedError

    def _read_unique(self, indices: np.ndarray, shortest_edge: int | None) -> list:
        """RGB arrays of the frames at the sorted, unique window-level `indices`."""
        raise NotImplementedError


class FrameFolderReader(VideoReader):
    """A [`VideoReader`] of a folder of frame images ([`list_frame_files`]): one image file per frame."""

    is_frame_folder = True

    def _index(self, folder_fps: float | None):
        files = list_frame_files(self.path)
        if folder_fps is not None and not folder_fps > 0:
            raise ValueError(f"`folder_fps` must be > 0, got {folder_fps}.")
        first, last = 0, len(files)
        if self.start is not None or self.end is not None:
            if folder_fps is None:
                raise ValueError(
                    f"{self.path} is a frame folder: pass `folder_fps` (its frame rate) to use `start`/`end`."
                )
            first, last = frames_in_window(np.arange(len(files)) / folder_fps, self.start, self.end)
            if last <= first:
                raise VideoDecodingError(
                    f"The frame folder {self.path} has no frames between start={self.start} s and end={self.end} s "
                    f"({len(files)} frames at {folder_fps} fps)."
                )
        self._files = files[first:last]
        self.num_frames = len(self._files)
        self.fps = float(folder_fps) if folder_fps is not None else None
        self.duration = self.num_frames / self.fps if self.fps is not None else None

    def frame_index(self) -> "FrameIndex":
        """Video files only: a frame folder has no packets to index."""
        raise ValueError(f"{self.path} is a frame folder; `frame_index` describes video files.")

    def _first_frame(self) -> "av.VideoFrame":
        return self._decode_image(self._files[0])

    def _read_unique(self, indices: np.ndarray, shortest_edge: int | None) -> list:
        frames = []
        for index in indices.tolist():
            image = self._decode_image(self._files[index])
            if self._info is None:
                self._set_info(image)
            frames.append(frame_to_rgb(image, shortest_edge))
        return frames

    def _decode_image(self, image_path: str) -> "av.VideoFrame":
        try:
            with av.open(_ffmpeg_path(image_path)) as container:
                for frame in container.decode(video=0):
                    return frame
        except (av.FFmpegError, OSError, IndexError) as error:
            raise VideoDecodingError(f"Could not decode the frame image {image_path}: {error}") from error
        raise VideoDecodingError(f"The frame image {image_path} holds no image.")


class VideoFileReader(VideoReader):
    """A [`VideoReader`] of a video file: seeks to the keyframe before the wanted frames and decodes forward."""

    def _index(self, folder_fps: float | None):
        self._container = None
        self._frames = None
        self._position = -1
        self._seek_position = 0
        self._cached_frame = (None, None)
        self._wanted_pts = None
        self._skipped_pts = set()
        packets = _demux_packets(self.path)
        self._time_base = packets.time_base
        self._seek_by_dts = packets.seek_by_dts
        self._can_skip_frames = packets.can_skip_frames
        num_total, times, fps, total_duration = self._index_frames(packets)
        _check_header_duration(self.path, packets, total_duration)
        self._set_window(num_total, times, fps, total_duration)

    def _index_frames(self, packets: "_Packets") -> tuple:
        """
        Put the frames in presentation order by their timestamps (when they are reliable) and find the keyframes.
        Returns the frame count, the frame times (`None` without timestamps), the frame rate and the duration.
        """
        pts, dts, is_key, durations = packets.pts, packets.dts, packets.is_key, packets.durations
        # Without timestamps frames can only be counted in decoding order: read from the start, no seeking.
        self._has_timestamps = _has_reliable_timestamps(self.path, pts, dts, packets.time_base)
        if self._has_timestamps:
            order = np.argsort(np.asarray(pts, dtype=np.int64), kind="stable")
            self._pts = np.asarray(pts, dtype=np.int64)[order]
            self._dts = np.asarray([value if value is not None else pts[i] for i, value in enumerate(dts)])[order]
            is_key = np.asarray(is_key, dtype=bool)[order]
            durations = np.asarray(durations, dtype=np.int64)[order]
            if len(np.unique(self._pts)) != len(self._pts):
                logger.warning(f"The video {self.path} has frames with equal timestamps; reading it without seeking.")
                self._has_timestamps = False
        if not self._has_timestamps:
            num_total = len(pts)
            fps = float(packets.average_rate) if packets.average_rate else None
            return num_total, None, fps, num_total / fps if fps else None
        times = (self._pts - self._pts[0]) * float(packets.time_base)
        # The last frame lasts its packet's duration, or the typical frame interval when the container has none.
        last_duration = int(durations[-1])
        if last_duration <= 0 and len(self._pts) > 1:
            last_duration = int(np.median(np.diff(self._pts)))
        num_total = len(self._pts)
        total_span = (int(self._pts[-1] - self._pts[0]) + last_duration) * packets.time_base  # a Fraction: exact
        fps = float(num_total / total_span) if total_span > 0 else None
        # Keyframe positions in presentation order; position 0 counts as one (reached by reopening the file).
        is_key[0] = True
        self._key_positions = np.flatnonzero(is_key)
        return num_total, times, fps, float(total_span)

    def _set_window(self, num_total: int, times: np.ndarray | None, fps: float | None, total_duration: float | None):
        """The window [start, end) in seconds; frame indices count inside it."""
        first, last = 0, num_total
        if self.start is not None or self.end is not None:
            if times is None:
                if fps is None:
                    raise VideoDecodingError(
                        f"The video {self.path} has neither timestamps nor a frame rate, so `start`/`end` cannot be "
                        "used."
                    )
                times = np.arange(num_total) / fps
            first, last = frames_in_window(times, self.start, self.end)
            if last <= first:
                raise VideoDecodingError(
                    f"The video {self.path} has no frames between start={self.start} s and end={self.end} s "
                    f"(it lasts {total_duration:.3f} s)."
                    if total_duration is not None
                    else f"The video {self.path} has no frames between start={self.start} s and end={self.end} s."
                )
        self._first = first
        self._num_total = num_total
        self.num_frames = last - first
        self.fps = fps
        if total_duration is not None and (self.start is not None or self.end is not None):
            window_start = self.start or 0.0
            window_end = min(self.end, total_duration) if self.end is not None else total_duration
            self.duration = window_end - window_start
        else:
            self.duration = total_duration

    def frame_index(self) -> "FrameIndex":
        """
        The file's frame index, for readers that decode the whole file in order themselves (the timeline): see
        [`FrameIndex`]. Frame indices and times are those of the whole file, whatever the window.
        """
        if self._has_timestamps:
            times = (self._pts - self._pts[0]) * float(self._time_base)
            return FrameIndex(times=times, pts=self._pts, skip_frames=self._can_skip_frames)
        if not self.fps:
            raise VideoDecodingError(f"The video {self.path} has neither timestamps nor a frame rate.")
        return FrameIndex(times=np.arange(self._num_total) / self.fps, pts=None, skip_frames=False)

    def open_stream(self):
        """Open the file again: `(container, stream)`, the video stream this reader indexes. Close the container."""
        return open_video_stream(self.path)

    def close(self):
        """Close the video file."""
        self._frames = None
        if getattr(self, "_container", None) is not None:
            self._container.close()
            self._container = None

    def _first_frame(self) -> "av.VideoFrame":
        frame = self._read_video_frames(np.array([self._first]), convert=False, skip_unwanted=False)[0]
        self._cached_frame = (self._first, frame)
        return frame

    def _read_unique(self, indices: np.ndarray, shortest_edge: int | None) -> list:
        return self._read_video_frames(indices + self._first, convert=True, shortest_edge=shortest_edge)

    def _restart(self):
        """Reopen the file: decoding then starts at the first frame, with no seek involved."""
        self.close()
        self._container, self._stream = open_video_stream(self.path)
        self._skipped_pts = set()
        self._frames = self._iterate_frames()
        self._position = -1

    def _seek(self, position: int):
        """Make the next decoded frames start at the keyframe at frame index `position`."""
        if position == 0 or self._container is None:
            self._restart()
            if position == 0:
                return
        timestamp = self._dts[position] if self._seek_by_dts else self._pts[position]
        self._container.seek(int(timestamp), stream=self._stream, backward=True, any_frame=False)
        self._skipped_pts = set()
        self._frames = self._iterate_frames()
        self._position = None  # unknown until the first frame comes out
        self._seek_position = position

    def _iterate_frames(self):
        codec_context = self._stream.codec_context
        for packet in self._container.demux(self._stream):
            if self._wanted_pts is not None:
                # A frame that is neither wanted nor a reference for other frames need not be decoded at all.
                wanted = packet.pts is None or packet.pts in self._wanted_pts
                codec_context.skip_frame = "DEFAULT" if wanted else "NONREF"
                if not wanted:
                    self._skipped_pts.add(packet.pts)
            yield from packet.decode()

    def _frame_position(self, frame: "av.VideoFrame") -> int | None:
        """Index (in presentation order) of a decoded frame, from its timestamp."""
        return decoded_frame_position(frame.pts, self._pts if self._has_timestamps else None, self._position)

    def _read_video_frames(
        self, targets: np.ndarray, *, convert: bool, shortest_edge: int | None = None, skip_unwanted: bool = True
    ) -> list:
        """
        Decode the frames at the sorted, unique file-level `targets`; return RGB arrays or the `av` frames.

        With `skip_unwanted`, the decoder skips the frames that are neither targets nor references. A later call then
        cannot continue past a skipped frame without seeking (the decoder reads a few packets ahead).
        """
        try:
            try:
                return self._decode_targets(targets, convert, shortest_edge, skip_unwanted)
            except _TimestampsOutOfOrder:
                logger.info(
                    f"The timestamps of {self.path} do not follow the presentation order; reading it in order."
                )
                self._has_timestamps = False
                self._frames = None
                return self._decode_targets(targets, convert, shortest_edge, skip_unwanted)
        except av.FFmpegError as error:
            self.close()
            raise VideoDecodingError(f"Could not decode the video {self.path}: {error}") from error

    def _decode_targets(self, targets: np.ndarray, convert: bool, shortest_edge: int | None, skip_unwanted: bool):
        # Frames are matched by timestamp, so frames skipped by the decoder cannot shift the count.
        skip_unwanted = skip_unwanted and self._has_timestamps and self._can_skip_frames
        self._wanted_pts = set(self._pts[targets].tolist()) if skip_unwanted else None
        found = {}
        for target in targets.tolist():
            cached_position, cached_frame = self._cached_frame
            if target == cached_position:
                frame = cached_frame
            else:
                frame = self._decode_frame(target)
            if self._info is None:
                self._set_info(frame)
            found[target] = frame_to_rgb(frame, shortest_edge) if convert else frame
        return [found[target] for target in targets.tolist()]

    def _decode_frame(self, target: int) -> "av.VideoFrame":
        """Decode exactly the frame at file-level index `target`, or raise a `VideoDecodingError`."""
        if self._has_timestamps:
            key = int(self._key_positions[np.searchsorted(self._key_positions, target, side="right") - 1])
            # Seek when going back, when a keyframe lies between the decoder and the target (decoding from there is
            # shorter than decoding every frame in between), or when the target's packet was already sent to the
            # decoder to be skipped (by an earlier call, with other wanted frames).
            if (
                self._frames is None
                or self._position is None
                or target <= self._position
                or key > self._position + 1
                or int(self._pts[target]) in self._skipped_pts
            ):
                self._seek(key)
        elif self._frames is None or target <= self._position:
            self._restart()

        while True:
            frame = next(self._frames, None)
            if frame is None:
                if self._position is None:
                    # The seek landed past the last frame: start earlier.
                    self._seek_earlier()
                    continue
                self._frames = None
                raise VideoDecodingError(
                    f"Frame {target - self._first} of the video {self.path} could not be decoded: the stream ends "
                    f"after {self._position + 1} decoded frames though the container lists {self._num_total} (the "
                    "file is truncated or corrupt)."
                )
            position = self._frame_position(frame)
            if position is None:
                continue
            if self._position is None:
                if position > self._seek_position:
                    # The seek landed after the keyframe (an inexact index, or a demuxer that seeks by another
                    # timestamp): decoding from there would miss frames or give broken ones.
                    self._seek_earlier()
                    continue
            elif self._has_timestamps and position <= self._position:
                raise _TimestampsOutOfOrder()
            previous, self._position = self._position, position
            if position == target:
                return frame
            if position > target and self._wanted_pts is not None:
                # The decoder skipped a wanted frame: decode every frame from now on.
                logger.info(f"Decoding every frame of {self.path}: skipping unwanted frames dropped a wanted one.")
                self._can_skip_frames = False
                self._wanted_pts = None
                self._seek(int(self._key_positions[np.searchsorted(self._key_positions, target, side="right") - 1]))
                continue
            if position > target:
                self._frames = None
                raise VideoDecodingError(
                    f"Frame {target - self._first} of the video {self.path} could not be decoded: the decoder went "
                    f"from frame {previous} to frame {position} of the file (missing or undecodable frames; the file "
                    "may be corrupt)."
                )

    def _seek_earlier(self):
        """After a seek that landed wrong: seek by decoding timestamps from now on, else start one keyframe earlier."""
        position = self._seek_position
        if not self._seek_by_dts:
            self._seek_by_dts = True
        else:
            earlier = self._key_positions[self._key_positions < position]
            position = int(earlier[-1]) if earlier.size else 0
        self._seek(position)


def probe_video(
    source: str | os.PathLike,
    *,
    start: float | None = None,
    end: float | None = None,
    folder_fps: float | None = None,
) -> VideoInfo:
    """
    Frame count, frame rate, duration and upright size of a video file or frame folder, decoding one frame only.

    Args:
        source (`str` or `os.PathLike`):
            A video file or a folder of frame images.
        start (`float`, *optional*):
            Start of a window, in seconds; the returned `num_frames` and `duration` are those of the window.
        end (`float`, *optional*):
            End of a window (exclusive), in seconds.
        folder_fps (`float`, *optional*):
            Frame rate of a frame folder.

    Returns:
        [`VideoInfo`]
    """
    with VideoReader(source, start=start, end=end, folder_fps=folder_fps) as reader:
        return reader.info


def read_frames(
    source: str | os.PathLike,
    num_frames: int,
    *,
    mode: str = "middle",
    rng: np.random.Generator | None = None,
    start: float | None = None,
    end: float | None = None,
    shortest_edge: int | None = None,
    folder_fps: float | None = None,
) -> tuple[np.ndarray, VideoInfo]:
    """
    Sample `num_frames` frames of a video file or frame folder with [`sample_frame_indices`] and decode only those.

    Args:
        source (`str` or `os.PathLike`):
            A video file or a folder of frame images.
        num_frames (`int`):
            Number of frames to sample (T).
        mode (`str`, *optional*, defaults to `"middle"`):
            `"middle"` (test time) or `"random"` (train time) frame of each segment.
        rng (`np.random.Generator`, *optional*):
            Random generator for `mode="random"`.
        start (`float`, *optional*):
            Start of the clip inside the video, in seconds.
        end (`float`, *optional*):
            End of the clip inside the video (exclusive), in seconds.
        shortest_edge (`int`, *optional*):
            Downscale the frames while decoding so that their shortest edge has this length.
        folder_fps (`float`, *optional*):
            Frame rate of a frame folder (needed for `start`/`end` on one).

    Returns:
        `tuple[np.ndarray, VideoInfo]`: the `(num_frames, height, width, 3)` uint8 RGB frames and the [`VideoInfo`] of
        the clip.
    """
    with VideoReader(source, start=start, end=end, folder_fps=folder_fps) as reader:
        indices = sample_frame_indices(reader.num_frames, num_frames, mode=mode, rng=rng)
        return reader.read(indices, shortest_edge=shortest_edge), reader.info
