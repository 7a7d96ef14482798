"""Send messages over SMTP (aiosmtplib), with every failure surfacing as a specific :class:`SendError`.

Nothing is dropped silently: a refused recipient raises even when others were accepted, and connection,
TLS, authentication, timeout and server errors each have their own class so a caller can retry the transient
ones and report the permanent ones.

Configuration comes from code (:class:`SMTPSettings`) or one URL, ``ORGINVITE_SMTP_URL``::

    smtp://127.0.0.1:1025                      plain (a local catcher), STARTTLS if the server offers it
    smtp://user:pass@mail.example.com:587      STARTTLS required (credentials never travel in clear)
    smtps://user:pass@mail.example.com         implicit TLS, port 465
    smtp://host:25?starttls=off&timeout=10     options: starttls=auto|required|off, timeout, validate_certs,
                                               cert_bundle, local_hostname, allow_insecure_auth
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Literal
from urllib.parse import parse_qsl, unquote, urlsplit

import aiosmtplib

from orginvite.errors import ConfigurationError, OrgInviteError
from orginvite.loopback import is_loopback_host

__all__ = [
    "SMTPAuthenticationError",
    "SMTPConnectionError",
    "SMTPRecipientRefusedError",
    "SMTPSender",
    "SMTPSenderRefusedError",
    "SMTPServerError",
    "SMTPSettings",
    "SMTPTLSError",
    "SMTPTimeoutError",
    "SendError",
    "SendResult",
    "send_message",
]

ENV_VAR = "ORGINVITE_SMTP_URL"
Security = Literal["auto", "starttls", "tls", "none"]


# --- errors ------------------------------------------------------------------------------------------------------


class SendError(OrgInviteError):
    """A message could not be (fully) delivered to the SMTP server. ``transient`` says whether a retry may help."""

    transient = False

    def __init__(self, message: str, *, code: int | None = None, server_message: str = "") -> None:
        self.code = code
        self.server_message = server_message
        super().__init__(message)


class SMTPConnectionError(SendError):
    """The server could not be reached (refused, unknown host, reset, greeting refused)."""

    transient = True


class SMTPTLSError(SMTPConnectionError):
    """TLS could not be set up: certificate rejected, handshake failed, or STARTTLS required but not offered."""

    transient = False


class SMTPTimeoutError(SendError):
    """The server did not answer in time (connecting or during the exchange)."""

    transient = True


class SMTPAuthenticationError(SendError):
    """The server rejected the credentials, or requires authentication that was not configured."""


class SMTPSenderRefusedError(SendError):
    """The server refused the envelope sender (``MAIL FROM``)."""


class SMTPRecipientRefusedError(SendError):
    """The server refused one or more recipients; ``refused`` maps each address to ``(code, message)``."""

    def __init__(self, message: str, refused: Mapping[str, tuple[int, str]]) -> None:
        self.refused = dict(refused)
        first = next(iter(self.refused.values()), (None, ""))
        super().__init__(message, code=first[0], server_message=first[1])
        self.transient = all(400 <= code < 500 for code, _ in self.refused.values())


class SMTPServerError(SendError):
    """Any other error reply from the server (``DATA`` refused, 4xx/5xx)."""

    def __init__(self, message: str, *, code: int | None = None, server_message: str = "") -> None:
        super().__init__(message, code=code, server_message=server_message)
        self.transient = code is not None and 400 <= code < 500


# --- settings ----------------------------------------------------------------------------------------------------




def _boolean(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigurationError(f"{ENV_VAR} {name}", f"expected true or false, got {value[:20]!r}")


@dataclass(frozen=True)
class SMTPSettings:
    """How to reach the SMTP server.

    ``security``: ``"tls"`` (implicit TLS, smtps), ``"starttls"`` (required), ``"none"`` (plain text), or
    ``"auto"`` (STARTTLS when offered; becomes ``"starttls"`` when credentials are set and the host is not
    loopback, so a password never crosses a network in clear unless ``allow_insecure_auth``).
    """

    host: str = "127.0.0.1"
    port: int | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    security: Security = "auto"
    timeout: float = 30.0
    validate_certs: bool = True
    cert_bundle: str | None = None
    local_hostname: str | None = None
    allow_insecure_auth: bool = False

    def __post_init__(self) -> None:
        if not self.host or any(ch in self.host for ch in " /\\@\r\n"):
            raise ConfigurationError("smtp host", f"not a host name: {self.host[:60]!r}")
        if self.port is not None and not (0 < self.port < 65536):
            raise ConfigurationError("smtp port", f"out of range: {self.port}")
        if self.security not in {"auto", "starttls", "tls", "none"}:
            raise ConfigurationError("smtp security", "expected auto, starttls, tls or none")
        if not self.timeout > 0:
            raise ConfigurationError("smtp timeout", "must be positive")
        if (self.username is None) != (self.password is None):
            raise ConfigurationError("smtp credentials", "set both username and password, or neither")
        if (
            self.username is not None
            and self.security == "none"
            and not self.allow_insecure_auth
            and not is_loopback_host(self.host)
        ):
            raise ConfigurationError(
                "smtp security",
                "credentials over an unencrypted connection; use starttls or tls (or allow_insecure_auth)",
            )

    @property
    def effective_port(self) -> int:
        if self.port is not None:
            return self.port
        return {"tls": 465, "starttls": 587}.get(self.security, 25)

    @property
    def start_tls(self) -> bool | None:
        """aiosmtplib's ``start_tls``: True (required), False (never), None (when offered)."""
        if self.security == "starttls":
            return True
        if self.security in {"none", "tls"}:
            return False
        if self.username is not None and not is_loopback_host(self.host) and not self.allow_insecure_auth:
            return True
        return None

    @classmethod
    def from_url(cls, url: str) -> SMTPSettings:
        """Parse ``smtp://[user:pass@]host[:port][?options]`` or ``smtps://...`` (see the module docstring)."""
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError as exc:
            raise ConfigurationError(ENV_VAR, f"not a valid URL ({exc})") from exc
        if parts.scheme not in {"smtp", "smtps"}:
            raise ConfigurationError(ENV_VAR, f"scheme must be smtp or smtps, not {parts.scheme[:10]!r}")
        if not parts.hostname:
            raise ConfigurationError(ENV_VAR, "no host")
        options = dict(parse_qsl(parts.query, keep_blank_values=True))
        unknown = set(options) - {
            "starttls", "timeout", "validate_certs", "cert_bundle", "local_hostname", "allow_insecure_auth"
        }
        if unknown:
            raise ConfigurationError(ENV_VAR, f"unknown option(s): {', '.join(sorted(unknown))}")
        security: Security = "tls" if parts.scheme == "smtps" else "auto"
        if "starttls" in options:
            if parts.scheme == "smtps":
                raise ConfigurationError(ENV_VAR, "starttls makes no sense with smtps (already TLS)")
            choice = options["starttls"].strip().lower()
            mapping: dict[str, Security] = {
                "auto": "auto", "required": "starttls", "": "starttls", "true": "starttls", "1": "starttls",
                "on": "starttls", "off": "none", "false": "none", "0": "none",
            }
            if choice not in mapping:
                raise ConfigurationError(f"{ENV_VAR} starttls", "expected auto, required or off")
            security = mapping[choice]
        try:
            timeout = float(options.get("timeout", "30"))
        except ValueError as exc:
            raise ConfigurationError(f"{ENV_VAR} timeout", "expected a number of seconds") from exc
        return cls(
            host=parts.hostname,
            port=port,
            username=unquote(parts.username) if parts.username is not None else None,
            password=unquote(parts.password) if parts.password is not None else (
                "" if parts.username is not None else None
            ),
            security=security,
            timeout=timeout,
            validate_certs=_boolean("validate_certs", options.get("validate_certs", "true")),
            cert_bundle=options.get("cert_bundle") or None,
            local_hostname=options.get("local_hostname") or None,
            allow_insecure_auth=_boolean("allow_insecure_auth", options.get("allow_insecure_auth", "false")),
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, name: str = ENV_VAR) -> SMTPSettings | None:
        """Settings from ``ORGINVITE_SMTP_URL``, or None when it is unset or empty (no SMTP configured)."""
        value = (os.environ if environ is None else environ).get(name, "").strip()
        return cls.from_url(value) if value else None


