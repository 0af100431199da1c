"""The reference trainer (`modelops train`) and the synthetic dataset generator."""
