"""Griffe extension for the docs build: turn the reST roles of our docstrings into cross-references.

The package's docstrings are written for Airflow's Sphinx world (``:class:`~pkg.mod.Name```), which MkDocs
would show literally. Before mkdocstrings renders them, every role becomes:

* a link to the object's reference entry when the target is an object of this package (resolved like Python
  resolves names: fully qualified, relative to the current module, or a member of the current class). It is an
  *optional* autorefs link: an object that exists but is not rendered on any page shows as code.
* plain code otherwise (``pathlib.Path``, Airflow's classes).

A fully qualified target in this package that does not exist (a renamed class, a typo) is logged as a
warning, which fails ``mkdocs build --strict``: references in docstrings cannot silently rot.

Enabled in ``mkdocs.yml`` (``plugins.mkdocstrings.handlers.python.options.extensions``).
"""

from __future__ import annotations

import html
import re
from functools import partial
from typing import Any

import griffe

PACKAGE = "airflow_provider_expertsender"
ROLE = re.compile(r":(?:py:)?(?P<role>class|func|meth|mod|attr|exc|data|obj|const):`(?P<body>[^`]+)`")


class RstRoles(griffe.Extension):
    """Rewrite ``:role:`target``` in every docstring of the package (see the module docstring)."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        if pkg.path != PACKAGE:
            return
        for obj in _walk(pkg):
            docstring = obj.docstring
            if docstring is not None and ":" in docstring.value:
                docstring.value = ROLE.sub(partial(_replace, obj=obj, pkg=pkg), docstring.value)


def _walk(obj: griffe.Object) -> Any:
    yield obj
    for member in obj.members.values():
        if not member.is_alias:
            yield from _walk(member)  # type: ignore[arg-type]


def _replace(match: re.Match[str], *, obj: griffe.Object, pkg: griffe.Module) -> str:
    body = match["body"].strip()
    short = body.startswith("~")
    target = body.lstrip("~").removesuffix("()")
    title = target.rsplit(".", 1)[-1] if short else target
    code = f"<code>{html.escape(title)}</code>"
    full = _resolve(target, obj, pkg)
    if full is None:
        if target.startswith(PACKAGE + "."):
            griffe.logger.warning(f"{obj.path}: docstring refers to {target}, which does not exist")
        return code
    return f'<autoref identifier="{html.escape(full)}" optional>{code}</autoref>'


def _resolve(target: str, obj: griffe.Object, pkg: griffe.Module) -> str | None:
    """The full path of ``target`` seen from ``obj``, if it names an object of the package."""
    if target.startswith(PACKAGE + ".") or target == PACKAGE:
        return target if _exists(target, pkg) else None
    if target.startswith("."):  # relative module: ``.orders`` from a package's docstring
        base = obj if obj.is_module else obj.module
        candidate = base.path + target if base.is_package else base.path.rsplit(".", 1)[0] + target
        return candidate if _exists(candidate, pkg) else None
    head, _, rest = target.partition(".")
    scope: griffe.Object | None = obj
    while scope is not None:
        try:
            full = scope.resolve(head)
        except (griffe.NameResolutionError, AttributeError, KeyError):
            scope = scope.parent
            continue
        candidate = f"{full}.{rest}" if rest else full
        return candidate if candidate.startswith(PACKAGE) and _exists(candidate, pkg) else None
    return None


def _exists(path: str, pkg: griffe.Module) -> bool:
    if path == pkg.path:
        return True
    try:
        pkg[path[len(pkg.path) + 1 :]]
    except (KeyError, griffe.AliasResolutionError, griffe.CyclicAliasError):
        return False
    return True
