"""CLI commands of the analyses and of queue submission, each module with ``register(app, table_app, plot_app)``.

Modules here import heavy libraries inside the command functions only, so ``spillover --help`` stays instant.
"""
