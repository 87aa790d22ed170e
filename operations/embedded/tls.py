"""A throwaway certificate authority for the embedded stack's encrypted links.

Generated with Debian's ``openssl`` on first use and kept in the run directory (key files 0600), so a
restart reuses the same CA and clients that trust it keep working. Each certificate names
``localhost`` and ``127.0.0.1`` (the embedded stack listens on loopback), so clients verify the host
name as they would against a real deployment. Production brings its own certificates instead.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

CA_NAME = "taxifraud embedded CA"
SUBJECT_ALT_NAMES = "DNS:localhost,IP:127.0.0.1"


@dataclass(frozen=True)
class Certificate:
    """A PEM certificate and its private key; ``pem`` holds both (key first), as Kafka's PEM keystore wants."""

    cert: Path
    key: Path
    pem: Path


def _openssl(*args: str) -> None:
    binary = shutil.which("openssl")
    if binary is None:
        raise FileNotFoundError("openssl not found (Debian: apt-get install openssl)")
    done = subprocess.run([binary, *args], capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {done.stderr.strip()}")


def _private(path: Path) -> None:
    os.chmod(path, 0o600)


def ensure_ca(directory: Path) -> Certificate:
    """The CA in ``directory`` (created once)."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "ca.pem", directory / "ca.key"
    if not (cert.exists() and key.exists()):
        log.info("creating a throwaway CA in %s", directory)
        _openssl(
            "req", "-x509", "-new", "-nodes", "-newkey", "rsa:2048", "-sha256", "-days", "3650",
            "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={CA_NAME}",
        )  # fmt: skip
        _private(key)
    return Certificate(cert, key, cert)


def ensure_certificate(directory: Path, name: str) -> Certificate:
    """A certificate called ``name`` for localhost/127.0.0.1, signed by the CA in ``directory``."""
    ca = ensure_ca(directory)
    cert, key, pem = directory / f"{name}.crt", directory / f"{name}.key", directory / f"{name}.pem"
    if cert.exists() and key.exists() and pem.exists():
        return Certificate(cert, key, pem)
    csr, ext = directory / f"{name}.csr", directory / f"{name}.ext"
    ext.write_text(f"subjectAltName={SUBJECT_ALT_NAMES}\nextendedKeyUsage=serverAuth,clientAuth\n")
    _openssl(
        "req", "-new", "-nodes", "-newkey", "rsa:2048", "-sha256",
        "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={name}",
    )  # fmt: skip
    _private(key)
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca.cert), "-CAkey", str(ca.key), "-CAcreateserial",
        "-out", str(cert), "-days", "825", "-sha256", "-extfile", str(ext),
    )  # fmt: skip
    pem.write_text(key.read_text() + cert.read_text())
    _private(pem)
    csr.unlink(missing_ok=True)
    ext.unlink(missing_ok=True)
    return Certificate(cert, key, pem)
