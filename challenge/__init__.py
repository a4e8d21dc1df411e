"""The RNN challenge kit: datasets, training, student modules and the `challenge` CLI."""

__version__ = "0.1.0"
