"""Encryption in the EMR documents (tools/emr/security.py): the generated security configuration
checked field by field against the structure EMR documents and as a CreateSecurityConfiguration
request against botocore's model, every cluster document naming it, S3A's own properties in
core-site, and the refusals of `make emr-artifacts`. Generation is pure: no AWS here."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tools.emr import security, shapes
from tools.emr.__main__ import SECURITY_CONFIGURATION
from tools.emr.__main__ import main as emr_main
from tools.emr.launch import with_s3a_encryption

ROOT = "s3://my-bucket/spark-jobs"
KEY = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
OTHER_KEY = "arn:aws:kms:eu-west-1:123456789012:key/mrk-0123456789abcdef0123456789abcdef"
CERTS = "s3://my-bucket/security/tls-certificates.zip"
ROLE = "arn:aws:iam::123456789012:role/spark-jobs-serverless"
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/spark-jobs:0.1.0"


def artifacts(out: Path, *extra: str) -> list[str]:
    return ["artifacts", "--bucket", ROOT, "--out", str(out), *extra]


def cluster_documents(value: Any, where: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every RunJobFlow request inside a document (run-job-flow.json, each state machine's
    createCluster arguments, and any cluster document added later), wherever it sits."""
    found = []
    if isinstance(value, dict):
        if "ReleaseLabel" in value and "Instances" in value:
            found.append((where, value))
        for name, item in value.items():
            found += cluster_documents(item, f"{where}.{name}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += cluster_documents(item, f"{where}[{index}]")
    return found


def written(out: Path) -> dict[str, Any]:
    return {str(path.relative_to(out)): json.loads(path.read_text()) for path in out.rglob("*.json")}


# ── the security configuration ──────────────────────────────────────────────────────────


def test_generated_configuration_is_what_emr_documents() -> None:
    encryption = security.Encryption(kms_key_arn=KEY, tls_certificates=CERTS)
    configuration = encryption.configuration()
    assert security.problems(configuration) == []
    assert configuration == {
        "EncryptionConfiguration": {
            "EnableInTransitEncryption": True,
            "EnableAtRestEncryption": True,
            "InTransitEncryptionConfiguration": {
                "TLSCertificateConfiguration": {"CertificateProviderType": "PEM", "S3Object": CERTS}
            },
            "AtRestEncryptionConfiguration": {
                "S3EncryptionConfiguration": {"EncryptionMode": "SSE-KMS", "AwsKmsKey": KEY},
                "LocalDiskEncryptionConfiguration": {
                    "EncryptionKeyProviderType": "AwsKms",
                    "AwsKmsKey": KEY,
                    "EnableEbsEncryption": True,
                },
            },
        }
    }
    request = encryption.request()
    assert shapes.problems("emr", "CreateSecurityConfiguration", request) == []
    assert json.loads(request["SecurityConfiguration"]) == configuration  # a string inside the request


def test_custom_certificate_provider() -> None:
    encryption = security.Encryption(
        tls_provider_jar="s3://my-bucket/security/provider.jar", tls_provider_class="com.example.tls.Provider"
    )
    configuration = encryption.configuration()
    assert security.problems(configuration) == []
    tls = configuration["EncryptionConfiguration"]["InTransitEncryptionConfiguration"]["TLSCertificateConfiguration"]
    assert tls == {
        "CertificateProviderType": "Custom",
        "S3Object": "s3://my-bucket/security/provider.jar",
        "CertificateProviderClass": "com.example.tls.Provider",
    }


def test_without_a_key_nothing_at_rest_and_without_certificates_nothing_in_transit() -> None:
    tls_only = security.Encryption(tls_certificates=CERTS).configuration()["EncryptionConfiguration"]
    assert tls_only["EnableAtRestEncryption"] is False and "AtRestEncryptionConfiguration" not in tls_only
    assert security.Encryption(tls_certificates=CERTS).s3a_properties == {}  # the bucket's default applies
    key_only = security.Encryption(kms_key_arn=KEY).configuration()["EncryptionConfiguration"]
    assert key_only["EnableInTransitEncryption"] is False and "InTransitEncryptionConfiguration" not in key_only
    assert security.problems({"EncryptionConfiguration": tls_only}) == []
    assert security.problems({"EncryptionConfiguration": key_only}) == []
    nothing = security.Encryption()
    assert nothing.configuration() is None and nothing.name is None and nothing.request() is None


def _mutated(path: tuple[str, ...], change: Any) -> dict[str, Any]:
    configuration = copy.deepcopy(security.Encryption(kms_key_arn=KEY, tls_certificates=CERTS).configuration())
    *parents, last = path
    node = configuration
    for name in parents:
        node = node[name]
    change(node, last)
    return configuration


def _rename(new: str) -> Any:
    return lambda node, name: node.__setitem__(new, node.pop(name))


E, AT_REST, TLS = "EncryptionConfiguration", "AtRestEncryptionConfiguration", "InTransitEncryptionConfiguration"


@pytest.mark.parametrize(
    ("path", "change", "message"),
    [
        ((E, "EnableAtRestEncryption"), _rename("EnableAtRestEncyption"), "EnableAtRestEncyption: not a member"),
        ((E, AT_REST, "S3EncryptionConfiguration"), _rename("S3Encryption"), "S3Encryption: not a member"),
        (  # the S3 section's key moved up one level
            (E, AT_REST, "S3EncryptionConfiguration"),
            lambda node, name: node.__setitem__("AwsKmsKey", node[name].pop("AwsKmsKey")),
            f"{AT_REST}.AwsKmsKey: not a member",
        ),
        ((E, AT_REST, "S3EncryptionConfiguration", "EncryptionMode"), _rename("Mode"), "Mode: not a member"),
        (
            (E, AT_REST, "LocalDiskEncryptionConfiguration", "EnableEbsEncryption"),
            lambda node, name: node.__setitem__(name, "true"),
            "EnableEbsEncryption: expected a bool",
        ),
        (
            (E, AT_REST, "S3EncryptionConfiguration", "EncryptionMode"),
            lambda node, name: node.__setitem__(name, "SSE_KMS"),
            "'SSE_KMS' is not one of",
        ),
        (
            (E, AT_REST, "S3EncryptionConfiguration", "AwsKmsKey"),
            lambda node, name: node.pop(name),
            "KMS modes need AwsKmsKey",
        ),
        (
            (E, TLS, "TLSCertificateConfiguration", "CertificateProviderType"),
            lambda node, name: node.__setitem__(name, "Custom"),
            "Custom needs CertificateProviderClass",
        ),
        ((E, "EnableInTransitEncryption"), lambda node, name: node.pop(name), "EnableInTransitEncryption: missing"),
        ((E, TLS), lambda node, name: node.pop(name), "EnableInTransitEncryption without"),
    ],
)
def test_a_misspelt_misplaced_or_missing_field_is_refused(path, change, message) -> None:
    found = security.problems(_mutated(path, change))
    assert any(message in problem for problem in found), found


def test_name_is_a_digest_of_the_content() -> None:
    one = security.Encryption(kms_key_arn=KEY, tls_certificates=CERTS)
    assert one.name == security.Encryption(kms_key_arn=KEY, tls_certificates=CERTS).name
    assert one.name.startswith("spark-jobs-") and len(one.name) == len("spark-jobs-") + 16
    assert one.name != security.Encryption(kms_key_arn=OTHER_KEY, tls_certificates=CERTS).name
    assert one.name != security.Encryption(kms_key_arn=KEY).name
    assert one.request()["Name"] == one.name
    named = security.Encryption(kms_key_arn=KEY, existing="team-security")
    assert named.name == "team-security" and named.request() is None and named.s3a_properties


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kms_key_arn": "alias/spark-jobs"}, "a KMS key must be given as a key ARN"),
        ({"kms_key_arn": "arn:aws:kms:eu-west-1:123456789012:alias/spark-jobs"}, "key ARN"),
        ({"kms_key_arn": "1234abcd-12ab-34cd-56ef-1234567890ab"}, "key ARN"),
        ({"tls_certificates": "https://my-bucket/certs.zip"}, "TLS_CERTIFICATES must be an s3:// URI"),
        ({"tls_certificates": "s3://my-bucket/certs/privateKey.pem"}, "of a .zip file"),
        ({"tls_provider_jar": "s3://my-bucket/p.jar"}, "needs both TLS_PROVIDER_JAR and TLS_PROVIDER_CLASS"),
        ({"tls_provider_jar": "/tmp/p.jar", "tls_provider_class": "a.B"}, "TLS_PROVIDER_JAR must be an s3:// URI"),
        ({"tls_provider_jar": "s3://my-bucket/p.jar", "tls_provider_class": "Provider"}, "a Java class name"),
        (
            {"tls_certificates": CERTS, "tls_provider_jar": "s3://my-bucket/p.jar", "tls_provider_class": "a.B"},
            "not both",
        ),
        ({"existing": "team-security", "tls_certificates": CERTS}, "its certificates are set there"),
        ({"existing": "bad\nname"}, "SECURITY_CONFIGURATION must be"),
    ],
)
def test_malformed_parameters_are_refused(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        security.Encryption(**kwargs)


# ── make emr-artifacts ──────────────────────────────────────────────────────────────────


def test_every_cluster_document_names_the_generated_configuration(tmp_path: Path, capsys) -> None:
    out = tmp_path / "emr"
    argv = artifacts(out, "--kms-key-arn", KEY, "--tls-certificates", CERTS)
    assert emr_main([*argv, "--serverless-role-arn", ROLE, "--serverless-image", IMAGE]) == 0
    docs = written(out)
    request = docs[SECURITY_CONFIGURATION]
    name = request["Name"]
    assert name == security.Encryption(kms_key_arn=KEY, tls_certificates=CERTS).name
    assert security.problems(json.loads(request["SecurityConfiguration"])) == []
    clusters = [(f"{file}{where}", doc) for file, content in docs.items() for where, doc in cluster_documents(content)]
    assert {where.split(".json")[0] for where, _ in clusters} == {
        file[: -len(".json")] for file in docs if file == "run-job-flow.json" or file.startswith("state-machine-")
    }
    for where, cluster in clusters:
        assert cluster.get("SecurityConfiguration") == name, where
        assert shapes.problems("emr", "RunJobFlow", cluster) == [], where
        [core] = [c for c in cluster["Configurations"] if c["Classification"] == "core-site"]
        assert core["Properties"] == {"fs.s3a.encryption.algorithm": "SSE-KMS", "fs.s3a.encryption.key": KEY}, where
    out_line = capsys.readouterr().out.strip().splitlines()[-1]
    assert out_line.startswith(f"encryption: clusters use security configuration {name}; S3A writes SSE-KMS")
    assert f"file://{out / SECURITY_CONFIGURATION}" in out_line


def test_without_parameters_emr_defaults_apply_and_say_so(tmp_path: Path, capsys) -> None:
    out = tmp_path / "emr"
    assert emr_main(artifacts(out)) == 0
    docs = written(out)
    assert SECURITY_CONFIGURATION not in docs
    for file, content in docs.items():
        for where, cluster in cluster_documents(content):
            assert "SecurityConfiguration" not in cluster, f"{file}{where}"
            assert "core-site" not in json.dumps(cluster["Configurations"])
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("encryption:")]
    assert lines == [
        "encryption: EMR's defaults apply (no security configuration, no KMS key, no TLS between nodes): "
        "give KMS_KEY_ARN and TLS_CERTIFICATES, or SECURITY_CONFIGURATION (docs/security-encryption.md)"
    ]


