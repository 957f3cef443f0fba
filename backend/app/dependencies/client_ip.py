"""The caller's address, believing `X-Forwarded-For` only from trusted proxies."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from typing import Annotated

from fastapi import Depends, Request

Network = IPv4Network | IPv6Network


def _parse(value: str) -> IPv4Address | IPv6Address | None:
    try:
        return ip_address(value.strip())
    except ValueError:
        return None


def _trusted(address: IPv4Address | IPv6Address | None, proxies: list[Network]) -> bool:
    return address is not None and any(address in network for network in proxies)


def resolve_client_ip(peer: str | None, forwarded_for: str | None, proxies: list[Network]) -> str:
    """Walk `X-Forwarded-For` from the right while the hop is a trusted proxy; the first
    untrusted hop is the client. A peer that is not a trusted proxy is the client itself, so a
    spoofed header from it changes nothing."""
    peer_address = _parse(peer or "")
    if not _trusted(peer_address, proxies) or not forwarded_for:
        return peer or "unknown"
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        address = _parse(hop)
        if address is None:
            break
        if not _trusted(address, proxies):
            return str(address)
    return peer or "unknown"


async def get_client_ip(request: Request) -> str:
    peer = request.client.host if request.client else None
    return resolve_client_ip(
        peer, request.headers.get("x-forwarded-for"), request.app.state.settings.trusted_proxies
    )


ClientIp = Annotated[str, Depends(get_client_ip)]
