"""Push a saved MSQNet folder (model, processor, README.md model card) to the Hugging Face Hub.

    python examples/push_to_hub.py --model_dir trained/msqnet-animal-kingdom --repo_id USER/msqnet-animal-kingdom

Creates the model repository if needed, uploads the folder in one commit and prints the commit's revision, to pin that
exact version when loading. Render the model card first with `modeling_msqnet.publishing.model_card.render_model_card`.
"""

import argparse
import sys

from modeling_msqnet.publishing.push import HubPushError, push_model_folder


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--model_dir", required=True, help="Folder written by save_pretrained (config.json, weights, code)."
    )
    parser.add_argument("--repo_id", required=True, help="Hub repository, 'user/name' or 'organization/name'.")
    parser.add_argument("--private", action="store_true", help="Create the repository as private.")
    parser.add_argument("--commit_message", default="Upload MSQNet model", help="Message of the upload commit.")
    parser.add_argument("--token", default=None, help="Hub token (defaults to the saved login or HF_TOKEN).")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        revision = push_model_folder(
            args.model_dir,
            args.repo_id,
            private=args.private,
            commit_message=args.commit_message,
            token=args.token,
        )
    except (FileNotFoundError, ValueError, HubPushError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"Pushed {args.model_dir} to {args.repo_id} at revision {revision}")
    print("Load this exact version with:")
    print(
        f'    AutoModelForVideoClassification.from_pretrained("{args.repo_id}", revision="{revision}", '
        "trust_remote_code=True)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