# --- sending -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SendResult:
    """What the server said: the accepted recipients and its final reply to ``DATA``."""

    recipients: tuple[str, ...]
    response: str
    message_id: str | None


class SMTPSender:
    """Sends :class:`~email.message.EmailMessage` objects with one connection per call (invitations are rare)."""

    def __init__(self, settings: SMTPSettings) -> None:
        self.settings = settings

    async def send(
        self,
        message: EmailMessage,
        *,
        sender: str | None = None,
        recipients: Sequence[str] | None = None,
    ) -> SendResult:
        """Send ``message`` (envelope from its From/To unless given); raise a :class:`SendError` on any failure."""
        settings = self.settings
        target = f"{settings.host}:{settings.effective_port}"
        try:
            errors, response = await aiosmtplib.send(
                message,
                sender=sender,
                recipients=list(recipients) if recipients is not None else None,
                hostname=settings.host,
                port=settings.effective_port,
                username=settings.username,
                password=settings.password,
                local_hostname=settings.local_hostname,
                timeout=settings.timeout,
                use_tls=settings.security == "tls",
                start_tls=settings.start_tls,
                validate_certs=settings.validate_certs,
                cert_bundle=settings.cert_bundle,
            )
        except aiosmtplib.SMTPTimeoutError as exc:  # before SMTPConnectError: the connect timeout is both
            raise SMTPTimeoutError(f"SMTP server {target} did not answer within {settings.timeout:g} s") from exc
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise SMTPAuthenticationError(
                f"SMTP server {target} rejected the credentials for {settings.username!r}",
                code=exc.code,
                server_message=exc.message,
            ) from exc
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refused = {error.recipient: (error.code, error.message) for error in exc.recipients}
            raise SMTPRecipientRefusedError(
                f"SMTP server {target} refused the recipient(s) {', '.join(refused)}", refused
            ) from exc
        except aiosmtplib.SMTPSenderRefused as exc:
            if exc.code == 530:  # "Authentication required", answered to MAIL FROM
                raise SMTPAuthenticationError(
                    f"SMTP server {target} requires authentication"
                    + ("; set a username and password" if settings.username is None else ""),
                    code=exc.code,
                    server_message=exc.message,
                ) from exc
            raise SMTPSenderRefusedError(
                f"SMTP server {target} refused the sender {exc.sender!r}", code=exc.code, server_message=exc.message
            ) from exc
        except aiosmtplib.SMTPResponseException as exc:
            if exc.code == 530 and settings.username is None:
                raise SMTPAuthenticationError(
                    f"SMTP server {target} requires authentication; set a username and password",
                    code=exc.code,
                    server_message=exc.message,
                ) from exc
            raise SMTPServerError(
                f"SMTP server {target} answered {exc.code}: {exc.message}", code=exc.code, server_message=exc.message
            ) from exc
        except ssl.SSLError as exc:
            raise SMTPTLSError(f"TLS with SMTP server {target} failed: {exc}") from exc
        except aiosmtplib.SMTPConnectError as exc:
            if isinstance(exc.__cause__, ssl.SSLError) or "certificate" in str(exc).lower():
                raise SMTPTLSError(f"TLS with SMTP server {target} failed: {exc}") from exc
            raise SMTPConnectionError(f"cannot connect to SMTP server {target}: {exc}") from exc
        except aiosmtplib.SMTPServerDisconnected as exc:
            raise SMTPConnectionError(f"SMTP server {target} closed the connection: {exc}") from exc
        except aiosmtplib.SMTPException as exc:  # SMTPNotSupported and other protocol-level refusals
            text = str(exc)
            if "STARTTLS" in text.upper():
                raise SMTPTLSError(f"SMTP server {target} does not offer STARTTLS, which is required") from exc
            if "AUTH" in text.upper():
                raise SMTPAuthenticationError(f"SMTP server {target} cannot authenticate: {text}") from exc
            raise SMTPServerError(f"SMTP exchange with {target} failed: {text}") from exc
        except OSError as exc:
            raise SMTPConnectionError(f"cannot connect to SMTP server {target}: {exc}") from exc
        if errors:
            # Some recipients were accepted, others refused: still an error, never a silent partial delivery.
            refused = {address: (reply.code, reply.message) for address, reply in errors.items()}
            raise SMTPRecipientRefusedError(
                f"SMTP server {target} refused the recipient(s) {', '.join(refused)} (others were accepted)", refused
            )
        accepted = tuple(recipients) if recipients is not None else tuple(
            address.addr_spec for header in ("To", "Cc", "Bcc") for address in _addresses(message, header)
        )
        return SendResult(recipients=accepted, response=response, message_id=message.get("Message-ID"))


def _addresses(message: EmailMessage, header: str) -> list:
    value = message.get(header)
    return list(getattr(value, "addresses", ())) if value is not None else []


async def send_message(message: EmailMessage, settings: SMTPSettings) -> SendResult:
    """Send one message with ``settings`` (see :class:`SMTPSender`)."""
    return await SMTPSender(settings).send(message)
