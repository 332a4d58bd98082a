"""The REST client's TLS: aiohttp is imported without the CA certificates it would load into its
two default SSL contexts (about 40 ms of every start, for contexts the client never uses), and an
``https`` venue gets a verifying context of its own. Loopback only: the TLS server here is a local
one with a self-signed certificate, which the client must refuse."""

from __future__ import annotations

import datetime
import json
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from feeds.rest import RestClient, RestUnavailable, tls_context_for

CODE = """
import json, ssl
import feeds.rest
import aiohttp.connector as connector
print(json.dumps({
    "aiohttp_defaults": [connector._SSL_CONTEXT_VERIFIED.cert_store_stats()["x509_ca"],
                         connector._SSL_CONTEXT_UNVERIFIED.cert_store_stats()["x509_ca"]],
    "default_context_after": ssl.create_default_context().cert_store_stats()["x509_ca"],
    "patched_left": "set_default_verify_paths" in vars(ssl.SSLContext),
    "https": feeds.rest.tls_context_for("https://dapi.binance.com").cert_store_stats()["x509_ca"],
}))
"""


def test_importing_the_client_loads_no_certificates_into_aiohttps_unused_contexts() -> None:
    out = json.loads(subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=60,
                                    check=True).stdout)
    assert out["aiohttp_defaults"] == [0, 0]
    assert out["default_context_after"] > 0 and not out["patched_left"]  # ssl itself is as it was
    assert out["https"] == out["default_context_after"]  # an https venue gets the system's CAs


def test_an_https_venue_gets_a_verifying_context_and_loopback_http_none() -> None:
    context = tls_context_for("HTTPS://dapi.binance.com")
    assert context is not None
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert tls_context_for("http://127.0.0.1:8080") is None


def _self_signed(tmp: Path) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .sign(key, hashes.SHA256()))
    (tmp / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                    serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp / "cert.pem", tmp / "key.pem")
    return context


@pytest.mark.timeout(30)
async def test_an_https_venue_whose_certificate_does_not_verify_is_refused(tmp_path: Path) -> None:
    served: list[str] = []

    async def server_time(request: web.Request) -> web.Response:
        served.append(request.path)
        return web.json_response({"serverTime": 1})

    app = web.Application()
    app.router.add_get("/dapi/v1/time", server_time)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=_self_signed(tmp_path))
    await site.start()
    port = runner.addresses[0][1]
    rest = RestClient(f"https://127.0.0.1:{port}")
    try:
        with pytest.raises(RestUnavailable, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
            await rest.sync_time(samples=1)
        assert served == []  # nothing was sent over a connection that did not verify
    finally:
        await rest.close()
        await runner.cleanup()
