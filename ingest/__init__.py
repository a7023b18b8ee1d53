"""Ingest: Upbit WebSocket → Kafka (producer) and Kafka → database (consumer), losslessly."""
