"""What a run is and how it lives, shared by the command lines (which never import each
other): its life (``lifecycle``), its objects (``build``), its records (``records``), the
continue-from decision (``resume``), sweeps (``sweeps``), resolvers, config checks
(``validate``), stop signals (``signals``), DDP helpers (``ddp``), the cluster interface
(``cluster``), and evaluation / prediction from a checkpoint (``restore``,
``evaluation``, ``prediction``)."""
