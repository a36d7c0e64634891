"""Alert by webhook when a monitor run finds drift at the ``--fail-on`` level.

One POST of ``{"text": "..."}`` (`alert_payload`): the one field both Slack incoming
webhooks (https://api.slack.com/messaging/webhooks: ``text``) and Microsoft Teams incoming
webhooks (the Office 365 connector card: ``text``, Markdown) accept. The text names the
source, the baseline, each window at or above the level with its worst columns, and the
report's link when there is one.

The URL is read from an environment variable (it is a credential: whoever holds it can
post to the channel) and never appears in a message, log or exception: errors name the
variable instead. A POST is retried on connection errors, timeouts, 429 and 5xx (3 attempts,
1 s then 2 s apart, honouring ``Retry-After`` up to 30 s); other 4xx are not retried.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from typing import TYPE_CHECKING

from skyfabric.errors import DriftError, register_secret

if TYPE_CHECKING:
    from skyfabric.drift.trend import MonitorResult, WindowResult

__all__ = ["AlertError", "alert_payload", "post_alert", "webhook_url"]


class AlertError(DriftError):
    """The alert could not be delivered (the message names the variable, never the URL)."""


def webhook_url(env_var: str) -> str:
    """The webhook URL held by ``env_var``.

    Raises:
        AlertError: the variable is unset or empty, or does not hold an http(s) URL.
    """
    url = os.environ.get(env_var, "").strip()
    if not url:
        raise AlertError(
            f"the environment variable {env_var} holding the alert webhook URL is not set; "
            f"fix: export {env_var}=<the incoming webhook URL of the Slack or Teams channel>"
        )
    if not url.startswith(("https://", "http://")):
        raise AlertError(
            f"the environment variable {env_var} does not hold an http(s) URL; fix: set it "
            "to the incoming webhook URL (https://hooks.slack.com/services/...)"
        )
    register_secret(url)  # scrubbed from any message that might quote it
    return url


def _worst_columns(w: WindowResult, limit: int = 3) -> str:
    ranked = sorted(w.columns, key=lambda c: (c.level != w.status, -(c.psi or 0.0)))
    shown = [
        f"{c.column} {c.status}" + (f" (PSI {c.psi:.3f})" if c.psi is not None else "")
        for c in ranked[:limit]
        if c.level == w.status
    ]
    return ", ".join(shown)


def alert_payload(
    result: MonitorResult, windows: list[WindowResult], level: str, report_link: str | None
) -> dict[str, str]:
    """``{"text": summary}`` for the ``windows`` at or above ``level``."""
    lines = [
        f"skyfabric drift: {len(windows)} window(s) of {result.source} at {level} drift or "
        f"worse against {result.baseline_url}"
    ]
    lines += [f"- {w.window}: {w.status}, {w.rows:,} rows; {_worst_columns(w)}" for w in windows]
    if report_link:
        lines.append(f"Report: {report_link}")
    return {"text": "\n".join(lines)}


def post_alert(
    env_var: str,
    payload: dict[str, str],
    *,
    timeout: float = 10.0,
    attempts: int = 3,
    backoff: float = 1.0,
) -> int:
    """POST ``payload`` as JSON to the URL in ``env_var``; return the HTTP status.

    Raises:
        AlertError: the variable is unset or not a URL, the endpoint refused the payload
            (4xx other than 429), or every attempt failed; names ``env_var``, not the URL.
    """
    url = webhook_url(env_var)
    body = json.dumps(payload).encode("utf-8")
    last = ""
    for attempt in range(attempts):
        request = urllib.request.Request(
            url, data=body, method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "skyfabric-drift"},
        )
        wait = backoff * 2**attempt
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code} {exc.reason}"
            if exc.code != 429 and exc.code < 500:
                raise AlertError(
                    f"the webhook in {env_var} refused the alert ({last}); fix: check that "
                    f"{env_var} holds the channel's current incoming webhook URL"
                ) from None
            retry_after = exc.headers.get("Retry-After") if exc.headers else None
            if retry_after and retry_after.isdigit():
                wait = min(30.0, float(retry_after))
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            last = f"{type(exc).__name__}: {type(reason).__name__}"  # no URL in the text
        if attempt + 1 < attempts:
            time.sleep(wait)
    raise AlertError(
        f"the alert could not be posted to the webhook in {env_var} after {attempts} "
        f"attempts (last: {last}); fix: check the network and the URL in {env_var}"
    )
