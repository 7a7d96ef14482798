"""What a clone holds and what running it leaves behind: the license, and files git should never offer to add."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from orginvite.devtenant.app import DevTenant
from orginvite.devtenant.cli import DEFAULT_DB

ROOT = Path(__file__).resolve().parents[1]


def test_the_license_file_is_the_one_pyproject_names() -> None:
    assert tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["license"] == "MIT"
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n")
    assert re.search(r"^Copyright \(c\) \d{4} orginvite contributors$", text, re.M)
    assert "WITHOUT WARRANTY OF ANY KIND" in text


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(), reason="not a git checkout")
def test_what_tenant_serve_leaves_in_a_clone_is_ignored(tmp_path: Path) -> None:
    # The default database, opened as `tenant serve` opens it (WAL): every file SQLite puts beside it
    db = tmp_path / Path(DEFAULT_DB).name
    tenant = DevTenant(None, db=str(db))
    try:
        tenant.store.list_clients()
        left = sorted(path.name for path in tmp_path.iterdir())
    finally:
        tenant.close()
    assert len(left) > 1, left  # the main file and its WAL sidecars (-wal, -shm) while it is open
    names = [*left, db.name + "-journal"]  # a rollback journal, when WAL is unavailable
    result = subprocess.run(["git", "check-ignore", "--no-index", "--verbose", "--non-matching", *names],
                            cwd=ROOT, capture_output=True, text=True, check=False)
    not_ignored = [line.split("\t")[-1] for line in result.stdout.splitlines() if line.startswith("::")]
    assert not_ignored == []


def test_comments_cite_no_document_the_repository_does_not_hold() -> None:
    # comments once cited notes kept outside the repository: a reader of a clone cannot follow them
    held = {path.name for path in ROOT.rglob("*.md") if ".git" not in path.parts}
    cited: dict[str, set[str]] = {}
    for folder in ("src", "tests", "example_app", "benchmarks"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in {".py", ".html", ".txt", ".toml", ".po", ".pot"}:
                for name in re.findall(r"\b[A-Z][A-Za-z_]*\.md\b", path.read_text(encoding="utf-8", errors="replace")):
                    cited.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    for name in re.findall(r"\b[A-Z][A-Za-z_]*\.md\b", (ROOT / "pyproject.toml").read_text(encoding="utf-8")):
        cited.setdefault(name, set()).add("pyproject.toml")
    assert {name: sorted(where) for name, where in cited.items() if name not in held} == {}


def test_the_preview_app_and_the_demo_outbox_default_to_different_ports() -> None:
    from orginvite.demo import build_parser as demo_parser
    from orginvite.emails.cli import _parser as preview_parser

    demo = demo_parser().parse_args([])
    preview = preview_parser().parse_args(["--serve"])
    assert preview.port not in {demo.port, demo.tenant_port, demo.outbox_port, demo.smtp_port}


def _slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading: lowercase, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("document", ["README.md", "src/orginvite/devtenant/README.md"])
def test_every_link_of_the_readmes_leads_somewhere(document: str) -> None:
    # The README's table of contents and the references moved beside the code are links: none may dangle
    path = ROOT / document
    text = path.read_text(encoding="utf-8")
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    anchors = {_slug(h) for h in re.findall(r"^#+ (.+)$", prose, re.M)}
    dangling = []
    for target in re.findall(r"\]\(([^)\s]+)\)", prose):
        if target.startswith(("http://", "https://")):
            continue
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists():
            dangling.append(target)
        elif anchor and linked.suffix == ".md":
            linked_text = re.sub(r"```.*?```", "", linked.read_text(encoding="utf-8"), flags=re.S)
            if anchor not in ({_slug(h) for h in re.findall(r"^#+ (.+)$", linked_text, re.M)} if file_part
                              else anchors):
                dangling.append(target)
    assert dangling == []
