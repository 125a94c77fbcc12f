"""`accelerate launch -m modeling_msqnet.zero_shot ...`: the command line of `examples/train.py`, zero-shot flags included."""

import sys

from .protocol import main


if __name__ == "__main__":
    sys.exit(main())
