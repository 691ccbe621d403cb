"""A real S3 API on loopback (moto's server) for the test suite and `make run S3=1`.

    python -m tools.local_s3 --sample data/sample

starts the server on a free 127.0.0.1 port, uploads each sample folder `make run` generates
spread over one folder per day (`s3://spark-jobs-local/input/<folder>/2026/11/<dd>/part-*`),
runs every job as a user would (`python -m jobs.<job>`, with `AWS_ENDPOINT_URL_S3` pointing at
the server) reading `s3://` and writing every table, model and run report to `s3://` (batch
scoring uses the model training wrote there), prints what landed, and stops the server, also
when a job fails or the user presses Ctrl-C.

Moto speaks the S3 REST API (signatures, multipart uploads, listings, 403/404 errors) over
HTTP, so S3A does exactly the calls it would make to AWS; nothing reaches the network.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from tools.show_report import summarise

DEFAULT_BUCKET = "spark-jobs-local"
# Dummy credentials: moto accepts any key unless told to enforce authentication.
LOCAL_ACCESS_KEY = "local-access-key"
LOCAL_SECRET_KEY = "local-secret-key"  # a placeholder: moto accepts any key
LOCAL_REGION = "us-east-1"


class LocalS3:
    """moto's S3 server in a background thread of this process, bound to 127.0.0.1 only."""

    def __init__(
        self,
        access_key: str = LOCAL_ACCESS_KEY,
        secret_key: str = LOCAL_SECRET_KEY,
        region: str = LOCAL_REGION,
    ) -> None:
        self.access_key, self.secret_key, self.region = access_key, secret_key, region
        self._server: Any = None
        self.endpoint = ""

    def start(self) -> LocalS3:
        from moto.server import ThreadedMotoServer  # heavy import: only when a server is wanted

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> LocalS3:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def environment(self) -> dict[str, str]:
        """The AWS variables that point a job (its SDK chain and common/s3.py) at this server.

        AWS_EC2_METADATA_DISABLED keeps the SDK chain from ever probing the EC2 metadata
        address, which is not on loopback.
        """
        return {
            "AWS_ENDPOINT_URL_S3": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": self.region,
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def client(self) -> Any:
        """A boto3 S3 client for this server (explicit settings: the process env is not used)."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
        )

    def create_bucket(self, bucket: str) -> None:
        self.client().create_bucket(Bucket=bucket)

    def upload_spread(self, files: Sequence[Path], bucket: str, prefix: str, pieces: int) -> list[str]:
        """Upload each file cut into `pieces` runs of whole lines, piece k under `<prefix>/<k+1:02>/`,
        keeping the file's name: many small files, one folder per day, same lines in total.
        A `.csv` file's header starts every piece: each CSV file must have one (common/io.py)."""
        client, keys = self.client(), []
        for path in files:
            for index, chunk in enumerate(split_lines(path.read_bytes(), pieces, header=path.suffix == ".csv")):
                key = f"{prefix.strip('/')}/{index + 1:02d}/{path.name}"
                client.put_object(Bucket=bucket, Key=key, Body=chunk)
                keys.append(key)
        return keys

    def objects(self, bucket: str, prefix: str) -> dict[str, bytes]:
        """Every object under `prefix`, by key, with its content."""
        client, found = self.client(), {}
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                found[item["Key"]] = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        return found

    @contextmanager
    def enforcing_authentication(self) -> Iterator[None]:
        """Within the block the server checks every request's signature against its IAM users;
        it has none, so any credentials are rejected (403 InvalidAccessKeyId)."""
        self._reset_auth("0")
        try:
            yield
        finally:
            self._reset_auth("inf")

    def _reset_auth(self, initial_no_auth_action_count: str) -> None:
        request = urllib.request.Request(
            f"{self.endpoint}/moto-api/reset-auth",
            data=initial_no_auth_action_count.encode(),
            method="POST",
            headers={"Content-Type": "text/plain"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()


def split_lines(data: bytes, pieces: int, header: bool = False) -> list[bytes]:
    """Cut `data` into at most `pieces` non-empty runs of whole lines (split on b"\\n" only:
    blank and odd lines survive exactly, as Spark's line reader would see them). With `header`
    the first line (byte order mark and line ending included) starts every piece, so each piece
    is a whole CSV file and the data lines are still each in exactly one piece."""
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    lines = [line + b"\n" for line in lines]
    first, body = (lines[:1], lines[1:]) if header else ([], lines)
    size = max(1, -(-len(body) // max(1, pieces)))
    chunks = [b"".join(first + body[i : i + size]) for i in range(0, len(body), size)]
    return chunks or ([b"".join(first)] if first else [])


@dataclass(frozen=True)
class DemoJob:
    """One job of the S3 demo, as the Makefile's `run` calls it: its inputs (argument -> local
    sample folder) and other arguments, where `{root}` is s3://<bucket> (as in the EMR registry)."""

    job: str
    inputs: dict[str, Path]
    output_flag: str = "--output"
    arguments: tuple[str, ...] = ()


def demo_jobs(sample_root: Path) -> list[DemoJob]:
    """The jobs `make run S3=1` runs, in order (scoring needs the model trained before it)."""
    return [
        DemoJob("log_analytics", {"--input": sample_root / "logs"}),
        DemoJob(
            "transaction_etl",
            {"--transactions": sample_root / "transactions", "--profiles": sample_root / "profiles"},
            output_flag="--warehouse",
        ),
        DemoJob("customer_segmentation", {"--input": sample_root / "customers"}, arguments=("--k-range", "3-7")),
        DemoJob(
            "segment_customers",
            {"--input": sample_root / "new_customers"},
            arguments=("--model", "{root}/output/customer_segmentation/model"),
        ),
    ]


def upload_sample(s3: LocalS3, bucket: str, folder: Path, pieces: int) -> str | None:
    """Upload a sample folder's files spread over day folders under input/<folder name>/2026/11/;
    returns the glob that reads them, or None when the folder holds no sample file."""
    files = sorted(path for path in folder.glob("part-*") if path.is_file())
    if not files:
        return None
    prefix = f"input/{folder.name}/2026/11"
    keys = s3.upload_spread(files, bucket, prefix, pieces)
    source = f"s3://{bucket}/{prefix}/*/*{files[0].suffix}"
    print(f"uploaded {len(keys)} objects: {source}")
    return source


def run_demo(sample_root: Path, bucket: str, pieces: int) -> int:
    with LocalS3() as s3:
        print(f"local S3 (moto) at {s3.endpoint}, bucket s3://{bucket}")
        s3.create_bucket(bucket)
        env = {**os.environ, **s3.environment()}
        for demo in demo_jobs(sample_root):
            sources = {flag: upload_sample(s3, bucket, folder, pieces) for flag, folder in demo.inputs.items()}
            missing = [str(demo.inputs[flag]) for flag, source in sources.items() if source is None]
            if missing:
                print(f"local_s3: error: no sample files in {', '.join(missing)}", file=sys.stderr)
                return 1
            output = f"s3://{bucket}/output/{demo.job}"
            arguments = [
                *(text for pair in sources.items() for text in pair),
                *(demo.output_flag, output),
                *(argument.format(root=f"s3://{bucket}") for argument in demo.arguments),
            ]
            print(f"running {demo.job} {' '.join(arguments)}")
            code = subprocess.run([sys.executable, "-m", f"jobs.{demo.job}", *arguments], env=env, check=False)
            if code.returncode != 0:
                return code.returncode
            objects = s3.objects(bucket, f"output/{demo.job}/")
            report = json.loads(objects[f"output/{demo.job}/run_report.json"])
            print(summarise(report))
            print(f"  report: {output}/run_report.json")
            folders: dict[str, list[int]] = {}
            for key, body in objects.items():
                parts = key.split("/")
                if len(parts) > 3:  # output/<job>/<folder>/...; the report sits beside the folders
                    folders.setdefault(parts[2], []).append(len(body))
            for folder, sizes in sorted(folders.items()):
                print(f"    {output}/{folder}: {len(sizes)} objects, {sum(sizes):,} bytes")
    print("local S3 stopped")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="local_s3", description="Run the jobs against a local S3 server.")
    parser.add_argument("--sample", type=Path, default=Path("data/sample"), help="root of the generated sample data")
    parser.add_argument("--bucket", default=DEFAULT_BUCKET)
    parser.add_argument("--pieces", type=int, default=30, help="objects (day folders) per sample file")
    args = parser.parse_args(argv)
    try:
        return run_demo(args.sample, args.bucket, args.pieces)
    except KeyboardInterrupt:
        print("local_s3: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
