"""The audit log as the API shows it (DESIGN §4a): newest first, filtered, paged."""

from __future__ import annotations

from shared.domain.audit import AuditEntry, AuditQuery
from shared.domain.paging import Page, PageRequest
from shared.services.api_dependencies import ApiDependencies


def list_audit_log(deps: ApiDependencies, query: AuditQuery, page: PageRequest) -> Page[AuditEntry]:
    return deps.store.list_audit_entries(query, page)
