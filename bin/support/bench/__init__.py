"""`bin/bench`: Kiln's benchmarks (not part of the test suite). One module per benchmark, a
runner that prints a table and writes JSON. See README "Performance"."""
