"""marketplace_lifecycle: AWS agreement/licence events and SNS actions → subscription state."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from functions.marketplace_lifecycle.handler import lambda_handler
from local.lambda_context import LocalLambdaContext
from shared.domain.providers import AwsMarketplaceProviderConfiguration
from shared.domain.registrations import AwsIdentifiers, Registration
from shared.domain.subscriptions import created_through_api
from shared.services.marketplace_lifecycle import LifecycleDependencies
from shared.services.marketplace_subscriptions import SubscriptionDependencies
from tests.builders import AWS, configuration, customer
from tests.fakes.memory_store import InMemoryStore, RecordingQueue

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
ACCOUNT = "111122223333"
LICENCE = f"arn:aws:license-manager::{ACCOUNT}:license:l-0123456789abcdef0"
LICENSED = {
    **AWS,
    "configuration": {
        "aws_product_code": "prod-x", "aws_region": "us-east-1", "aws_customer_account_id": ACCOUNT,
        "aws_license_arn": LICENCE, "aws_agreement_id": "agmt-1",
    },
}  # fmt: skip
LEGACY: dict[str, Any] = {
    **AWS,
    "configuration": {"aws_product_code": "prod-x", "aws_region": "us-east-1", "aws_customer_id": "c-legacy"},
}


@pytest.fixture
def store() -> InMemoryStore:
    store = InMemoryStore()
    licensed = configuration(LICENSED).model_copy(update={"subscription": created_through_api(NOW)})
    legacy = configuration(LEGACY).model_copy(update={"subscription": created_through_api(NOW)})
    store.create_customer(customer("cust_new", licensed))
    store.create_customer(customer("cust_old", legacy))
    return store


@pytest.fixture
def dead_letters() -> RecordingQueue:
    return RecordingQueue()


@pytest.fixture
def deps(store: InMemoryStore, dead_letters: RecordingQueue) -> LifecycleDependencies:
    counter = itertools.count(1)
    return LifecycleDependencies(
        SubscriptionDependencies(store, lambda: NOW, lambda prefix: f"{prefix}_{next(counter)}"), dead_letters
    )


def event(
    detail_type: str, detail: dict[str, Any], event_id: str = "e-1", time: str = "2026-03-01T13:00:00Z"
) -> dict[str, Any]:
    return {
        "version": "0", "id": event_id, "detail-type": detail_type, "source": "aws.agreement-marketplace",
        "account": "123456789012", "time": time, "region": "us-east-1", "resources": [], "detail": detail,
    }  # fmt: skip


def agreement(agreement_id: str = "agmt-1", status: str | None = None, account: str = ACCOUNT) -> dict[str, Any]:
    body: dict[str, Any] = {"id": agreement_id, "acceptor": {"accountId": account}}
    if status:
        body["status"] = status
    return {"agreement": body}


def licence(arn: str = LICENCE.removeprefix("arn:")) -> dict[str, Any]:
    return {"license": {"id": "l-0123456789abcdef0", "licenseArn": arn}, "acceptor": {"accountId": ACCOUNT}}


def sns(action: str, customer_identifier: str = "c-legacy", message_id: str = "m-1") -> dict[str, Any]:
    message = {"action": action, "customer-identifier": customer_identifier, "product-code": "prod-x"}
    body = {"Type": "Notification", "MessageId": message_id, "Message": json.dumps(message),
            "Timestamp": "2026-03-01T13:00:00.000Z"}  # fmt: skip
    return {"Records": [{"messageId": f"sqs-{message_id}", "body": json.dumps(body)}]}


def run(deps: LifecycleDependencies, payload: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = lambda_handler(payload, LocalLambdaContext("MarketplaceLifecycleFunction"), deps=deps)
    return result


def aws_of(store: InMemoryStore, customer_id: str) -> AwsMarketplaceProviderConfiguration:
    found = store.customers[customer_id].configuration_for("aws_marketplace")
    assert isinstance(found, AwsMarketplaceProviderConfiguration)
    return found


def test_an_ended_agreement_unsubscribes_once(deps: LifecycleDependencies, store: InMemoryStore) -> None:
    ended = event("Purchase Agreement Ended - Manufacturer", agreement(status="CANCELLED"))
    assert run(deps, ended)["outcome"] == "changed"
    subscription = aws_of(store, "cust_new").subscription
    assert subscription is not None
    assert (subscription.status, subscription.source, subscription.agreement_id) == (
        "unsubscribed",
        "aws_event",
        "agmt-1",
    )
    assert subscription.changed_at == datetime(2026, 3, 1, 13, tzinfo=UTC)
    audits = len(store.audit_entries)
    assert run(deps, ended)["outcome"] == "unchanged"  # delivered twice: changed once
    assert len(store.audit_entries) == audits
    assert store.audit_entries[-1].action == "marketplaceSubscription.change"
    assert aws_of(store, "cust_old").subscription == created_through_api(NOW)  # another buyer: untouched


@pytest.mark.parametrize("status", ["RENEWED", "REPLACED"])
def test_an_agreement_ended_by_another_changes_nothing(
    deps: LifecycleDependencies, store: InMemoryStore, status: str
) -> None:
    before = store.customers["cust_new"]
    assert (
        run(deps, event("Purchase Agreement Ended - Manufacturer", agreement(status=status)))["outcome"] == "unchanged"
    )
    assert store.customers["cust_new"] == before


def test_a_new_agreement_is_recorded_and_licences_are_stored_whole(
    deps: LifecycleDependencies, store: InMemoryStore
) -> None:
    run(deps, event("Purchase Agreement Created - Manufacturer", agreement("agmt-2")))
    assert aws_of(store, "cust_new").configuration.aws_agreement_id == "agmt-2"
    assert aws_of(store, "cust_new").subscription == created_through_api(NOW)
    reissued = "aws:license-manager::999988887777:license:l-0123456789abcdef0"  # AWS's examples drop `arn:`
    run(deps, event("License Updated - Manufacturer", licence(reissued), event_id="e-2"))
    assert aws_of(store, "cust_new").configuration.aws_license_arn == f"arn:{reissued}"
    run(deps, event("License Deprovisioned - Manufacturer", licence(), event_id="e-3"))
    subscription = aws_of(store, "cust_new").subscription
    assert subscription is not None
    assert subscription.status == "unsubscribed"


def test_sns_actions_move_legacy_buyers(deps: LifecycleDependencies, store: InMemoryStore) -> None:
    assert run(deps, sns("unsubscribe-pending")) == {"batchItemFailures": []}
    assert aws_of(store, "cust_old").subscription == created_through_api(NOW)
    run(deps, sns("unsubscribe-success", message_id="m-2"))
    subscription = aws_of(store, "cust_old").subscription
    assert subscription is not None
    assert (subscription.status, subscription.source) == ("unsubscribed", "aws_sns")
    later = sns("subscribe-success", message_id="m-3")
    later["Records"][0]["body"] = later["Records"][0]["body"].replace("13:00:00", "14:00:00")
    run(deps, later)
    subscription = aws_of(store, "cust_old").subscription
    assert subscription is not None
    assert subscription.status == "active"


def test_subscribe_fail_fails_the_waiting_registration(deps: LifecycleDependencies, store: InMemoryStore) -> None:
    identifiers = AwsIdentifiers(aws_product_code="prod-x", aws_customer_id="c-waiting")
    store.registrations["reg_1"] = Registration(
        id="reg_1", provider="aws_marketplace", created_at=NOW, identifiers=identifiers
    )
    run(deps, sns("subscribe-fail", customer_identifier="c-waiting"))
    assert store.registrations["reg_1"].status == "failed"
    assert "subscribe-fail" in (store.registrations["reg_1"].reason or "")


def test_unknown_buyers_are_kept_and_never_fail_the_batch(deps: LifecycleDependencies, store: InMemoryStore) -> None:
    assert run(deps, sns("unsubscribe-success", customer_identifier="c-nobody")) == {"batchItemFailures": []}
    assert (
        run(deps, event("Purchase Agreement Ended - Manufacturer", agreement(account="999999999999")))["outcome"]
        == "unmatched"
    )
    assert set(store.unmatched_events) == {("aws_sns", "m-1"), ("aws_event", "e-1")}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (event("Purchase Agreement Ended - Manufacturer", {"agreement": {"id": "agmt-1"}}),
         "detail.agreement.acceptor.accountId"),
        (event("License Updated - Manufacturer", {"license": {"id": "l-1"}, "acceptor": {"accountId": ACCOUNT}}),
         "detail.license.licenseArn"),
        (event("Something Else", {}), "detail-type"),
        ({"Records": [{"messageId": "x", "body": json.dumps({"MessageId": "m", "Timestamp": "2026-03-01T00:00:00Z",
          "Message": json.dumps({"action": "subscribe-success", "product-code": "p"})})}]},
         "Message.customer-identifier"),
    ],
)  # fmt: skip
def test_malformed_messages_are_dead_lettered_naming_the_field(
    deps: LifecycleDependencies, dead_letters: RecordingQueue, store: InMemoryStore, payload: dict[str, Any], field: str
) -> None:
    before = dict(store.customers)
    result = run(deps, payload)
    assert result.get("batchItemFailures", []) == []
    assert [attributes["field"] for _, attributes in dead_letters.messages] == [field]
    assert field in dead_letters.messages[0][1]["reason"]
    assert store.customers == before


def registration_changes(store: InMemoryStore, registration_id: str) -> list[tuple[str, str, str | None, int]]:
    return [
        (e.action, e.actor, e.event_id, e.status_code)
        for e in store.audit_entries
        if (e.resource_type, e.resource_id) == ("registration", registration_id)
    ]


def waiting(store: InMemoryStore, registration_id: str, **identifiers: Any) -> None:
    store.registrations[registration_id] = Registration(
        id=registration_id, provider="aws_marketplace", created_at=NOW, identifiers=AwsIdentifiers(**identifiers)
    )


def test_an_sns_action_failing_a_registration_is_audited_once(
    deps: LifecycleDependencies, store: InMemoryStore
) -> None:
    waiting(store, "reg_1", aws_product_code="prod-x", aws_customer_id="c-waiting")
    run(deps, sns("subscribe-fail", customer_identifier="c-waiting", message_id="m-7"))
    assert registration_changes(store, "reg_1") == [
        ("marketplaceRegistration.change", "marketplace:aws_sns", "m-7", 200)
    ]
    [entry] = [e for e in store.audit_entries if e.resource_id == "reg_1"]
    assert (entry.ip_address, entry.user_agent, entry.timestamp) == (None, None, NOW)
    run(deps, sns("subscribe-fail", customer_identifier="c-waiting", message_id="m-7"))  # redelivered
    assert len(registration_changes(store, "reg_1")) == 1
    assert store.registrations["reg_1"].status == "failed"


def test_an_agreement_event_changing_a_registration_is_audited_once_with_its_id(
    deps: LifecycleDependencies, store: InMemoryStore
) -> None:
    waiting(store, "reg_2", aws_customer_account_id="444455556666", aws_product_code="prod-y",
            aws_license_arn=f"arn:aws:license-manager::444455556666:license:l-{'1' * 17}")  # fmt: skip
    created = event("Purchase Agreement Created - Manufacturer", agreement("agmt-9", account="444455556666"), "e-9")
    assert run(deps, created)["outcome"] == "changed"
    identifiers = store.registrations["reg_2"].identifiers
    assert isinstance(identifiers, AwsIdentifiers)
    assert identifiers.aws_agreement_id == "agmt-9"
    assert registration_changes(store, "reg_2") == [
        ("marketplaceRegistration.change", "marketplace:aws_event", "e-9", 200)
    ]
    assert run(deps, created)["outcome"] == "unchanged"  # the same event delivered again
    assert len(registration_changes(store, "reg_2")) == 1


def test_subscription_changes_are_audited_with_the_event_id(deps: LifecycleDependencies, store: InMemoryStore) -> None:
    run(deps, event("Purchase Agreement Ended - Manufacturer", agreement(status="CANCELLED"), "e-5"))
    [entry] = [e for e in store.audit_entries if e.resource_id == "cust_new"]
    assert (entry.action, entry.actor, entry.event_id) == (
        "marketplaceSubscription.change",
        "marketplace:aws_event",
        "e-5",
    )


def test_a_new_agreement_naming_no_product_is_unmatched_when_the_account_holds_several(
    deps: LifecycleDependencies, store: InMemoryStore
) -> None:
    waiting(store, "reg_3", aws_customer_account_id=ACCOUNT, aws_product_code="prod-z",
            aws_license_arn=f"arn:aws:license-manager::{ACCOUNT}:license:l-{'2' * 17}")  # fmt: skip
    before = (store.customers["cust_new"], store.registrations["reg_3"], len(store.audit_entries))
    result = run(deps, event("Purchase Agreement Created - Manufacturer", agreement("agmt-7"), "e-7"))
    assert result["outcome"] == "unmatched"
    assert "cannot be attributed" in result["reason"]
    assert (store.customers["cust_new"], store.registrations["reg_3"], len(store.audit_entries)) == before
    assert ("aws_event", "e-7") in store.unmatched_events
    named = event("Purchase Agreement Created - Manufacturer", {**agreement("agmt-8"), "product": {"code": "prod-z"}})
    assert run(deps, named)["outcome"] == "changed"  # with its product it is attributed: only that one
    identifiers = store.registrations["reg_3"].identifiers
    assert isinstance(identifiers, AwsIdentifiers)
    assert identifiers.aws_agreement_id == "agmt-8"
    assert aws_of(store, "cust_new").configuration.aws_agreement_id == "agmt-1"


def test_a_new_agreement_naming_no_product_is_recorded_when_the_account_holds_one(
    deps: LifecycleDependencies, store: InMemoryStore
) -> None:
    result = run(deps, event("Purchase Agreement Created - Manufacturer", agreement("agmt-6"), "e-6"))
    assert (result["outcome"], result["reason"]) == ("changed", None)
    assert aws_of(store, "cust_new").configuration.aws_agreement_id == "agmt-6"
    assert store.unmatched_events == {}


def test_an_event_redelivered_after_a_later_one_changes_nothing(
    deps: LifecycleDependencies, store: InMemoryStore
) -> None:
    first = event("Purchase Agreement Created - Manufacturer", agreement("agmt-2"), "e-2")
    run(deps, first)
    run(deps, event("Purchase Agreement Created - Manufacturer", agreement("agmt-3"), "e-3"))
    audits = len(store.audit_entries)
    result = run(deps, first)  # EventBridge delivers at least once, in no promised order
    assert (result["outcome"], result["reason"]) == ("unchanged", "this event was handled already")
    assert aws_of(store, "cust_new").configuration.aws_agreement_id == "agmt-3"
    assert len(store.audit_entries) == audits
    assert [e.event_id for e in store.audit_entries if e.resource_id == "cust_new"] == ["e-2", "e-3"]
