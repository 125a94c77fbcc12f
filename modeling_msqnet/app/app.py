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
"""A local web app (Gradio) for a saved MSQNet: pick or upload a video, see the top-k labels with confidence bars and,
for a video longer than one window, its action timeline; per-label attention maps when the `explain` subpackage is
installed.

It runs offline: Gradio's analytics and version check are switched off (`GRADIO_ANALYTICS_ENABLED=False`), no share
link is made, and the theme's fonts are Gradio's local ones. Requires the `app` extra (`pip install "msqnet[app]"`).
"""

import os


os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import tempfile  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from transformers.utils import logging  # noqa: E402

from ..hub_code.configuration_msqnet import ordered_label_names  # noqa: E402
from ..hub_code.modeling_msqnet import scores_from_logits  # noqa: E402
from ..hub_code.video_decoding import VideoDecodingError, probe_video  # noqa: E402
from ..timeline import (  # noqa: E402
    DEFAULT_STRIDE_SECONDS,
    DEFAULT_THRESHOLD,
    DEFAULT_WINDOW_SECONDS,
    TorchWindowScorer,
    compute_timeline,
    plot_timeline,
)
from ..video_files import VIDEO_EXTENSIONS, is_video_file_name  # noqa: E402


logger = logging.get_logger(__name__)

MAX_EXAMPLE_VIDEOS = 200


@dataclass
class Prediction:
    """What the app shows for one video: `{label: score}` for the top-k bars, the timeline (or `None`), its plot."""

    scores: dict
    timeline: object = None
    plot_path: str | None = None
    attention_maps: list | None = None


def default_explainer():
    """
    The attention-map hook: a callable `(model, video_processor, video, labels) -> [(image, caption), ...]`, built on
    the `modeling_msqnet.explain` subpackage (attention rollout through the video encoder, the frame pooling, the
    encoder and each label's decoder cross-attention, over the frames the processor samples), or `None` when that
    subpackage is not installed (the app then hides the maps).
    """
    try:
        from ..explain import explain_video, plot_attention_grid
    except ImportError:
        return None

    def explain_for_app(model, video_processor, video, labels):
        explanation = explain_video(model, video_processor, video, labels=list(labels), method="rollout")
        folder = Path(tempfile.mkdtemp(prefix="msqnet-attention-"))
        grid = plot_attention_grid(explanation, folder / f"attention_{Path(video).stem}.png")
        return [(str(grid), f"attention rollout of the sampled frames: {', '.join(labels)}")]

    return explain_for_app


