"""The offline demo (`make demo`, `python -m modeling_msqnet.demo`) and the generated actor-agnostic benchmark it trains on."""
