"""Which files are videos: the one list of video file extensions of the tooling (app, converters, archive)."""

import os


# Lower case; a file matches whatever the case of its extension. Order matters where a bare name is completed
# (`data.converters.resolve_media` tries them in turn).
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg", ".wmv", ".ts", ".m2ts", ".mts")


def is_video_file_name(path: str | os.PathLike) -> bool:
    """Whether `path` ends with one of `VIDEO_EXTENSIONS`, in any case (`"DAY1.MP4"` does)."""
    return os.path.splitext(os.fspath(path))[1].lower() in VIDEO_EXTENSIONS


__all__ = ["VIDEO_EXTENSIONS", "is_video_file_name"]
