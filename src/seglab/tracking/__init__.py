"""What a run reports and where: metric names (``names``), Weights & Biases
(``wandb_run``: logger, config, dashboard, finish) and the CSV logger (``csv``)."""
