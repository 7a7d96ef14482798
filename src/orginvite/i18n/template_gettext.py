"""The gettext callables ``{% trans %}`` calls: Jinja's newstyle ones, with the names fitted into the sentence.

Jinja's own newstyle callables translate, then fill the placeholders in one step, so nothing can look at the
translated message before the names go in. These do the same (``Markup`` when autoescaping, ``num`` and
``context`` available to the message) with :func:`orginvite.i18n.names.fit_names` in between: the emails, the
login pages and the dev tenant's pages, all rendered by :func:`orginvite.i18n.rendering.create_environment`,
share it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from orginvite.i18n.names import fit_names

__all__ = ["newstyle_callables"]


class _Translate(Protocol):
    def gettext(self, message: str) -> str: ...
    def ngettext(self, singular: str, plural: str, n: int) -> str: ...
    def pgettext(self, context: str, message: str) -> str: ...
    def npgettext(self, context: str, singular: str, plural: str, n: int) -> str: ...


def newstyle_callables(translate: _Translate, locale: Callable[[], str]) -> dict[str, Any]:
    """``gettext``, ``ngettext``, ``pgettext`` and ``npgettext`` for an environment's globals.

    ``locale`` names the catalog the message is read from at call time (French elides, other languages do not).
    """

    def finish(ctx: Context, text: str, variables: dict[str, Any]) -> str:
        text = fit_names(text, variables, locale())
        if ctx.eval_ctx.autoescape:
            text = Markup(text)  # noqa: S704 - the catalog's own text, its markup trusted as Jinja trusts it
        return text % variables  # always a format string, as Jinja's own callables treat it

    @pass_context
    def gettext(__context: Context, __string: str, **variables: Any) -> str:
        return finish(__context, translate.gettext(__string), variables)

    @pass_context
    def ngettext(__context: Context, __singular: str, __plural: str, __num: int, **variables: Any) -> str:
        variables.setdefault("num", __num)
        return finish(__context, translate.ngettext(__singular, __plural, __num), variables)

    @pass_context
    def pgettext(__context: Context, __string_ctx: str, __string: str, **variables: Any) -> str:
        variables.setdefault("context", __string_ctx)
        return finish(__context, translate.pgettext(__string_ctx, __string), variables)

    @pass_context
    def npgettext(
        __context: Context, __string_ctx: str, __singular: str, __plural: str, __num: int, **variables: Any
    ) -> str:
        variables.setdefault("context", __string_ctx)
        variables.setdefault("num", __num)
        return finish(__context, translate.npgettext(__string_ctx, __singular, __plural, __num), variables)

    return {"gettext": gettext, "ngettext": ngettext, "pgettext": pgettext, "npgettext": npgettext}
