from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orginvite.errors import OrganizationClaimError, TokenError
from orginvite.login.claims import check_organization, organization_of

ORG = "org_AbCdEfGhIjKlMnOp"
OTHER = "org_ZzZzZzZzZzZzZzZz"


def fails(claims: Any, expected: str | None, *, require: bool = False) -> OrganizationClaimError:
    with pytest.raises(OrganizationClaimError) as info:
        check_organization(claims, expected, require=require)
    return info.value


def test_matching_id_passes() -> None:
    check_organization({"org_id": ORG, "org_name": "acme"}, ORG)
    check_organization({"org_id": ORG}, ORG, require=True)


def test_other_id_fails_and_says_which() -> None:
    error = fails({"org_id": OTHER}, ORG)
    assert (error.expected, error.actual) == (ORG, OTHER)
    assert isinstance(error, TokenError)
    assert "another organization" in str(error)


def test_id_comparison_is_exact() -> None:
    fails({"org_id": ORG.lower()}, ORG)
    fails({"org_id": ORG + " "}, ORG)
    fails({"org_id": ORG[:-1]}, ORG)


def test_missing_id_claim_fails() -> None:
    error = fails({}, ORG)
    assert error.actual is None
    fails({"org_name": "acme"}, ORG)  # a name does not stand in for an ID
    fails({"org_id": ""}, ORG)


def test_name_is_compared_lowercased() -> None:
    check_organization({"org_name": "acme", "org_id": ORG}, "acme")
    check_organization({"org_name": "acme"}, "ACME")
    check_organization({"org_name": "acme"}, "Acme")


def test_name_mismatch_and_case_of_the_claim() -> None:
    assert fails({"org_name": "globex"}, "acme").actual == "globex"
    fails({"org_name": "ACME"}, "acme")  # Auth0 emits lowercase; an uppercase claim is not ours


def test_missing_name_claim_fails_even_with_an_id() -> None:
    error = fails({"org_id": ORG}, "acme")
    assert (error.expected, error.actual) == ("acme", None)


def test_no_expected_organization_passes_unless_required() -> None:
    check_organization({}, None)
    check_organization({"org_id": ORG}, None)
    fails({}, None, require=True)
    fails({"org_name": "acme"}, None, require=True)
    check_organization({"org_id": ORG}, None, require=True)


@pytest.mark.parametrize("bad", [["org_x"], [ORG], 42, 4.2, True, None, {"id": ORG}, b"org_AbCdEfGhIjKlMnOp"])
def test_wrong_claim_types_fail_cleanly(bad: Any) -> None:
    fails({"org_id": bad}, ORG)
    fails({"org_name": bad}, "acme")
    fails({"org_id": bad}, None, require=True)
    assert organization_of({"org_id": bad, "org_name": bad}) == (None, None)


@pytest.mark.parametrize("claims", [None, [], "org_AbCdEfGhIjKlMnOp", 42])
def test_claims_that_are_not_a_mapping_fail_cleanly(claims: Any) -> None:
    fails(claims, ORG)
    fails(claims, None, require=True)
    assert organization_of(claims) == (None, None)


@pytest.mark.parametrize("expected", ["", 42, ["org_x"]])
def test_a_malformed_expectation_is_a_programming_error(expected: Any) -> None:
    with pytest.raises(ValueError):
        check_organization({"org_id": ORG}, expected)


def test_huge_actual_value_is_truncated_on_the_error() -> None:
    error = fails({"org_id": "org_" + "x" * 10_000}, ORG)
    assert error.actual is not None and len(error.actual) <= 100


def test_organization_of() -> None:
    assert organization_of({"org_id": ORG, "org_name": "acme", "sub": "x"}) == (ORG, "acme")
    assert organization_of({}) == (None, None)
    assert organization_of({"org_id": "", "org_name": ""}) == (None, None)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
_claims = st.dictionaries(st.sampled_from(["org_id", "org_name", "sub", "aud"]), _json, max_size=4)
_expected = st.none() | st.just(ORG) | st.just("acme") | st.just("Acme") | st.from_regex(r"\Aorg_[A-Za-z0-9]{16}\Z")


@given(claims=_claims, expected=_expected, require=st.booleans())
def test_only_ever_passes_or_raises_the_claim_error(claims: dict, expected: str | None, require: bool) -> None:
    try:
        check_organization(claims, expected, require=require)
    except OrganizationClaimError:
        passed = False
    else:
        passed = True
    org_id, org_name = organization_of(claims)
    if expected is None:
        assert passed == (not require or org_id is not None)
    elif expected.startswith("org_"):
        assert passed == (org_id == expected)
    else:
        assert passed == (org_name == expected.lower())


@given(expected=st.from_regex(r"\Aorg_[A-Za-z0-9]{16}\Z"), actual=st.text(max_size=30))
def test_an_id_passes_only_when_equal(expected: str, actual: str) -> None:
    try:
        check_organization({"org_id": actual}, expected)
    except OrganizationClaimError:
        assert actual != expected
    else:
        assert actual == expected
