"""The package version, in a module of its own.

Modules inside the package that need the version (the model files written by
:mod:`skrpf.persistence` record it) import it from here, so that no module
imports the package's ``__init__``, which only re-exports.
"""

__version__ = "0.1.0"
