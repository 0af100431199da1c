from __future__ import annotations

from modelops.errors import ModelopsError
from modelops.runtime import fetch as fetch_module
from modelops.runtime.storage import errors


def test_every_reason_is_distinct_and_one_camel_case_word() -> None:
    assert len(set(errors.REASONS)) == len(errors.REASONS)
    assert all(r.isalnum() and r[0].isupper() for r in errors.REASONS)


def test_the_cli_exit_codes_and_the_names_fetch_raised_before() -> None:
    assert errors.DigestMismatch.exit_code == 2 and errors.InvalidDigest.exit_code == 3
    assert errors.StoreUnreachable.exit_code == 1
    assert fetch_module.ChecksumMismatch is errors.DigestMismatch
    assert fetch_module.InvalidChecksum is errors.InvalidDigest
    error = errors.BadCredentials("s3://b/k: the store rejected the credentials")
    assert isinstance(error, errors.AccessDenied) and isinstance(error, ModelopsError)
    assert error.reason == "BadCredentials" and error.message.startswith("s3://")
