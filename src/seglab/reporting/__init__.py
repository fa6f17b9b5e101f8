"""What ``seglab-report`` computes beyond reading job folders: statistics over seeds,
the published effects beside ours, and the plots."""
