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
"""The app's review tab (`examples/app.py --annotations OUT`): browse an archive's segments, most doubtful first, play
each one, and accept, reject, relabel or add segments; every decision goes at once to `OUT/reviews.jsonl`
([`~modeling_msqnet.archive.reviews.ReviewStore`]).

A segment's doubt is how close its peak score is to its label's threshold (`|peak_score - threshold|`), as DeepAction
orders its annotations for review: the thresholds are the run's own (`summary.json`), or a `--thresholds` file. A
segment plays as a short H.264 clip cut from its video (one second of context on either side, at most
`MAX_CLIP_SECONDS` of the segment, at most 360 pixels on the short side), cut once and kept for the app's lifetime.
"""

import os
import tempfile
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from transformers.utils import logging

from ..archive.reviews import (
    ReviewedArchive,
    ReviewsError,
    ReviewStore,
    check_review,
    latest_decisions,
    segment_key,
)
from ..archive.thresholds import read_thresholds
from ..file_utils import atomic_output
from ..hub_code.video_decoding import VideoDecodingError, VideoReader


logger = logging.get_logger(__name__)

ALL = "(all)"
CLIP_CONTEXT_SECONDS = 1.0
MAX_CLIP_SECONDS = 60.0
CLIP_SHORTEST_EDGE = 360
CLIP_CHUNK_FRAMES = 64
# The table shows the most doubtful segments first; past this many rows, narrow the filters.
MAX_TABLE_ROWS = 500
TABLE_HEADERS = ["#", "video", "label", "start (s)", "end (s)", "score", "doubt", "decision"]


@dataclass
class ReviewItem:
    """A row of the review table: a predicted segment of the archive (`score` set) or one a reviewer added."""

    id: int
    video: str
    label: str
    start: float
    end: float
    score: float | None
    doubt: float | None
    decision: dict | None = None

    @property
    def key(self) -> tuple:
        return (self.video, self.label, self.start, self.end)

    def decision_text(self) -> str:
        if self.decision is None:
            return ""
        if self.decision["decision"] == "relabel":
            return f"relabel -> {self.decision['new_label']}"
        return self.decision["decision"]

    def row(self) -> list:
        def rounded(value, digits):
            return "" if value is None else round(value, digits)

        return [
            self.id,
            self.video,
            self.label,
            round(self.start, 2),
            round(self.end, 2),
            rounded(self.score, 3),
            rounded(self.doubt, 3),
            self.decision_text(),
        ]


