"""The app's review tab: its logic (doubt order, filters, decisions, added segments, cut clips, restart) and an
end-to-end run in a real headless browser that filters, accepts, rejects, relabels and adds, then reads
OUT/reviews.jsonl."""

import json
import time

import av
import pytest
from review_fixtures import LABELS, write_archive
from test_app import _browser, _free_port

from modeling_msqnet.archive.layout import REVIEWS_FILE
from modeling_msqnet.archive.reviews import ReviewsError, read_reviews
from modeling_msqnet.archive.thresholds import write_thresholds


gradio = pytest.importorskip("gradio")

from modeling_msqnet.app.review import ReviewSession, build_demo_with_review  # noqa: E402


@pytest.fixture
def out_dir(tmp_path):
    return write_archive(tmp_path)[1]


def test_segments_come_most_doubtful_first_and_filter(out_dir):
    session = ReviewSession(out_dir)
    # doubt = |score - threshold|: jumping 0.02, eating 0.05 (its threshold is 0.3), sleeping 0.1, walking, running
    assert [item.label for item in session.filtered()] == ["jumping", "eating", "sleeping", "walking", "running"]
    assert [item.label for item in session.filtered(video="site_b/day2.mp4")] == ["sleeping", "running"]
    assert [item.label for item in session.filtered(label="running")] == ["running"]
    assert [item.label for item in session.filtered(min_score=0.5, max_score=0.95)] == [
        "jumping",
        "sleeping",
        "walking",
    ]

    thresholds = out_dir.parent / "thresholds.json"
    per_label = {label: dict(threshold=0.9, precision=1, recall=1, f1=1, support=1) for label in LABELS}
    write_thresholds(thresholds, per_label)
    recalibrated = ReviewSession(out_dir, thresholds=thresholds)
    assert [item.label for item in recalibrated.filtered()][:2] == ["walking", "running"]


def test_decisions_are_saved_at_once_and_survive_a_restart(out_dir):
    session = ReviewSession(out_dir)
    jumping, eating, sleeping = (item.id for item in session.filtered()[:3])
    session.decide(jumping, "reject")
    session.decide(eating, "relabel", "sleeping")
    session.add("site_b/day2.mp4", "walking", 5.0, 7.5)
    assert len(read_reviews(out_dir / REVIEWS_FILE)) == 3  # on disk before the call returned

    restarted = ReviewSession(out_dir)
    shown = {item.label: item.decision_text() for item in restarted.filtered()}
    assert shown["jumping"] == "reject" and shown["eating"] == "relabel -> sleeping" and shown["sleeping"] == ""
    added = restarted.filtered()[-1]
    assert (added.video, added.label, added.start, added.end, added.score) == (
        "site_b/day2.mp4",
        "walking",
        5,
        7.5,
        None,
    )
    restarted.decide(added.id, "reject")  # an added segment can be taken back
    assert [item.label for item in restarted.filtered(undecided_only=True)] == ["sleeping", "walking", "running"]

    for bad, message in [
        (lambda: restarted.decide(eating, "relabel"), "a relabel needs 'new_label'"),
        (lambda: restarted.decide(eating, "relabel", "flying"), "'flying' is not one of"),
        (lambda: restarted.decide(None, "accept"), "Pick a segment"),
        (lambda: restarted.add("site_c/x.mp4", "walking", 0, 1), "is not in the archive"),
        (lambda: restarted.add("site_a/day1.mp4", "walking", 11, 13), "after the end"),
        (lambda: restarted.add("site_a/day1.mp4", "walking", 3, None), "end"),
    ]:
        with pytest.raises(ReviewsError, match=message):
            bad()
    assert len(read_reviews(out_dir / REVIEWS_FILE)) == 4


def test_a_corrupt_reviews_file_stops_the_tab(out_dir):
    (out_dir / REVIEWS_FILE).write_text('{"video": "site_a/day1.mp4"}\n')
    with pytest.raises(ReviewsError, match=f"{REVIEWS_FILE}:1: 'label' must be"):
        ReviewSession(out_dir)


def test_segment_clip_is_cut_with_context(out_dir):
    session = ReviewSession(out_dir)
    eating = next(item for item in session.items() if item.label == "eating")  # [2, 10) of a 12 s video
    clip, offset = session.clip(eating)
    assert offset == 1.0
    with av.open(clip) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264" and (stream.width, stream.height) == (64, 48)
        assert sum(1 for _ in container.decode(video=0)) == 250  # [1, 11) s at 25 fps
    assert session.clip(eating)[0] == clip  # cut once


def _click(browser, element_id):
    from selenium.webdriver.common.by import By

    button = browser.find_element(By.ID, element_id)
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", button)
    button.click()


