"""The WebhookEndpoint port (`shared.ports.webhooks`) with requests: one session, fixed timeouts.

Every attempt is one POST and nothing more: no retry inside (the queue spaces the attempts, with
a fresh `Date` each time), no redirect followed (a 3xx is a failed attempt, and the signed body
never goes to a host nobody configured), and the response body is never read (only the status
counts, and a receiver's answer is not ours to log).
"""

from __future__ import annotations

from collections.abc import Mapping

import requests
from requests.adapters import HTTPAdapter

from shared.ports.errors import RetryableError

CONNECT_TIMEOUT_SECONDS = 3.05
READ_TIMEOUT_SECONDS = 10.0
USER_AGENT = "downbeat-webhooks/1"


class HttpWebhookEndpoint:
    def __init__(
        self,
        url: str,
        *,
        connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
        read_timeout: float = READ_TIMEOUT_SECONDS,
    ) -> None:
        self.url = url
        self._timeout = (connect_timeout, read_timeout)
        self._session = requests.Session()
        for prefix in ("http://", "https://"):
            self._session.mount(prefix, HTTPAdapter(max_retries=0))

    def post(self, body: bytes, headers: Mapping[str, str]) -> int:
        sent = {"User-Agent": USER_AGENT, **headers}
        try:
            response = self._session.post(
                self.url, data=body, headers=sent, timeout=self._timeout, allow_redirects=False, stream=True
            )
        except requests.Timeout as error:
            reason = f"no answer within the timeout ({type(error).__name__})"
            raise RetryableError(reason, code="timeout") from error
        except requests.RequestException as error:
            raise RetryableError(f"could not reach the endpoint ({type(error).__name__})", code="connection") from error
        response.close()
        return response.status_code
