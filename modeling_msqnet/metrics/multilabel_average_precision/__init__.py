# An `evaluate` module folder: load it with `evaluate.load(<this folder>)`; importable for its plain functions.
