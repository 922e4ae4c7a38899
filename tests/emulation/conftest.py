"""Fixtures shared by the emulation tests: the graph zoo converted and compiled once."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.zoo import GRAPH_ZOO, build_graph, graph_config
from triginfer.hls_export import convert


@pytest.fixture(scope="session")
def graph_zoo(tmp_path_factory):
    """name -> (model, firmware) or (None, exception), all C simulations compiled."""
    root = tmp_path_factory.mktemp("graph_zoo")
    built = {}
    for entry in GRAPH_ZOO:
        try:
            model = build_graph(entry)
            firmware = convert(model, root / entry.name, io_type=entry.io_type,
                               hls_config=graph_config(model, entry), bit_exact=entry.bit_exact)
            built[entry.name] = (model, firmware)
        except Exception as exc:  # reported by the entry's own test
            built[entry.name] = (None, exc)

    def compile_one(item):
        _, firmware = item
        if not isinstance(firmware, Exception):
            firmware.compile()

    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        list(pool.map(compile_one, built.values()))
    return built
