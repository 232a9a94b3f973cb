"""SSL Studio: self-supervised pretext tasks that turn unlabeled data into a model."""

__version__ = "0.1.0"

MODALITIES = ("image", "video", "timeseries", "text", "graph", "tabular")
