"""Pushing saved MSQNet folders: folder checks, clear one-line failures without network, and the upload calls.

Nothing here contacts the real Hub: failures run against offline mode, a closed local port and a local server that
refuses everything; the success path replaces `HfApi`'s two calls.
"""

import http.server
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from huggingface_hub import HfApi
from tiny_models import tiny_config
from transformers.testing_utils import CaptureLogger

from modeling_msqnet import MSQNetForVideoClassification
from modeling_msqnet.models import VIDEO_PROCESSOR_FILES, check_model_folder
from modeling_msqnet.publishing import push as hub
from modeling_msqnet.publishing.push import HubPushError, push_model_folder


SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "push_to_hub.py"
CLOSED_ENDPOINT = "http://127.0.0.1:9"  # discard port: nothing listens, connections are refused at once


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("saved") / "msqnet-tiny"
    MSQNetForVideoClassification(tiny_config()).save_pretrained(folder)
    (folder / "README.md").write_text("---\nlibrary_name: transformers\n---\n# tiny\n")
    return folder


@pytest.fixture
def folder_copy(model_dir, tmp_path):
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in model_dir.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    return copy


def run_script(*args, **env_overrides):
    env = {key: value for key, value in os.environ.items() if not key.startswith("HF_")}
    env.update(HF_HUB_DISABLE_TELEMETRY="1", OMP_NUM_THREADS="1", **env_overrides)
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def error_line(stderr):
    lines = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, stderr
    return lines[0]


def test_offline_mode_fails_with_one_clear_line(model_dir, tmp_path):
    result = run_script(
        "--model_dir", str(model_dir), "--repo_id", "someone/msqnet", HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path)
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "offline mode is enabled (HF_HUB_OFFLINE)" in error_line(result.stderr)
    assert result.stdout == ""


def test_unreachable_endpoint_fails_with_one_clear_line(model_dir, tmp_path):
    result = run_script(
        "--model_dir", str(model_dir), "--repo_id", "someone/msqnet", "--token", "hf_not_a_token",
        HF_ENDPOINT=CLOSED_ENDPOINT, HF_HOME=str(tmp_path),
    )  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    line = error_line(result.stderr)
    assert f"Cannot reach the Hub at {CLOSED_ENDPOINT}" in line and "someone/msqnet" in line and "HF_ENDPOINT" in line


def test_bad_folder_fails_before_any_network_call(tmp_path):
    result = run_script("--model_dir", str(tmp_path), "--repo_id", "someone/msqnet", HF_ENDPOINT=CLOSED_ENDPOINT)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"{tmp_path} has no config.json" in error_line(result.stderr)


class RefusingHub(http.server.BaseHTTPRequestHandler):
    def refuse(self):
        body = json.dumps({"error": "Invalid credentials in Authorization header"}).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = refuse

    def log_message(self, *args):
        pass


def test_refused_token_is_a_push_error(model_dir):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RefusingHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with pytest.raises(HubPushError, match="refused the upload to someone/msqnet.*Check the token") as error:
            push_model_folder(
                model_dir, "someone/msqnet", token="hf_bad", endpoint=f"http://127.0.0.1:{server.server_port}"
            )
        assert "\n" not in str(error.value)
    finally:
        server.shutdown()
        server.server_close()


def test_upload_calls_and_revision(model_dir, monkeypatch, capsys):
    calls = {}

    def create_repo(self, repo_id, **kwargs):
        calls["create_repo"] = (repo_id, kwargs, self.token)

    def upload_folder(self, **kwargs):
        calls["upload_folder"] = kwargs
        return SimpleNamespace(oid="0123456789abcdef0123456789abcdef01234567", commit_url="https://hub/commit/0123")

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import push_to_hub
    finally:
        sys.path.remove(str(SCRIPT.parent))

    argv = [
        "--model_dir",
        str(model_dir),
        "--repo_id",
        "someone/msqnet",
        "--private",
        "--commit_message",
        "v1",
        "--token",
        "hf_x",
    ]
    assert push_to_hub.main(argv) == 0
    assert calls["create_repo"] == (
        "someone/msqnet",
        {"repo_type": "model", "private": True, "exist_ok": True},
        "hf_x",
    )
    upload = calls["upload_folder"]
    assert (upload["repo_id"], Path(upload["folder_path"]), upload["commit_message"]) == (
        "someone/msqnet",
        model_dir,
        "v1",
    )
    assert "checkpoint-*" in upload["ignore_patterns"]
    out = capsys.readouterr().out
    assert "at revision 0123456789abcdef0123456789abcdef01234567" in out
    assert (
        'from_pretrained("someone/msqnet", revision="0123456789abcdef0123456789abcdef01234567", trust_remote_code=True)'
        in out
    )


