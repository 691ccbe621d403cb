"""Encryption at rest and in transit for the EMR documents: pure functions, no AWS calls.

`make emr-artifacts` either names an existing EMR security configuration
(`SECURITY_CONFIGURATION=name`, kept in a team's infrastructure code) or generates one from a KMS
key ARN (S3 and local disks) and a TLS certificate source (a zip of PEM files on S3, or a custom
provider class in a jar on S3). The generated one is written as `security-configuration.json`, a
CreateSecurityConfiguration request:

    aws emr create-security-configuration --cli-input-json file://dist/emr/security-configuration.json

Security configurations cannot be changed once created, so the name is a digest of the content:
a changed configuration is a new one and running clusters keep theirs.

emr-7.12.0 serves `s3://` with S3A, and AWS documents the security configuration's S3 section for
EMRFS; the cluster and the job runs therefore also set S3A's own properties
(`common.s3.s3a_encryption`), which is what does the work (docs/security-encryption.md).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from common.s3 import parse_kms_key_arn, s3a_encryption

NAME_PREFIX = "spark-jobs-"
JAVA_CLASS = re.compile(r"[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)+")
# What EMR takes as a name (CreateSecurityConfiguration: printable, one line); 64 to stay readable.
NAME_PATTERN = re.compile(r"[\w.+=@/ -]{1,64}")

# The security configuration's encryption part as the EMR Management Guide documents it
# ("Create a security configuration ... with the AWS CLI", "Providing certificates for in-transit
# data encryption"): member -> type, a nested structure, or a tuple of allowed values.
# `problems` checks a configuration against it field by field (a misspelt or misplaced member is
# refused, EMR would reject the create call).
STRUCTURE: dict[str, Any] = {
    "EncryptionConfiguration": {
        "EnableInTransitEncryption": bool,
        "EnableAtRestEncryption": bool,
        "InTransitEncryptionConfiguration": {
            "TLSCertificateConfiguration": {
                "CertificateProviderType": ("PEM", "Custom"),
                "S3Object": str,
                "CertificateProviderClass": str,
            }
        },
        "AtRestEncryptionConfiguration": {
            "S3EncryptionConfiguration": {
                "EncryptionMode": ("SSE-S3", "SSE-KMS", "CSE-KMS", "CSE-Custom"),
                "AwsKmsKey": str,
                "S3Object": str,
                "EncryptionKeyProviderClass": str,
            },
            "LocalDiskEncryptionConfiguration": {
                "EncryptionKeyProviderType": ("AwsKms", "Custom"),
                "AwsKmsKey": str,
                "S3Object": str,
                "EncryptionKeyProviderClass": str,
                "EnableEbsEncryption": bool,
            },
        },
    }
}
REQUIRED = {
    "EncryptionConfiguration": ("EnableInTransitEncryption", "EnableAtRestEncryption"),
}


def _walk(structure: Mapping[str, Any], value: Any, path: str, found: list[str]) -> None:
    if not isinstance(value, dict):
        found.append(f"{path}: expected an object, got {type(value).__name__}")
        return
    for name, item in value.items():
        where = f"{path}.{name}" if path else name
        if name not in structure:
            found.append(f"{where}: not a member EMR documents here (one of {', '.join(structure)})")
            continue
        expected = structure[name]
        if isinstance(expected, dict):
            _walk(expected, item, where, found)
        elif isinstance(expected, tuple):
            if item not in expected:
                found.append(f"{where}: {item!r} is not one of {', '.join(expected)}")
        elif not isinstance(item, expected) or (expected is str and not item):
            found.append(f"{where}: expected a {'non-empty string' if expected is str else expected.__name__}")
    for name in REQUIRED.get(path, ()):
        if name not in value:
            found.append(f"{path}.{name}: missing")


def _member(value: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    """value[name] when it is an object, else {} (the structure walk reports the wrong type)."""
    item = value.get(name, {})
    return item if isinstance(item, dict) else {}


def problems(configuration: Mapping[str, Any]) -> list[str]:
    """Everything wrong with a security configuration's encryption part (empty when valid):
    members EMR does not document where they are, wrong types or values, and what an enabled
    option needs (its section, a key for SSE-KMS and AwsKms, a class for Custom)."""
    found: list[str] = []
    _walk(STRUCTURE, configuration, "", found)
    encryption = _member(configuration, "EncryptionConfiguration")
    if encryption.get("EnableAtRestEncryption") and "AtRestEncryptionConfiguration" not in encryption:
        found.append("EncryptionConfiguration: EnableAtRestEncryption without AtRestEncryptionConfiguration")
    if encryption.get("EnableInTransitEncryption") and "InTransitEncryptionConfiguration" not in encryption:
        found.append("EncryptionConfiguration: EnableInTransitEncryption without InTransitEncryptionConfiguration")
    at_rest = _member(encryption, "AtRestEncryptionConfiguration")
    s3 = _member(at_rest, "S3EncryptionConfiguration")
    if s3.get("EncryptionMode") in ("SSE-KMS", "CSE-KMS") and "AwsKmsKey" not in s3:
        found.append("S3EncryptionConfiguration: KMS modes need AwsKmsKey")
    disk = _member(at_rest, "LocalDiskEncryptionConfiguration")
    if disk.get("EncryptionKeyProviderType") == "AwsKms" and "AwsKmsKey" not in disk:
        found.append("LocalDiskEncryptionConfiguration: AwsKms needs AwsKmsKey")
    tls = _member(_member(encryption, "InTransitEncryptionConfiguration"), "TLSCertificateConfiguration")
    if tls and "S3Object" not in tls:
        found.append("TLSCertificateConfiguration: S3Object missing")
    if tls.get("CertificateProviderType") == "Custom" and "CertificateProviderClass" not in tls:
        found.append("TLSCertificateConfiguration: Custom needs CertificateProviderClass")
    return found


def _s3_object(text: str, suffix: str, what: str) -> str:
    """An s3://bucket/key URI ending in `suffix`, or ValueError naming `what`."""
    if not re.fullmatch(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/\S+", text) or not text.endswith(suffix):
        raise ValueError(f"{what} must be an s3:// URI of a {suffix} file, got {text!r}")
    return text


@dataclass(frozen=True)
class Encryption:
    """What `make emr-artifacts` was told about encryption; every field is a make variable.

    kms_key_arn: KMS_KEY_ARN, the key for the data the jobs write to S3 (SSE-KMS), local disks
        and EBS volumes, and EMR Serverless's logs.
    tls_certificates: TLS_CERTIFICATES, s3:// zip of privateKey.pem, certificateChain.pem (and
        trustedCertificates.pem) for TLS between nodes.
    tls_provider_jar / tls_provider_class: TLS_PROVIDER_JAR and TLS_PROVIDER_CLASS, a custom
        certificate provider (a TLSArtifactsProvider) instead of the zip.
    existing: SECURITY_CONFIGURATION, a security configuration created elsewhere; the cluster
        documents name it and nothing is generated.
    """

    kms_key_arn: str | None = None
    tls_certificates: str | None = None
    tls_provider_jar: str | None = None
    tls_provider_class: str | None = None
    existing: str | None = None

    def __post_init__(self) -> None:
        if self.kms_key_arn is not None:
            parse_kms_key_arn(self.kms_key_arn)
        if self.tls_certificates is not None:
            _s3_object(self.tls_certificates, ".zip", "TLS_CERTIFICATES")
        if bool(self.tls_provider_jar) != bool(self.tls_provider_class):
            raise ValueError("a custom certificate provider needs both TLS_PROVIDER_JAR and TLS_PROVIDER_CLASS")
        if self.tls_provider_jar is not None:
            _s3_object(self.tls_provider_jar, ".jar", "TLS_PROVIDER_JAR")
            if not JAVA_CLASS.fullmatch(self.tls_provider_class or ""):
                raise ValueError(f"TLS_PROVIDER_CLASS must be a Java class name, got {self.tls_provider_class!r}")
        if self.tls_certificates and self.tls_provider_jar:
            raise ValueError("give TLS_CERTIFICATES or a custom provider (TLS_PROVIDER_JAR), not both")
        if self.existing is not None:
            if not NAME_PATTERN.fullmatch(self.existing):
                raise ValueError(f"SECURITY_CONFIGURATION must be a configuration's name, got {self.existing!r}")
            if self.tls_certificates or self.tls_provider_jar:
                raise ValueError(
                    "SECURITY_CONFIGURATION names a configuration made elsewhere: its certificates are set there, "
                    "not with TLS_CERTIFICATES or TLS_PROVIDER_JAR"
                )

    @property
    def in_transit(self) -> dict[str, str] | None:
        """The TLSCertificateConfiguration, or None without a certificate source."""
        if self.tls_certificates:
            return {"CertificateProviderType": "PEM", "S3Object": self.tls_certificates}
        if self.tls_provider_jar and self.tls_provider_class:
            return {
                "CertificateProviderType": "Custom",
                "S3Object": self.tls_provider_jar,
                "CertificateProviderClass": self.tls_provider_class,
            }
        return None

    def configuration(self) -> dict[str, Any] | None:
        """The security configuration to generate, or None (one named, or nothing asked for).

        At rest with a key: S3 with SSE-KMS under it, local disks and EBS volumes with it. Without
        a key there is no at-rest part at all: no S3 section (the bucket's default encryption
        applies) and EMR's default for disks. In transit: TLS with the certificate source.
        """
        if self.existing is not None or (self.kms_key_arn is None and self.in_transit is None):
            return None
        encryption: dict[str, Any] = {
            "EnableInTransitEncryption": self.in_transit is not None,
            "EnableAtRestEncryption": self.kms_key_arn is not None,
        }
        if self.in_transit is not None:
            encryption["InTransitEncryptionConfiguration"] = {"TLSCertificateConfiguration": self.in_transit}
        if self.kms_key_arn is not None:
            encryption["AtRestEncryptionConfiguration"] = {
                "S3EncryptionConfiguration": {"EncryptionMode": "SSE-KMS", "AwsKmsKey": self.kms_key_arn},
                "LocalDiskEncryptionConfiguration": {
                    "EncryptionKeyProviderType": "AwsKms",
                    "AwsKmsKey": self.kms_key_arn,
                    "EnableEbsEncryption": True,
                },
            }
        return {"EncryptionConfiguration": encryption}

    @property
    def name(self) -> str | None:
        """The name every cluster document refers to: the one given, or the generated one's
        (named by a digest of its content), or None when EMR's defaults apply."""
        if self.existing is not None:
            return self.existing
        configuration = self.configuration()
        if configuration is None:
            return None
        return NAME_PREFIX + hashlib.sha256(canonical(configuration).encode()).hexdigest()[:16]

    def request(self) -> dict[str, str] | None:
        """The CreateSecurityConfiguration request for the generated configuration, or None."""
        configuration = self.configuration()
        if configuration is None or self.name is None:
            return None
        return {"Name": self.name, "SecurityConfiguration": canonical(configuration)}

    @property
    def s3a_properties(self) -> dict[str, str]:
        """S3A's own encryption properties (empty without a key: the bucket's default applies)."""
        return s3a_encryption(self.kms_key_arn)


def canonical(configuration: Mapping[str, Any]) -> str:
    """One text per content (sorted keys, no spaces): what the digest is of, and what EMR stores."""
    return json.dumps(configuration, sort_keys=True, separators=(",", ":"))
