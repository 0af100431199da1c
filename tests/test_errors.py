"""Every exception modelops defines derives from the one root, ModelopsError."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import modelops
from modelops.errors import ModelopsError


def _exception_classes() -> list[type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(modelops.__path__, "modelops."):
        module = importlib.import_module(info.name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__.startswith("modelops."):
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return [found[name] for name in sorted(found)]


EXCEPTIONS = _exception_classes()


def test_the_package_defines_exceptions() -> None:
    assert len(EXCEPTIONS) > 10


@pytest.mark.parametrize("cls", EXCEPTIONS, ids=lambda c: f"{c.__module__}.{c.__qualname__}")
def test_every_product_exception_has_the_one_root(cls: type[BaseException]) -> None:
    assert issubclass(cls, ModelopsError)


def test_each_exception_name_has_one_meaning() -> None:
    names = [cls.__name__ for cls in EXCEPTIONS]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
