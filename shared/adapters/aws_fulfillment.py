"""AWS Marketplace fulfillment: `ResolveCustomer` through boto3's `meteringmarketplace` client.

The client is created without an `endpoint_url` (boto3 reads `AWS_ENDPOINT_URL_MARKETPLACE_METERING`,
else `AWS_ENDPOINT_URL`: the local stack's double), in the region of `AWS_MARKETPLACE_REGION`, and
wrapped by `aws_errors` like every AWS client. The answer's fields and the operation's errors are
botocore's service model (`botocore/data/meteringmarketplace/2016-01-14/service-2.json`,
`ResolveCustomerResult`; errors `InvalidTokenException`, `ExpiredTokenException`,
`ThrottlingException`, `InternalServiceErrorException`, `DisabledApiException`).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import boto3
import botocore.config

from shared.adapters.aws_errors import with_mapped_errors
from shared.ports.errors import PermanentError
from shared.ports.marketplace_listing import InvalidLandingToken, ResolvedAwsCustomer

if TYPE_CHECKING:
    from mypy_boto3_meteringmarketplace import MarketplaceMeteringClient

TOKEN_FIELD = "x-amzn-marketplace-token"
_REFUSED_TOKENS = {
    "InvalidTokenException": "AWS Marketplace refused the registration token as invalid",
    "ExpiredTokenException": "the registration token has expired (or was used before): subscribe again from"
    " the AWS Marketplace page, and the browser brings a new one",
}
# The buyer's browser waits: a short timeout, and botocore's standard retries (three attempts).
CONFIG = botocore.config.Config(
    connect_timeout=3, read_timeout=5, retries={"mode": "standard", "total_max_attempts": 3}
)


class AwsMarketplaceFulfillment:
    def __init__(self, region: str, session: boto3.Session | None = None) -> None:
        self._region = region
        self._session = session or boto3.Session()
        self._client: MarketplaceMeteringClient | None = None
        self._lock = threading.Lock()

    def _meteringmarketplace(self) -> MarketplaceMeteringClient:
        with self._lock:
            if self._client is None:
                client = self._session.client("meteringmarketplace", region_name=self._region, config=CONFIG)
                self._client = with_mapped_errors(
                    client, service="AWS Marketplace Metering", resource=f"region {self._region}"
                )
            return self._client

    def resolve_customer(self, token: str) -> ResolvedAwsCustomer:
        try:
            answer = self._meteringmarketplace().resolve_customer(RegistrationToken=token)
        except PermanentError as error:
            refused = _REFUSED_TOKENS.get(error.code or "")
            if refused is not None:
                raise InvalidLandingToken(TOKEN_FIELD, refused, code=error.code) from error
            raise
        product_code = answer.get("ProductCode")
        if not product_code:
            raise PermanentError("ResolveCustomer answered without a ProductCode", code="no_product_code")
        return ResolvedAwsCustomer(
            product_code=product_code,
            customer_aws_account_id=answer.get("CustomerAWSAccountId") or None,
            license_arn=answer.get("LicenseArn") or None,
            agreement_id=(answer.get("Metadata") or {}).get("AgreementId") or None,
            customer_identifier=answer.get("CustomerIdentifier") or None,
        )
