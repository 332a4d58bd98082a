"""Request signing: the one implementation the client signs with and the simulator verifies with.

Binance signs two kinds of payload:

* WebSocket API: every parameter except ``signature`` (``apiKey`` included), sorted by name,
  rendered ``k=v`` and joined with ``&`` (:func:`ws_payload`).
* REST: the query string exactly as sent, in the order sent (:func:`rest_payload`).

HMAC-SHA256 signatures are lowercase hex; Ed25519 signatures are the base64 of the 64-byte
signature over the ASCII payload. Secrets live in :class:`Secret`, which never prints.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import stat
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import quote, urlencode

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from feeds.decimals import fmt_plain

__all__ = [
    "Ed25519Signer",
    "HmacSigner",
    "KeyFileError",
    "Secret",
    "Signer",
    "check_private_file",
    "generate_ed25519_keypair",
    "load_ed25519_private_key",
    "load_ed25519_public_key",
    "mask_key",
    "public_key_pem",
    "render_value",
    "rest_payload",
    "verify_ed25519",
    "verify_hmac",
    "wire_params",
    "ws_payload",
]


class KeyFileError(ValueError):
    """A key or secret file cannot be used; the message says why and never holds the secret."""


class Secret:
    """A secret value (API secret, passphrase) that never shows itself.

    ``repr``, ``str`` and ``format`` give ``Secret('****')``; only :meth:`reveal` returns the
    value. Pickling is refused so a secret cannot leak into a cache or a crash dump by accident.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str | bytes) -> None:
        if isinstance(value, Secret):
            value = value.reveal()
        if not isinstance(value, (str, bytes)):
            raise TypeError("Secret wraps a str or bytes value")
        self._value = value

    def reveal(self) -> str | bytes:
        """The secret itself. Call it only where the value is consumed (signing, decryption)."""
        return self._value

    def reveal_bytes(self) -> bytes:
        """The secret as UTF-8 bytes."""
        value = self._value
        return value.encode() if isinstance(value, str) else value

    def __repr__(self) -> str:
        return "Secret('****')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return format(repr(self), spec)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self.reveal_bytes(), other.reveal_bytes())

    __hash__ = None  # type: ignore[assignment]  # unhashable, as __eq__ compares secrets; typeshed wants a method

    def __reduce__(self) -> Any:
        raise TypeError("a Secret cannot be pickled")

    def __getstate__(self) -> Any:
        raise TypeError("a Secret cannot be pickled")


def _as_secret(value: Secret | str | bytes) -> Secret:
    return value if isinstance(value, Secret) else Secret(value)


def mask_key(api_key: str | None, keep: int = 4) -> str:
    """An API key shortened for display: the first ``keep`` characters, then ``****``."""
    if not api_key:
        return "<none>"
    return f"{api_key[:keep]}****"


# ---------------------------------------------------------------------------- payloads


def render_value(value: Any) -> str:
    """A parameter value as text, exactly as it goes on the wire.

    Booleans are lowercase ``true``/``false``, Decimals plain (never scientific), ints as
    digits, strings unchanged.

    Raises:
        TypeError: a float (money is never float) or another unsupported type.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return fmt_plain(value)
    if isinstance(value, float):
        raise TypeError(f"refusing to sign float value {value!r}: send a decimal string")
    raise TypeError(f"cannot sign a parameter of type {type(value).__name__}")


def wire_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Params as they will be sent: ``None`` dropped, Decimals turned into plain strings.

    Booleans and ints keep their JSON types; :func:`render_value` renders them the same way in
    the payload either way, so what is signed is what is sent.
    """
    out: dict[str, Any] = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, Decimal):
            out[key] = fmt_plain(value)
        else:
            render_value(value)  # refuse floats and odd types before anything is signed
            out[key] = value
    return out


def ws_payload(params: Mapping[str, Any]) -> str:
    """The WebSocket API signature payload: all params but ``signature``, sorted, ``k=v&...``."""
    return "&".join(
        f"{key}={render_value(params[key])}"
        for key in sorted(params)
        if key != "signature" and params[key] is not None
    )


def rest_payload(params: Mapping[str, Any]) -> str:
    """The REST signature payload: the query string in the given order, urlencoded as sent."""
    return urlencode([(k, render_value(v)) for k, v in params.items() if v is not None])


