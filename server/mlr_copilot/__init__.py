"""MLR-Copilot: a machine-learning research copilot for the editor and the terminal."""

__version__ = "0.1.0"
SERVER_NAME = "mlr-copilot"
