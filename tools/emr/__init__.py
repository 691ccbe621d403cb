"""Delivering the jobs to Amazon EMR 7.x.

- `registry`: the one list of jobs and pipelines; a new job is one entry there.
- `launch`: pure functions from the registry to EMR and Step Functions documents.
- `aws`: the boto3 edge (upload the artifact, start a cluster, submit a step and wait).
- `python -m tools.emr --help`: the command line behind `make emr-artifacts/deploy/cluster/submit`.
"""