# ---------------------------------------------------------------------------- signers


@runtime_checkable
class Signer(Protocol):
    """What every signer offers: the key it signs for, its kind, and signing."""

    api_key: str
    kind: str

    def sign(self, payload: str) -> str: ...

    def sign_params(self, params: Mapping[str, Any]) -> dict[str, Any]: ...

    def signed_query(self, params: Mapping[str, Any]) -> str: ...


class _SignerBase:
    api_key: str
    kind: str

    def sign(self, payload: str) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def sign_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """WebSocket API params ready to send: ``apiKey`` added if absent, ``signature`` set.

        The input is not modified; Decimals come back as plain strings, ``None`` values dropped.
        """
        out = wire_params({k: v for k, v in params.items() if k != "signature"})
        out.setdefault("apiKey", self.api_key)
        out["signature"] = self.sign(ws_payload(out))
        return out

    def signed_query(self, params: Mapping[str, Any]) -> str:
        """A REST query string with ``&signature=...`` appended (the API key goes in a header).

        The signature is URL-encoded: Ed25519 signatures are base64 (``+``, ``/``, ``=``), and a
        bare ``+`` would reach the venue as a space.
        """
        query = rest_payload(params)
        signature = quote(self.sign(query), safe="")
        return f"{query}&signature={signature}" if query else f"signature={signature}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(api_key={mask_key(self.api_key)!r}, kind={self.kind!r})"

    def __reduce__(self) -> Any:
        raise TypeError("a signer cannot be pickled")


class HmacSigner(_SignerBase):
    """HMAC-SHA256 signer (lowercase hex), for REST and per-request WebSocket API signing."""

    kind = "hmac"

    def __init__(self, api_key: str, secret: Secret | str | bytes) -> None:
        self.api_key = api_key
        self._secret = _as_secret(secret)

    def sign(self, payload: str) -> str:
        """Lowercase hex HMAC-SHA256 of ``payload``."""
        return hmac.new(self._secret.reveal_bytes(), payload.encode(), hashlib.sha256).hexdigest()


class Ed25519Signer(_SignerBase):
    """Ed25519 signer: base64 of the signature over the ASCII payload (needed for session.logon)."""

    kind = "ed25519"

    def __init__(self, api_key: str, private_key: Ed25519PrivateKey) -> None:
        if not isinstance(private_key, Ed25519PrivateKey):
            raise TypeError("Ed25519Signer needs an Ed25519 private key object")
        self.api_key = api_key
        self._key = private_key

    def sign(self, payload: str) -> str:
        """Base64 of the 64-byte Ed25519 signature over the ASCII payload."""
        return base64.b64encode(self._key.sign(payload.encode("ascii"))).decode("ascii")

    def public_key_pem(self) -> str:
        """The public half, as PEM, to register with the venue."""
        return public_key_pem(self._key)


# ---------------------------------------------------------------------------- verifiers


def verify_hmac(secret: Secret | str | bytes, payload: str, signature: str) -> bool:
    """Whether ``signature`` is the HMAC-SHA256 hex of ``payload`` under ``secret``."""
    if not isinstance(signature, str):
        return False
    expected = HmacSigner("", secret).sign(payload)
    return hmac.compare_digest(expected, signature.lower())


