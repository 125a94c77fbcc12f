"""The web app: its predictions (short clip: whole-clip scores; long video: timeline), the attention-map hook, and an
end-to-end run in a real headless browser (Debian's chromium + chromium-driver, driven by Selenium)."""

import os
import shutil
import socket
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from test_timeline import random_frame
from tiny_models import LABELS, save_tiny_model_folder, tiny_processor
from video_fixtures import write_video


gradio = pytest.importorskip("gradio")

from modeling_msqnet.app import VideoClassifierApp, build_demo  # noqa: E402
from modeling_msqnet.hub_code.modeling_msqnet import scores_from_logits  # noqa: E402


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_model_folder(tmp_path_factory.mktemp("app_model"))


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("app_clips")
    return {
        "short": write_video(folder / "short.mp4", 20, fps=25, make_frame=random_frame),
        "long": write_video(folder / "long.mp4", 75, fps=25, make_frame=random_frame),
    }


def test_short_clip_gets_the_whole_clip_scores(model_dir, clips):
    app = VideoClassifierApp(model_dir, window_seconds=1.0, stride_seconds=0.5, explainer=False, dtype="float32")
    prediction = app.predict(clips["short"])
    assert prediction.timeline is None and prediction.plot_path is None
    inputs = tiny_processor()(clips["short"], return_tensors="pt")
    with torch.no_grad():
        expected = scores_from_logits(app.model(**inputs).logits.double(), "multi_label_classification")[0].numpy()
    assert list(prediction.scores) == LABELS
    np.testing.assert_allclose(list(prediction.scores.values()), expected, atol=1e-6)


def test_long_video_gets_a_timeline_and_peak_scores(model_dir, clips):
    app = VideoClassifierApp(model_dir, window_seconds=1.0, stride_seconds=0.5, explainer=False)
    prediction = app.predict(clips["long"])
    assert prediction.timeline.window_starts.tolist() == [0.0, 0.5, 1.0, 1.5, 2.0]  # 3 s: [0, 1) ... [2, 3)
    np.testing.assert_allclose(list(prediction.scores.values()), prediction.timeline.scores.max(axis=0))
    assert Path(prediction.plot_path).read_bytes()[:4] == b"\x89PNG"


def test_per_label_thresholds_from_a_file_or_the_model_folder(model_dir, clips, tmp_path):
    from modeling_msqnet.archive import THRESHOLDS_FILE_NAME, write_thresholds

    thresholds = {label: 0.1 * (i + 1) for i, label in enumerate(LABELS)}
    per_label = {
        label: {"threshold": t, "precision": None, "recall": None, "f1": None, "support": 0}
        for label, t in thresholds.items()
    }
    path = write_thresholds(tmp_path / "t.json", per_label)
    app = VideoClassifierApp(model_dir, window_seconds=1.0, stride_seconds=0.5, thresholds_file=path, explainer=False)
    assert app.threshold == pytest.approx(thresholds)
    assert app.predict(clips["long"]).timeline.settings["thresholds"] == pytest.approx(thresholds)
    with_default = tmp_path / "model"
    shutil.copytree(model_dir, with_default)
    shutil.copy(path, with_default / THRESHOLDS_FILE_NAME)
    assert VideoClassifierApp(with_default, explainer=False).threshold == pytest.approx(thresholds)
    assert VideoClassifierApp(with_default, threshold=0.3, explainer=False).threshold == 0.3


def test_attention_map_hook(model_dir, clips):
    calls = []

    def explainer(model, video_processor, video, labels):
        calls.append((video, labels))
        return [(np.zeros((8, 8, 3), dtype=np.uint8), f"{label}") for label in labels]

    app = VideoClassifierApp(model_dir, top_k=2, window_seconds=1.0, explainer=explainer)
    prediction = app.predict(clips["short"])
    top = sorted(prediction.scores, key=prediction.scores.get, reverse=True)[:2]
    assert calls == [(clips["short"], top)] and [caption for _, caption in prediction.attention_maps] == top
    with pytest.raises(ValueError, match="upload a video"):
        app.predict(None)


