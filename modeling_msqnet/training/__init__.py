"""Training and evaluation of MSQNet with Accelerate: the loops behind `examples/train.py` and `examples/evaluate_model.py`."""
