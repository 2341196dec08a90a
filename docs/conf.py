"""Sphinx configuration of the hypercl documentation."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))

project = "hypercl"
author = "the hypercl developers"
copyright = "2026, the hypercl developers"
release = "0.1.0"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "sphinxarg.ext",
]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
nitpicky = False
suppress_warnings = ["ref.python"]  # duplicate object descriptions across re-exporting modules

html_theme = "furo"
html_title = "hypercl"
exclude_patterns = ["_build"]
html_static_path = ["_static"]
