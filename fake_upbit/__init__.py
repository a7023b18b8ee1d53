"""fake_upbit: a local Upbit-protocol server (WebSocket + REST catalog) and a deterministic market simulator."""
