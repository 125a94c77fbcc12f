"""Publishing a trained MSQNet: the model card, the plots in it, and the push to the Hugging Face Hub."""
