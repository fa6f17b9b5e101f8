"""What a run reports and where: metric names (``names``), Weights & Biases
(``wandb_run``: logger, dashboard, finish), the CSV logger (``csv``) and the callbacks
that report (``callbacks``: throughput, epoch summary, phase times). What loggers record
of a run's config is ``seglab.run.hparams``."""
