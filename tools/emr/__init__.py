"""Delivering the jobs to Amazon EMR 7.x (on EC2 and Serverless).

- `registry`: the one list of jobs and pipelines; a new job is one entry there.
- `launch`: pure functions from the registry to EMR on EC2 and Step Functions documents.
- `serverless`: the same for EMR Serverless (application, job runs, state machines).
- `shapes`: requests checked against botocore's service models (enums and patterns too).
- `wheels`: the cluster wheels `make lock` resolves and `make wheelhouse` downloads.
- `aws`: the boto3 edge (upload the artifact, start a cluster, submit a step or a job run and wait).
- `python -m tools.emr --help`: the command line behind `make emr-artifacts/deploy/cluster/submit/submit-serverless`.
"""
