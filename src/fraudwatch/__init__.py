"""fraudwatch: real-time fraud detection and prevention for payment transactions."""

__version__ = "0.1.0"
