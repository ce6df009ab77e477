"""The local moto server serializes DynamoDB requests (atomic items) and nothing else."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

import boto3

from local.moto_server import AtomicDynamoDB, LocalMotoServer
from local.template import create_table


def test_a_dynamodb_request_holds_the_lock_while_other_services_pass() -> None:
    inside = threading.Event()
    release = threading.Event()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            inside.set()
            assert release.wait(timeout=30)
        return [b"ok"]

    middleware = AtomicDynamoDB(app)
    dynamodb_call = threading.Thread(
        target=middleware, args=({"HTTP_X_AMZ_TARGET": "DynamoDB_20120810.UpdateItem"}, lambda *a: None)
    )
    dynamodb_call.start()
    assert inside.wait(timeout=30)
    assert middleware._lock.locked()  # a second DynamoDB request would wait here
    assert list(middleware({"HTTP_X_AMZ_TARGET": "AmazonSQS.ReceiveMessage"}, lambda *a: None)) == [b"ok"]
    release.set()
    dynamodb_call.join(timeout=30)
    assert not middleware._lock.locked()


def test_the_server_serves_dynamodb_behind_the_middleware() -> None:
    server = LocalMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        client = boto3.client("dynamodb", endpoint_url=f"http://{host}:{port}")
        create_table(client, "atomic")
        client.put_item(TableName="atomic", Item={"PK": {"S": "a"}, "SK": {"S": "b"}})
        assert client.get_item(TableName="atomic", Key={"PK": {"S": "a"}, "SK": {"S": "b"}})["Item"]
    finally:
        server.stop()
