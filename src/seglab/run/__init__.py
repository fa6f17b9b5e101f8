"""What a run is and how it lives, shared by the command lines (``train``, ``evaluate``,
``predict``), which never import each other: building objects from config
(``run.build``), restoring a network from a checkpoint (``run.restore``)."""
