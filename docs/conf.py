"""Sphinx configuration of the skrpf documentation.

Build with warnings as errors, from the repository root::

    sphinx-build -W --keep-going -b html docs docs/_build/html

The build runs every ``examples/plot_*.py`` (sphinx-gallery); add
``-D plot_gallery=0`` to skip running them while editing text.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
import urllib.request
from pathlib import Path

import torch

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent))  # document the working tree, installed or not

import skrpf  # noqa: E402

# The examples train tiny networks, for which a second intra-op thread only
# adds synchronisation; on a busy machine the spinning threads made the
# gallery ten times slower.
torch.set_num_threads(1)

project = "skrpf"
author = "skrpf developers"
copyright = "skrpf developers"
release = skrpf.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py", "**.zip", "**.md5"]
root_doc = "index"
default_role = "literal"

# -- autodoc / autosummary / numpydoc ----------------------------------------
autosummary_generate = True
autodoc_default_options = {"members": True}
autodoc_typehints = "none"  # the numpydoc sections already give the types
# Methods are documented on the class pages by the autosummary template, so
# numpydoc's own member tables would only duplicate them.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

# -- sphinx-gallery -----------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": str(DOCS.parent / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "matplotlib_animations": False,
    "doc_module": ("skrpf",),
    "backreferences_dir": "gen_modules/backreferences",
}

# -- HTML -----------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"skrpf {release}"
html_theme_options = {"navigation_with_keys": False, "show_toc_level": 2}
html_static_path: list[str] = []

# -- intersphinx, only for inventories that can be fetched now ---------------
# An inventory that cannot be fetched makes Sphinx log an untyped warning,
# which -W turns into a failed build, and the build machines may be offline.
# So each inventory is downloaded here first, with a short timeout, into a
# cache next to the build; only those that arrived are used (from the local
# copy). Offline, cross-references to these projects render as plain text.
# SKRPF_DOCS_INTERSPHINX=0 skips the downloads altogether.
_INVENTORIES = {
    "python": "https://docs.python.org/3",
    "numpy": "https://numpy.org/doc/stable",
    "sklearn": "https://scikit-learn.org/stable",
    "skorch": "https://skorch.readthedocs.io/en/stable",
    "torch": "https://docs.pytorch.org/docs/stable",
}


def _fetch_inventories() -> dict:
    if os.environ.get("SKRPF_DOCS_INTERSPHINX", "1") == "0":
        return {}
    cache = DOCS / "_build" / "intersphinx"
    cache.mkdir(parents=True, exist_ok=True)
    mapping = {}
    for name, url in _INVENTORIES.items():
        local = cache / f"{name}.inv"
        if not local.exists():
            try:
                with urllib.request.urlopen(f"{url}/objects.inv", timeout=3) as response:
                    local.write_bytes(response.read())
            except OSError:
                continue
        mapping[name] = (url, str(local))
    return mapping


intersphinx_mapping = _fetch_inventories()


# -- every public name is in the API reference -------------------------------
def _public_modules() -> list[str]:
    """``skrpf`` and its submodules whose names do not start with an underscore."""
    return ["skrpf"] + [
        f"skrpf.{m.name}" for m in pkgutil.iter_modules(skrpf.__path__) if not m.name.startswith("_")
    ]


def _documented_objects() -> set[int]:
    """Identities of the objects that api.rst lists in its autosummary tables."""
    text = (DOCS / "api.rst").read_text()
    found = set()
    module = "skrpf"
    in_table = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(".. currentmodule::"):
            module = stripped.split("::", 1)[1].strip()
        elif stripped.startswith(".. autosummary::"):
            in_table = True
        elif in_table and stripped and not stripped.startswith(":") and line.startswith("   "):
            found.add(id(getattr(importlib.import_module(module), stripped)))
        elif stripped and not line.startswith(" "):
            in_table = False
    return found


def _check_api_reference(app) -> None:
    """Warn, an error under -W, for every public name that api.rst does not list."""
    from sphinx.util import logging

    documented = _documented_objects()
    for module_name in _public_modules():
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", []):
            # A re-exported object counts as documented under any of its names.
            if not name.startswith("__") and id(getattr(module, name)) not in documented:
                logging.getLogger(__name__).warning(
                    f"public name {module_name}.{name} is missing from the tables of docs/api.rst"
                )


def _skip_metadata_request_methods(app, what, name, obj, skip, options):
    # scikit-learn generates set_fit_request and friends on every estimator;
    # their docstrings belong to sklearn and point into its glossary.
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def setup(app):
    app.connect("builder-inited", _check_api_reference)
    app.connect("autodoc-skip-member", _skip_metadata_request_methods)