def _choose(browser, element_id, value):
    """Pick `value` in a Gradio dropdown by typing it and pressing Enter."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    field = browser.find_element(By.CSS_SELECTOR, f"#{element_id} input")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", field)
    field.click()
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(value)
    field.send_keys(Keys.ENTER)


def _type(browser, element_id, value):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    field = browser.find_element(By.CSS_SELECTOR, f"#{element_id} input")
    field.click()
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(str(value))
    field.send_keys(Keys.TAB)


def _table_rows(browser):
    from selenium.webdriver.common.by import By

    rows = browser.find_elements(By.CSS_SELECTOR, "#review_table [role=row]")
    return [
        cells
        for row in rows
        if (cells := [cell.text for cell in row.find_elements(By.CSS_SELECTOR, "[role=gridcell]")])
    ]


def _cell(browser, text):
    """The table cell showing `text`, or `None`."""
    from selenium.webdriver.common.by import By

    cells = browser.find_elements(By.CSS_SELECTOR, "#review_table [role=gridcell]")
    return next((cell for cell in cells if cell.text == text), None)


@pytest.mark.slow
def test_review_tab_in_a_headless_browser(out_dir, tmp_path):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    session = ReviewSession(out_dir)
    demo = build_demo_with_review(session)
    port = _free_port()
    demo.launch(
        server_name="127.0.0.1",
        server_port=port,
        prevent_thread_lock=True,
        share=False,
        quiet=True,
        allowed_paths=[str(session.clip_dir)],
    )
    browser = _browser()
    reviews = out_dir / REVIEWS_FILE
    try:
        browser.get(f"http://127.0.0.1:{port}/")
        wait = WebDriverWait(browser, 60, ignored_exceptions=(StaleElementReferenceException,))

        def wait_for_reviews(count):
            wait.until(lambda _: len(read_reviews(reviews)) == count)

        # The table loads most doubtful first, and the first segment is picked and playing.
        wait.until(expected_conditions.text_to_be_present_in_element((By.ID, "review_current"), "#2 jumping"))
        wait.until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "#review_player video")))
        assert [row[2] for row in _table_rows(browser)] == ["jumping", "eating", "sleeping", "walking", "running"]

        _click(browser, "review_reject")  # jumping: rejected; the next undecided (eating) is picked
        wait_for_reviews(1)
        wait.until(expected_conditions.text_to_be_present_in_element((By.ID, "review_current"), "#1 eating"))
        _click(browser, "review_accept")
        wait_for_reviews(2)

        # Filter to one video, pick a row by clicking it, relabel it.
        _choose(browser, "review_video_filter", "site_b/day2.mp4")
        wait.until(lambda _: [row[1] for row in _table_rows(browser)] == ["site_b/day2.mp4"] * 2)
        running = wait.until(lambda _: _cell(browser, "running"))
        running.click()
        wait.until(expected_conditions.text_to_be_present_in_element((By.ID, "review_current"), "#4 running"))
        _choose(browser, "review_new_label", "walking")
        _click(browser, "review_relabel")
        wait_for_reviews(3)

        # Add a segment the model missed.
        _choose(browser, "review_add_video", "site_a/day1.mp4")
        _choose(browser, "review_add_label", "sleeping")
        _type(browser, "review_add_start", 6.5)
        _type(browser, "review_add_end", 9)
        _click(browser, "review_add")
        wait_for_reviews(4)
        wait.until(expected_conditions.text_to_be_present_in_element((By.ID, "review_status"), "Saved: add sleeping"))
        time.sleep(0.5)
        browser.save_screenshot(str(tmp_path / "review.png"))
    finally:
        browser.quit()
        demo.close()

    lines = [json.loads(line) for line in reviews.read_text().splitlines()]
    assert lines == [
        {"video": "site_a/day1.mp4", "label": "jumping", "start": 8.0, "end": 12.0, "decision": "reject"},
        {"video": "site_a/day1.mp4", "label": "eating", "start": 2.0, "end": 10.0, "decision": "accept"},
        {
            "video": "site_b/day2.mp4",
            "label": "running",
            "start": 4.0,
            "end": 12.0,
            "decision": "relabel",
            "new_label": "walking",
        },
        {"video": "site_a/day1.mp4", "label": "sleeping", "start": 6.5, "end": 9.0, "decision": "add"},
    ]


def test_app_with_annotations_and_thresholds(out_dir, tmp_path):
    from tiny_models import save_tiny_model_folder

    from modeling_msqnet.app import build_app

    model_dir = save_tiny_model_folder(tmp_path / "model")
    thresholds = tmp_path / "thresholds.json"
    per_label = {
        label: dict(threshold=0.1 * (i + 1), precision=1, recall=1, f1=1, support=1) for i, label in enumerate(LABELS)
    }
    write_thresholds(thresholds, per_label)

    demo, allowed_paths = build_app(model_dir, annotations=out_dir, thresholds=thresholds, explainer=False)
    ids = {getattr(block, "elem_id", None) for block in demo.blocks.values()}
    assert {"recognise_tab", "review_tab", "upload", "run", "review_table", "review_accept"} <= ids
    texts = [block.value for block in demo.blocks.values() if isinstance(block, gradio.Markdown)]
    assert any("its threshold (a thresholds file)" in text for text in texts)  # the timeline's per-label thresholds
    assert len(allowed_paths) == 2  # the app's plots and the review's clips

    review_only, allowed_paths = build_app(None, annotations=out_dir)
    ids = {getattr(block, "elem_id", None) for block in review_only.blocks.values()}
    assert "review_table" in ids and "upload" not in ids and len(allowed_paths) == 1
