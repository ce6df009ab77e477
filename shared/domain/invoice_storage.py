"""How large an invoice may be, outside its line items, to be stored (docs/architecture.md).

Line items of any size are stored (in chunks when they do not fit the invoice's own item), but
everything else — ids, amounts, `custom_fields`, `applied_credits` — lives in the invoice's one
DynamoDB item (400 KB) next to the first lines a list shows. An invoice whose fields outside the
lines pass `MAX_HEAD_BYTES` is a rejection naming its largest field, never a failed write.
"""

from __future__ import annotations

import json

from shared.domain.invoice import Invoice
from shared.domain.types import STORAGE
from shared.domain.validation import FieldError

MAX_HEAD_BYTES = 256_000


def check_storable(invoice: Invoice) -> None:
    """Raise a FieldError (`detail.<field>`) when the invoice outside its lines is too large to store."""
    head = invoice.model_copy(update={"line_items": []})
    size = len(head.model_dump_json(context=STORAGE).encode())
    if size <= MAX_HEAD_BYTES:
        return
    # The only fields without a length bound of their own.
    sizes = {
        "custom_fields": len(json.dumps(head.custom_fields).encode()),
        "applied_credits": sum(len(credit.model_dump_json().encode()) for credit in head.applied_credits),
    }
    largest = max(sizes, key=lambda name: sizes[name])
    raise FieldError(
        f"detail.{largest}",
        f"{sizes[largest]:,} bytes of JSON: an invoice keeps at most {MAX_HEAD_BYTES:,} bytes outside its "
        f"line items (this one has {size:,})",
    )
