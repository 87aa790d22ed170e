"""Benchmarks behind ``make bench``: each module measures one thing and returns plain figures."""
