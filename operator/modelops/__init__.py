"""modelops: serve ML models on Kubernetes, roll out new versions safely, watch drift, retrain."""

__version__ = "0.1.0"
