"""Benchmarks of ctrlplane side by side with what users would otherwise run (issue 17).

``python -m bench`` (or ``bash bench/run.sh``, which installs what the benchmarks need
first) runs B1-B8 in one process: within each benchmark the contenders take turns
(A B A B ...), each is repeated, and every figure is reported as median, min and max.
Ratios are printed against the goals of the issue's table and everything is written as
JSON (``--json PATH``). ``--quick`` runs tiny sizes once (the smoke test uses it).

Every object a benchmark creates carries the run's label (``ctrlplane-bench.run``) or
belongs to an instance the run minted, and is removed when the benchmark ends, when it
fails and when the run is interrupted (Ctrl-C, SIGTERM); a final sweep by label removes
whatever a killed child process left. See docs/performance.md for what each benchmark
measures and the latest numbers.
"""
