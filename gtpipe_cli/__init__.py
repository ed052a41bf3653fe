"""``gtpipe``: the command-line tool of a deployed gtpipe pipeline (AWS) or of the embedded local cloud.

Modules:

- :mod:`gtpipe_cli.main` -- argument parsing, the commands, exit codes (``gtpipe --help``).
- :mod:`gtpipe_cli.target` -- where the pipeline is: CloudFormation stack outputs (AWS) or
  ``.local/outputs.json`` (``--local``), and boto3 clients for it.
- :mod:`gtpipe_cli.progress` -- following a run through the runs ledger and Step Functions.
- :mod:`gtpipe_cli.api` -- the HTTPS prediction API client (SigV4 or API key).
- :mod:`gtpipe_cli.submit`, :mod:`gtpipe_cli.ledger`, :mod:`gtpipe_cli.report`, :mod:`gtpipe_cli.display`,
  :mod:`gtpipe_cli.predict_command` -- what the commands do.

Only boto3/botocore are needed at run time; nothing here imports the local cloud.
"""
