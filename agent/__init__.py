"""k2l-agent: Keras -> PyTorch Lightning migration; the pipeline is discover -> rules -> LLM stage -> validate -> report."""
