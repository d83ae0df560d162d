"""genlab: config-driven experiments for image generative models."""

__version__ = "0.1.0"
