"""Locales and translations: :mod:`~orginvite.i18n.locales` (pure negotiation: user_metadata, ui_locales,
Accept-Language) and :mod:`~orginvite.i18n.translations` (gettext catalogs shared by emails, pages and the dev
tenant's hosted pages).

Rule of the wing: ``locales`` imports no I/O; neither module knows of requests.
"""
