"""Conversion of the authors' official MSQNet checkpoints into Hub-ready folders."""
