"""Benchmarks for syncer against skopeo on real ``docker-registry`` servers (issue #4).

Run everything with ``python -m bench`` (``python -m bench --help`` for the
flags); results go to ``bench/RESULTS.md``. Modules:

* :mod:`bench.run` — the command line and the order of scenarios;
* :mod:`bench.settings` — sizes of the full and ``--quick`` profiles, and every default;
* :mod:`bench.dataset`, :mod:`bench.blobpush` — the seeded source data set, pushed once and reused;
* :mod:`bench.servers`, :mod:`bench.netns` — registries, Redis, and shaped network-namespace hosts;
* :mod:`bench.procs`, :mod:`bench.accesslog` — timed processes, peak RSS, and request counts;
* :mod:`bench.tools` — the skopeo, ``syncer sync`` and ``syncer plan`` runs being compared;
* :mod:`bench.scenarios` — scenarios (a)–(f);
* :mod:`bench.report`, :mod:`bench.profiling` — medians, the results table, py-spy summaries.
"""
