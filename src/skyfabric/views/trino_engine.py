"""Apply views to a Trino cluster through the ``trino`` Python client (DB-API).

Where the connection comes from, first match wins: a `TrinoConnection` or an open
``trino.dbapi.Connection`` passed in; a ``[trino]`` table of the configuration (if the
configuration defines one); the environment:

==========================  ==============================================================
``TRINO_HOST``              coordinator host, or a URL ``https://trino.example.com:8443``
``TRINO_PORT``              port (default 8080, 443 for https)
``TRINO_USER``              user (default ``skyfabric``)
``TRINO_HTTP_SCHEME``       ``http`` or ``https`` (default: from the URL or port)
``TRINO_PASSWORD``          password for HTTP basic auth (needs https)
``TRINO_JWT``               a JWT for bearer auth (needs https); wins over the password
``TRINO_VERIFY``            ``false`` to skip TLS verification, or a CA bundle path
==========================  ==============================================================

Secrets are read from the environment only when connecting and never kept in a repr.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from skyfabric.errors import ConfigError, MissingDependencyError, redact, register_secret
from skyfabric.views.errors import ViewApplyError
from skyfabric.views.render import check_trino_sql

__all__ = ["TrinoConnection", "execute"]


@dataclass(frozen=True)
class TrinoConnection:
    """How to reach a Trino coordinator. Secrets are the *names* of environment variables.

    Attributes:
        host: host name or URL of the coordinator.
        port: HTTP(S) port; None: 8080, or 443 for https.
        user: Trino user.
        http_scheme: ``http`` or ``https``; None: from ``host``/``port``.
        password_env: env var holding a password (basic auth).
        jwt_env: env var holding a JWT (bearer auth).
        verify: TLS verification: True, False or a CA bundle path.
        source: client name shown in Trino's query list.
    """

    host: str
    port: int | None = None
    user: str = "skyfabric"
    http_scheme: str | None = None
    password_env: str | None = None
    jwt_env: str | None = None
    verify: bool | str = True
    source: str = "skyfabric"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TrinoConnection:
        """Read the ``TRINO_*`` variables (see the module docstring).

        Raises:
            ConfigError: ``TRINO_HOST`` is not set, or ``TRINO_PORT`` is not a number.
        """
        env = os.environ if environ is None else environ
        host = env.get("TRINO_HOST")
        if not host:
            raise ConfigError(
                "no Trino connection: TRINO_HOST is not set; fix: export TRINO_HOST=trino.example.com "
                "(and TRINO_PORT, TRINO_USER, TRINO_HTTP_SCHEME, TRINO_PASSWORD as needed) or pass connection="
            )
        port = env.get("TRINO_PORT")
        if port is not None and not port.isdigit():
            raise ConfigError(f"TRINO_PORT {port!r} is not a port number")
        verify_text = env.get("TRINO_VERIFY", "true")
        verify: bool | str = (verify_text.lower() not in ("false", "0", "no")) if verify_text.lower() in (
            "true", "false", "1", "0", "yes", "no") else verify_text
        return cls(
            host=host, port=int(port) if port else None, user=env.get("TRINO_USER", "skyfabric"),
            http_scheme=env.get("TRINO_HTTP_SCHEME"),
            password_env="TRINO_PASSWORD" if env.get("TRINO_PASSWORD") else None,
            jwt_env="TRINO_JWT" if env.get("TRINO_JWT") else None, verify=verify,
        )

    @classmethod
    def from_config(cls, config: Any) -> TrinoConnection:
        """From a ``[trino]`` table of the configuration if it has one, else `from_env`."""
        section = getattr(config, "trino", None)
        if section is None:
            return cls.from_env()
        fields = section.model_dump() if hasattr(section, "model_dump") else dict(section)
        return cls(**{k: v for k, v in fields.items() if k in cls.__dataclass_fields__ and v is not None})

    def connect(self) -> Any:
        """Open a ``trino.dbapi.Connection``.

        Raises:
            MissingDependencyError: the ``trino`` package is not installed.
            ConfigError: a named environment variable is not set.
        """
        try:
            import trino
        except ImportError as exc:
            raise MissingDependencyError("Trino needs the trino client; fix: pip install 'skyfabric[trino]'") from exc
        auth = None
        if (self.jwt_env or self.password_env) and (self.http_scheme or self.host.split("://")[0]) != "https":
            raise ConfigError(
                f"Trino authentication needs TLS, but {self.host} is reached over http; fix: "
                "set TRINO_HTTP_SCHEME=https (or an https:// host), or drop the password/JWT"
            )
        if self.jwt_env or self.password_env:
            var = self.jwt_env or self.password_env
            secret = os.environ.get(var or "")
            if secret is None:
                raise ConfigError(f"the Trino connection names ${var}, which is not set; fix: export {var}=...")
            register_secret(secret)
            auth = (trino.auth.JWTAuthentication(secret) if self.jwt_env
                    else trino.auth.BasicAuthentication(self.user, secret))
        return trino.dbapi.connect(
            host=self.host, port=self.port, user=self.user, http_scheme=self.http_scheme,
            auth=auth, verify=self.verify, source=self.source,
        )


def execute(statements: Sequence[str], connection: Any) -> list[str]:
    """Run ``statements`` in order on a Trino DB-API connection; return those that ran.

    Each statement is checked with `check_trino_sql` first, and its result is fetched (a DDL
    statement completes only when its result is read).

    Raises:
        ViewApplyError: Trino refused a statement (the message names it; earlier ones ran).
    """
    done: list[str] = []
    for sql in statements:
        check_trino_sql(sql)
        cursor = connection.cursor()
        try:
            cursor.execute(sql)
            cursor.fetchall()
        except Exception as exc:  # trino.exceptions.* and requests errors
            raise ViewApplyError(
                f"Trino refused statement {len(done) + 1} of {len(statements)}: "
                f"{redact(f'{type(exc).__name__}: {exc}')}\n  statement: {sql}"
                + (f"\n  already applied: {len(done)} statement(s)" if done else "")
            ) from exc
        finally:
            cursor.close()
        done.append(sql)
    return done
