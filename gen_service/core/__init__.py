"""Pure core: trace model, behaviours, scenarios, gates, scheduler math, prompt rendering.

Nothing in this package performs I/O or imports sqlalchemy, fastapi, httpx or redis. The trainer
reuses it offline.
"""
