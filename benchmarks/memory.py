"""Section 5: resident memory of a fresh process, in steps, measured in a subprocess (``/proc/self/status``).

Steps: Python with Starlette imported (what any ASGI app has); orginvite imported; the middleware built (its
pages compiled); every locale's catalogs and the email templates loaded, with one render per locale (templates
compiled, CSS inlined, Babel locale data read).
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

SCRIPT = r"""
import json, sys
def rss():
    with open("/proc/self/status") as f:
        fields = dict(line.split(":", 1) for line in f)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024
out = {"python + starlette": rss()}
import starlette.applications, starlette.responses  # noqa
out["python + starlette"] = rss()
import orginvite.login.middleware, orginvite.emails, orginvite.i18n.translations  # noqa
out["orginvite imported"] = rss()
from starlette.applications import Starlette
from orginvite.config import Settings
from orginvite.login.middleware import OrgInviteMiddleware
OrgInviteMiddleware(Starlette(), Settings(issuer="http://127.0.0.1:9/", client_id="c", client_secret="s",
                                          secret_keys=("k" * 40,), base_url="http://127.0.0.1:8000"))
out["middleware built (pages compiled)"] = rss()
from orginvite.emails import EmailRenderer, sample_invitation
renderer = EmailRenderer()
invitation = sample_invitation()
for locale in renderer.available_locales:
    renderer.render(invitation, locale=locale)
out["all locales + email templates rendered once"] = rss()
print(json.dumps(out))
"""


def measure() -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, timeout=120)
    steps = json.loads(done.stdout)
    base = steps["python + starlette"][0]
    facts: dict[str, Any] = {}
    for step, (rss, peak) in steps.items():
        facts[step] = f"RSS {rss:.1f} MiB (+{rss - base:.1f} over Starlette), peak {peak:.1f} MiB"
    facts["orginvite's own resident cost"] = f"{steps['all locales + email templates rendered once'][0] - base:.1f} MiB"
    return facts
