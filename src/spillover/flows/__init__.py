"""jobflow Flows, one module per analysis; they know nothing of where they run."""
