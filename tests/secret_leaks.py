"""Find known secret values in captured text: logs, DLQ listings, anything a person may read.

    leaks = find_leaks({"DOWNBEAT_API_TOKEN": token}, {"stack stderr": text})
    assert_no_secret_leaks({"DOWNBEAT_API_TOKEN": token}, {"stack stderr": text})

A secret is looked for as it is, as a `Bearer` header, and base64-encoded — also inside a longer
base64 text such as an HTTP Basic header (`base64("sk_test_…:")`), whatever its alignment there.
The report masks every value it found, so a failing test does not spread the secret further.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

MIN_SECRET_LENGTH = 16  # shorter values would match by chance, and base64 fragments of them too
EXCERPT_CHARS = 240

AS_IS = "as is"
BEARER = "as a Bearer header"
BASE64 = "base64-encoded"


@dataclass(frozen=True)
class Leak:
    secret: str  # the secret's name, never its value
    form: str  # AS_IS, BEARER or BASE64
    source: str  # where the text came from, e.g. "stack stderr"
    line_number: int
    excerpt: str  # the line around the finding, every known secret masked


def base64_fragments(value: str) -> list[str]:
    """What any base64 text holding `value` contains, for each of the three byte alignments.

    Encoding `k` filler bytes before the value and dropping the characters that mix filler bits
    (or the bits after the value) leaves the characters only the value decides.
    """
    data = value.encode("utf-8")
    fragments: list[str] = []
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        for offset in range(3):
            encoded = encode(b"\0" * offset + data).decode("ascii")
            start = -(-8 * offset // 6)  # the first character made only of the value's bits
            end = 8 * (offset + len(data)) // 6
            fragments.append(encoded[start:end])
    return list(dict.fromkeys(fragments))


def find_leaks(secrets: Mapping[str, str], captured: Mapping[str, str]) -> list[Leak]:
    """Every line of `captured` (source name → text) holding a value of `secrets` (name → value)."""
    for name, value in secrets.items():
        if len(value) < MIN_SECRET_LENGTH:
            raise ValueError(f"{name}: use a distinctive value of at least {MIN_SECRET_LENGTH} characters")
    leaks: list[Leak] = []
    for source, text in captured.items():
        for number, line in enumerate(text.splitlines(), start=1):
            for name, value in secrets.items():
                leaks.extend(
                    Leak(name, form, source, number, _excerpt(line, secrets)) for form in _forms_in(line, value)
                )
    return leaks


def _forms_in(line: str, value: str) -> Iterable[str]:
    if value in line:
        bearer = re.search(r"(?i)\bbearer\s+" + re.escape(value), line)
        yield BEARER if bearer else AS_IS
    if any(fragment in line for fragment in base64_fragments(value)):
        yield BASE64


def _excerpt(line: str, secrets: Mapping[str, str]) -> str:
    masked = line
    for name, value in secrets.items():
        masked = masked.replace(value, f"«{name}»")
        for fragment in base64_fragments(value):
            masked = masked.replace(fragment, f"«base64 of {name}»")
    if len(masked) <= EXCERPT_CHARS:
        return masked
    start = max(0, masked.index("«") - EXCERPT_CHARS // 3)
    return ("…" if start else "") + masked[start : start + EXCERPT_CHARS] + "…"


def leak_report(leaks: Iterable[Leak]) -> str:
    """One paragraph per secret, form and source: how many lines, and the first one (masked)."""
    groups: dict[tuple[str, str, str], list[Leak]] = {}
    for leak in leaks:
        groups.setdefault((leak.secret, leak.form, leak.source), []).append(leak)
    count = sum(len(group) for group in groups.values())
    lines = [f"secret leaked: {count} finding(s) in what was captured (values masked as «NAME»):"]
    for (secret, form, source), group in groups.items():
        first = group[0]
        lines.append(f"  {secret} {form} in {source}: {len(group)} line(s), first line {first.line_number}:")
        lines.append(f"    {first.excerpt}")
    return "\n".join(lines)


def assert_no_secret_leaks(secrets: Mapping[str, str], captured: Mapping[str, str]) -> None:
    """Fail with `leak_report` when any captured line holds a secret."""
    leaks = find_leaks(secrets, captured)
    if leaks:
        raise AssertionError(leak_report(leaks))
