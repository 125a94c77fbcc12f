"""A local Gradio web app for a saved MSQNet (top-k labels, timeline, attention maps); runs offline and as a Space."""

from .app import (
    Prediction,
    VideoClassifierApp,
    build_app,
    build_demo,
    default_explainer,
    launch,
    list_example_videos,
)


__all__ = [
    "Prediction",
    "VideoClassifierApp",
    "build_app",
    "build_demo",
    "default_explainer",
    "launch",
    "list_example_videos",
]
