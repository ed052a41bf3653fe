"""Shared pure logic for the gtpipe Lambda functions.

Every module here is importable without AWS access (the few boto3 helpers live in ``aws.py``), so the
unit tests run them directly. Lambda packages this folder next to each function folder.
"""
