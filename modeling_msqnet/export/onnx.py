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
"""ONNX export of an MSQNet classifier: `model.onnx` (input `pixel_values` with a dynamic batch, output `logits`) next
to the config and the processor files, and running it with onnxruntime (also inside the timeline).

Requires the `onnx` extra (`pip install "msqnet[onnx]"`: onnx, onnxruntime).
"""

import os
import shutil
from pathlib import Path

import numpy as np
import torch
from transformers.utils import logging

from ..file_utils import replace_folder, temporary_sibling
from ..hub_code.configuration_msqnet import MSQNetConfig, ordered_label_names
from ..hub_code.modeling_msqnet import copy_hub_code
from ..models import load_model_folder


logger = logging.get_logger(__name__)

ONNX_FILE_NAME = "model.onnx"
INT8_FILE_NAME = "model_int8.onnx"
DEFAULT_OPSET = 18


class _LogitsOnly(torch.nn.Module):
    """`pixel_values -> logits`, the graph exported (the video query is computed inside, from the same frames)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, pixel_values):
        return self.model(pixel_values=pixel_values, return_dict=True).logits


def export_onnx(
    model_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    *,
    opset: int = DEFAULT_OPSET,
    quantize_int8: bool = False,
    overwrite: bool = False,
) -> Path:
    """
    Export a saved MSQNet folder to `output_dir/model.onnx`, with `config.json` and the processor files beside it.

    Args:
        model_dir (`str` or `os.PathLike`):
            A folder saved by `MSQNetForVideoClassification.save_pretrained` (with its video processor).
        output_dir (`str` or `os.PathLike`):
            The folder to write. It is written to a temporary folder first and renamed when complete.
        opset (`int`, *optional*, defaults to 18):
            ONNX opset version.
        quantize_int8 (`bool`, *optional*, defaults to `False`):
            Also write `model_int8.onnx`, with weights quantised to int8 by onnxruntime's dynamic quantisation.
        overwrite (`bool`, *optional*, defaults to `False`):
            Replace `output_dir` if it exists and is not empty.

    Returns:
        `Path`: the path of `model.onnx`.
    """
    output_dir = Path(output_dir)
    if output_dir.exists() and any(output_dir.iterdir()) and not overwrite:
        raise FileExistsError(f"--output {output_dir} exists and is not empty; pass overwrite=True to replace it.")
    model, video_processor, _ = load_model_folder(model_dir)
    model.eval()
    if model.config.autocast_dtype is not None:
        logger.warning("Exporting in float32: `autocast_dtype` is ignored by the ONNX graph.")
        model.config.autocast_dtype = None
    if model.config.video_static_patch_threshold is not None:
        # How many positions are static depends on each clip's pixels; the graph has fixed shapes.
        logger.warning("Exporting every patch position: `video_static_patch_threshold` is ignored by the ONNX graph.")
        model.config.video_static_patch_threshold = None
        model.msqnet.video_model.encoder.static_patch_threshold = None
    num_frames = model.config.num_frames
    crop = video_processor.crop_size
    # Batch 2: torch.export specialises dimensions of size 1.
    example = torch.randn(2, num_frames, 3, crop["height"], crop["width"])

    output_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = temporary_sibling(output_dir, "exporting")
    shutil.rmtree(staging, ignore_errors=True)  # left by an export that was killed
    staging.mkdir()
    try:
        with torch.no_grad():
            torch.onnx.export(
                _LogitsOnly(model).eval(),
                (example,),
                str(staging / ONNX_FILE_NAME),
                input_names=["pixel_values"],
                output_names=["logits"],
                dynamic_shapes={"pixel_values": {0: torch.export.Dim("batch_size", min=1, max=1024)}},
                opset_version=opset,
                dynamo=True,
                external_data=False,
                verbose=False,
            )
        if quantize_int8:
            quantize_onnx_int8(staging / ONNX_FILE_NAME, staging / INT8_FILE_NAME)
        model.config.save_pretrained(staging)
        video_processor.save_pretrained(staging)
        copy_hub_code(staging)  # the config and processor also load with `trust_remote_code`
        replace_folder(staging, output_dir, keep_old_entries=False)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    logger.info(f"Exported {model_dir} to {output_dir / ONNX_FILE_NAME}.")
    return output_dir / ONNX_FILE_NAME


def quantize_onnx_int8(source: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Dynamic int8 quantisation of the weights of the MatMul/Gemm layers (onnxruntime.quantization)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "Gemm"])
    return Path(target)


def onnx_session(path: str | os.PathLike, num_threads: int | None = None):
    """An onnxruntime CPU `InferenceSession` for an exported model file."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    if num_threads is not None:
        options.intra_op_num_threads = num_threads
        options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class OnnxWindowScorer:
    """
    Runs an exported model in onnxruntime for [`~timeline.compute_timeline`]. The exported graph computes its video
    query from the window's frames itself, so per-frame query sharing does not apply (decoding and preprocessing are
    still shared).

    Args:
        export_dir (`str` or `os.PathLike`): A folder written by [`export_onnx`].
        file_name (`str`, *optional*, defaults to `"model.onnx"`): `"model_int8.onnx"` for the quantised model.
        num_threads (`int`, *optional*): onnxruntime's intra-op threads (its default otherwise).
    """

    uses_frame_queries = False

    def __init__(self, export_dir: str | os.PathLike, file_name: str = ONNX_FILE_NAME, num_threads: int | None = None):
        export_dir = Path(export_dir)
        path = export_dir / file_name
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist; write it with examples/export_onnx.py.")
        self.config = MSQNetConfig.from_pretrained(export_dir)
        self.labels = ordered_label_names(self.config.id2label)
        self.session = onnx_session(path, num_threads)

    def query_frame_indices(self, num_frames):
        return None

    def logits(self, pixel_values, frame_query_embeds=None) -> np.ndarray:
        pixel_values = np.ascontiguousarray(np.asarray(pixel_values, dtype=np.float32))
        return self.session.run(["logits"], {"pixel_values": pixel_values})[0]


__all__ = ["INT8_FILE_NAME", "ONNX_FILE_NAME", "OnnxWindowScorer", "export_onnx", "onnx_session", "quantize_onnx_int8"]
