"""What ``seglab-report`` computes from a sweep's folders, so that its entry point
(``seglab.cli.report``) is only the command line:

* ``jobs``: ``Job`` and reading a sweep's job folders (metrics, run record, network size);
* ``cells``: jobs grouped by seed into cells (``Cell``), ``Stat`` over seeds, the machine check;
* ``stats``: differences with t-based intervals, verdicts, seeds for 80% power;
* ``replication``: the papers' questions (``published.yaml``) answered by the cells;
* ``baseline``: each model's mean against an earlier sweep's (``--baseline``);
* ``tables``: ``report.md``'s markdown;
* ``plots``: the figures (matplotlib);
* ``wandb_report``: the tables and figures as one W&B run.
"""
