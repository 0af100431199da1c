"""The one thing pyproject.toml cannot say without an experimental table: the C extension.

Telemetry's histogram bucketing (operator/modelops/runtime/_bucketing.c) is optional: where
there is no C compiler the install still succeeds and telemetry counts on the slower numpy
path (`modelops serve` logs which one it uses). Everything else is in pyproject.toml.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "modelops.runtime._bucketing",
            sources=["operator/modelops/runtime/_bucketing.c"],
            extra_compile_args=["-O3"],
            optional=True,
        )
    ]
)
