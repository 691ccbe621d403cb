"""Files on local paths and s3:// URIs alike, through Hadoop's FileSystem: existence, listing,
small text files, deletion. Failures talking to storage end as one line (`storage_errors`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pyspark.sql import Column, SparkSession
from pyspark.sql import functions as F

from common.errors import InputError
from common.storage_errors import storage_errors


def _filesystem(spark: SparkSession, path: str):
    """The Hadoop FileSystem serving `path` (local, S3A or EMRFS) and the path as a JVM object."""
    jvm = spark.sparkContext._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    return hadoop_path.getFileSystem(conf), hadoop_path


def _is_visible(name: str) -> bool:
    """Spark skips files starting with '_' or '.' (markers, checksums); so do our checks."""
    return not name.startswith(("_", "."))


def require_input(spark: SparkSession, path: str) -> None:
    """Fail with one line unless `path` (file, directory or glob) names at least one data file.

    This is the first touch of the storage, so a missing bucket, refused credentials or a dead
    endpoint surface here, as one line, before Spark plans anything.
    """
    with storage_errors(path, "read", InputError):
        fs, hadoop_path = _filesystem(spark, path)
        matches = fs.globStatus(hadoop_path)
        if matches is None or len(matches) == 0:
            raise InputError(f"input path not found: {path}")
        for status in matches:
            if status.isFile():
                return
            files = fs.listFiles(status.getPath(), True)
            while files.hasNext():
                file_status = files.next()
                if _is_visible(file_status.getPath().getName()):
                    return
    raise InputError(f"no input files under {path}")


@dataclass(frozen=True)
class FileStatus:
    """A data file as storage lists it: its path (what readers are given), its URI (as Spark's
    `_metadata.file_path` spells it: escaped), size in bytes and modification time in
    milliseconds since the epoch."""

    path: str
    uri: str
    size: int
    modified_ms: int


def input_file_statuses(spark: SparkSession, path: str) -> list[FileStatus]:
    """The data files Spark reads for `path` (file, directory or glob; directories recursively),
    skipping files and folders whose name starts with '_' or '.' as Spark does; sorted by URI."""
    require_input(spark, path)
    fs, hadoop_path = _filesystem(spark, path)
    files: list[FileStatus] = []
    pending = list(fs.globStatus(hadoop_path))
    while pending:
        status = pending.pop()
        if status.isFile():
            found = status.getPath()
            files.append(
                FileStatus(
                    str(found.toString()),
                    str(found.toUri().toString()),
                    int(status.getLen()),
                    int(status.getModificationTime()),
                )
            )
            continue
        pending.extend(child for child in fs.listStatus(status.getPath()) if _is_visible(child.getPath().getName()))
    return sorted(files, key=lambda f: f.path)


def input_files(spark: SparkSession, path: str) -> list[str]:
    """The paths of `input_file_statuses`."""
    return [status.path for status in input_file_statuses(spark, path)]


# One object, several spellings: S3A's and the old S3N's schemes name the same S3 object as
# s3:// (EMRFS), and a local file is `file:/x` or `file:///x`.
_SCHEME_SPELLINGS = ((re.compile(r"^s3[an]://"), "s3://"), (re.compile(r"^file:///"), "file:/"))


def canonical_uri(uri: str) -> str:
    """One spelling per stored object (`s3a://b/k` -> `s3://b/k`), so a ledger of files
    recognises a file however the run that loaded it named it."""
    for pattern, replacement in _SCHEME_SPELLINGS:
        uri = pattern.sub(replacement, uri)
    return uri


def canonical_uri_column(uri: Column) -> Column:
    """`canonical_uri` as a Spark column expression."""
    for pattern, replacement in _SCHEME_SPELLINGS:
        uri = F.regexp_replace(uri, pattern.pattern, replacement)
    return uri


def first_line(spark: SparkSession, path: str) -> str | None:
    """The first line of a text file (decompressed like Spark would), or None when it is empty."""
    lines = head_lines(spark, path, 1)
    return lines[0] if lines else None


def head_lines(spark: SparkSession, path: str, most: int, prefix: str | None = None) -> list[str]:
    """The first lines of a text file (decompressed like Spark would): at most `most`, and,
    given a `prefix`, only as long as they start with it (a file's header lines)."""
    jvm = spark.sparkContext._jvm
    fs, hadoop_path = _filesystem(spark, path)
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    codec = jvm.org.apache.hadoop.io.compress.CompressionCodecFactory(conf).getCodec(hadoop_path)
    stream = fs.open(hadoop_path)
    if codec is not None:
        stream = codec.createInputStream(stream)
    reader = jvm.java.io.BufferedReader(jvm.java.io.InputStreamReader(stream, "UTF-8"))
    lines: list[str] = []
    try:
        while len(lines) < most:
            line = reader.readLine()
            if line is None or (prefix is not None and not line.startswith(prefix)):
                break
            lines.append(line)
    finally:
        reader.close()
    return lines


def write_text(spark: SparkSession, path: str, text: str) -> None:
    """Write a small text file (e.g. a run report) wherever Spark can write tables."""
    with storage_errors(path, "write"):
        fs, hadoop_path = _filesystem(spark, path)
        stream = fs.create(hadoop_path, True)
        try:
            stream.write(bytearray(text.encode("utf-8")))
        finally:
            stream.close()


def read_text(spark: SparkSession, path: str) -> str:
    """Read a small text file written by `write_text`."""
    with storage_errors(path, "read"):
        fs, hadoop_path = _filesystem(spark, path)
        stream = fs.open(hadoop_path)
        try:
            jvm = spark.sparkContext._jvm
            return jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8")
        finally:
            stream.close()


def path_exists(spark: SparkSession, path: str) -> bool:
    """Whether a file or folder exists at `path`."""
    fs, hadoop_path = _filesystem(spark, path)
    return bool(fs.exists(hadoop_path))


def delete_path(spark: SparkSession, path: str) -> None:
    """Remove a file or folder if present (used to retire a stale completion marker)."""
    with storage_errors(path, "write"):
        fs, hadoop_path = _filesystem(spark, path)
        if fs.exists(hadoop_path):
            fs.delete(hadoop_path, True)


def list_data_files(spark: SparkSession, path: str, suffix: str = "") -> list[tuple[str, int]]:
    """(URI, size in bytes) of every visible file under `path` ending with `suffix`, sorted.

    Markers such as `_SUCCESS` and checksums are left out, as Spark leaves them out.
    """
    fs, hadoop_path = _filesystem(spark, path)
    if not fs.exists(hadoop_path):
        return []
    found = []
    files = fs.listFiles(hadoop_path, True)
    while files.hasNext():
        status = files.next()
        name = status.getPath().getName()
        if _is_visible(name) and name.endswith(suffix):
            found.append((str(status.getPath().toString()), int(status.getLen())))
    return sorted(found)


def qualify(spark: SparkSession, path: str) -> str:
    """`path` as a full URI (`file:/abs/dir`, `s3://bucket/key`): some APIs, such as Delta's
    table builder, refuse a relative path."""
    fs, hadoop_path = _filesystem(spark, path)
    return str(fs.makeQualified(hadoop_path).toString())


def join_path(root: str, *parts: str) -> str:
    """Join URI or local path segments with '/', as Hadoop paths expect."""
    return "/".join([root.rstrip("/"), *parts])