class ReviewSession:
    """
    The review tab's logic without the UI: the archive, its review store and the cut clips. One session serves every
    browser tab; each tab keeps its own filters and current segment.

    Args:
        output_dir (`str` or `os.PathLike`): The output folder of `examples/annotate.py`.
        thresholds (`str` or `os.PathLike`, *optional*): A thresholds file to measure doubt with, instead of the
            thresholds the run used.

    Raises:
        `ReviewsError`: when `OUT/reviews.jsonl` has a line that cannot be read, or reviews what the archive lacks.
    """

    def __init__(self, output_dir, thresholds=None):
        archive = ReviewedArchive.load(output_dir)
        if thresholds is not None:
            archive.thresholds = read_thresholds(thresholds, archive.labels)
        self.archive = archive
        self.store = ReviewStore(archive.reviews_path)
        archive.read_reviews()  # refuse to start on a file that names what the archive lacks
        self.clip_dir = Path(tempfile.mkdtemp(prefix="msqnet-review-"))
        self._clip_lock = threading.Lock()

    @property
    def labels(self) -> list:
        return list(self.archive.labels)

    @property
    def videos(self) -> list:
        return sorted(self.archive.videos)

    def items(self) -> list[ReviewItem]:
        """Every segment, predicted then added (ids are stable while the app runs), with its latest decision."""
        reviews = self.store.read()
        latest = latest_decisions(reviews)
        items = []
        for index, segment in enumerate(self.archive.segments):
            score = float(segment["peak_score"])
            threshold = self.archive.thresholds.get(segment["label"])
            doubt = None if threshold is None else abs(score - threshold)
            item = ReviewItem(index, segment["video"], segment["label"], *_span(segment), score, doubt)
            item.decision = latest.get(segment_key(segment))
            items.append(item)
        known = {item.key for item in items}
        for review in reviews:
            key = segment_key(review)
            if review["decision"] == "add" and key not in known:
                known.add(key)
                items.append(ReviewItem(len(items), *key, score=None, doubt=None, decision=latest[key]))
        return items

    def filtered(self, label=ALL, video=ALL, min_score=0.0, max_score=1.0, undecided_only=False) -> list[ReviewItem]:
        """The items that pass the filters, most doubtful first (added segments, with no score, last)."""
        kept = []
        for item in self.items():
            if label not in (None, ALL) and item.label != label:
                continue
            if video not in (None, ALL) and item.video != video:
                continue
            if item.score is not None and not (min_score or 0.0) <= item.score <= (
                1.0 if max_score is None else max_score
            ):
                continue
            if undecided_only and item.decision is not None:
                continue
            kept.append(item)
        return sorted(kept, key=lambda item: (item.doubt is None, item.doubt or 0.0, item.video, item.start, item.id))

    def item(self, item_id) -> ReviewItem:
        items = self.items()
        if item_id is None or not 0 <= int(item_id) < len(items):
            raise ReviewsError("Pick a segment in the table first.")
        return items[int(item_id)]

    def decide(self, item_id, decision: str, new_label: str | None = None) -> dict:
        """Append `decision` ("accept", "reject" or "relabel" to `new_label`) on an item; returns the review."""
        item = self.item(item_id)
        return self._append(item.video, item.label, item.start, item.end, decision, new_label)

    def add(self, video, label, start, end) -> dict:
        """Append an "add": a segment the model missed."""
        for name, value in (("video", video), ("label", label), ("start", start), ("end", end)):
            if value in (None, "", ALL):
                raise ReviewsError(f"Give the added segment's {name}.")
        return self._append(video, label, float(start), float(end), "add")

    def _append(self, video, label, start, end, decision, new_label=None) -> dict:
        entry = {"video": video, "label": label, "start": start, "end": end, "decision": decision}
        if new_label is not None:
            entry["new_label"] = new_label
        review = check_review(entry, "This decision")
        added = {item.key for item in self.items() if item.score is None}
        self.archive.check_review(review, "This decision", added)
        return self.store.append(**review)

    def clip(self, item: ReviewItem) -> tuple[str, float]:
        """The cut clip of an item (cut on first use) and where the segment starts in it, in seconds."""
        clip_start = max(0.0, item.start - CLIP_CONTEXT_SECONDS)
        clip_end = min(item.end, item.start + MAX_CLIP_SECONDS) + CLIP_CONTEXT_SECONDS
        path = self.clip_dir / f"segment_{item.id}_{clip_start:.3f}_{clip_end:.3f}.mp4"
        with self._clip_lock:
            if not path.exists():
                cut_clip(self.archive.videos[item.video]["path"], clip_start, clip_end, path)
        return str(path), item.start - clip_start


def _span(segment) -> tuple[float, float]:
    return float(segment["start"]), float(segment["end"])


def cut_clip(video, start: float, end: float, output, shortest_edge: int = CLIP_SHORTEST_EDGE) -> Path:
    """
    Write `[start, end)` seconds of `video` as an H.264 mp4 (upright, downscaled to at most `shortest_edge` pixels on
    the short side, at the video's frame rate), decoding a chunk of frames at a time; the file appears complete or not
    at all.
    """
    import av

    output = Path(output)
    with VideoReader(video, start=start, end=end) as reader, atomic_output(output, ".mp4") as temporary:
        if reader.num_frames == 0:
            raise VideoDecodingError(f"{video} has no frame in [{start}, {end}) s.")
        info = reader.info
        edge = min(shortest_edge, info.height, info.width)
        rate = Fraction(reader.fps or 25.0).limit_denominator(1001)
        with av.open(os.fspath(temporary), mode="w", format="mp4") as container:
            stream = None
            for first in range(0, reader.num_frames, CLIP_CHUNK_FRAMES):
                frames = reader.read(
                    range(first, min(first + CLIP_CHUNK_FRAMES, reader.num_frames)), shortest_edge=edge
                )
                if stream is None:
                    stream = container.add_stream("libx264", rate=rate)
                    stream.height, stream.width = frames.shape[1] // 2 * 2, frames.shape[2] // 2 * 2
                    stream.pix_fmt = "yuv420p"
                    stream.options = {"preset": "veryfast", "crf": "26"}
                for frame in frames:
                    image = frame[: stream.height, : stream.width]
                    container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
            container.mux(stream.encode())
    return output


@dataclass
class ReviewTabComponents:
    """The review tab's components, as [`build_review_tab`] lays them out."""

    filters: object
    current: object
    label_filter: object
    video_filter: object
    min_score: object
    max_score: object
    undecided: object
    table: object
    player: object
    current_text: object
    accept: object
    reject: object
    new_label: object
    relabel: object
    add_video: object
    add_label: object
    add_start: object
    add_end: object
    add: object
    status: object


