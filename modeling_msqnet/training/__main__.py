"""`accelerate launch -m modeling_msqnet.training ...`: the same command line as `examples/train.py`."""

import sys

from .training import main


if __name__ == "__main__":
    sys.exit(main())
