"""Demo credentials for the simulator, so the dashboard can trade on it out of the box.

The demo API key is a fixed, documented string (it grants nothing anywhere but the local
simulator). The Ed25519 key pair and the HMAC secret are generated on first use and kept in
the user data directory (``<data>/coinm/sim/``), private files with mode 0600.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import platformdirs

from feeds.signing import Secret, generate_ed25519_keypair, load_ed25519_private_key, public_key_pem

if TYPE_CHECKING:
    from feeds.config import Credentials

__all__ = ["DEMO_API_KEY", "DemoCredentials", "default_data_dir", "demo_credentials"]

DEMO_API_KEY = "coinmSimDemoKey0000000000000000000000000000000000000000000000000"
"""The simulator's default API key (64 characters, like Binance's)."""

ENV_DATA_DIR = "COINM_SIM_DATA_DIR"


@dataclass(frozen=True)
class DemoCredentials:
    """What a client needs to trade on the simulator's default account."""

    api_key: str
    ed25519_key_path: Path
    """PEM private key (0600) registered with the simulator for ``api_key``."""
    hmac_secret: Secret
    """HMAC secret also accepted for ``api_key`` (masked in reprs)."""

    @property
    def ed25519_public_pem(self) -> str:
        return public_key_pem(load_ed25519_private_key(self.ed25519_key_path))

    def as_credentials(self) -> Credentials:
        """The demo account as client credentials (Ed25519, so the WS API session can log on).

        Raises:
            KeyFileError: the key file cannot be used (e.g. readable by others).
        """
        from feeds.config import Credentials

        return Credentials(self.api_key, private_key=load_ed25519_private_key(self.ed25519_key_path),
                           key_file=self.ed25519_key_path)


def default_data_dir() -> Path:
    """``$COINM_SIM_DATA_DIR`` if set, else ``<XDG data>/coinm/sim``."""
    env = os.environ.get(ENV_DATA_DIR)
    if env:
        return Path(env)
    return Path(platformdirs.user_data_dir("coinm")) / "sim"


def demo_credentials(data_dir: Path | None = None) -> DemoCredentials:
    """The demo credentials, creating the key pair and HMAC secret on first use."""
    base = Path(data_dir) if data_dir is not None else default_data_dir()
    base.mkdir(parents=True, exist_ok=True, mode=0o700)
    key_path = base / "demo-ed25519.pem"
    if not key_path.exists():
        generate_ed25519_keypair(key_path)
    secret_path = base / "demo-hmac-secret"
    if not secret_path.exists():
        fd = os.open(secret_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_hex(32).encode())
        finally:
            os.close(fd)
    secret = Secret(secret_path.read_text().strip())
    return DemoCredentials(DEMO_API_KEY, key_path, secret)
