"""Streaming: the bus interface (Kafka or in-process), the worker loop and the load producer."""
