"""Exporting MSQNet for other runtimes: ONNX (`model.onnx` with the processor files), run with onnxruntime."""

from .onnx import INT8_FILE_NAME, ONNX_FILE_NAME, OnnxWindowScorer, export_onnx, onnx_session, quantize_onnx_int8


__all__ = ["INT8_FILE_NAME", "ONNX_FILE_NAME", "OnnxWindowScorer", "export_onnx", "onnx_session", "quantize_onnx_int8"]
