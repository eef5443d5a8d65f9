"""MkDocs hook: include sections of the example DAGs in the documentation, so snippets cannot drift.

A line of a documentation page of the form::

    --8<-- "example_dags/example_expertsender_customers.py:upsert_customers_from_list"

is replaced by a fenced Python block holding the lines between ``# [START upsert_customers_from_list]`` and
``# [END upsert_customers_from_list]`` of that file (the Airflow convention), dedented, with any nested marker
lines removed. Without ``:section`` the whole file is included. A missing file, an unknown section, or a
section opened and never closed fails the build (``mkdocs build --strict`` in ``scripts/docs.sh``).

The parsing functions need nothing but the standard library: ``tests/test_example_dags.py`` uses them to check
every include of every page without building the site.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
INCLUDE = re.compile(r'^(?P<indent>[ \t]*)--8<-- "(?P<path>[^":]+)(?::(?P<section>[\w.-]+))?"[ \t]*$', re.M)
MARKER = re.compile(r"^\s*#\s*\[(?P<kind>START|END)\s+(?P<name>[\w.-]+)\]\s*$")


class ExampleIncludeError(Exception):
    """An include points at a file or a section that does not exist, or a file's markers are unbalanced."""


def sections(source: str) -> dict[str, str]:
    """Return every ``[START name]`` ... ``[END name]`` section of ``source``, dedented, markers removed.

    :param source: text of a Python file.
    :raises ExampleIncludeError: a section is opened twice, closed without being opened, or never closed.
    """
    open_at: dict[str, int] = {}
    found: dict[str, tuple[int, int]] = {}
    lines = source.splitlines()
    for number, line in enumerate(lines):
        match = MARKER.match(line)
        if not match:
            continue
        name = match["name"]
        if match["kind"] == "START":
            if name in open_at or name in found:
                raise ExampleIncludeError(f"section {name!r} is opened twice (line {number + 1})")
            open_at[name] = number
        else:
            if name not in open_at:
                raise ExampleIncludeError(
                    f"section {name!r} is closed without being opened (line {number + 1})"
                )
            found[name] = (open_at.pop(name) + 1, number)
    if open_at:
        raise ExampleIncludeError(f"section(s) never closed: {', '.join(sorted(open_at))}")
    return {
        name: textwrap.dedent("\n".join(line for line in lines[start:end] if not MARKER.match(line))).strip(
            "\n"
        )
        for name, (start, end) in found.items()
    }


def snippet(path: str, section: str | None, root: Path = ROOT) -> str:
    """Return the text an include stands for: a section of ``path`` (relative to ``root``) or the whole file.

    :raises ExampleIncludeError: the file or the section does not exist.
    """
    file = (root / path).resolve()
    if root.resolve() not in file.parents or not file.is_file():
        raise ExampleIncludeError(f"{path}: no such file in the repository")
    source = file.read_text(encoding="utf-8")
    if section is None:
        return "\n".join(line for line in source.splitlines() if not MARKER.match(line)).strip("\n")
    found = sections(source)
    if section not in found:
        known = ", ".join(sorted(found)) or "none"
        raise ExampleIncludeError(f"{path}: no section {section!r} (sections: {known})")
    return found[section]


def expand(markdown: str, root: Path = ROOT) -> str:
    """Replace every include line of a page by a fenced, titled Python block."""

    def block(match: re.Match[str]) -> str:
        indent, path, section = match["indent"], match["path"], match["section"]
        code = snippet(path, section, root)
        fenced = f'```python title="{path}"\n{code}\n```'
        return textwrap.indent(fenced, indent)

    return INCLUDE.sub(block, markdown)


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    """MkDocs event: expand the includes of one page; a broken include stops the build."""
    from mkdocs.exceptions import PluginError

    try:
        return expand(markdown)
    except ExampleIncludeError as err:
        raise PluginError(f"{page.file.src_path}: {err}") from err
