"""Tools for seglab's contributors, not its users: the package layout's import rules
(``import_rules``: checked by ``tests/test_lint.py``, printed by
``scripts/import_graph.py``), the export parity check over every model config
(``export_parity``), two prediction folders compared (``compare_predictions``), FCN's
Caffe → torchvision learning-rate check (``fcn_lr_match``) and the benchmarks behind
``scripts/bench_*.py``. Nothing else in seglab imports this package."""