def test_trainer_leftovers_are_counted(folder_copy, monkeypatch):
    (folder_copy / "checkpoint-10").mkdir()
    (folder_copy / "checkpoint-10" / "model.safetensors").write_bytes(b"x")
    (folder_copy / "optimizer.pt").write_bytes(b"x")
    # examples/train.py checkpoints, and a checkpoint being written (hidden until renamed).
    for name in ("step_3", ".step_4.saving"):
        (folder_copy / name).mkdir()
        (folder_copy / name / "model.safetensors").write_bytes(b"x")
    monkeypatch.setattr(HfApi, "create_repo", lambda self, repo_id, **kwargs: None)
    monkeypatch.setattr(HfApi, "upload_folder", lambda self, **kwargs: SimpleNamespace(oid="abc", commit_url="u"))
    with CaptureLogger(hub.logger) as captured:
        assert push_model_folder(folder_copy, "someone/msqnet") == "abc"
    assert "Not uploading 4 files" in captured.out
    assert "checkpoint-10/model.safetensors" in captured.out and "optimizer.pt" in captured.out
    assert "step_3/model.safetensors" in captured.out and ".step_4.saving/model.safetensors" in captured.out


def test_saved_model_passes_the_folder_check(model_dir):
    assert check_model_folder(model_dir) == model_dir


def edit_config(folder, **changes):
    config = json.loads((folder / "config.json").read_text())
    config.update(changes)
    (folder / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize(
    "break_folder, error, message",
    [
        (lambda folder: (folder / "config.json").unlink(), FileNotFoundError, "no config.json"),
        (lambda folder: (folder / "config.json").write_text("{not json"), ValueError, "not valid JSON"),
        (lambda folder: edit_config(folder, model_type="bert"), ValueError, "model_type 'bert'"),
        (lambda folder: edit_config(folder, auto_map=None), ValueError, "no `auto_map` entry"),
        (lambda folder: (folder / "modeling_msqnet.py").unlink(), FileNotFoundError, "modeling_msqnet.py is missing"),
        (lambda folder: (folder / "model.safetensors").unlink(), FileNotFoundError, "has no weights"),
        (
            lambda folder: (folder / "model.safetensors.index.json").write_text(
                json.dumps({"weight_map": {"a": "model-00001-of-00002.safetensors"}})
            ),
            FileNotFoundError,
            "1 missing weight shards",
        ),
    ],
)
def test_broken_folders_are_rejected(folder_copy, break_folder, error, message):
    break_folder(folder_copy)
    with pytest.raises(error, match=message):
        push_model_folder(folder_copy, "someone/msqnet", endpoint=CLOSED_ENDPOINT)


def test_missing_folder_and_bad_repo_id(model_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        check_model_folder(tmp_path / "missing")
    with pytest.raises(ValueError, match="'user/name'"):
        push_model_folder(model_dir, "no-namespace", endpoint=CLOSED_ENDPOINT)


def test_required_files_and_video_processor(folder_copy):
    with pytest.raises(FileNotFoundError, match=r"lacks \['eval_report.json'\]"):
        check_model_folder(folder_copy, required_files=("eval_report.json",))
    for name in VIDEO_PROCESSOR_FILES:
        (folder_copy / name).unlink(missing_ok=True)
    check_model_folder(folder_copy)  # a warning only
    with pytest.raises(FileNotFoundError, match="video_preprocessor_config.json or"):
        check_model_folder(folder_copy, require_video_processor=True)


def test_replace_folder_and_atomic_output(tmp_path):
    from modeling_msqnet.file_utils import atomic_output, replace_folder, temporary_sibling

    final = tmp_path / "model"
    final.mkdir()
    (final / "config.json").write_text("old")
    (final / "step_3").mkdir()
    staged = temporary_sibling(final)
    staged.mkdir()
    (staged / "config.json").write_text("new")
    replace_folder(staged, final)
    assert (final / "config.json").read_text() == "new" and (final / "step_3").is_dir()  # checkpoints are kept
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model"]  # no staged or backup folder left

    staged.mkdir()
    (staged / "weights").write_text("checkpoint")
    replace_folder(staged, final / "step_3", keep_old_entries=False)
    assert [path.name for path in (final / "step_3").iterdir()] == ["weights"]

    with pytest.raises(RuntimeError):
        with atomic_output(tmp_path / "report.json", ".json") as temporary:
            temporary.write_text("{")
            raise RuntimeError("killed")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model"]  # neither the report nor a partial file
    with pytest.raises(ValueError, match="must end with .json"):
        with atomic_output(tmp_path / "report.txt", ".json"):
            pass
