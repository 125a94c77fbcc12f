"""Convert a checkpoint in the layout of the authors' MSQNet code into a Hub-ready folder.

    python examples/convert_official_checkpoint.py --checkpoint msqnet_animalkingdom.pth \
        --config configuration/models/msqnet-animal-kingdom --output converted/

`--config` is a folder with an MSQNet `config.json` or a JSON file; its labels must be the checkpoint's, in order.
"""

import argparse
import sys

from modeling_msqnet.conversion.convert_official import convert_official_checkpoint


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--checkpoint", required=True, help="Official state_dict (.pth/.pt, read weights-only, or .safetensors)."
    )
    parser.add_argument("--config", required=True, help="MSQNet config: a folder with config.json, or a JSON file.")
    parser.add_argument("--output", required=True, help="Folder to write the converted model to.")
    parser.add_argument("--text_model", default=None, help="Text encoder weights, when the config has a text_config.")
    parser.add_argument(
        "--tokenizer", default=None, help="Tokenizer to bundle into the processor (e.g. the CLIP checkpoint)."
    )
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        convert_official_checkpoint(args.checkpoint, args.config, args.output, args.text_model, args.tokenizer)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"Converted {args.checkpoint} -> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
