"""What every command of the package (training, evaluation, the demo, the zero-shot driver) shares: logging, the
one-line error, and argument checking.

Argument checking has one style: each value is checked by its argparse `type` (so argparse names the flag in its
error), and checks that involve several flags call `parser.error`. Values read from a `--config_file` go through the
same `type`s ([`set_defaults_from_json`]).
"""

import argparse
import json
import logging as pystd_logging
import math
import os
from pathlib import Path

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


def bounded_number(cast, minimum, *, inclusive: bool = True, maximum=None, description: str):
    """An argparse `type`: `cast(text)`, finite, >= `minimum` (> when not `inclusive`) and <= `maximum` if given."""

    def parse(text):
        try:
            value = cast(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"expected {description}, got {text!r}") from None
        too_small = value < minimum if inclusive else value <= minimum
        if not math.isfinite(value) or too_small or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"expected {description}, got {value}")
        return value

    parse.__name__ = description  # argparse shows the name of a failing type
    return parse


positive_int = bounded_number(int, 1, description="a positive integer")
non_negative_int = bounded_number(int, 0, description="an integer >= 0")
positive_float = bounded_number(float, 0.0, inclusive=False, description="a positive number")
non_negative_float = bounded_number(float, 0.0, description="a number >= 0")
fraction = bounded_number(float, 0.0, maximum=1.0, description="a number between 0 and 1")


def json_object(text):
    """An argparse `type`: a JSON object (`dict`)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r} ({error.msg})") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    return value


def check_output_file(parser: argparse.ArgumentParser, flag: str, path, suffixes=None):
    """
    `parser.error` unless `path` can be written as a file: not a folder, its folder creatable and writable, and its
    suffix one of `suffixes` when given. Checked before any work, so that a bad path loses no results.
    """
    path = Path(path)
    if suffixes is not None and path.suffix.lower() not in suffixes:
        parser.error(f"{flag} must end with {' or '.join(suffixes)}, got {str(path)!r}.")
    if path.is_dir():
        parser.error(f"{flag} {path} is a folder; expected the path of a file to write.")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        parser.error(f"{flag} {path} cannot be written: {folder} is a file, not a folder.")
    if not os.access(folder, os.W_OK | os.X_OK):
        parser.error(f"{flag} {path} cannot be written: no write permission in {folder}.")


def set_defaults_from_json(parser: argparse.ArgumentParser, path, ignored_keys=("_comment",)):
    """
    Make the values of the JSON object in `path` (flag names to values) the parser's defaults, checked by the flags'
    `type`s like values given on the command line; errors name the file and the key.
    """
    path = Path(path)
    if not path.is_file():
        parser.error(f"--config_file {path} does not exist.")
    try:
        values = json.loads(path.read_text(encoding="utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        parser.error(f"--config_file {path} is not valid JSON: {error}")
    if not isinstance(values, dict):
        parser.error(f"--config_file {path} must hold a JSON object of flag names to values.")
    actions = {action.dest: action for action in parser._actions}
    unknown = sorted(set(values) - set(actions) - set(ignored_keys))
    if unknown:
        parser.error(f"--config_file {path} has unknown keys {unknown}; expected flag names such as 'learning_rate'.")
    defaults = {}
    for key, value in values.items():
        if key in ignored_keys:
            continue
        action = actions[key]
        if action.type is not None and value is not None:
            text = value if isinstance(value, str) else json.dumps(value)
            try:
                value = action.type(text)
            except argparse.ArgumentTypeError as error:
                parser.error(f"--config_file {path}: {key!r}: {error}")
        defaults[key] = value
    parser.set_defaults(**defaults)


__all__ = [
    "LOG_DATE_FORMAT",
    "LOG_FORMAT",
    "one_line",
    "setup_logging",
    "bounded_number",
    "check_output_file",
    "fraction",
    "json_object",
    "non_negative_float",
    "non_negative_int",
    "positive_float",
    "positive_int",
    "set_defaults_from_json",
]
