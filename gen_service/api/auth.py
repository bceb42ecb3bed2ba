"""Bearer-token authentication with three roles.

- admin: job control (create, pause, drain, resume, cancel, targets, budgets) and everything a viewer
  may read;
- worker: claim, submit and release leases, and only its own leases;
- viewer: the dashboard, the read-only API and /metrics.

Tokens come from settings as `name:secret` entries (the name identifies a worker in its leases). A
presented token is compared with every configured secret in constant time, and secrets are never
logged or echoed. With no tokens configured the API is open (a loopback-only development setup;
`serve` refuses to listen on any other address without tokens).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from fastapi import HTTPException, Request
from pydantic import SecretStr


class Role(StrEnum):
    ADMIN = "admin"
    WORKER = "worker"
    VIEWER = "viewer"


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    role: Role | None  # None: auth is off, every route is open


OPEN = Principal(name="local", role=None)


@dataclass(frozen=True, slots=True)
class _Entry:
    name: str
    role: Role
    digest: bytes  # sha256 of the secret: compared in constant time, never printed


class TokenRegistry:
    def __init__(self, entries: Sequence[tuple[str, Role, SecretStr]] = ()) -> None:
        self._entries = tuple(
            _Entry(name, role, hashlib.sha256(secret.get_secret_value().encode()).digest())
            for name, role, secret in entries
        )

    @property
    def enabled(self) -> bool:
        return bool(self._entries)

    def __repr__(self) -> str:
        return f"TokenRegistry({len(self._entries)} tokens)"

    def authenticate(self, presented: str) -> Principal | None:
        """The principal whose secret equals `presented`, comparing against every entry (no early
        exit, so timing does not tell which entry or how much of it matched)."""
        digest = hashlib.sha256(presented.encode()).digest()
        found: _Entry | None = None
        for entry in self._entries:
            if hmac.compare_digest(entry.digest, digest):
                found = entry
        return Principal(found.name, found.role) if found else None


def parse_tokens(spec: SecretStr | None, role: Role) -> list[tuple[str, Role, SecretStr]]:
    """Parse `name:secret,name2:secret2` (a bare `secret` gets a name derived from its hash)."""
    if spec is None or not spec.get_secret_value().strip():
        return []
    entries = []
    for raw in spec.get_secret_value().split(","):
        item = raw.strip()
        if not item:
            continue
        name, sep, secret = item.partition(":")
        if not sep:
            secret = name
            name = f"{role.value}-{hashlib.sha256(secret.encode()).hexdigest()[:8]}"
        if len(secret) < 16:
            raise ValueError(f"a {role.value} token is shorter than 16 characters; use a long random secret")
        entries.append((name.strip(), role, SecretStr(secret)))
    return entries


def is_loopback(host: str) -> bool:
    if host in {"localhost", "localhost.localdomain"}:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require(*roles: Role, query_token: bool = False) -> Callable[[Request], Awaitable[Principal]]:
    """A FastAPI dependency that admits the given roles. 401 for a missing, malformed or unknown
    token; 403 for a known token of another role. `query_token` also accepts `?access_token=` (for
    EventSource and a dashboard link, which cannot set headers).

    Async although it never awaits: FastAPI runs a plain `def` dependency in a worker thread, a thread
    hand-off per request for a few dictionary lookups."""

    async def dependency(request: Request) -> Principal:
        registry: TokenRegistry = request.app.state.tokens
        if not registry.enabled:
            return OPEN
        header = request.headers.get("authorization")
        presented: str | None = None
        if header is not None:
            scheme, _, value = header.partition(" ")
            if scheme.lower() != "bearer" or not value.strip() or " " in value.strip():
                raise _unauthorized("malformed Authorization header: expected 'Bearer <token>'")
            presented = value.strip()
        elif query_token:
            presented = request.query_params.get("access_token")
        if not presented:
            raise _unauthorized("missing bearer token")
        principal = registry.authenticate(presented)
        if principal is None:
            raise _unauthorized("invalid token")
        if principal.role not in roles:
            raise HTTPException(status_code=403, detail=f"role {principal.role} may not do this")
        return principal

    return dependency


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status_code=401, detail=detail, headers={"WWW-Authenticate": "Bearer"})
