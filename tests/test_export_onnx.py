"""ONNX export: the folder it writes, logits equal to PyTorch's in onnxruntime (dynamic batch), int8 variant, and the
timeline run on the exported model."""

import json

import numpy as np
import pytest
import torch
from test_timeline import load_example, long_video, random_frame  # noqa: F401
from tiny_models import BACKBONE_CONFIGS, tiny_model, tiny_processor


pytest.importorskip("onnxruntime")

from modeling_msqnet.export import OnnxWindowScorer, onnx_session  # noqa: E402
from modeling_msqnet.timeline import compute_timeline  # noqa: E402


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx")
    model = tiny_model(query_num_frames=2)
    model.save_pretrained(folder / "model")
    tiny_processor().save_pretrained(folder / "model")
    load_example("export_onnx").main(["--model", str(folder / "model"), "--output", str(folder / "out"), "--int8"])
    return model, folder / "out"


def test_export_writes_model_config_and_processor_files(exported):
    _, out = exported
    assert {"model.onnx", "model_int8.onnx", "config.json", "video_preprocessor_config.json"} <= {
        path.name for path in out.iterdir()
    }
    assert json.loads((out / "video_preprocessor_config.json").read_text())["crop_size"] == {"height": 32, "width": 32}
    assert not [path for path in out.parent.iterdir() if path.name.startswith(".out.")]  # no staging folder left


def test_onnx_logits_match_pytorch_with_a_dynamic_batch(exported):
    model, out = exported
    session = onnx_session(out / "model.onnx")
    assert [i.name for i in session.get_inputs()] == ["pixel_values"]
    assert [o.name for o in session.get_outputs()] == ["logits"]
    for batch_size in (1, 3):
        pixel_values = torch.randn(batch_size, 4, 3, 32, 32)
        with torch.no_grad():
            expected = model(pixel_values=pixel_values).logits.numpy()
        logits = session.run(["logits"], {"pixel_values": pixel_values.numpy()})[0]
        assert logits.shape == (batch_size, 5)
        np.testing.assert_allclose(logits, expected, atol=1e-4)
    int8 = onnx_session(out / "model_int8.onnx").run(["logits"], {"pixel_values": pixel_values.numpy()})[0]
    assert int8.shape == expected.shape and np.isfinite(int8).all()


def test_timeline_runs_the_exported_model(exported, long_video):  # noqa: F811
    model, out = exported
    settings = dict(window_seconds=1.0, stride_seconds=0.5, batch_size=4, progress=False)
    expected = compute_timeline(model, tiny_processor(), long_video, **settings)
    timeline = compute_timeline(None, tiny_processor(), long_video, scorer=OnnxWindowScorer(out), **settings)
    assert timeline.labels == expected.labels
    np.testing.assert_allclose(timeline.scores, expected.scores, atol=1e-4)


def test_export_refuses_a_non_empty_output(exported, tmp_path):
    _, out = exported
    with pytest.raises(FileExistsError, match="not empty"):
        load_example("export_onnx").main(["--model", str(out), "--output", str(out)])


def test_timeline_cli_runs_the_int8_model(exported, long_video, tmp_path):  # noqa: F811
    _, out = exported
    output = tmp_path / "timeline.json"
    load_example("timeline").main(
        ["--onnx", str(out), "--int8", "--video", long_video, "--window_seconds", "2", "--stride_seconds", "1",
         "--output", str(output), "--no_progress"]
    )  # fmt: skip
    windows = json.loads(output.read_text())["windows"]
    assert len(windows) == 6 and all(0.0 <= score <= 1.0 for w in windows for score in w["scores"].values())
    with pytest.raises(SystemExit):
        load_example("timeline").main(["--video", long_video])  # neither --model nor --onnx


@pytest.mark.slow
@pytest.mark.parametrize("model_type", [name for name in BACKBONE_CONFIGS if name != "timesformer"])
def test_every_backbone_family_exports_with_the_same_logits(model_type, tmp_path):
    from modeling_msqnet.export import export_onnx

    model = tiny_model(video_config=dict(BACKBONE_CONFIGS[model_type]))
    model.save_pretrained(tmp_path / "model")
    tiny_processor().save_pretrained(tmp_path / "model")
    session = onnx_session(export_onnx(tmp_path / "model", tmp_path / "out"))
    for batch_size in (1, 3):
        pixel_values = torch.randn(batch_size, 4, 3, 32, 32)
        with torch.no_grad():
            expected = model(pixel_values=pixel_values).logits.numpy()
        np.testing.assert_allclose(
            session.run(["logits"], {"pixel_values": pixel_values.numpy()})[0], expected, atol=1e-4
        )


def test_archive_runs_the_exported_model_as_the_timeline_does(exported, long_video, tmp_path):  # noqa: F811
    from modeling_msqnet.archive import read_summary, timeline_path
    from modeling_msqnet.archive.cli import main as annotate

    _, out = exported
    flags = ["--onnx", str(out), "--int8", "--window_seconds", "2", "--stride_seconds", "1", "--no_progress"]
    videos = tmp_path / "videos.txt"
    videos.write_text(f"{long_video}\n")
    assert annotate(["--videos", str(videos), "--output_dir", str(tmp_path / "archive"), *flags]) == 0
    summary = read_summary(tmp_path / "archive")
    assert summary["model"]["kind"] == "onnx-int8" and summary["input"]["kind"] == "list"
    alone = tmp_path / "alone.json"
    load_example("timeline").main(["--video", long_video, "--output", str(alone), *flags])
    name = summary["videos"][0]["video"]
    assert json.loads(timeline_path(tmp_path / "archive", name).read_text()) == json.loads(alone.read_text())


def test_export_keeps_every_patch_position_of_a_fixed_camera_model(tmp_path):
    model = tiny_model(video_static_patch_threshold=0.1)
    model.save_pretrained(tmp_path / "model")
    tiny_processor().save_pretrained(tmp_path / "model")
    load_example("export_onnx").main(["--model", str(tmp_path / "model"), "--output", str(tmp_path / "out")])
    assert json.loads((tmp_path / "out" / "config.json").read_text())["video_static_patch_threshold"] is None
    still = torch.randn(2, 1, 3, 32, 32).repeat(1, 4, 1, 1, 1)  # every position static
    exact = tiny_model()
    exact.load_state_dict(model.state_dict())
    with torch.no_grad():
        expected = exact(pixel_values=still).logits.numpy()
    logits = onnx_session(tmp_path / "out" / "model.onnx").run(["logits"], {"pixel_values": still.numpy()})[0]
    np.testing.assert_allclose(logits, expected, atol=1e-4)
