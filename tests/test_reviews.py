"""Review decisions (OUT/reviews.jsonl) and their export as a training manifest: appends from many threads, restarts,
corrupt lines, decisions checked against the archive, and the manifest read back by the reader training uses."""

import json
import threading

import pytest
from review_fixtures import LABELS, SEGMENTS, write_archive

from modeling_msqnet.archive.export import (
    cut_into_clips,
    export_reviews,
    main,
    merge_intervals,
    subtract_intervals,
)
from modeling_msqnet.archive.layout import REVIEWS_FILE
from modeling_msqnet.archive.reviews import ReviewedArchive, ReviewsError, ReviewStore, latest_decisions, read_reviews
from modeling_msqnet.data import load_manifest_dataset, read_manifest


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    return write_archive(tmp_path_factory.mktemp("archive"))


@pytest.fixture
def out_dir(archive, tmp_path):
    """A fresh copy of the archive's output folder (the videos are shared): each test writes its own reviews."""
    import shutil

    folder = tmp_path / "out"
    shutil.copytree(archive[1], folder)
    return folder


def test_append_and_read_back(tmp_path):
    store = ReviewStore(tmp_path / REVIEWS_FILE)
    first = store.append("a.mp4", "walking", 0.0, 4.0, "accept")
    store.append("a.mp4", "eating", 1.5, 3.25, "relabel", new_label="running")
    lines = (tmp_path / REVIEWS_FILE).read_text().splitlines()
    assert (
        json.loads(lines[0])
        == first
        == {
            "video": "a.mp4",
            "label": "walking",
            "start": 0.0,
            "end": 4.0,
            "decision": "accept",
        }
    )
    assert json.loads(lines[1]) == {
        "video": "a.mp4",
        "label": "eating",
        "start": 1.5,
        "end": 3.25,
        "decision": "relabel",
        "new_label": "running",
    }
    assert [review["line"] for review in store.read()] == [1, 2]


@pytest.mark.parametrize(
    "arguments, message",
    [
        (("a.mp4", "walking", 0.0, 4.0, "maybe"), "'decision' must be one of"),
        (("a.mp4", "walking", 4.0, 4.0, "accept"), "start < end"),
        (("a.mp4", "walking", -1.0, 4.0, "accept"), "start < end"),
        (("a.mp4", "walking", 0.0, float("nan"), "accept"), "'end' must be a finite number"),
        (("", "walking", 0.0, 4.0, "accept"), "'video' must be a non-empty string"),
        (("a.mp4", "walking", 0.0, 4.0, "relabel"), "a relabel needs 'new_label'"),
        (("a.mp4", "walking", 0.0, 4.0, "relabel", "walking"), "must differ"),
        (("a.mp4", "walking", 0.0, 4.0, "accept", "eating"), "belongs to a relabel only"),
    ],
)
def test_invalid_decisions_are_refused(tmp_path, arguments, message):
    store = ReviewStore(tmp_path / REVIEWS_FILE)
    with pytest.raises(ReviewsError, match=message):
        store.append(*arguments)
    assert not (tmp_path / REVIEWS_FILE).exists()


