"""The AWS regions botocore knows for AWS Marketplace metering: where an `aws_region` may point.

Read from botocore's own endpoint data (every partition), lazily and once per process. It lives
here rather than in shared/domain, which imports no SDK and whose models must read back whatever
botocore is installed (a stored configuration never becomes unreadable because a newer or older
botocore lists other regions), and rather than in an adapter, since it talks to nothing. The API's
request models check a configuration against it when one is sent, and only then.
"""

from __future__ import annotations

import functools

METERING_SERVICE = "meteringmarketplace"


@functools.cache
def marketplace_metering_regions() -> frozenset[str]:
    import botocore.session  # noqa: PLC0415 - only a request carrying an AWS configuration pays for it

    session = botocore.session.get_session()
    return frozenset(
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions(METERING_SERVICE, partition_name=partition)
    )