class VideoClassifierApp:
    """
    The app's logic without the UI: a model, its video processor and the timeline settings.

    Args:
        model_dir (`str` or `os.PathLike`): A saved MSQNet folder (model and processor files).
        top_k (`int`, *optional*, defaults to 5): Labels shown with confidence bars.
        window_seconds, stride_seconds (`float`, *optional*): Timeline windows, for videos longer than one window.
        explainer (*optional*): Attention-map callable (see [`default_explainer`]); `False` disables the maps.
        dtype (`str`, *optional*, defaults to `"auto"`): Compute precision, one of `precision.DTYPE_CHOICES` (`"auto"`:
            bfloat16 where this CPU computes it natively, else float32).
    """

    def __init__(
        self,
        model_dir,
        *,
        top_k: int = 5,
        window_seconds: float = DEFAULT_WINDOW_SECONDS,
        stride_seconds: float = DEFAULT_STRIDE_SECONDS,
        threshold: float | None = None,
        thresholds_file=None,
        explainer=None,
        dtype: str = "auto",
    ):
        from ..models import load_model_folder
        from ..precision import resolve_dtype

        self.model, self.video_processor, self.tokenizer = load_model_folder(
            model_dir, dtype=resolve_dtype(dtype, "cpu")
        )
        self.model.eval()
        self.top_k = top_k
        self.window_seconds = window_seconds
        self.stride_seconds = stride_seconds
        self.threshold = self._segment_thresholds(model_dir, threshold, thresholds_file)
        self.explainer = default_explainer() if explainer is None else (explainer or None)
        self.output_dir = Path(tempfile.mkdtemp(prefix="msqnet-app-"))

    def _segment_thresholds(self, model_dir, threshold, thresholds_file):
        """`thresholds_file` (per label), else `threshold`, else the model folder's thresholds.json, else 0.5."""
        from ..archive.thresholds import default_thresholds_file, read_thresholds

        if thresholds_file is not None and threshold is not None:
            raise ValueError("Give `threshold` (one for every label) or `thresholds_file` (one per label), not both.")
        if thresholds_file is None and threshold is None:
            thresholds_file = default_thresholds_file(model_dir)
        if thresholds_file is not None:
            return read_thresholds(thresholds_file, self.labels)
        return DEFAULT_THRESHOLD if threshold is None else float(threshold)

    @property
    def labels(self):
        return ordered_label_names(self.model.config.id2label)

    @property
    def scores_typed_labels(self) -> bool:
        """Whether the model can score label names typed by the user: the shared head, a text encoder, a tokenizer."""
        model = self.model
        return model.config.classifier_head == "shared" and model.msqnet.text_model is not None and self.tokenizer

    def predict(self, video, label_names=None) -> Prediction:
        """
        Scores of a video: the whole clip for a short one; per-window peaks and the timeline for a long one. For the
        trained labels, or for `label_names` (given to the model as inputs of each call; see `scores_typed_labels`).
        """
        if not video:
            raise ValueError("Pick or upload a video first.")
        video = os.fspath(video)
        scorer = TorchWindowScorer(self.model, label_names, self.tokenizer)
        info = probe_video(video)
        if info.duration is not None and info.duration > self.window_seconds:
            timeline = compute_timeline(
                self.model,
                self.video_processor,
                video,
                scorer=scorer,
                window_seconds=self.window_seconds,
                stride_seconds=self.stride_seconds,
                threshold=self.threshold,
                progress=False,
            )
            peaks = np.nan_to_num(timeline.scores, nan=0.0).max(axis=0)
            plot_path = plot_timeline(timeline, self.output_dir / f"timeline_{Path(video).stem}.png", max_labels=12)
            scores = dict(zip(timeline.labels, peaks.tolist()))
            prediction = Prediction(scores=scores, timeline=timeline, plot_path=str(plot_path))
        else:
            inputs = self.video_processor(video, num_frames=self.model.config.num_frames, return_tensors="pt")
            logits = scorer.logits(inputs["pixel_values"], None)
            scores = scores_from_logits(logits, self.model.config.problem_type)[0]
            prediction = Prediction(scores=dict(zip(scorer.labels, scores.tolist())))
        if self.explainer is not None and label_names is None:
            top = sorted(prediction.scores, key=prediction.scores.get, reverse=True)[: self.top_k]
            prediction.attention_maps = self.explainer(self.model, self.video_processor, video, top)
        return prediction


def list_example_videos(folder, limit: int = MAX_EXAMPLE_VIDEOS) -> list[str]:
    """The first `limit` video files of `folder` (sorted by name), offered in the app's picker."""
    if folder is None:
        return []
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"--examples {folder} is not a folder of videos.")
    videos = sorted(str(path) for path in folder.iterdir() if is_video_file_name(path))
    if len(videos) > limit:
        logger.warning(f"--examples {folder} holds {len(videos)} videos; the picker offers the first {limit}.")
    return videos[:limit]


