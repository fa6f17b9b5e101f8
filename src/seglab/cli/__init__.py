"""The console entry points (seglab-train, -eval, -predict, -export, -report, -data):
thin callers of seglab.run, seglab.reporting and seglab.data."""
