"""Every hosted page of the dev tenant, in every branch, renders in every shipped locale with strict undefined
variables, and every message on it comes from that locale's own catalog (nothing falls back to English)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from orginvite.devtenant.hosted_pages import _environment, branding
from orginvite.i18n.locales import direction, to_bcp47
from orginvite.i18n.translations import AVAILABLE_LOCALES, use_locale

ORGANIZATION = {"id": "org_AcmeDemoOrg00001", "name": "acme", "display_name": "Acme Inc.", "metadata": {}}
ERROR_KINDS = (
    "invalid_client", "invalid_redirect_uri", "invalid_logout_url", "invalid_request", "request_too_long",
    "invalid_query", "encoded_parameter", "invalid_id_token_hint", "client_mismatch", "expired", "other_browser",
    "csrf", "unexpected",
)  # fmt: skip
FORM_ERRORS = (
    None, "wrong_credentials", "too_many_attempts", "email_taken", "weak_password", "invalid_email",
    "organization_not_found", "unexpected",
)  # fmt: skip
FORM = {"csrf": "token", "state": "st", "email": "ann@acme.test", "name": "Ann"}


def variants() -> list[tuple[str, dict[str, Any]]]:
    pages: list[tuple[str, dict[str, Any]]] = [("error.html", {"kind": kind}) for kind in ERROR_KINDS]
    pages.append(("logged_out.html", {}))
    for error in FORM_ERRORS:
        for organization in (None, ORGANIZATION):
            for invitation in (False, True):
                common = {**FORM, "error": error, "organization": organization, "invitation": invitation}
                pages.append(("login.html", common))
                pages.append(("signup.html", {**common, "email_fixed": invitation}))
        pages.append(("organization_prompt.html", {**FORM, "error": error, "organization_name": "acme"}))
    for error in (None, "organization_not_found"):
        pages.append(("organization_picker.html", {**FORM, "error": error, "organizations": [ORGANIZATION]}))
    return pages


def test_the_variants_cover_every_template() -> None:
    templates = {name for name in _environment().list_templates() if not name.startswith(("_", "base"))}
    assert {name for name, _ in variants()} == templates


@pytest.mark.parametrize("locale", AVAILABLE_LOCALES)
def test_every_hosted_page_is_translated_in_every_locale(locale: str) -> None:
    environment = _environment()
    seen: set[str] = set()
    for template, context in variants():
        values = {"lang": to_bcp47(locale), "dir": direction(locale), "tenant_name": "Acme Dev",
                  "brand": branding(context.get("organization")), "organization": None, **context}  # fmt: skip
        with use_locale(locale, record_fallbacks=True) as fell_back:
            html = environment.get_template(template).render(**values)
        assert fell_back == [], f"{template} {context}: not translated in {locale}: {fell_back}"
        assert f'lang="{to_bcp47(locale)}" dir="{direction(locale)}"' in html
        error = re.search(r'id="error" data-error="[^"]*">(.*?)</p>', html, re.DOTALL)
        if error is not None:
            seen.add(error.group(1).strip())
    # Each error kind has its own sentence (a copy-paste slip would show one kind's text for another).
    assert len(seen) == len(ERROR_KINDS) + len(FORM_ERRORS) - 1
