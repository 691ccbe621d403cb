"""Storage failures as one line: what went wrong talking to S3 (or any Hadoop FileSystem).

Hadoop's S3A connector turns S3 errors into Java exceptions whose messages run to several
lines with request ids; a user needs the cause: no such bucket, no permission, no answer.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from common.errors import JobError

# Java exceptions (simple class names) that mean the storage endpoint did not answer.
_UNREACHABLE = frozenset(
    {
        "ConnectException",
        "HttpHostConnectException",
        "ConnectTimeoutException",
        "SocketTimeoutException",
        "UnknownHostException",
        "NoRouteToHostException",
    }
)
_S3_ERROR_CODE = re.compile(r"Error Code: ([A-Za-z]+);")


def _java_causes(exc: BaseException) -> list[tuple[str, str]]:
    """(simple class name, message) of the Java exception behind `exc` and all its causes.

    Py4J hands back `Py4JJavaError.java_exception`; PySpark's converted exceptions keep the
    Java original in `_origin`. Anything else has no Java side and gives [].
    """
    throwable = getattr(exc, "java_exception", None) or getattr(exc, "_origin", None)
    chain: list[tuple[str, str]] = []
    while throwable is not None and len(chain) < 20:
        chain.append((str(throwable.getClass().getSimpleName()), str(throwable.getMessage() or "")))
        throwable = throwable.getCause()
    return chain


def storage_problem(exc: BaseException, path: str) -> str | None:
    """What went wrong talking to the storage behind `path`, in a few words; None if `exc` is
    not a storage failure we recognise (the caller re-raises it untouched).

    Hadoop's S3A connector turns S3 errors into Java exceptions whose messages run to several
    lines with request ids; a user needs the cause: no such bucket, no permission, no answer.
    """
    chain = _java_causes(exc)
    names = [name for name, _ in chain]
    messages = " ".join(message for _, message in chain)
    bucket = urlsplit(path).netloc
    if "UnknownStoreException" in names or "Error Code: NoSuchBucket" in messages:
        return f"bucket {bucket!r} does not exist" if bucket else "the bucket does not exist"
    if "AccessDeniedException" in names or "Status Code: 403" in messages:
        codes = [code for code in _S3_ERROR_CODE.findall(messages) if code != "FORBIDDEN"]
        detail = f" ({codes[-1]})" if codes else ""
        return f"access denied{detail}: check the AWS credentials and the bucket policy"
    unreachable = next((message for name, message in chain if name in _UNREACHABLE), None)
    if unreachable is not None:
        first_line = unreachable.splitlines()[0] if unreachable.strip() else "no answer"
        return f"storage endpoint did not answer: {first_line}"
    if "FileNotFoundException" in names:
        return "not found"
    return None


@contextmanager
def storage_errors(path: str, action: str, error: type[JobError] = JobError) -> Iterator[None]:
    """Turn a storage failure inside the block into one line: `cannot <action> <path>: <problem>`."""
    try:
        yield
    except Exception as exc:
        problem = storage_problem(exc, path)
        if problem is None:
            raise
        raise error(f"cannot {action} {path}: {problem}") from None
