"""Developer tools: throwaway servers for tests, benchmarks and local exploration.

Nothing here is used by a production deployment.
"""