def load_ed25519_public_key(public_key: bytes | str | Ed25519PublicKey) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM text/bytes (or the key object itself).

    Raises:
        KeyFileError: the data is not a PEM Ed25519 public key.
    """
    if isinstance(public_key, Ed25519PublicKey):
        return public_key
    data = public_key.encode() if isinstance(public_key, str) else public_key
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        raise KeyFileError("not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"public key is {type(key).__name__.removeprefix('_')}, not Ed25519")
    return key


def verify_ed25519(
    public_key: bytes | str | Ed25519PublicKey, payload: str, signature_b64: str
) -> bool:
    """Whether ``signature_b64`` is a valid Ed25519 signature of ``payload``.

    A malformed signature (bad base64, wrong length) is simply not valid.

    Raises:
        KeyFileError: ``public_key`` is not an Ed25519 public key (a setup error, not a bad
            signature).
    """
    key = load_ed25519_public_key(public_key)
    if not isinstance(signature_b64, str):
        return False
    try:
        raw = base64.b64decode(signature_b64, validate=True)
        data = payload.encode("ascii")
    except (binascii.Error, ValueError):
        return False
    try:
        key.verify(raw, data)
    except InvalidSignature:
        return False
    return True


# ---------------------------------------------------------------------------- key files


def check_private_file(path: Path, what: str = "key file") -> None:
    """Refuse a secret-bearing file that group or others can access.

    Raises:
        KeyFileError: the file is missing, or its mode lets group/others in (with the fix).
    """
    try:
        st = path.stat()
    except FileNotFoundError:
        raise KeyFileError(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise KeyFileError(f"cannot read {what} {path}: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise KeyFileError(f"{what} {path} is not a regular file")
    if os.name == "posix" and st.st_mode & 0o077:
        mode = stat.S_IMODE(st.st_mode)
        how = "readable" if st.st_mode & 0o044 else "writable"
        raise KeyFileError(
            f"{what} {path} is {how} by others (mode {mode:04o}): run chmod 600 {path}"
        )


def load_ed25519_private_key(
    path: str | os.PathLike[str], passphrase: Secret | str | None = None
) -> Ed25519PrivateKey:
    """Load an Ed25519 private key from a PEM file only its owner can read.

    Raises:
        KeyFileError: the file is readable by others, unreadable, encrypted without a
            passphrase, the passphrase is wrong, or it holds no Ed25519 private key.
    """
    path = Path(path)
    check_private_file(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read key file {path}: {exc.strerror}") from None
    encrypted = b"ENCRYPTED" in data
    if encrypted and not passphrase:
        raise KeyFileError(
            f"key file {path} is encrypted: give its passphrase (COINM_ED25519_PASSPHRASE)"
        )
    password = _as_secret(passphrase).reveal_bytes() if (encrypted and passphrase) else None
    try:
        key = serialization.load_pem_private_key(data, password=password)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        if encrypted:
            raise KeyFileError(f"cannot decrypt key file {path}: wrong passphrase") from None
        raise KeyFileError(f"key file {path} is not a PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        kind = type(key).__name__.removeprefix("_")
        raise KeyFileError(f"key file {path} holds a {kind}, not an Ed25519 private key")
    return key


def public_key_pem(private_key: Ed25519PrivateKey) -> str:
    """The PEM (SubjectPublicKeyInfo) of the key's public half."""
    return (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )


def _default_public_path(private_path: Path) -> Path:
    stem = private_path.name.removesuffix(".pem")
    return private_path.with_name(f"{stem}.pub.pem")


def generate_ed25519_keypair(
    private_path: str | os.PathLike[str],
    public_path: str | os.PathLike[str] | None = None,
    passphrase: Secret | str | None = None,
) -> str:
    """Create a new Ed25519 key pair on disk and return the public key PEM.

    The private key file is created with mode 0600 from the first byte (never world-readable,
    even briefly); existing files are never overwritten. The public key goes to
    ``public_path`` (default: ``<name>.pub.pem`` beside the private key).

    Raises:
        KeyFileError: a target file exists or cannot be written.
    """
    private_path = Path(private_path)
    public = Path(public_path) if public_path is not None else _default_public_path(private_path)
    for target in (private_path, public):
        if target.exists():
            raise KeyFileError(f"{target} already exists: refusing to overwrite it")
    key = Ed25519PrivateKey.generate()
    encryption: serialization.KeySerializationEncryption
    if passphrase:
        encryption = serialization.BestAvailableEncryption(_as_secret(passphrase).reveal_bytes())
    else:
        encryption = serialization.NoEncryption()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    try:
        private_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileError(f"{private_path} already exists: refusing to overwrite it") from None
    except OSError as exc:
        raise KeyFileError(f"cannot create key file {private_path}: {exc.strerror}") from None
    try:
        if os.name == "posix":
            os.fchmod(fd, 0o600)  # the umask can only remove bits; make the mode exact anyway
        os.write(fd, pem)
    finally:
        os.close(fd)
    public_pem = public_key_pem(key)
    try:
        public.parent.mkdir(parents=True, exist_ok=True)
        with open(public, "x", encoding="ascii") as fh:
            fh.write(public_pem)
    except FileExistsError:
        raise KeyFileError(f"{public} already exists: refusing to overwrite it") from None
    except OSError as exc:
        raise KeyFileError(f"cannot write public key {public}: {exc.strerror}") from None
    return public_pem