def lay_out_review_tab(session: ReviewSession) -> ReviewTabComponents:
    """Create the review tab's components (filters, table, player, decision buttons); call inside a `gr.Blocks`."""
    import gradio as gr

    filters = gr.State({"label": ALL, "video": ALL, "min_score": 0.0, "max_score": 1.0, "undecided": False})
    current = gr.State(None)
    gr.Markdown(
        "Segments most doubtful first: doubt is how close the peak score is to the label's threshold. Pick a row to "
        f"play it, then decide. Every decision is saved at once to `{session.store.path}`."
    )
    with gr.Row():
        label_filter = gr.Dropdown([ALL, *session.labels], value=ALL, label="Label", elem_id="review_label_filter")
        video_filter = gr.Dropdown([ALL, *session.videos], value=ALL, label="Video", elem_id="review_video_filter")
        min_score = gr.Number(value=0.0, minimum=0, maximum=1, label="Min score", elem_id="review_min_score")
        max_score = gr.Number(value=1.0, minimum=0, maximum=1, label="Max score", elem_id="review_max_score")
        undecided = gr.Checkbox(value=False, label="Undecided only", elem_id="review_undecided")
    table = gr.Dataframe(
        headers=TABLE_HEADERS, interactive=False, label="Segments", elem_id="review_table", max_height=400
    )
    with gr.Row():
        with gr.Column():
            player = gr.Video(label="Segment", interactive=False, elem_id="review_player")
            current_text = gr.Markdown("No segment picked.", elem_id="review_current")
        with gr.Column():
            with gr.Row():
                accept = gr.Button("Accept", variant="primary", elem_id="review_accept")
                reject = gr.Button("Reject", variant="stop", elem_id="review_reject")
            new_label = gr.Dropdown(session.labels, value=None, label="New label", elem_id="review_new_label")
            relabel = gr.Button("Relabel", elem_id="review_relabel")
            gr.Markdown("**Add a segment the model missed**")
            add_video = gr.Dropdown(session.videos, value=None, label="Video", elem_id="review_add_video")
            add_label = gr.Dropdown(session.labels, value=None, label="Label", elem_id="review_add_label")
            with gr.Row():
                add_start = gr.Number(value=None, label="Start (s)", elem_id="review_add_start")
                add_end = gr.Number(value=None, label="End (s)", elem_id="review_add_end")
            add = gr.Button("Add segment", elem_id="review_add")
            status = gr.Markdown("", elem_id="review_status")
    return ReviewTabComponents(
        filters,
        current,
        label_filter,
        video_filter,
        min_score,
        max_score,
        undecided,
        table,
        player,
        current_text,
        accept,
        reject,
        new_label,
        relabel,
        add_video,
        add_label,
        add_start,
        add_end,
        add,
        status,
    )


