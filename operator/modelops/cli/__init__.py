"""Command-line entry points: `modelops` and the kubectl plugin `kubectl-modelops`."""
