"""Benchmarks: each module measures one area and returns `BenchFigure`s; `upbit-llm bench` prints them all."""
