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
"""Upload saved MSQNet folders to the Hugging Face Hub."""

import importlib
from pathlib import Path

from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError, LocalTokenNotFoundError, OfflineModeIsEnabled
from huggingface_hub.utils import filter_repo_objects
from transformers.utils import logging

from ..command_line import one_line
from ..models import NOT_UPLOADED_PATTERNS, check_model_folder


logger = logging.get_logger(__name__)

# Checkpoints and optimizer state that a training output folder holds next to the model.
DEFAULT_IGNORE_PATTERNS = NOT_UPLOADED_PATTERNS


class HubPushError(RuntimeError):
    """The Hub could not be reached, or refused the repository creation or upload."""


def _network_error_types() -> tuple[type[Exception], ...]:
    """Exception types of the HTTP clients huggingface_hub may use (`httpx2` in 2.x, `httpx` in 1.x)."""
    types = [OSError]  # covers OfflineModeIsEnabled, HfHubHTTPError, LocalTokenNotFoundError and socket errors
    for module_name in ("httpx2", "httpx"):
        try:
            types.append(importlib.import_module(module_name).HTTPError)
        except (ImportError, AttributeError):
            continue
    return tuple(types)


def _ignored_files(model_dir: Path, ignore_patterns) -> list[str]:
    """Files of `model_dir` (relative POSIX paths) that `ignore_patterns` keep out of the upload, as `upload_folder`
    matches them."""
    files = [path.relative_to(model_dir).as_posix() for path in sorted(model_dir.rglob("*")) if path.is_file()]
    kept = set(filter_repo_objects(files, ignore_patterns=ignore_patterns))
    return [name for name in files if name not in kept]


def push_model_folder(
    model_dir,
    repo_id: str,
    *,
    private: bool = False,
    commit_message: str = "Upload MSQNet model",
    token: str | None = None,
    ignore_patterns: list[str] | tuple[str, ...] = DEFAULT_IGNORE_PATTERNS,
    endpoint: str | None = None,
) -> str:
    """
    Upload a saved MSQNet folder to the Hub model repository `repo_id` (created if needed) in one commit.

    Args:
        model_dir (`str` or `os.PathLike`):
            Folder written by `save_pretrained` (checked with [`check_model_folder`]).
        repo_id (`str`):
            `"user/name"` or `"organization/name"`.
        private (`bool`, *optional*, defaults to `False`):
            Whether a newly created repository is private (an existing repository keeps its visibility).
        commit_message (`str`, *optional*):
            Message of the upload commit.
        token (`str`, *optional*):
            Hub token; defaults to the saved login or `HF_TOKEN`.
        ignore_patterns (`list[str]`, *optional*):
            Glob patterns of files left out of the upload; by default trainer checkpoints and optimizer state. Files
            left out are counted in a warning.
        endpoint (`str`, *optional*):
            Hub endpoint; defaults to `HF_ENDPOINT` or https://huggingface.co.

    Returns:
        `str`: the commit sha (revision) of the upload; pass it as `revision=` to `from_pretrained` to pin this
        version.

    Raises:
        `FileNotFoundError` or `ValueError`: the folder is not a saved MSQNet model.
        [`HubPushError`]: offline mode, unreachable endpoint, missing or refused token, or any other Hub failure.
    """
    model_dir = check_model_folder(model_dir)
    if not isinstance(repo_id, str) or repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise ValueError(f"`repo_id` must look like 'user/name', got {repo_id!r}.")
    ignore_patterns = list(ignore_patterns or [])
    ignored = _ignored_files(model_dir, ignore_patterns)
    if ignored:
        logger.warning(f"Not uploading {len(ignored)} files matching {ignore_patterns}: {ignored[:10]}.")

    api = HfApi(endpoint=endpoint, token=token)
    try:
        api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
        commit_info = api.upload_folder(
            repo_id=repo_id,
            repo_type="model",
            folder_path=model_dir,
            commit_message=commit_message,
            ignore_patterns=ignore_patterns or None,
        )
    except OfflineModeIsEnabled:
        raise HubPushError(
            f"Cannot push {model_dir} to {repo_id}: Hub offline mode is enabled (HF_HUB_OFFLINE); unset it to upload."
        ) from None
    except LocalTokenNotFoundError:
        raise HubPushError(
            f"Cannot push to {repo_id}: no Hugging Face token; run `hf auth login`, set HF_TOKEN or pass a token."
        ) from None
    except HfHubHTTPError as error:
        status = error.response.status_code if error.response is not None else None
        hint = ""
        if status in (401, 403):
            hint = " Check the token (`hf auth login`, HF_TOKEN or --token) and its write access."
        raise HubPushError(
            f"The Hub at {api.endpoint} refused the upload to {repo_id}: {one_line(error)}.{hint}"
        ) from None
    except _network_error_types() as error:
        raise HubPushError(
            f"Cannot reach the Hub at {api.endpoint} to push to {repo_id} "
            f"({type(error).__name__}: {one_line(error)}). Check the network connection and HF_ENDPOINT."
        ) from None
    logger.info(f"Pushed {model_dir} to {commit_info.commit_url}.")
    return commit_info.oid


__all__ = ["HubPushError", "check_model_folder", "push_model_folder", "DEFAULT_IGNORE_PATTERNS"]
