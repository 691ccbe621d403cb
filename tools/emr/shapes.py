"""Check a request against botocore's service model, more strictly than botocore does.

botocore's own validation (what boto3 runs before sending) checks required members, types and
minimum lengths; the service also rejects values outside an enum, over a maximum length or
not matching a member's pattern. `problems` adds those three, so `make emr-artifacts` refuses
to write a document the API would refuse, and the tests use the same check.
"""

from __future__ import annotations

import re
from typing import Any

import botocore.session
from botocore.exceptions import ParamValidationError
from botocore.model import Shape
from botocore.validate import validate_parameters

_SESSION = botocore.session.get_session()


def input_shape(service: str, operation: str) -> Shape:
    return _SESSION.get_service_model(service).operation_model(operation).input_shape


def _walk(shape: Shape, value: Any, path: str, found: list[str]) -> None:
    if shape.type_name == "structure" and isinstance(value, dict):
        for name, item in value.items():
            if name in shape.members:
                _walk(shape.members[name], item, f"{path}.{name}", found)
    elif shape.type_name == "list" and isinstance(value, list):
        for index, item in enumerate(value):
            _walk(shape.member, item, f"{path}[{index}]", found)
    elif shape.type_name == "map" and isinstance(value, dict):
        for key, item in value.items():
            _walk(shape.key, key, f"{path} key {key!r}", found)
            _walk(shape.value, item, f"{path}[{key!r}]", found)
    elif shape.type_name == "string" and isinstance(value, str):
        enum = shape.metadata.get("enum")
        if enum and value not in enum:
            found.append(f"{path}: {value!r} is not one of {', '.join(enum)}")
        if "max" in shape.metadata and len(value) > shape.metadata["max"]:
            found.append(f"{path}: longer than {shape.metadata['max']}")
        pattern = shape.metadata.get("pattern")
        if pattern:
            try:
                compiled = re.compile(pattern)
            except re.error:  # an ECMA construct Python lacks: the service checks it, we cannot
                return
            # Smithy patterns are not anchored: a match anywhere counts, as the service does.
            if not compiled.search(value):
                found.append(f"{path}: {value!r} does not match {pattern}")
    elif shape.type_name in ("integer", "long") and isinstance(value, int) and value > shape.metadata.get("max", value):
        found.append(f"{path}: above {shape.metadata['max']}")


def problems(service: str, operation: str, params: dict[str, Any]) -> list[str]:
    """Everything the service's model says is wrong with `params` (empty when it is valid)."""
    shape = input_shape(service, operation)
    found: list[str] = []
    try:
        validate_parameters(params, shape)
    except ParamValidationError as exc:
        found += [line.strip() for line in str(exc).splitlines()[1:] if line.strip()]
    _walk(shape, params, operation, found)
    return found


def require_valid(service: str, operation: str, params: dict[str, Any], what: str) -> None:
    """Raise ValueError naming the document and the first problems."""
    found = problems(service, operation, params)
    if found:
        raise ValueError(f"{what} is not a valid {service} {operation} request: {'; '.join(found[:3])}")