class ReviewTabHandlers:
    """The review tab's event handlers over one [`ReviewSession`]; each browser tab's state comes in as arguments."""

    def __init__(self, session: ReviewSession):
        self.session = session

    def rows(self, state):
        """The table's rows for the filters in `state`, and the filtered items."""
        import gradio as gr

        items = self.session.filtered(
            state["label"], state["video"], state["min_score"], state["max_score"], state["undecided"]
        )
        shown = items[:MAX_TABLE_ROWS]
        label = f"Segments: {len(items)}" + (
            f", the {len(shown)} most doubtful shown" if len(shown) < len(items) else ""
        )
        table_rows = [item.row() for item in shown] or [[""] * len(TABLE_HEADERS)]
        return gr.update(value=table_rows, label=label), items

    def show(self, item_id):
        """The player's clip and the text for the item `item_id` (`None`: nothing picked)."""
        import gradio as gr

        if item_id is None:
            return gr.update(value=None), "No segment picked."
        item = self.session.item(item_id)
        try:
            clip, offset = self.session.clip(item)
        except (VideoDecodingError, OSError, ValueError) as error:
            return gr.update(value=None), f"#{item.id}: the clip could not be cut: {error}"
        score = "added by a reviewer" if item.score is None else f"score {item.score:.3f}"
        decided = f", decided: **{item.decision_text()}**" if item.decision else ""
        text = f"#{item.id} **{item.label}** in `{item.video}` [{item.start:.2f}, {item.end:.2f}) s, {score}{decided}"
        return gr.update(value=clip, playback_position=offset), text

    def refilter(self, label, video, low, high, only_undecided, item_id):
        state = {"label": label, "video": video, "min_score": low, "max_score": high, "undecided": only_undecided}
        table_rows, items = self.rows(state)
        if item_id is None or item_id not in {item.id for item in items}:
            item_id = items[0].id if items else None
        return (state, table_rows, item_id, *self.show(item_id))

    def pick(self, event_row_value):
        value = (event_row_value or [None])[0]
        item_id = int(value) if value not in (None, "") else None
        return (item_id, *self.show(item_id))

    def after_decision(self, state, item_id, review):
        """Refresh the table and move to the next undecided segment in the table's order."""
        table_rows, items = self.rows(state)
        order = [item.id for item in items]
        position = order.index(item_id) if item_id in order else -1
        following = [item for item in items[position + 1 :] + items[: position + 1] if item.decision is None]
        next_id = following[0].id if following else item_id
        saved = f"Saved: {review['decision']} {review['label']} in {review['video']}"
        if review.get("new_label"):
            saved += f" -> {review['new_label']}"
        return (table_rows, next_id, *self.show(next_id), saved + f" [{review['start']:.2f}, {review['end']:.2f}) s.")

    def decide(self, decision):
        """The handler of the `decision` button ("accept", "reject" or "relabel")."""

        def handler(state, item_id, relabel_to):
            review = self._saved(self.session.decide, item_id, decision, relabel_to if decision == "relabel" else None)
            return self.after_decision(state, item_id, review)

        return handler

    def add_segment(self, state, item_id, video, label, start, end):
        review = self._saved(self.session.add, video, label, start, end)
        return self.after_decision(state, item_id, review)

    @staticmethod
    def _saved(append, *args):
        import gradio as gr

        try:
            return append(*args)
        except ReviewsError as error:
            raise gr.Error(str(error))


def connect_review_events(parts: ReviewTabComponents, handlers: ReviewTabHandlers, demo):
    """Wire the filters, the table, the decision buttons and the page load to `handlers`."""
    import gradio as gr

    def pick(state, event: gr.SelectData):
        return handlers.pick(event.row_value)

    filter_inputs = [parts.label_filter, parts.video_filter, parts.min_score, parts.max_score, parts.undecided]
    filter_inputs.append(parts.current)
    filter_outputs = [parts.filters, parts.table, parts.current, parts.player, parts.current_text]
    for control in (parts.label_filter, parts.video_filter, parts.undecided):
        control.change(handlers.refilter, filter_inputs, filter_outputs)
    for control in (parts.min_score, parts.max_score):
        control.submit(handlers.refilter, filter_inputs, filter_outputs)
        control.blur(handlers.refilter, filter_inputs, filter_outputs)
    parts.table.select(pick, [parts.filters], [parts.current, parts.player, parts.current_text])
    decision_inputs = [parts.filters, parts.current, parts.new_label]
    decision_outputs = [parts.table, parts.current, parts.player, parts.current_text, parts.status]
    for button, decision in ((parts.accept, "accept"), (parts.reject, "reject"), (parts.relabel, "relabel")):
        button.click(handlers.decide(decision), decision_inputs, decision_outputs)
    add_inputs = [parts.filters, parts.current, parts.add_video, parts.add_label, parts.add_start, parts.add_end]
    parts.add.click(handlers.add_segment, add_inputs, decision_outputs)
    demo.load(handlers.refilter, filter_inputs, filter_outputs)


def build_review_tab(session: ReviewSession, demo):
    """The review tab's components and events; call inside the `gr.Blocks` `demo` (and a `gr.Tab`)."""
    parts = lay_out_review_tab(session)
    connect_review_events(parts, ReviewTabHandlers(session), demo)
    return parts


def build_demo_with_review(session: ReviewSession, recognise=None):
    """
    The app's `Blocks` with a review tab: `recognise` (the recognition `Blocks` of
    [`~modeling_msqnet.app.build_demo`], or `None` for a review-only app) in a first tab, then the review tab of
    `session`.
    """
    import gradio as gr

    with gr.Blocks(title="MSQNet: recognise and review", analytics_enabled=False) as demo:
        if recognise is not None:
            with gr.Tab("Recognise", elem_id="recognise_tab"):
                recognise.render()
        with gr.Tab("Review", elem_id="review_tab"):
            build_review_tab(session, demo)
    return demo


__all__ = ["ReviewItem", "ReviewSession", "build_demo_with_review", "build_review_tab", "cut_clip"]
