"""What a run is and how it lives, shared by the command lines (which never import each
other): config lookup and one-line errors (``config``), resolvers, config checks
(``validate``), its life (``lifecycle``), its objects (``build``), the callbacks that
steer it (``callbacks``), checkpoint files (``checkpoints``), its records (``records``,
``machine``), what loggers record of it (``hparams``), the continue-from decision
(``resume``), sweeps (``sweeps``), DDP helpers (``ddp``); evaluation, prediction and export
from a checkpoint (``restore``, ``evaluation``, ``prediction``, ``exporting``), CRF tuning
on held-out frames (``crf_tuning``) and the sbatch preview of a SLURM job
(``slurm_preview``). The stop signals and the cluster interface are ``seglab.cluster``."""
