"""gtpipe embedded local cloud: moto plus the extensions the pipeline needs."""
