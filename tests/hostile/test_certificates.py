"""Certificate and key files are loaded with `ssl` when the config loads: a broken one is
refused by key path, naming the file and what is wrong with it.

Before: garbage, empty or binary PEM files passed `config validate`; a binary client key
made `licmon check` exit 1 with a traceback; a directory given as a certificate was
reported as "does not exist"; a certificate and key of different pairs, or a CA file that
does not load, were found only by the first TLS handshake.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import trustme

from licmon.simulator import QlikCerts, ensure_misfit_certs
from tests.hostile.support import EXIT_CHECK, EXIT_CONFIG_VALIDATE, both, dump, site_document

CERT = "licmon.sites[0].cert.clientCert"
KEY = "licmon.sites[0].cert.clientCertKey"
CA = "licmon.sites[0].cert.clientCertCA"


def binary(path: Path, qlik: QlikCerts) -> None:
    path.write_bytes(os.urandom(1200))


def garbage_pem(path: Path, qlik: QlikCerts) -> None:
    marker = "PRIVATE KEY" if "key" in path.name else "CERTIFICATE"
    path.write_text(f"-----BEGIN {marker}-----\nnot base64 at all!\n-----END {marker}-----\n")


def empty(path: Path, qlik: QlikCerts) -> None:
    path.write_text("")


def directory(path: Path, qlik: QlikCerts) -> None:
    path.unlink()
    path.mkdir()


def plain_text(path: Path, qlik: QlikCerts) -> None:
    path.write_text("this is not a certificate\n")


def key_of_another_pair(path: Path, qlik: QlikCerts) -> None:
    shutil.copy(ensure_misfit_certs(qlik).rogue_client.key, path)


def the_key_instead(path: Path, qlik: QlikCerts) -> None:
    shutil.copy(qlik.client_key, path)


def encrypted(path: Path, qlik: QlikCerts) -> None:
    ca = trustme.CA()
    pem = ca.issue_cert("x").private_key_pem.bytes()
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(pem, password=None)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
    )


CASES: list[tuple[str, str, Callable[[Path, QlikCerts], None], str]] = [
    ("binary key", "client_key.pem", binary, f"{KEY}: client key file"),
    ("garbage certificate", "client.pem", garbage_pem, f"{CERT}: client certificate file"),
    ("garbage key", "client_key.pem", garbage_pem, f"{KEY}: client key file"),
    ("empty certificate", "client.pem", empty, f"{CERT}: client certificate file"),
    ("empty CA", "root.pem", empty, f"{CA}: root CA file"),
    ("directory certificate", "client.pem", directory, f"{CERT}: client certificate file"),
    ("text CA", "root.pem", plain_text, f"{CA}: root CA file"),
    ("garbage CA", "root.pem", garbage_pem, f"{CA}: root CA file"),
    ("key of another pair", "client_key.pem", key_of_another_pair, f"{KEY}: client key file"),
    ("key as certificate", "client.pem", the_key_instead, f"{CERT}: client certificate file"),
    ("encrypted key", "client_key.pem", encrypted, f"{KEY}: client key file"),
]
WHAT_IS_WRONG = {
    "binary key": "is binary, not PEM text",
    "garbage certificate": "holds a certificate that cannot be read",
    "garbage key": "cannot be read as a private key",
    "empty certificate": "is empty",
    "empty CA": "is empty",
    "directory certificate": "is a directory",
    "text CA": "is not a PEM file",
    "garbage CA": "holds a certificate that cannot be read",
    "key of another pair": "does not match the certificate in",
    "key as certificate": "holds no PEM certificate",
    "encrypted key": "holds a key encrypted with a passphrase",
}


@pytest.mark.parametrize(("name", "file", "spoil", "where"), CASES, ids=[case[0] for case in CASES])
def test_a_broken_certificate_file_is_named_with_what_is_wrong(
    tmp_path: Path,
    certs: Path,
    qlik_certs: QlikCerts,
    name: str,
    file: str,
    spoil: Callable[[Path, QlikCerts], None],
    where: str,
) -> None:
    spoil(certs / file, qlik_certs)
    path = dump(tmp_path, site_document(certs))
    expected = f"{where} '{certs / file}' {WHAT_IS_WRONG[name]}"
    validate, check = both(path, case=name)
    validate.refused(EXIT_CONFIG_VALIDATE, expected)
    check.refused(EXIT_CHECK, expected)


def test_special_files_as_certificates_do_not_block(tmp_path: Path, certs: Path) -> None:
    fifo = tmp_path / "fifo.pem"
    os.mkfifo(fifo)
    document = site_document(certs)
    document["licmon"]["sites"][0]["cert"] |= {"clientCert": str(fifo), "clientCertCA": "/dev/zero"}
    validate, check = both(dump(tmp_path, document), case="FIFO and /dev/zero as certificates")
    for run in (validate, check):
        assert "is not a regular file" in run.err
    validate.refused(EXIT_CONFIG_VALIDATE, f"{CERT}: client certificate file '{fifo}'")
    check.refused(EXIT_CHECK, f"{CA}: root CA file '/dev/zero' is not a regular file")


def test_destination_tls_files_are_checked_the_same_way(tmp_path: Path, certs: Path) -> None:
    (certs / "garbage.pem").write_text("-----BEGIN CERTIFICATE-----\nnope\n")
    document = site_document(certs)
    monitor = document["Butler"]["qlikSenseLicense"]["serverLicenseMonitor"]
    monitor["destination"] = {"mqtt": {"enable": True}, "webhook": {"enable": True}}
    document["Butler"] |= {
        "mqttConfig": {"enable": True, "brokerHost": "mqtt.example.com"},
        "webhookNotification": {
            "enable": True,
            "qlikSenseServerLicenseMonitor": {
                "webhooks": [
                    {
                        "webhookURL": "https://hooks.example.com/x",
                        "cert": {"enable": True, "certCA": str(certs / "garbage.pem")},
                    }
                ]
            },
        },
    }
    document["licmon"]["mqtt"] = {
        "tls": {
            "enable": True,
            "caFile": str(certs / "garbage.pem"),
            "certFile": str(certs / "client.pem"),
            "keyFile": str(tmp_path),
        }
    }
    validate, _ = both(dump(tmp_path, document))
    validate.refused(
        EXIT_CONFIG_VALIDATE,
        "licmon.mqtt.tls.caFile: CA file",
        "licmon.mqtt.tls.keyFile: MQTT client key file",
        f"'{tmp_path}' is a directory",
        "webhooks[0].cert.certCA: CA file",
    )
