"""Benchmarks for syncer against skopeo and image-syncer on real ``docker-registry`` servers
(issues #4 and #13).

Run everything with ``python -m bench`` (``python -m bench --help`` for the
flags); results go to ``bench/RESULTS.md``. Modules:

* :mod:`bench.run` — the command line and the order of scenarios;
* :mod:`bench.settings` — sizes of the full and ``--quick`` profiles, and every default;
* :mod:`bench.dataset`, :mod:`bench.blobpush` — the seeded source data set, pushed once and reused;
* :mod:`bench.servers`, :mod:`bench.netns` — registries, Redis, and shaped network-namespace hosts;
* :mod:`bench.procs`, :mod:`bench.accesslog` — timed processes, peak RSS, and request counts;
* :mod:`bench.cpuload`, :mod:`bench.cputree` — the machine's CPU, and the copier's own;
* :mod:`bench.tools`, :mod:`bench.imagesyncer`, :mod:`bench.configs` — the skopeo,
  ``syncer sync``, ``syncer plan`` and image-syncer runs being compared;
* :mod:`bench.scenarios`, :mod:`bench.shaped`, :mod:`bench.limits`, :mod:`bench.pertag`,
  :mod:`bench.verifycost` — scenarios (a)–(h) and (v);
* :mod:`bench.report`, :mod:`bench.profiling` — medians, the results table, py-spy summaries.
"""
