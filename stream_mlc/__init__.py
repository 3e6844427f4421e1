"""stream-mlc: streaming, online multi-label classification on Kafka."""

__version__ = "0.1.0"
