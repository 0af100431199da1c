"""Retraining decisions, pure: triggers, guards, run names, result validation (no I/O)."""