def test_default_explainer_draws_the_attention_grid(model_dir, clips):
    pytest.importorskip("modeling_msqnet.explain")
    app = VideoClassifierApp(model_dir, top_k=2, window_seconds=1.0)
    assert app.explainer is not None
    prediction = app.predict(clips["short"])
    (image, caption), *others = prediction.attention_maps
    top = sorted(prediction.scores, key=prediction.scores.get, reverse=True)[:2]
    assert not others and caption.endswith(", ".join(top))
    assert Path(image).read_bytes()[:4] == b"\x89PNG"


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _browser():
    pytest.importorskip("selenium")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if binary is None or driver is None:
        pytest.skip("Debian's chromium and chromium-driver are not installed (.ci/run installs them).")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    return webdriver.Chrome(service=Service(driver), options=options)


def _requested_urls(browser):
    import json

    urls = []
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


@pytest.mark.slow
def test_app_in_a_headless_browser(model_dir, clips, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    # MSQNET_APP_MODEL / MSQNET_APP_VIDEO / MSQNET_APP_SCREENSHOT: another model, clip and screenshot path (the README's).
    model = os.environ.get("MSQNET_APP_MODEL", str(model_dir))
    video = os.environ.get("MSQNET_APP_VIDEO", clips["long"])
    screenshot = Path(os.environ.get("MSQNET_APP_SCREENSHOT", tmp_path / "app.png"))
    app = VideoClassifierApp(model, top_k=3, window_seconds=1.0, stride_seconds=0.5)
    expected = app.predict(video).scores
    demo = build_demo(app)
    port = _free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, share=False, quiet=True)
    browser = _browser()
    try:
        browser.get(f"http://127.0.0.1:{port}/")
        wait = WebDriverWait(browser, 120)
        wait.until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "#upload input[type=file]")))
        browser.find_element(By.CSS_SELECTOR, "#upload input[type=file]").send_keys(str(video))
        wait.until(expected_conditions.text_to_be_present_in_element((By.ID, "upload"), Path(video).stem))
        browser.find_element(By.ID, "run").click()
        top = sorted(expected, key=expected.get, reverse=True)[:3]
        wait.until(expected_conditions.text_to_be_present_in_element((By.ID, "labels"), top[0]))
        wait.until(expected_conditions.visibility_of_element_located((By.CSS_SELECTOR, "#timeline img")))
        if app.explainer is not None:
            wait.until(expected_conditions.visibility_of_element_located((By.CSS_SELECTOR, "#attention img")))
        time.sleep(1.0)  # let the bars finish their transition before the screenshot
        shown = browser.find_element(By.ID, "labels").text
        for label in top:
            assert label in shown
            assert f"{round(100 * expected[label])}%" in shown
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(screenshot))
        assert screenshot.stat().st_size > 0
        external = [
            url for url in _requested_urls(browser) if not url.startswith(("http://127.0.0.1", "data:", "blob:"))
        ]
        assert not external, f"the page fetched from outside the machine: {external}"
    finally:
        browser.quit()
        demo.close()


def test_typed_label_names_are_scored_as_inputs_of_the_call(tmp_path, model_dir, clips):
    from test_label_inputs import TEXT_CONFIG_FOR_TOKENIZER
    from tiny_models import MSQNetModelTester

    folder = tmp_path / "zero-shot"
    model, video_processor = MSQNetModelTester().save_model_with_processor(
        folder,
        text_config=TEXT_CONFIG_FOR_TOKENIZER,
        classifier_head="shared",
        label_query_mode="text_derived",
        label_text_embed_dim=16,
    )
    app = VideoClassifierApp(folder, window_seconds=1.0, stride_seconds=0.5, explainer=False, dtype="float32")
    assert app.scores_typed_labels
    typed = ["lower", "walking", "newer wider"]
    prediction = app.predict(clips["short"], typed)
    assert list(prediction.scores) == typed
    label_embeds = model.msqnet.label_embeds_for_names(typed, app.tokenizer)
    with torch.no_grad():
        logits = model(**video_processor(clips["short"], return_tensors="pt"), label_embeds=label_embeds).logits
    np.testing.assert_allclose(list(prediction.scores.values()), logits.sigmoid()[0].numpy(), atol=1e-6)
    assert app.predict(clips["long"], typed).timeline.labels == typed
    assert list(app.predict(clips["short"]).scores) == LABELS  # the trained labels again: nothing was changed

    per_class = VideoClassifierApp(model_dir, explainer=False)
    assert not per_class.scores_typed_labels
    with pytest.raises(ValueError, match="per-class head has no trained weights"):
        per_class.predict(clips["short"], ["flying"])
