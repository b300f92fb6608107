"""Who is on the other end of a connection, as far as rate limits need to know: a keyed hash
of the peer's network address that changes every day, never the address itself.

The key for day D is `derive_subkey(pepper, "network/" + D)`: yesterday's hashes cannot be
linked to today's, and without the pepper nobody can test an address against a hash. The
hash lives only in the broker, in rate-limit keys that expire with their window.

Behind the recommended reverse proxy or onion service the peer is the proxy itself (a
loopback address or a unix socket): every request then has the same identity, and the
per-identity limit acts as one more gateway-wide limit. That is deliberate: the proxy
strips forwarded-for headers, and a header the client can set is no identity at all.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import date
from typing import Final

from gateway.crypto.encoding import b64encode
from gateway.crypto.hashing import blake2b
from gateway.domain.keys import derive_subkey

# A home or mobile IPv6 customer usually gets a whole /64 (often a /56): counting single
# addresses there would give one person 2^64 identities.
IPV6_PREFIX_BITS: Final = 64
# Unix sockets and transports without an address (the proxy's socket): one shared identity.
NO_ADDRESS: Final = "unix"


@dataclass(frozen=True, slots=True)
class NetworkIdentity:
    """The day's keyed hash of a peer's address (base64url of 16 bytes); safe to use in keys."""

    digest: str

    def __repr__(self) -> str:
        return f"NetworkIdentity({self.digest[:6]}…)"


def address_group(address: str | None) -> str:
    """The unit an identity stands for: an IPv4 address, an IPv6 /64, or no address."""
    if not address:
        return NO_ADDRESS
    try:
        parsed = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return NO_ADDRESS
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, IPV6_PREFIX_BITS), strict=False))
    return str(parsed)


def network_identity(address: str | None, *, pepper: bytes, day: date) -> NetworkIdentity:
    """The identity of `address` on `day` (UTC). The address is used here and nowhere else."""
    key = derive_subkey(pepper, f"network/{day.isoformat()}")
    digest = blake2b(address_group(address).encode("ascii"), size=16, key=key)
    return NetworkIdentity(b64encode(digest))
