"""The documentation's diagrams: each Graphviz source renders offline to a self-contained SVG, says what its
page relies on, and is shown by a page with a text alternative (``scripts/mkdocs_diagrams.py``).
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def _load() -> Any:
    spec = importlib.util.spec_from_file_location("_mkdocs_diagrams", ROOT / "scripts" / "mkdocs_diagrams.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["_mkdocs_diagrams"] = module
    spec.loader.exec_module(module)
    return module


diagrams = _load()
SOURCES = diagrams.diagram_sources(DOCS)
needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None, reason="Graphviz's dot is not installed (apt-get install graphviz)"
)

#: What each picture must show: the words its page's text refers to.
MUST_SHOW = {
    "bulk-sync-flow": ["read", "map", "validate", "batch", "send", "bisect", "dead letters", "in doubt"],
    "retry-decision": ["429", "5xx", "idempotent", "retry_unsafe", "maybe_applied", "Retry-After"],
    "asset-events": ["alias", "Asset", "no event", "scheduled DAG"],
    "deferrable-sensor": [
        "worker",
        "triggerer",
        "deadline",
        "poke_interval",
        "one event",
        "execute_complete",
    ],
}
IMAGE = re.compile(
    r"!\[(?P<alt>[^\]]*)\]\((?P<path>(?:\.\./)*diagrams/(?P<name>[\w-]+)\.svg)\)(?P<attrs>\{[^}]*\})?"
)


def _shown() -> dict[str, list[tuple[Path, re.Match[str]]]]:
    found: dict[str, list[tuple[Path, re.Match[str]]]] = {}
    for page in DOCS.rglob("*.md"):
        for match in IMAGE.finditer(page.read_text(encoding="utf-8")):
            found.setdefault(match["name"], []).append((page, match))
    return found


def _svg_text(svg: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", svg).replace("&#45;", "-").split())


def test_every_picture_has_its_checks():
    assert set(SOURCES) == set(MUST_SHOW)


@needs_dot
@pytest.mark.parametrize("name", sorted(MUST_SHOW))
def test_each_diagram_renders_offline_to_a_self_contained_svg(name):
    svg = diagrams.render(SOURCES[name].read_text(encoding="utf-8"), name)
    assert svg.startswith("<svg")
    assert "<!DOCTYPE" not in svg  # the DOCTYPE names a w3.org URL; browsers do not need it
    text = _svg_text(svg)
    missing = [word for word in MUST_SHOW[name] if word not in text]
    assert not missing, f"{name} no longer shows {missing}"
    width = float(re.search(r'<svg width="([\d.]+)pt"', svg).group(1))  # type: ignore[union-attr]
    assert width <= 620, f"{name} is {width} pt wide: it would be scaled below a readable size in the page"


def test_every_diagram_is_shown_by_a_page_with_a_text_alternative():
    shown = _shown()
    assert set(shown) == set(SOURCES), "a diagram nobody shows, or a page showing one that does not exist"
    for name, uses in shown.items():
        for page, match in uses:
            assert len(match["alt"].split()) >= 12, f"{page.name}: describe {name} in its alt text"
            assert ".diagram" in (match["attrs"] or ""), f"{page.name}: give {name} the .diagram class"


def test_a_build_without_graphviz_fails_saying_what_to_install(monkeypatch):
    monkeypatch.setenv("PATH", "")
    with pytest.raises(diagrams.DiagramError, match=r"apt-get install graphviz.*DOCS_DIAGRAMS=skip"):
        diagrams.build(DOCS)


def test_skip_gives_placeholders_without_graphviz(monkeypatch):
    monkeypatch.setenv("PATH", "")
    built = diagrams.build(DOCS, skip=True)
    assert set(built) == {f"diagrams/{name}.svg" for name in SOURCES}
    for name, svg in built.items():
        diagrams.check_svg(svg, name)
        assert "not rendered" in svg


@needs_dot
def test_a_syntax_error_names_the_diagram():
    with pytest.raises(diagrams.DiagramError, match="broken: dot failed"):
        diagrams.render("digraph { a -> }", "broken")


@pytest.mark.parametrize(
    "svg",
    [
        '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">'
        '<a xlink:href="https://cdn.example/x"><text>x</text></a></svg>',
        '<svg xmlns="http://www.w3.org/2000/svg"><image href="https://cdn.example/x.png"/></svg>',
        '<svg xmlns="http://www.w3.org/2000/svg"><style>@font-face {src: url(https://f.example/a.woff)}</style></svg>',
        "<html/>",
        "<svg",
    ],
    ids=["script", "external link", "external image", "external font", "not svg", "malformed"],
)
def test_check_svg_refuses_what_would_load_something(svg):
    with pytest.raises(diagrams.DiagramError):
        diagrams.check_svg(svg, "x")
