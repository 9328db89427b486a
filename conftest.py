"""Settings for the whole tree: modules whose optional dependency is absent are not collected.

``--doctest-modules`` imports every module of the package; ``skrpf.botorch``
needs ``botorch`` (the ``botorch`` extra), which a plain install lacks.
"""

import importlib.util

collect_ignore = [] if importlib.util.find_spec("botorch") else ["skrpf/botorch.py"]
