"""unity-nb: Unity ML-Agents reinforcement learning from Jupyter notebooks."""
__version__ = "0.1.0"