def test_threads_and_two_stores_lose_no_decision(tmp_path):
    """Two stores on one file (two browser tabs) appended from 8 threads: every decision is one whole line."""
    path = tmp_path / REVIEWS_FILE
    stores = [ReviewStore(path), ReviewStore(path)]
    per_thread = 100
    long_video = "v" * 5000 + ".mp4"  # lines far longer than a pipe buffer still never interleave

    def work(thread):
        for index in range(per_thread):
            stores[thread % 2].append(long_video, f"label{thread}", float(index), index + 1.0, "accept")

    threads = [threading.Thread(target=work, args=(thread,)) for thread in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    reviews = read_reviews(path)
    assert len(reviews) == 8 * per_thread
    for thread in range(8):
        starts = [review["start"] for review in reviews if review["label"] == f"label{thread}"]
        assert starts == [float(index) for index in range(per_thread)]  # each thread's decisions, in its order


def _append_many(path, worker, count):
    store = ReviewStore(path)
    for index in range(count):
        store.append("v" * 3000 + ".mp4", f"worker{worker}", float(index), index + 1.0, "reject")


def test_two_processes_lose_no_decision(tmp_path):
    """Two app processes on one archive: `flock` serialises their appends too."""
    import multiprocessing

    path = tmp_path / REVIEWS_FILE
    context = multiprocessing.get_context("fork")  # POSIX, as flock
    workers = [context.Process(target=_append_many, args=(path, worker, 50)) for worker in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    reviews = read_reviews(path)
    assert sorted((review["label"], review["start"]) for review in reviews) == [
        (f"worker{worker}", float(index)) for worker in range(2) for index in range(50)
    ]


def test_reviews_survive_a_restart_and_later_decisions_win(tmp_path):
    path = tmp_path / REVIEWS_FILE
    ReviewStore(path).append("a.mp4", "walking", 0.0, 4.0, "accept")
    restarted = ReviewStore(path)
    restarted.append("a.mp4", "walking", 0.0, 4.0, "reject")
    reviews = restarted.read()
    assert [review["decision"] for review in reviews] == ["accept", "reject"]
    assert [review["decision"] for review in latest_decisions(reviews).values()] == ["reject"]


def test_corrupt_line_is_an_error_naming_it(tmp_path):
    path = tmp_path / REVIEWS_FILE
    good = json.dumps({"video": "a.mp4", "label": "walking", "start": 0, "end": 4, "decision": "accept"})
    path.write_text(f"{good}\n{{not json\n{good}\n")
    with pytest.raises(ReviewsError, match=rf"{REVIEWS_FILE}:2: invalid JSON"):
        read_reviews(path)
    with pytest.raises(ReviewsError, match=":2: invalid JSON"):
        ReviewStore(path)  # the app refuses to start on it rather than skipping the line
    path.write_text(f"{good}\n" + good.replace('"accept"', '"approve"') + "\n")
    with pytest.raises(ReviewsError, match=":2: 'decision' must be one of"):
        read_reviews(path)


def test_a_line_cut_short_is_reported_and_not_appended_to(tmp_path):
    path = tmp_path / REVIEWS_FILE
    store = ReviewStore(path)
    store.append("a.mp4", "walking", 0.0, 4.0, "accept")
    with open(path, "a") as file:
        file.write('{"video": "a.mp4", "la')  # a writer killed mid-line
    with pytest.raises(ReviewsError, match=":2: the last line is cut short"):
        read_reviews(path)
    with pytest.raises(ReviewsError, match="does not end with a line end"):
        store.append("a.mp4", "walking", 4.0, 8.0, "accept")


def test_interval_helpers():
    assert merge_intervals([(4, 6), (0, 2), (2, 3), (5, 8)]) == [(0, 3), (4, 8)]
    assert subtract_intervals([(0, 10)], [(2, 3), (9, 12)]) == [(0, 2), (3, 9)]
    assert subtract_intervals([(0, 4)], [(0, 4)]) == []
    assert cut_into_clips(0.0, 4.0, 4.0) == [(0.0, 4.0)]
    clips = cut_into_clips(2.0, 12.0, 4.0)  # 10 s: three equal clips, no short leftover
    assert len(clips) == 3 and clips[0][0] == 2.0 and clips[-1][1] == 12.0
    assert all(end - start == pytest.approx(10 / 3) for start, end in clips)


def _review_all(out_dir):
    store = ReviewStore(out_dir / REVIEWS_FILE)
    store.append("site_a/day1.mp4", "walking", 0.0, 6.0, "accept")
    store.append("site_a/day1.mp4", "eating", 2.0, 10.0, "relabel", new_label="sleeping")
    store.append("site_a/day1.mp4", "jumping", 8.0, 12.0, "reject")
    store.append("site_b/day2.mp4", "walking", 1.0, 3.0, "add")
    store.append("site_b/day2.mp4", "sleeping", 0.0, 4.0, "accept")
    store.append("site_b/day2.mp4", "sleeping", 0.0, 4.0, "reject")  # changed their mind: the last decision counts
    # site_b running [4, 12) is left unreviewed


def _rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_export_turns_decisions_into_clips(out_dir, archive, tmp_path):
    videos_dir = archive[0]
    _review_all(out_dir)
    output = tmp_path / "corrected.jsonl"
    report = export_reviews(out_dir, output)
    rows = _rows(output)
    day1, day2 = str(videos_dir / "site_a/day1.mp4"), str(videos_dir / "site_b/day2.mp4")
    spans = [(row["video"], row["start"], row["end"], row["labels"]) for row in rows]
    # walking [0, 6) is cut in two 3 s clips; sleeping (relabelled eating) [2, 10) in two 4 s clips
    assert spans == [
        (day1, 0.0, 3.0, ["walking"]),
        (day1, 2.0, 6.0, ["walking", "sleeping"]),  # a clip lists every label true over all of it
        (day1, 3.0, 6.0, ["walking", "sleeping"]),
        (day1, 6.0, 10.0, ["sleeping"]),  # walking ends at 6: not listed, jumping [8, 12) was rejected
        (day2, 1.0, 3.0, ["walking"]),
    ]
    assert report.num_clips == 5 and report.unreviewed_left_out == 1 and report.superseded_reviews == 1
    assert report.decisions == {"accept": 1, "relabel": 1, "reject": 2, "add": 1}
    assert all("eating" not in row["labels"] and "jumping" not in row["labels"] for row in rows)

    # The manifest reads back through the reader training uses, with the model's labels and the files present.
    label2id = {label: index for index, label in enumerate(LABELS)}
    entries = read_manifest(output, label2id, check_files=True)
    assert [(entry["video"], entry["start"], entry["end"]) for entry in entries] == [span[:3] for span in spans]
    dataset = load_manifest_dataset(output, label2id)
    assert dataset.num_rows == 5 and dataset[2]["label_ids"] == [0, 3]


def test_export_keeps_unreviewed_on_request_and_never_claims_rejected_time(out_dir, tmp_path):
    store = ReviewStore(out_dir / REVIEWS_FILE)
    store.append("site_a/day1.mp4", "eating", 2.0, 10.0, "reject")
    store.append("site_b/day2.mp4", "running", 6.0, 8.0, "add")
    output = tmp_path / "with_unreviewed.jsonl"
    report = export_reviews(out_dir, output, keep_unreviewed=True, clip_seconds=8.0)
    rows = _rows(output)
    assert report.unreviewed_kept == len(SEGMENTS) - 1
    assert not [row for row in rows if "eating" in row["labels"]]
    # running: the predicted [4, 12) and the added [6, 8) merge into one stretch, one 8 s clip
    running = [(row["start"], row["end"]) for row in rows if "running" in row["labels"]]
    assert running == [(4.0, 12.0)]

    # A rejection that overlaps an accepted stretch of the same label cuts it out.
    store.append("site_a/day1.mp4", "walking", 0.0, 6.0, "accept")
    store.append("site_a/day1.mp4", "walking", 4.0, 5.0, "add")
    store.append("site_a/day1.mp4", "walking", 4.0, 5.0, "reject")
    export_reviews(out_dir, output, clip_seconds=8.0)
    walking = [(row["start"], row["end"]) for row in _rows(output) if "walking" in row["labels"]]
    assert walking == [(0.0, 4.0), (5.0, 6.0)]


@pytest.mark.parametrize(
    "review, message",
    [
        (
            dict(video="site_c/x.mp4", label="walking", start=0.0, end=1.0, decision="add"),
            "video 'site_c/x.mp4' is not",
        ),
        (dict(video="site_a/day1.mp4", label="flying", start=0.0, end=1.0, decision="add"), "label 'flying' is not"),
        (
            dict(
                video="site_a/day1.mp4", label="walking", start=0.0, end=6.0, decision="relabel", new_label="dancing"
            ),
            "new label 'dancing' is not",
        ),
        (
            dict(video="site_a/day1.mp4", label="walking", start=0.0, end=5.0, decision="accept"),
            "no segment 'walking'",
        ),
        (dict(video="site_a/day1.mp4", label="walking", start=10.0, end=13.0, decision="add"), "after the end"),
    ],
)
def test_export_refuses_reviews_not_in_the_archive(out_dir, tmp_path, review, message):
    store = ReviewStore(out_dir / REVIEWS_FILE)
    store.append("site_a/day1.mp4", "walking", 0.0, 6.0, "accept")
    store.append(**review)
    output = tmp_path / "corrected.jsonl"
    output.write_text("previous\n")
    with pytest.raises(ReviewsError, match=rf"{REVIEWS_FILE}:2: .*{message}"):
        export_reviews(out_dir, output)
    assert output.read_text() == "previous\n"  # the old manifest is left as it was
    assert main(["--annotations", str(out_dir), "--output", str(output)]) == 1


def test_export_command(out_dir, tmp_path):
    _review_all(out_dir)
    output = tmp_path / "sub" / "corrected.jsonl"
    assert main(["--annotations", str(out_dir), "--output", str(output), "--relative_paths"]) == 0
    rows = _rows(output)
    assert len(rows) == 5 and not rows[0]["video"].startswith("/")
    assert (output.parent / rows[0]["video"]).resolve().name == "day1.mp4"
    assert sorted(path.name for path in output.parent.iterdir()) == ["corrected.jsonl"]  # no temporary left
    with pytest.raises(SystemExit):
        main(["--annotations", str(out_dir), "--output", str(tmp_path / "corrected.csv")])


def test_reviewed_archive_reads_the_run(out_dir):
    archive = ReviewedArchive.load(out_dir)
    assert archive.labels == LABELS and sorted(archive.videos) == ["site_a/day1.mp4", "site_b/day2.mp4"]
    assert archive.thresholds["eating"] == 0.3 and len(archive.segments) == len(SEGMENTS)
    assert archive.find_segment("site_b/day2.mp4", "running", 4.0, 12.0)["peak_score"] == 0.97
    assert archive.find_segment("site_b/day2.mp4", "running", 4.0, 11.0) is None
