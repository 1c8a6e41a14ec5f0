"""Fixtures of the hostile-input suite: real Qlik-style certificates to break on purpose."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from licmon.simulator import QlikCerts, ensure_qlik_certs


@pytest.fixture(scope="session")
def qlik_certs(tmp_path_factory: pytest.TempPathFactory) -> QlikCerts:
    return ensure_qlik_certs(tmp_path_factory.mktemp("qlik-certs"))


@pytest.fixture
def certs(tmp_path: Path, qlik_certs: QlikCerts) -> Path:
    """client.pem, client_key.pem and root.pem in a folder of this test's own."""
    folder = tmp_path / "certs"
    folder.mkdir()
    for source in (qlik_certs.client_cert, qlik_certs.client_key, qlik_certs.root_ca):
        shutil.copy(source, folder / source.name)
    return folder
