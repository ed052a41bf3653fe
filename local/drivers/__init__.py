"""The local cloud's drivers: what starts it, feeds it and follows it from outside, as a user would.

The emulator (every other module of :mod:`local`) never imports these, nor :mod:`gtpipe_cli`; the
drivers reuse the CLI's client parts (``gtpipe_cli.api``, ``.progress``, ``.report``, ``.local_answers``).
``tests/test_import_direction.py`` holds both rules.

- :mod:`local.drivers.cli` -- ``python -m local.cli up|down|status|serve`` (``make local-up``): the cloud
  as a background daemon.
- :mod:`local.drivers.demo` -- ``python -m local.demo`` (``make demo``): the whole pipeline on a laptop;
  :mod:`local.drivers.demo_tasks` its two task types (data, configuration, scoring).
- :mod:`local.drivers.client` -- the outputs file, boto3 clients and the HTTPS prediction API of a running
  cloud.
- :mod:`local.drivers.runs` -- following runs through the runs ledger and Step Functions.

``local/cli.py`` and ``local/demo.py`` only keep the ``python -m`` commands' names.
"""
