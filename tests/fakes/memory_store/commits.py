"""Commits, credits and their ledgers in memory (the fake of `shared/adapters/dynamodb/commits.py`)."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from shared.domain.audit import AuditEntry
from shared.domain.commits import Commit, CommitQuery
from shared.domain.customers import Contract
from shared.domain.ledger import CommitLedger, LedgerEntry
from shared.domain.paging import Page, PageRequest
from shared.ports.store import AlreadyExists, UniquenessKeyTaken
from tests.fakes.memory_store.state import MemoryTables


class MemoryCommits(MemoryTables):
    def create_commits_audited(
        self,
        commits: Sequence[Commit],
        audit: AuditEntry,
        contract: Contract | None = None,
        recurring: Sequence[Commit] = (),
        plan: str | None = None,
    ) -> None:
        if recurring and (contract is None or plan is None):
            raise ValueError("recurring commits are written with their contract and its plan")
        with self._lock:
            for commit in commits:
                key = commit.uniqueness_key
                if key is not None and (commit.customer_id, key) in self.uniqueness_keys:
                    raise UniquenessKeyTaken(key)
            for commit in (*commits, *recurring):
                if (commit.customer_id, commit.id) in self.commits:
                    raise AlreadyExists(commit.id)
            if contract is not None:
                if (contract.customer_id, contract.id) in self.contracts:
                    raise AlreadyExists(contract.id)
                self.contracts[(contract.customer_id, contract.id)] = contract
                if plan is not None:
                    self.recurring_plans[(contract.customer_id, contract.id)] = plan
            for commit in (*commits, *recurring):
                self.commits[(commit.customer_id, commit.id)] = commit
                if commit.uniqueness_key is not None:
                    self.uniqueness_keys[(commit.customer_id, commit.uniqueness_key)] = commit.id
            self.audit_entries.append(audit)

    def complete_recurring_commits(self, contract: Contract, plan: str, commits: Sequence[Commit]) -> bool:
        with self._lock:
            if self.recurring_plans.get((contract.customer_id, contract.id)) != plan:
                return False
            for commit in commits:
                self.commits.setdefault((commit.customer_id, commit.id), commit)
            return True

    def add_manual_entry(self, customer_id: str, entry: LedgerEntry, audit: AuditEntry) -> bool:
        with self._lock:
            if (customer_id, entry.commit_id) not in self.commits:
                return False
            self.manual_entries.setdefault((customer_id, entry.commit_id), []).append(entry)
            self.audit_entries.append(audit)
            return True

    def get_commit_ledger(self, customer_id: str, commit_id: str) -> CommitLedger | None:
        with self._lock:
            commit = self.commits.get((customer_id, commit_id))
            return None if commit is None else self._ledger(commit)

    def _ledger(self, commit: Commit) -> CommitLedger:
        key = (commit.customer_id, commit.id)
        manual = sorted(self.manual_entries.get(key, []), key=lambda entry: entry.id)
        drawdowns = [self.drawdowns[key][invoice] for invoice in sorted(self.drawdowns.get(key, {}))]
        return CommitLedger(commit, manual, drawdowns)

    def list_commit_ledgers(self, customer_id: str, query: CommitQuery, page: PageRequest) -> Page[CommitLedger]:
        with self._lock:
            ordered = [
                self._ledger(commit)
                for (owner, _), commit in sorted(self.commits.items())
                if owner == customer_id and query.matches(commit)
            ]
        return self._page(f"commits:{customer_id}", ordered, lambda ledger: [ledger.commit.id], page)

    def invoice_statuses(self, invoice_ids: Collection[str]) -> dict[str, str]:
        with self._lock:
            return {i: self.invoices[i].status for i in invoice_ids if i in self.invoices}
