"""Tools for seglab's contributors, not its users: the package layout's import rules
(checked by ``tests/test_lint.py``, printed by ``scripts/import_graph.py``)."""
