"""The documentation renders as written: each Markdown file of the repository, parsed by a
CommonMark parser (markdown-it-py), has every code fence closed by a bare fence line of its
own (a closing fence with text after it is no fence, and CommonMark then swallows what follows
as code) and every relative link pointing at a file, or a heading, that exists."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
SCHEME = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*:")


def _markdown_it():
    try:
        from markdown_it import MarkdownIt
    except ImportError:
        message = "markdown-it-py is not installed (pip install -e '.[test]')"
        pytest.skip(message)   # a failure under CI (tests/conftest.py)
    return MarkdownIt("commonmark")


def _documents() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "*.md"], cwd=ROOT, capture_output=True, text=True)
    names = listed.stdout.split() if listed.returncode == 0 else []
    return sorted(ROOT / n for n in names) or sorted(p for p in ROOT.glob("**/*.md") if ".venv" not in p.parts)


def _slug(text: str) -> str:
    """A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def problems(text: str, where: Path) -> list[str]:
    """What keeps `text` (a Markdown file at `where`) from rendering as written: `line N: ...`."""
    tokens = _markdown_it().parse(text)
    lines = text.splitlines()
    found = []
    anchors = {_slug(tokens[i + 1].content) for i, t in enumerate(tokens) if t.type == "heading_open"}
    for t in tokens:
        if t.type == "fence":
            start, end = t.map
            opening = FENCE.match(lines[start]).group(1)
            closing = lines[end - 1] if end - 1 > start else ""
            if not re.fullmatch(rf" {{0,3}}{re.escape(opening[0])}{{{len(opening)},}}\s*", closing):
                found.append(f"line {start + 1}: the code fence opened here is never closed")
            for k, line in enumerate(t.content.splitlines()):
                if FENCE.match(line):
                    found.append(f"line {start + 2 + k}: {line.strip()[:40]!r} is inside the code fence of line "
                                 f"{start + 1} (a closing fence takes nothing after it)")
        for child in t.children or ():
            target = child.attrGet("href") if child.type == "link_open" else (
                child.attrGet("src") if child.type == "image" else None)
            if not target or SCHEME.match(target) or target.startswith("//"):
                continue
            path, _, anchor = target.partition("#")
            line = t.map[0] + 1 if t.map else 0
            if path and not (where.parent / path).exists():
                found.append(f"line {line}: link to {target!r}: no such file")
            elif not path and anchor and anchor not in anchors:
                found.append(f"line {line}: link to {target!r}: no such heading")
    return found


def test_the_checker_finds_what_breaks_a_rendering(tmp_path):
    (tmp_path / "there.md").write_text("# There\n")
    text = ("# Title\n\n```sh\nnasdsl check x.nas\n``` then more\n\n## Command line\n\n"
            "[here](there.md) [gone](missing.md) [up](#title) [nowhere](#no-such) [web](https://example.org)\n\n"
            "```nas\nnetwork(x: [4]) = x\n")
    assert problems(text, tmp_path / "doc.md") == [
        "line 3: the code fence opened here is never closed",
        "line 5: '``` then more' is inside the code fence of line 3 (a closing fence takes nothing after it)",
        "line 11: '```nas' is inside the code fence of line 3 (a closing fence takes nothing after it)",
    ]
    fixed = text.replace("``` then more", "```\nthen more")
    assert problems(fixed, tmp_path / "doc.md") == [
        "line 10: link to 'missing.md': no such file",
        "line 10: link to '#no-such': no such heading",
        "line 12: the code fence opened here is never closed",
    ]


@pytest.mark.parametrize("path", _documents(), ids=lambda p: str(p.relative_to(ROOT)))
def test_documentation_renders_as_written(path):
    assert problems(path.read_text(encoding="utf-8"), path) == []


def test_the_readme_keeps_its_sections():
    """The sections the README's fence once swallowed are headings when rendered."""
    tokens = _markdown_it().parse((ROOT / "README.md").read_text(encoding="utf-8"))
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert "Command line" in headings and "Python" in headings
