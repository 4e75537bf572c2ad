"""Password hashing: argon2id hashes that verify only the right password."""

from __future__ import annotations

from etl_orchestrator.auth import hash_password, password_needs_rehash, verify_password


def test_a_hash_verifies_its_password_and_no_other():
    hashed = hash_password("correct horse")
    assert hashed.startswith("$argon2id$")
    assert "correct horse" not in hashed
    assert verify_password(hashed, "correct horse")
    assert not verify_password(hashed, "correct horsE")
    assert not verify_password(hashed, "")


def test_the_same_password_hashes_differently_each_time():
    first, second = hash_password("s3cret-pass"), hash_password("s3cret-pass")
    assert first != second
    assert verify_password(first, "s3cret-pass")
    assert verify_password(second, "s3cret-pass")


def test_a_malformed_hash_never_verifies():
    assert not verify_password("not-a-hash", "anything")
    assert not verify_password("", "")


def test_current_hashes_need_no_rehash_but_malformed_ones_do():
    assert not password_needs_rehash(hash_password("s3cret-pass"))
    assert password_needs_rehash("not-a-hash")