def build_demo(app: VideoClassifierApp, example_videos=()):
    """The Gradio `Blocks` of the app."""
    import gradio as gr

    def run(uploaded, picked, typed_labels=""):
        video = uploaded or picked
        label_names = [name.strip() for name in (typed_labels or "").split(",") if name.strip()] or None
        try:
            prediction = app.predict(video, label_names)
        except (ValueError, VideoDecodingError) as error:
            raise gr.Error(str(error))
        segments = [
            [segment["label"], round(segment["start"], 2), round(segment["end"], 2), round(segment["peak_score"], 3)]
            for segment in (prediction.timeline.segments if prediction.timeline is not None else [])
        ]
        has_timeline = prediction.timeline is not None
        maps = prediction.attention_maps or []
        title = "Top labels (best window)" if has_timeline else "Top labels"
        return (
            gr.update(value=prediction.scores, label=title),
            gr.update(value=prediction.plot_path, visible=has_timeline),
            gr.update(value=segments, visible=has_timeline),
            gr.update(value=maps, visible=bool(maps)),
        )

    with gr.Blocks(title="MSQNet action recognition", analytics_enabled=False) as demo:
        threshold = (
            f"{app.threshold:g}" if isinstance(app.threshold, (int, float)) else "its threshold (a thresholds file)"
        )
        gr.Markdown(
            "# MSQNet action recognition\n"
            f"Upload a video or pick one. Videos longer than {app.window_seconds:g} s get a timeline: scores in "
            f"{app.window_seconds:g} s windows every {app.stride_seconds:g} s, and segments where a label scores at "
            f"least {threshold}."
        )
        with gr.Row():
            with gr.Column():
                uploaded = gr.File(label="Upload a video", file_types=list(VIDEO_EXTENSIONS), elem_id="upload")
                picked = gr.Dropdown(
                    choices=[(Path(path).name, path) for path in example_videos],
                    value=None,
                    label="...or pick one",
                    elem_id="picker",
                    visible=bool(example_videos),
                )
                typed_labels = gr.Textbox(
                    label="Label names to score, comma-separated (empty: the trained labels)",
                    elem_id="typed_labels",
                    visible=bool(app.scores_typed_labels),
                )
                button = gr.Button("Recognise actions", variant="primary", elem_id="run")
            with gr.Column():
                labels = gr.Label(num_top_classes=app.top_k, label="Top labels", elem_id="labels")
        timeline_plot = gr.Image(label="Timeline", type="filepath", visible=False, elem_id="timeline")
        segments = gr.Dataframe(
            headers=["label", "start (s)", "end (s)", "peak score"],
            label="Segments",
            visible=False,
            elem_id="segments",
        )
        attention = gr.Gallery(
            label="Attention maps", visible=False, elem_id="attention", columns=1, object_fit="contain", height="auto"
        )
        button.click(
            run, inputs=[uploaded, picked, typed_labels], outputs=[labels, timeline_plot, segments, attention]
        )
    return demo


def build_app(model_dir, *, examples=None, annotations=None, thresholds=None, top_k=5, **app_kwargs):
    """
    The app's `Blocks` and the folders it may serve files from. `annotations` (an output folder of
    `examples/annotate.py`) adds the review tab; `model_dir` may then be `None` (review only). `thresholds` (a file of
    `examples/calibrate.py`; by default the model folder's `thresholds.json`) sets the timeline's per-label thresholds
    and the review tab's doubt (by default the archive run's own thresholds).
    """
    from ..archive.thresholds import default_thresholds_file, read_thresholds

    app, allowed_paths, example_videos = None, [], list_example_videos(examples)
    if model_dir is not None:
        app = VideoClassifierApp(model_dir, top_k=top_k, **app_kwargs)
        app_thresholds = thresholds or default_thresholds_file(model_dir)
        if app_thresholds is not None:
            app.threshold = read_thresholds(app_thresholds, app.labels)
        allowed_paths = [str(Path(path).parent) for path in example_videos] + [str(app.output_dir)]
    if annotations is None:
        return build_demo(app, example_videos), allowed_paths
    from .review import ReviewSession, build_demo_with_review

    session = ReviewSession(annotations, thresholds=thresholds)
    demo = build_demo_with_review(session, build_demo(app, example_videos) if app is not None else None)
    return demo, allowed_paths + [str(session.clip_dir)]


def launch(model_dir, *, server_name="127.0.0.1", server_port=None, **kwargs):
    """Build the app ([`build_app`], same arguments) and launch it (blocking), with no share link and no analytics."""
    demo, allowed_paths = build_app(model_dir, **kwargs)
    demo.launch(
        server_name=server_name,
        server_port=server_port,
        share=False,
        allowed_paths=allowed_paths,
        footer_links=[],
    )
