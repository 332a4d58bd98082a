"""The credentials a command trades with, including the simulator's demo account.

This is the one place that looks up the simulator's demo key pair for a client: the core of
``feeds/`` (``feeds/config.py``) never imports ``feeds/sim/``, so the UI layer wires the two
together.
"""

from __future__ import annotations

from collections.abc import Mapping

from feeds.config import ConfigError, Credentials, VenueProfile, load_credentials
from feeds.signing import KeyFileError

__all__ = ["resolve_credentials"]


def resolve_credentials(venue: VenueProfile, env: Mapping[str, str] | None = None) -> Credentials | None:
    """The user's credentials (:func:`feeds.config.load_credentials`), or on the simulator
    without any, its demo account. Never the demo account on testnet or live.

    Raises:
        ConfigError: as :func:`load_credentials`, or the demo key file cannot be used.
    """
    creds = load_credentials(env)
    if creds is None and venue.is_sim:
        from feeds.sim.credentials import demo_credentials

        try:
            creds = demo_credentials().as_credentials()
        except KeyFileError as exc:
            raise ConfigError(f"simulator demo key: {exc}") from None
        except OSError as exc:
            raise ConfigError(f"simulator demo key: cannot create it ({exc.strerror or exc})") from None
    return creds
