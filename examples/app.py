"""Local web app: upload or pick a video, see the top-k labels and, for long videos, the action timeline.

    python examples/app.py --model DIR [--examples FOLDER_OF_VIDEOS] [--thresholds thresholds.json] [--port 7860]

Runs offline (no analytics, no share link). On a Hugging Face Space, this file is the Space's `app.py`: see the README.
"""

import argparse
import os


os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from modeling_msqnet.timeline import DEFAULT_STRIDE_SECONDS, DEFAULT_WINDOW_SECONDS


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--model", default=os.environ.get("MSQNET_MODEL", "model"), help="A saved MSQNet folder (env MSQNET_MODEL)."
    )
    parser.add_argument("--examples", default=os.environ.get("MSQNET_EXAMPLES"), help="A folder of videos to pick.")
    parser.add_argument("--top_k", type=int, default=5)
    parser.add_argument("--window_seconds", type=float, default=DEFAULT_WINDOW_SECONDS)
    parser.add_argument("--stride_seconds", type=float, default=DEFAULT_STRIDE_SECONDS)
    parser.add_argument(
        "--thresholds",
        default=None,
        help="Per-label segment thresholds (examples/calibrate.py); default: the model folder's thresholds.json.",
    )
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from modeling_msqnet.app import launch

    launch(
        args.model,
        examples=args.examples,
        server_name=args.host,
        server_port=args.port,
        top_k=args.top_k,
        window_seconds=args.window_seconds,
        stride_seconds=args.stride_seconds,
        thresholds_file=args.thresholds,
    )


if __name__ == "__main__":
    main()
