"""The MSQNet code that travels with a saved model.

`save_pretrained` copies these files next to the weights, so that `trust_remote_code=True` loads a folder where this
package is not installed. They import only `transformers`, `torch`, `av`, `numpy`, the standard library and each other,
with relative imports; the tooling in the sibling subpackages imports them, never the reverse.
"""
