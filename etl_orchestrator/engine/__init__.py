"""The engine: dispatching runs under the global cap, and arq workers that run attempts."""
