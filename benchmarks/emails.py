"""Section 4: the invitation email.

``bare Jinja render`` is the floor: a plain Jinja2 environment (the i18n extension, the same autoescaping) over the
same template sources, CSS already inlined, with the locale's Babel translations installed once and the context
already built: three ``Template.render`` calls and nothing else. ``orginvite full render`` is
``EmailRenderer.render``: locale negotiation, the context (formatted expiry date, role list, colours), the three
templates, the text tidied. ``full pipeline`` adds ``build_message`` and ``as_bytes()``: what goes to SMTP.
Cold against warm (first render of a locale in a fresh process) is measured in subprocesses, see :func:`cold_warm`.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from typing import Any

import jinja2

from benchmarks.harness import Case, Section, Target
from orginvite.emails import EmailRenderer, build_message, sample_invitation
from orginvite.emails.renderer import _bdi, _isolate
from orginvite.i18n import translations

LOCALE = "fr"
TEMPLATES = ("invitation/subject.txt", "invitation/body.txt", "invitation/body.html")


def bare_environment(renderer: EmailRenderer) -> jinja2.Environment:
    """Plain Jinja2 over the renderer's own (CSS-inlined) sources, gettext from the locale's Babel catalog."""
    sources = {name: renderer.environment.loader.get_source(renderer.environment, name)[0] for name in TEMPLATES}
    env = jinja2.Environment(
        loader=jinja2.DictLoader(sources),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), disabled_extensions=("txt",)),
        extensions=["jinja2.ext.i18n"],
        auto_reload=False,
    )
    env.install_gettext_translations(renderer.catalogs.translations(LOCALE), newstyle=True)  # type: ignore[attr-defined]
    env.globals.update(bdi=_bdi, isolate=_isolate)
    return env


COLD_WARM_SCRIPT = r"""
import json, sys, time
t0 = time.perf_counter()
from orginvite.emails import EmailRenderer, sample_invitation
renderer = EmailRenderer()
invitation = sample_invitation()
t1 = time.perf_counter()
def timed(locale):
    start = time.perf_counter()
    renderer.render(invitation, locale=locale)
    return time.perf_counter() - start
first = timed("en")
warm = min(timed("en") for _ in range(5))
cold_locale = timed("ja")
warm_locale = min(timed("ja") for _ in range(5))
print(json.dumps({"setup": t1 - t0, "first_render": first, "warm": warm, "first_in_new_locale": cold_locale,
                  "warm_in_that_locale": warm_locale}))
"""


def cold_warm(runs: int) -> dict[str, Any]:
    """Medians over ``runs`` fresh processes: import + renderer construction, the very first render (templates
    compiled and CSS inlined), a warm render, the first render in a second locale, and a warm one in it."""
    samples = []
    for _ in range(runs):
        done = subprocess.run([sys.executable, "-c", COLD_WARM_SCRIPT], capture_output=True, text=True, check=True,
                              timeout=120)
        samples.append(json.loads(done.stdout))
    out = {key: statistics.median(s[key] for s in samples) for key in samples[0]}
    return {
        "cold/warm runs (fresh processes)": runs,
        "import + EmailRenderer()": f"{out['setup'] * 1e3:.1f} ms",
        "first render (compile + inline)": f"{out['first_render'] * 1e3:.2f} ms",
        "warm render": f"{out['warm'] * 1e3:.3f} ms",
        "first render in a new locale (ja)": f"{out['first_in_new_locale'] * 1e3:.3f} ms",
        "warm render in that locale": f"{out['warm_in_that_locale'] * 1e3:.3f} ms",
        "cold/warm ratio (first render / warm)": f"{out['first_render'] / out['warm']:.1f}x",
        "new-locale/warm ratio": f"{out['first_in_new_locale'] / out['warm_in_that_locale']:.2f}x",
    }


def section(*, quick: bool = False) -> Section:
    renderer = EmailRenderer()
    invitation = sample_invitation()
    env = bare_environment(renderer)
    templates = [env.get_template(name) for name in TEMPLATES]
    rendered = renderer.render(invitation, locale=LOCALE)
    zone = renderer._timezone(invitation, None)
    with translations.use_locale(LOCALE, timezone=zone):
        context = renderer.context(invitation, LOCALE, zone)
    html_context = {**context, "subject": rendered.subject}

    async def bare() -> None:
        with translations.use_locale(LOCALE, timezone=zone):  # _isolate reads the active locale
            templates[0].render(context)
            templates[1].render(context)
            templates[2].render(html_context)

    async def full() -> None:
        renderer.render(invitation, locale=LOCALE)

    async def pipeline() -> None:
        email = renderer.render(invitation, locale=LOCALE)
        build_message(email, sender=("Acme", "no-reply@acme.test"), to=invitation.invitee_email).as_bytes()

    cases = [
        Case("bare Jinja render (3 templates)", bare),
        Case("orginvite full render", full),
        Case("orginvite full pipeline to bytes", pipeline),
    ]
    return Section(
        key="emails", title="4. Invitation email", cases=cases, baseline=cases[0].name,
        targets=[Target(cases[1].name, cases[0].name, "slowdown", 1.5)],
        extra=cold_warm(1 if quick else 5),
    )
