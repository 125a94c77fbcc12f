"""Export a saved MSQNet to ONNX: OUT/model.onnx (input `pixel_values`, dynamic batch; output `logits`), the config and
the processor files.

    python examples/export_onnx.py --model DIR --output OUT [--int8] [--overwrite]
"""

import argparse

from modeling_msqnet.export import export_onnx
from modeling_msqnet.export.onnx import DEFAULT_OPSET


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="A saved MSQNet folder (model and processor files).")
    parser.add_argument("--output", required=True, help="The folder to write.")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET, help="ONNX opset version.")
    parser.add_argument(
        "--int8", action="store_true", help="Also write model_int8.onnx (onnxruntime dynamic int8 quantisation)."
    )
    parser.add_argument("--overwrite", action="store_true", help="Replace --output if it is not empty.")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    path = export_onnx(args.model, args.output, opset=args.opset, quantize_int8=args.int8, overwrite=args.overwrite)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
