"""What every command of the package (training, evaluation, the demo, the zero-shot driver) sets up the same way."""

import logging as pystd_logging

from transformers.utils import logging


LOG_FORMAT = "%(asctime)s - %(levelname)s - %(name)s - %(message)s"
LOG_DATE_FORMAT = "%m/%d/%Y %H:%M:%S"


def setup_logging(level: str = "INFO"):
    """Log this package's and `transformers`' messages at `level` and above, in one format (the `*_no_trainer` one)."""
    pystd_logging.basicConfig(format=LOG_FORMAT, datefmt=LOG_DATE_FORMAT, level=level)
    logging.set_verbosity(pystd_logging.getLevelName(level))


def one_line(error: Exception) -> str:
    """An exception's message on one line (for command-line errors)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return " ".join(lines).rstrip(".") or type(error).__name__
