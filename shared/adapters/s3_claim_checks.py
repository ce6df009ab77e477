"""The ClaimCheckReader port (`shared.ports.claim_checks`) on S3: the router reads claim checks
from its one claim-check bucket, with its own role, and nothing else.

A uri naming any other bucket is refused before any call (the role could not read it anyway, and
the answer should say why). `ExpectedBucketOwner` makes S3 refuse the read if the bucket ever
belongs to another account. botocore errors are mapped (`shared.adapters.aws_errors`): permanent
ones (NoSuchKey, NoSuchBucket, AccessDenied…) become `ClaimCheckUnreadable`, retryable ones
(SlowDown, 5xx, timeouts) leave as `RetryableError` so Lambda tries the event again. An object
may be gzip-compressed (it starts with gzip's magic bytes): it is read decompressed.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError

from shared.adapters.aws_errors import with_mapped_errors
from shared.domain.types import parse_claim_check_uri
from shared.ports.claim_checks import ClaimCheckUnreadable
from shared.ports.errors import PermanentError, RetryableError

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

# 300 products x 744 hours of buckets are ~27 MB of JSON; beyond this the router would run out of
# memory before it ran out of lines (at most 10,000 per invoice).
MAX_CLAIM_CHECK_BYTES = 64 * 1024 * 1024
GZIP_MAGIC = b"\x1f\x8b"
_WHY = {
    "NoSuchKey": "no such object (it may have expired: claim checks are kept 7 days)",
    "NoSuchBucket": "no such bucket",
    "AccessDenied": "access denied (the router reads only its own claim-check bucket, owned by this account)",
    "AccessDeniedException": "access denied",
    "InvalidObjectState": "the object is archived and cannot be read",
}


class S3ClaimChecks:
    def __init__(
        self,
        client: S3Client,
        bucket: str,
        *,
        expected_owner: str | None = None,
        max_bytes: int = MAX_CLAIM_CHECK_BYTES,
    ) -> None:
        self._client = with_mapped_errors(client, service="S3", resource=f"claim-check bucket {bucket}")
        self.bucket = bucket
        self._owner = expected_owner
        self._max_bytes = max_bytes

    def read(self, uri: str) -> bytes:
        try:
            location = parse_claim_check_uri(uri)
        except ValueError as error:
            raise ClaimCheckUnreadable(f"{uri!r} {error}") from None
        if location.bucket != self.bucket:
            raise ClaimCheckUnreadable(
                f"{uri} names the bucket {location.bucket!r}; claim checks are read only from {self.bucket!r}"
            )
        request = {"Bucket": location.bucket, "Key": location.key}
        if self._owner:
            request["ExpectedBucketOwner"] = self._owner
        try:
            response = self._client.get_object(**request)  # type: ignore[arg-type]
        except RetryableError:
            raise
        except PermanentError as error:
            raise ClaimCheckUnreadable(f"{uri}: {_WHY.get(error.code or '', str(error))}") from error
        body = response["Body"]
        try:
            length = int(response.get("ContentLength") or 0)
            if length > self._max_bytes:
                raise ClaimCheckUnreadable(
                    f"{uri} is {length:,} bytes; claim checks of at most {self._max_bytes:,} are read"
                )
            document = body.read(self._max_bytes + 1)
        except BotoCoreError as error:  # the connection broke while the body streamed in: try again
            raise RetryableError(
                f"S3 GetObject on {uri}: reading the object failed ({error})", code="stream"
            ) from error
        finally:
            body.close()
        if len(document) > self._max_bytes:
            raise ClaimCheckUnreadable(
                f"{uri} is over {self._max_bytes:,} bytes; claim checks of at most that are read"
            )
        return self._gunzipped(document, uri) if document[:2] == GZIP_MAGIC else document

    def _gunzipped(self, document: bytes, uri: str) -> bytes:
        """A gzip-compressed object (a month of buckets shrinks tenfold), within the same bound."""
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            inflated = inflater.decompress(document, self._max_bytes + 1)
        except zlib.error as error:
            raise ClaimCheckUnreadable(f"{uri} starts as gzip but is not valid gzip ({error})") from None
        if len(inflated) > self._max_bytes or inflater.unconsumed_tail:
            raise ClaimCheckUnreadable(
                f"{uri} is over {self._max_bytes:,} bytes once decompressed; claim checks of at most that are read"
            )
        if not inflater.eof:
            raise ClaimCheckUnreadable(f"{uri} is gzip cut short (the object is incomplete)")
        return inflated
