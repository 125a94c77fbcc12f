"""The inference precision: `--dtype auto` per machine (CPU flags, GPU support), explicit overrides, the one way a
loaded model is put in a dtype (`precision.apply_dtype`: bfloat16 weights, logits close to float32 on a tiny model),
int8 weights, and every command that takes `--dtype` applying it (timeline, app)."""

import copy
import json

import pytest
import torch
from test_timeline import load_example, random_frame
from tiny_models import save_tiny_model_folder, tiny_model
from video_fixtures import write_video

from modeling_msqnet import precision
from modeling_msqnet.models import load_model_folder
from modeling_msqnet.timeline import cli as timeline_cli


BF16_TOLERANCE = 0.05  # bfloat16 keeps 8 bits of mantissa; the tiny model is typically off by ~0.01


@pytest.fixture
def cpu_flags(monkeypatch):
    """Set this machine's CPU flags as `precision` sees them."""

    def set_flags(*flags):
        monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset(flags))

    return set_flags


@pytest.mark.parametrize(
    "flags, expected",
    [
        (("avx512f", "avx512_bf16"), torch.bfloat16),
        (("amx_bf16", "amx_tile"), torch.bfloat16),
        (("avx2", "fma"), torch.float32),
        ((), torch.float32),
    ],
)
def test_auto_is_bfloat16_only_on_cpus_with_native_bfloat16(cpu_flags, flags, expected):
    cpu_flags(*flags)
    assert precision.resolve_dtype("auto", "cpu") == expected


@pytest.mark.parametrize("bf16_supported, expected", [(True, torch.bfloat16), (False, torch.float32)])
def test_auto_on_a_gpu_follows_its_bfloat16_support(monkeypatch, cpu_flags, bf16_supported, expected):
    cpu_flags()  # the CPU's flags do not matter for a GPU
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: bf16_supported)
    assert precision.resolve_dtype("auto", "cuda") == expected


def test_explicit_dtype_overrides_the_machine(cpu_flags):
    cpu_flags("avx2")
    assert precision.resolve_dtype("bfloat16", "cpu") == torch.bfloat16
    cpu_flags("avx512_bf16")
    assert precision.resolve_dtype("float32", "cpu") == torch.float32


def test_auto_choice_is_logged_once_per_resolution(monkeypatch, cpu_flags):
    cpu_flags("avx512_bf16")
    messages = []
    monkeypatch.setattr(precision.logger, "info", messages.append)
    precision.resolve_dtype("auto", "cpu")
    precision.resolve_dtype("float32", "cpu")
    assert len(messages) == 1 and "bfloat16" in messages[0] and "--dtype" in messages[0]


def test_unknown_dtype_name_is_an_error():
    with pytest.raises(ValueError, match="--dtype"):
        precision.resolve_dtype("fp8")
    with pytest.raises(ValueError, match="floating point"):
        precision.apply_dtype(tiny_model(), torch.int8)


def test_bfloat16_logits_close_to_float32():
    model = tiny_model()
    pixel_values = torch.randn(2, model.config.num_frames, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    bf16_model = precision.apply_dtype(copy.deepcopy(model), torch.bfloat16)
    assert all(parameter.dtype == torch.bfloat16 for parameter in bf16_model.parameters())
    with torch.no_grad():
        expected, logits = model(pixel_values).logits, bf16_model(pixel_values).logits
    assert logits.dtype == torch.bfloat16
    assert (logits.float() - expected).abs().max().item() < BF16_TOLERANCE


def test_int8_weights_logits_close_to_float32():
    model = tiny_model()
    pixel_values = torch.randn(2, model.config.num_frames, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    int8_model = precision.quantize_linear_int8(model)
    # A quantised copy: the float32 model is left as it was.
    assert type(model.msqnet.frame_projection) is torch.nn.Linear
    assert type(int8_model.msqnet.frame_projection) is not torch.nn.Linear
    with torch.no_grad():
        expected, logits = model(pixel_values).logits, int8_model(pixel_values).logits
    assert logits.dtype == torch.float32 and (logits - expected).abs().max().item() < BF16_TOLERANCE
    with pytest.raises(ValueError, match="float32"):
        precision.quantize_linear_int8(precision.apply_dtype(model, torch.bfloat16))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_model_folder(tmp_path_factory.mktemp("precision_model"))


def test_model_folder_loads_in_the_given_dtype(model_dir):
    model, _, _ = load_model_folder(model_dir, dtype=torch.bfloat16)
    assert model.dtype == torch.bfloat16
    model, _, _ = load_model_folder(model_dir)
    assert model.dtype == torch.float32


@pytest.mark.parametrize(
    "dtype_args, flags, expected",
    [
        ([], ("avx512_bf16",), torch.bfloat16),  # the default is auto
        ([], ("avx2",), torch.float32),
        (["--dtype", "bfloat16"], ("avx2",), torch.bfloat16),
        (["--dtype", "float32"], ("amx_bf16",), torch.float32),
    ],
)
def test_timeline_command_applies_dtype(monkeypatch, cpu_flags, model_dir, tmp_path, dtype_args, flags, expected):
    cpu_flags(*flags)
    applied = []
    apply_dtype = precision.apply_dtype

    def recording_apply_dtype(model, dtype):
        applied.append(dtype)
        return apply_dtype(model, dtype)

    monkeypatch.setattr(timeline_cli, "apply_dtype", recording_apply_dtype)
    video = write_video(tmp_path / "clip.mp4", 50, width=48, height=48, fps=25, make_frame=random_frame)
    output = tmp_path / "timeline.json"
    load_example("timeline").main(
        ["--model", str(model_dir), "--video", video, "--window_seconds", "1", "--stride_seconds", "1",
         "--output", str(output), "--no_progress", *dtype_args]
    )  # fmt: skip
    assert applied == [expected]
    assert len(json.loads(output.read_text())["windows"]) == 2


def test_timeline_command_rejects_a_dtype_for_onnx(tmp_path):
    with pytest.raises(SystemExit):
        load_example("timeline").parse_args(["--onnx", str(tmp_path), "--video", "x.mp4", "--dtype", "bfloat16"])


@pytest.mark.parametrize(
    "dtype, flags, expected",
    [("auto", ("avx512_bf16",), torch.bfloat16), ("auto", (), torch.float32), ("bfloat16", (), torch.bfloat16)],
)
def test_app_applies_dtype(cpu_flags, model_dir, tmp_path, dtype, flags, expected):
    pytest.importorskip("gradio")
    from modeling_msqnet.app import VideoClassifierApp

    cpu_flags(*flags)
    app = VideoClassifierApp(model_dir, explainer=False, window_seconds=1.0, dtype=dtype)
    assert app.model.dtype == expected
    video = write_video(tmp_path / "clip.mp4", 20, width=48, height=48, fps=25, make_frame=random_frame)
    scores = app.predict(video).scores
    assert all(0.0 <= score <= 1.0 for score in scores.values())


def test_app_command_accepts_dtype():
    pytest.importorskip("gradio")
    assert load_example("app").parse_args(["--dtype", "float32"]).dtype == "float32"
    assert load_example("app").parse_args([]).dtype == "auto"
