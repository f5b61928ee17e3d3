"""The ``syncer`` and ``image-syncer`` command lines.

Each module imports only those below it, never back up::

    main         the root parser, dispatch to a subcommand, ``main()``
    imagesyncer  the ``image-syncer`` drop-in: its exact flags, running ``sync``
    sync         ``syncer sync``: threads in this process
    fleet        ``syncer plan``, ``status``, ``cancel`` and ``worker``
    planview     following a plan: progress bars, report, exit code
    dryrun       ``sync --dry-run``: what would be copied
    interrupts   SIGINT and SIGTERM during a sync
    args         the flags sync, plan and image-syncer share, and what they build
    exits        exit codes, and ``run()``: one-line errors instead of tracebacks
    logfmt       where log lines go, and image-syncer's logrus format
"""
