"""Delivery: SMTP mail and Slack-compatible webhooks, and the addresses they go to.

It knows nothing of digests or alerts: `reactions.digest` and `reactions.alerts` build
what is sent and call this module; the scheduler (`reactions.schedule`) and the workers
(`reactions.worker.tasks`) decide when.

SMTP settings come from `REACTIONS_SMTP_*`; the password is a `SecretStr` from the
environment and never appears in a log line, an error or the store. Transient failures
(a refused connection, a 4xx reply) are retried with stamina; what still fails raises
`DeliveryError` with a message that is safe to store.
"""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Any

import httpx
import stamina

log = logging.getLogger(__name__)

DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}
_ADDRESS = re.compile(r"^[^@\s<>\"',;]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")


class DeliveryError(Exception):
    """A mail or webhook could not be delivered; the message says why, without secrets."""


class ConfigurationMissing(DeliveryError, ValueError):
    """Delivery is not configured (e.g. no REACTIONS_SMTP_HOST); the message says what to set."""


class OutcomeUnknown(DeliveryError):
    """The connection failed after the message was handed to the server (DATA): it may have
    been accepted. Never retried: resending could deliver it twice."""


class InvalidAddress(ValueError):
    """Not a bare email address; the message shows what one looks like."""


def validate_address(address: str) -> str:
    """A bare email address, or InvalidAddress naming the problem."""
    address = (address or "").strip()
    name, parsed = parseaddr(address)
    if not parsed or parsed != address or not _ADDRESS.match(parsed):
        raise InvalidAddress(f"{address!r} is not an email address like editor@example.org")
    return parsed


class _Transient(Exception):
    """A failure worth trying again (connection refused, 4xx SMTP reply, webhook 5xx)."""


class Mailer:
    """Sends `EmailMessage`s through the configured SMTP server."""

    def __init__(self, settings: Any = None, *, attempts: int = 3, wait_initial: float = 0.5,
                 timeout: float = 30.0) -> None:
        if settings is None:
            from reactions.config import get_settings

            settings = get_settings()
        if not settings.smtp_host:
            raise ConfigurationMissing(
                "no SMTP server configured: set REACTIONS_SMTP_HOST (and REACTIONS_SMTP_PORT, "
                "REACTIONS_SMTP_SECURITY, REACTIONS_SMTP_USER, REACTIONS_SMTP_PASSWORD, "
                "REACTIONS_SMTP_FROM)")
        self.host = settings.smtp_host
        self.security = settings.smtp_security
        self.port = settings.smtp_port or DEFAULT_PORTS[self.security]
        self.user = settings.smtp_user
        self._password = settings.smtp_password  # SecretStr: revealed only at login
        self.sender = settings.smtp_from or f"reactions@{self.host}"
        self.attempts = attempts
        self.wait_initial = wait_initial
        self.timeout = timeout

    def __repr__(self) -> str:  # never shows the password
        return f"Mailer({self.security}://{self.host}:{self.port}, user={self.user!r})"

    def send(self, message: EmailMessage) -> None:
        """Send one message, retrying transient failures; raises DeliveryError at the end."""
        if "From" not in message:
            message["From"] = self.sender
        try:
            for attempt in stamina.retry_context(
                on=_Transient, attempts=self.attempts, wait_initial=self.wait_initial,
                wait_max=30.0,
            ):
                with attempt:
                    self._send_once(message)
        except _Transient as exc:
            raise DeliveryError(f"mail to {message['To']} via {self.host}:{self.port} failed "
                                f"after {self.attempts} attempts: {exc}") from None

    def _send_once(self, message: EmailMessage) -> None:
        client = None
        try:
            if self.security == "ssl":
                client = _SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                   context=ssl.create_default_context())
            else:
                client = _SMTP(self.host, self.port, timeout=self.timeout)
            if self.security == "starttls":
                client.starttls(context=ssl.create_default_context())
            if self.user:
                password = self._password.get_secret_value() if self._password else ""
                client.login(self.user, password)
            client.send_message(message)
        except smtplib.SMTPResponseException as exc:  # the server answered: it said no
            _close(client)
            raise self._refused(message, exc) from None
        except smtplib.SMTPRecipientsRefused as exc:
            _close(client)
            raise DeliveryError(f"recipients refused: {', '.join(exc.recipients)}") from None
        except (OSError, smtplib.SMTPException) as exc:
            _close(client)
            if client is not None and client.handed_over:
                raise OutcomeUnknown(
                    f"the connection to {self.host}:{self.port} failed after the message to "
                    f"{message['To']} was handed over ({type(exc).__name__}: {exc})") from None
            # Connection refused, timeouts, dropped connections before DATA: try again.
            raise _Transient(f"{type(exc).__name__}: {exc}") from None
        _close(client)  # accepted: a failing QUIT changes nothing

    def _refused(self, message: EmailMessage, exc: smtplib.SMTPResponseException) -> Exception:
        """The error to raise for a refusal: 4xx is worth another try, the rest is final."""
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            return DeliveryError(f"SMTP login as {self.user!r} was refused by {self.host}; "
                                 "check REACTIONS_SMTP_USER and REACTIONS_SMTP_PASSWORD")
        reason = f"SMTP {exc.smtp_code}: {_text(exc.smtp_error)}"
        if 400 <= exc.smtp_code < 500:
            return _Transient(reason)
        return DeliveryError(f"mail to {message['To']} refused: {reason}")


class _HandOver:
    """Marks when DATA starts: from then on a failure leaves the outcome unknown."""

    handed_over = False

    def data(self, msg):
        self.handed_over = True
        return super().data(msg)


class _SMTP(_HandOver, smtplib.SMTP):
    pass


class _SMTP_SSL(_HandOver, smtplib.SMTP_SSL):
    pass


def _close(client: smtplib.SMTP | None) -> None:
    """QUIT politely, else drop the connection; never raises."""
    if client is None:
        return
    try:
        client.quit()
    except (OSError, smtplib.SMTPException):
        client.close()


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def post_webhook(url: str, payload: dict[str, Any], *, client: httpx.Client | None = None,
                 attempts: int = 3, wait_initial: float = 0.5) -> None:
    """POST Slack-compatible JSON to a webhook; retries 429/5xx and connection errors."""
    own = client is None
    client = client or httpx.Client(timeout=10.0)
    try:
        for attempt in stamina.retry_context(on=_Transient, attempts=attempts,
                                             wait_initial=wait_initial, wait_max=30.0):
            with attempt:
                try:
                    response = client.post(url, json=payload)
                except httpx.TransportError as exc:
                    raise _Transient(f"{type(exc).__name__}: {exc}") from None
                if response.status_code == 429 or response.status_code >= 500:
                    raise _Transient(f"HTTP {response.status_code}")
                if response.status_code >= 400:
                    raise DeliveryError(f"webhook refused the alert: HTTP {response.status_code}")
    except _Transient as exc:
        raise DeliveryError(f"webhook failed after {attempts} attempts: {exc}") from None
    finally:
        if own:
            client.close()
