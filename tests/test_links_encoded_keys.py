"""Our four query keys must be spelled literally: ``invit%61tion=`` would slip past every log redaction that looks
for ``invitation=``, and no mail client or browser writes a plain ASCII key percent-encoded."""

from __future__ import annotations

import pytest

from orginvite.errors import InvalidLinkError
from orginvite.links import parse_login_query

ORG = "org_AbCdEfGhIjKlMnOp"
TICKET = "Kx7pQ2rT9vW4yZ1aB3cD5eF7gH9jK1mN"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        (f"invit%61tion={TICKET}&organization={ORG}", "invitation"),
        (f"%69nvitation={TICKET}&organization={ORG}", "invitation"),
        (f"%69%6E%76%69%74%61%74%69%6F%6E={TICKET}&organization={ORG}", "invitation"),
        (f"invitation={TICKET}&organizatio%6E={ORG}", "organization"),
        ("organization%5Fname=acme", "organization_name"),
        ("return%54o=/x", "returnTo"),
    ],
)
def test_percent_encoded_spelling_of_our_keys_is_refused(query, field):
    with pytest.raises(InvalidLinkError) as info:
        parse_login_query(query)
    assert (info.value.code, info.value.field) == ("invalid_encoding", field)
    assert TICKET not in str(info.value)


def test_literal_keys_and_encoded_foreign_keys_still_work():
    assert parse_login_query(f"invitation={TICKET}&organization={ORG}").invitation == TICKET
    # keys that are not ours are ignored however they are spelled; an encoded value is fine
    request = parse_login_query(f"utm%5Fsource=mail&Invitation=x&organization={ORG}&returnTo=%2Fx%3Fa%3D1")
    assert request.organization == ORG and request.invitation is None and request.return_to == "/x?a=1"
