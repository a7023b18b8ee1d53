"""The web dashboard: market overview, summaries, anomaly feed and coin charts over the analytics layer.

`dashboard.app.build_app(settings)` builds the FastAPI application; `upbit-llm web` serves it with uvicorn.
"""
