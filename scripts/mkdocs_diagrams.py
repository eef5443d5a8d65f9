"""MkDocs hook: render the Graphviz diagrams of the documentation to SVG when the site is built, offline.

Each ``docs/diagrams/<name>.dot`` becomes ``diagrams/<name>.svg`` in the site (the ``.dot`` source is not
published). A page shows one with an ordinary image link, which the strict build checks like any other link::

    ![The bulk sync flow, from reading to the summary](diagrams/bulk-sync-flow.svg){ .diagram }

Rendering runs Graphviz's ``dot`` (Debian/Ubuntu ``graphviz``; ``scripts/docs.sh`` installs it when it can).
Without ``dot`` the build fails and says how to get it, unless ``DOCS_DIAGRAMS=skip`` is set: then each
diagram is a small placeholder image naming its source, for a quick text-only build. Nothing is downloaded, at
build time or when the page is viewed: the SVG is self-contained (checked by :func:`check_svg`).

The functions need nothing but the standard library; ``tests/test_docs_diagrams.py`` uses them directly.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent
SOURCE_DIR = "diagrams"  # under docs/
SKIP_ENV = "DOCS_DIAGRAMS"
_SVG_NS = "{http://www.w3.org/2000/svg}"
_XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
#: Graphviz adds a generator comment and a DOCTYPE that points at w3.org: neither is needed by a browser.
_PROLOGUE = re.compile(r"\A.*?(?=<svg\b)", re.S)


class DiagramError(Exception):
    """A diagram cannot be rendered (no ``dot``, a syntax error) or its SVG is not self-contained."""


def dot_command() -> str | None:
    """The path of Graphviz's ``dot``, or ``None`` when it is not installed."""
    return shutil.which("dot")


def render(source: str, name: str, dot: str | None = None) -> str:
    """Render Graphviz ``source`` to a self-contained SVG document (no XML prologue, no DOCTYPE).

    :param source: the text of a ``.dot`` file.
    :param name: the diagram's name, for messages.
    :param dot: the ``dot`` executable; default: the one on ``PATH``.
    :raises DiagramError: ``dot`` is missing or refuses the source, or the result is not self-contained.
    """
    dot = dot or dot_command()
    if dot is None:
        raise DiagramError(
            f"{name}: Graphviz's `dot` is not installed. Install it (Debian/Ubuntu: apt-get install "
            f"graphviz; macOS: brew install graphviz), or build without pictures: "
            f"{SKIP_ENV}=skip bash scripts/docs.sh"
        )
    done = subprocess.run(
        [dot, "-Tsvg"], input=source, capture_output=True, text=True, timeout=60, check=False
    )
    if done.returncode != 0:
        raise DiagramError(f"{name}: dot failed: {done.stderr.strip()}")
    svg = _PROLOGUE.sub("", done.stdout, count=1)
    check_svg(svg, name)
    return svg


def placeholder(name: str) -> str:
    """A small SVG standing in for a diagram that was not rendered (``DOCS_DIAGRAMS=skip``)."""
    text = escape(f"Diagram {name} not rendered ({SKIP_ENV}=skip): see docs/{SOURCE_DIR}/{name}.dot")
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="640" height="48" viewBox="0 0 640 48">'
        '<rect x="1" y="1" width="638" height="46" rx="6" fill="none" stroke="#90a4ae" stroke-dasharray="4"/>'
        f'<text x="320" y="29" text-anchor="middle" font-family="sans-serif" font-size="13" fill="#546e7a">'
        f"{text}</text></svg>"
    )


def check_svg(svg: str, name: str) -> None:
    """Fail unless ``svg`` is well-formed SVG that loads nothing: no script, no external reference.

    :raises DiagramError: naming the diagram and what is wrong.
    """
    try:
        root = ET.fromstring(svg)
    except ET.ParseError as err:
        raise DiagramError(f"{name}: the SVG is not well-formed XML: {err}") from err
    if root.tag != f"{_SVG_NS}svg":
        raise DiagramError(f"{name}: the document is not an SVG (root element {root.tag})")
    for element in root.iter():
        tag = element.tag.removeprefix(_SVG_NS)
        if tag in ("script", "foreignObject", "image"):
            raise DiagramError(f"{name}: the SVG has a <{tag}> element; diagrams must be self-contained")
        for attribute in ("href", _XLINK_HREF):
            target = element.get(attribute)
            if target and not target.startswith("#"):
                raise DiagramError(f"{name}: the SVG links to {target!r}; diagrams must load nothing")
        style = element.get("style", "") + (element.text or "" if tag == "style" else "")
        if "url(" in style and "url(#" not in style:
            raise DiagramError(f"{name}: the SVG's style loads an external resource")


def diagram_sources(docs_dir: Path) -> dict[str, Path]:
    """The diagrams of a docs folder: name (file stem) -> ``.dot`` path."""
    folder = docs_dir / SOURCE_DIR
    return {path.stem: path for path in sorted(folder.glob("*.dot"))}


def build(docs_dir: Path, skip: bool = False) -> dict[str, str]:
    """Render every diagram of ``docs_dir``: site path (``diagrams/<name>.svg``) -> SVG text.

    :param skip: give placeholders instead of running ``dot``.
    :raises DiagramError: a diagram cannot be rendered.
    """
    out: dict[str, str] = {}
    for name, path in diagram_sources(docs_dir).items():
        target = f"{SOURCE_DIR}/{name}.svg"
        out[target] = placeholder(name) if skip else render(path.read_text(encoding="utf-8"), name)
    return out


def skip_requested() -> bool:
    """Whether the build was asked to go without pictures (``DOCS_DIAGRAMS=skip``)."""
    return os.environ.get(SKIP_ENV, "").strip().lower() == "skip"


# -- MkDocs events ---------------------------------------------------------------------------------------


def on_files(files: Any, config: Any, **kwargs: Any) -> Any:
    """MkDocs event: replace each ``diagrams/*.dot`` by its rendered ``diagrams/*.svg``."""
    import logging

    from mkdocs.exceptions import PluginError
    from mkdocs.structure.files import File

    docs_dir = Path(config["docs_dir"])
    skip = skip_requested()
    try:
        rendered = build(docs_dir, skip=skip)
    except DiagramError as err:
        raise PluginError(str(err)) from err
    if skip and rendered:
        # Info, not a warning: the strict build must still pass when asked to skip.
        logging.getLogger("mkdocs.hooks.diagrams").info(
            "%s=skip: %d diagram(s) left as placeholders", SKIP_ENV, len(rendered)
        )
    for file in list(files):
        if file.src_uri.startswith(f"{SOURCE_DIR}/") and file.src_uri.endswith(".dot"):
            files.remove(file)
    for target, svg in rendered.items():
        files.append(File.generated(config, target, content=svg))
    return files