def test_an_existing_configuration_is_named_and_nothing_generated(tmp_path: Path, capsys) -> None:
    out = tmp_path / "emr"
    assert emr_main(artifacts(out, "--security-configuration", "team-security", "--kms-key-arn", KEY)) == 0
    docs = written(out)
    assert SECURITY_CONFIGURATION not in docs
    clusters = [cluster for content in docs.values() for _, cluster in cluster_documents(content)]
    assert clusters and all(cluster["SecurityConfiguration"] == "team-security" for cluster in clusters)
    # the key still reaches S3A: the named configuration's S3 section is for EMRFS
    assert all("fs.s3a.encryption.key" in json.dumps(cluster["Configurations"]) for cluster in clusters)
    assert "existing security configuration team-security" in capsys.readouterr().out


def test_core_site_given_in_the_configurations_keeps_its_own_values() -> None:
    given = [{"Classification": "core-site", "Properties": {"fs.s3a.encryption.key": OTHER_KEY, "x": "1"}}]
    [core] = with_s3a_encryption(given, KEY)
    assert core["Properties"] == {
        "fs.s3a.encryption.algorithm": "SSE-KMS",
        "fs.s3a.encryption.key": OTHER_KEY,
        "x": "1",
    }
    assert with_s3a_encryption(given, None) == given


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--kms-key-arn", "alias/spark-jobs"], "argument --kms-key-arn: a KMS key must be given as a key ARN"),
        (["--kms-key-arn", "arn:aws:s3:::my-bucket"], "a KMS key must be given as a key ARN"),
        (["--tls-certificates", "https://my-bucket/certs.zip"], "TLS_CERTIFICATES must be an s3:// URI"),
        (["--tls-certificates", "my-bucket/certs.zip"], "TLS_CERTIFICATES must be an s3:// URI"),
        (["--tls-provider-class", "com.example.Provider"], "needs both TLS_PROVIDER_JAR and TLS_PROVIDER_CLASS"),
        (["--security-configuration", "team", "--tls-certificates", CERTS], "its certificates are set there"),
    ],
)
def test_artifacts_refuse_malformed_encryption_in_one_line_writing_nothing(
    extra: list[str], message: str, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "emr"
    try:
        code = emr_main(artifacts(out, *extra))
    except SystemExit as exc:
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err, err
    assert not out.exists()


def test_check_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "emr"
    assert emr_main([*artifacts(out, "--kms-key-arn", KEY, "--tls-certificates", CERTS), "--check"]) == 0
    assert not out.exists()


def test_tls_only_names_a_configuration_and_leaves_s3_to_the_bucket(tmp_path: Path, capsys) -> None:
    out = tmp_path / "emr"
    assert emr_main(artifacts(out, "--tls-certificates", CERTS)) == 0
    docs = written(out)
    name = docs[SECURITY_CONFIGURATION]["Name"]
    clusters = [cluster for content in docs.values() for _, cluster in cluster_documents(content)]
    assert clusters and all(cluster["SecurityConfiguration"] == name for cluster in clusters)
    assert all("core-site" not in json.dumps(cluster["Configurations"]) for cluster in clusters)
    assert "S3 keeps the bucket's default encryption" in capsys.readouterr().out


MAKEFILE = Path(__file__).parents[1] / "Makefile"


def test_make_checks_the_parameters_before_building_and_passes_every_one() -> None:
    """`make emr-artifacts` refuses bad parameters before `package` builds anything, and hands
    every encryption variable to the command it checks and to the one that writes."""
    text = MAKEFILE.read_text()
    recipe = text.split("\nemr-artifacts:", 1)[1].split("\n\n", 1)[0].splitlines()[1:]
    assert [line.strip().split()[-1] for line in recipe] == ["--check", "package", "$(EMR_ARTIFACTS_ARGS)"]
    arguments = text.split("\nEMR_ARTIFACTS_ARGS = ", 1)[1].split("\n\n", 1)[0]
    for variable, option in (
        ("SECURITY_CONFIGURATION", "--security-configuration"),
        ("KMS_KEY_ARN", "--kms-key-arn"),
        ("TLS_CERTIFICATES", "--tls-certificates"),
        ("TLS_PROVIDER_JAR", "--tls-provider-jar"),
        ("TLS_PROVIDER_CLASS", "--tls-provider-class"),
    ):
        assert f'{option} "$({variable})"' in arguments, variable
        assert f"\n{variable} ?=" in text, variable
    submit = text.split("\nsubmit-serverless:", 1)[1].split("\n\n", 1)[0]
    assert '--kms-key-arn "$(KMS_KEY_ARN)"' in submit
