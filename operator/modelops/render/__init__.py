"""Builders of child manifests (Deployment, Service, HPA, HTTPRoute, Job...) as plain dicts.

Layer rule (enforced by import-linter): no kopf, kubernetes or httpx, no I/O; the
controllers apply what these return with server-side apply.
"""
