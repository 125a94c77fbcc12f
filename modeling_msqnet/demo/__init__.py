"""The offline demo (`make demo`, `python -m modeling_msqnet.demo`): it trains on the generated actor-agnostic benchmark
(`modeling_msqnet.data.synthetic_actions`) and explains what the model learned."""
