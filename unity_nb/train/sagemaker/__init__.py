"""SageMaker: train, stream, fetch (see contract.py for what the notebook and the container agree on)."""
