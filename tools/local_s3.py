"""A real S3 API on loopback (moto's server) for the test suite and `make run S3=1`.

    python -m tools.local_s3 --root data

starts the server on a free 127.0.0.1 port, uploads each sample folder `make run` generates
(`<root>/input/<dataset>/`) spread over one folder per day
(`s3://spark-jobs-local/input/<dataset>/2026/11/<dd>/part-*`), runs every registered job as a
user would (`python -m jobs.<job>` with the registry's arguments for the root
`s3://spark-jobs-local`, and `AWS_ENDPOINT_URL_S3` pointing at the server) reading `s3://` and
writing every table, model and run report to `s3://` (batch scoring uses the model training
wrote there), prints what landed, and stops the server, also when a job fails or the user
presses Ctrl-C.

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
from pathlib import Path
from typing import Any

import boto3

from tools import demo
from tools.emr import registry

DEFAULT_BUCKET = "spark-jobs-local"
# Dummy credentials: moto accepts any key unless told to enforce authentication.
LOCAL_ACCESS_KEY = "local-access-key"
LOCAL_SECRET_KEY = "local-secret-key"  # a placeholder: moto accepts any key
LOCAL_REGION = "us-east-1"


def self_signed_certificate(folder: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A certificate for `host` (an IP address SAN) and its key, PEM, written into `folder`: what
    a TLS server on loopback needs, and what its clients must be told to trust."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


class LocalS3:
    """moto's S3 server in a background thread of this process, bound to 127.0.0.1 only.

    With `tls_dir` it speaks HTTPS with a self-signed certificate written there
    (`certificate`): the AWS SDK for Java v1 (S3A 3.3.x) sends SSE-KMS requests only over HTTPS,
    so encryption is tested this way; clients trust the certificate (`client`, AWS_CA_BUNDLE,
    a JVM truststore from `java_truststore`).
    """

    def __init__(
        self,
        access_key: str = LOCAL_ACCESS_KEY,
        secret_key: str = LOCAL_SECRET_KEY,
        region: str = LOCAL_REGION,
        tls_dir: Path | None = None,
    ) -> None:
        self.access_key, self.secret_key, self.region = access_key, secret_key, region
        self.tls_dir = tls_dir
        self.certificate: Path | None = None
        self._server: Any = None
        self.endpoint = ""

    def start(self) -> LocalS3:
        from moto.server import ThreadedMotoServer  # heavy import: only when a server is wanted

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
        if self.tls_dir is None:
            self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        else:
            self.certificate, key = self_signed_certificate(self.tls_dir)
            self._server = _tls_server(self.certificate, key)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"{'https' if self.tls_dir else 'http'}://{host}:{port}"
        return self

    def java_truststore(self, java_home: Path) -> tuple[Path, str]:
        """A PKCS12 truststore holding the server's certificate (keytool makes the entry one the
        JVM trusts), and its password: `-Djavax.net.ssl.trustStore=...` for a JVM client."""
        if self.certificate is None or self.tls_dir is None:
            raise ValueError("a truststore needs a server started with tls_dir")
        store, password = self.tls_dir / "truststore.p12", "local-s3"
        store.unlink(missing_ok=True)
        keytool = [str(java_home / "bin" / "keytool"), "-importcert", "-noprompt", "-alias", "local-s3"]
        keytool += ["-file", str(self.certificate), "-keystore", str(store), "-storetype", "PKCS12"]
        subprocess.run([*keytool, "-storepass", password], check=True, capture_output=True)
        return store, password

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
            verify=str(self.certificate) if self.certificate else None,
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


def _tls_server(certificate: Path, key: Path) -> Any:
    """moto's threaded server, serving HTTPS: its own entry with werkzeug's `ssl_context`."""
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    class TlsMotoServer(ThreadedMotoServer):
        def _server_entry(self) -> None:
            app = DomainDispatcherApplication(create_backend_app)
            self._server = make_server(
                self._ip_address,
                self._port,
                app,
                True,
                request_handler=MotoRequestHandler,
                ssl_context=(str(certificate), str(key)),
            )
            self._server_ready_event.set()
            self._server.serve_forever()

    return TlsMotoServer(ip_address="127.0.0.1", port=0, verbose=False)


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


INPUT_PREFIX = "{root}/input/"


def upload_sample(s3: LocalS3, bucket: str, folder: Path, pieces: int) -> int:
    """Upload a sample folder's files spread over day folders under input/<folder name>/2026/11/;
    returns how many objects (0: the folder holds no sample file)."""
    files = sorted(path for path in folder.glob("part-*") if path.is_file())
    if not files:
        return 0
    keys = s3.upload_spread(files, bucket, f"input/{folder.name}/2026/11", pieces)
    print(f"uploaded {len(keys)} objects: s3://{bucket}/input/{folder.name}/")
    return len(keys)


def run_demo(sample_root: Path, bucket: str, pieces: int) -> int:
    """Every registered job on s3://<bucket>, its inputs uploaded from `sample_root`/input/."""
    root = f"s3://{bucket}"
    jobs = registry.in_run_order(registry.present())
    log = demo.new_log(sample_root, "-s3")
    with LocalS3() as s3:
        print(f"local S3 (moto) at {s3.endpoint}, bucket {root}; Spark's and the jobs' own output go to {log}")
        s3.create_bucket(bucket)
        env = {**os.environ, **s3.environment()}
        for number, job in enumerate(jobs, start=1):
            arguments = [*job.invocation(root=root), "--dashboard"]  # the page is written to S3 too
            print(f"\n[{number}/{len(jobs)}] {job.name} {' '.join(arguments)}", flush=True)
            datasets = [path[len(INPUT_PREFIX) :] for _, path in job.inputs if path.startswith(INPUT_PREFIX)]
            missing = [name for name in datasets if not upload_sample(s3, bucket, sample_root / "input" / name, pieces)]
            if missing:
                print(f"local_s3: error: no sample files in {sample_root}/input/{', '.join(missing)}", file=sys.stderr)
                return 1
            run = demo.run_logged(job, arguments, log, env)
            if run.code != 0:
                demo.print_failure(job, run, log)
                return run.code
            output = job.output[1].format(root=root)
            prefix = output[len(root) + 1 :] + "/"
            objects = s3.objects(bucket, prefix)
            demo.print_job(run, json.loads(objects[f"{prefix}run_report.json"]), output)
            folders: dict[str, list[int]] = {}
            for key, body in objects.items():
                folder = key[len(prefix) :].split("/")
                if len(folder) > 1:  # <output>/<folder>/...; the report sits beside the folders
                    folders.setdefault(folder[0], []).append(len(body))
            for folder, sizes in sorted(folders.items()):
                print(f"    {output}/{folder}: {len(sizes)} objects, {sum(sizes):,} bytes")
    print(f"local S3 stopped; log: {log}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="local_s3", description="Run the jobs against a local S3 server.")
    parser.add_argument("--root", type=Path, default=Path("data"), help="data root: samples under <root>/input/")
    parser.add_argument("--bucket", default=DEFAULT_BUCKET)
    parser.add_argument("--pieces", type=int, default=30, help="objects (day folders) per sample file")
    args = parser.parse_args(argv)
    try:
        return run_demo(args.root, args.bucket, args.pieces)
    except KeyboardInterrupt:
        print("local_s3: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
