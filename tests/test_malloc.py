from __future__ import annotations

import platform

import pytest

from modelops import malloc


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_tune_applies_every_setting_the_environment_leaves_open(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    applied = malloc.tune()
    assert applied == {k: value for k, (_, value) in malloc.SETTINGS.items() if k != "MALLOC_ARENA_MAX"}
