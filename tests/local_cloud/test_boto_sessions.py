"""boto3 sessions sharing one botocore data loader (local/boto_sessions.py; fast, no server)."""

from __future__ import annotations

import threading

from local.boto_sessions import new_session


def test_sessions_share_the_loaded_models_and_keep_the_search_paths_unique() -> None:
    # Given a client made from one new session (the loader has read the S3 model)
    first = new_session()
    first.client("s3", region_name="us-east-1")
    loader = first._session.get_component("data_loader")
    paths = list(loader.search_paths)
    # When other sessions are made and make clients
    second = new_session()
    client = second.client("s3", region_name="eu-west-1")
    # Then they read the same loader, whose search paths did not grow, and the client is a working S3 client
    assert second._session.get_component("data_loader") is loader
    assert list(loader.search_paths) == paths and len(set(paths)) == len(paths)
    assert client.meta.region_name == "eu-west-1" and client.meta.service_model.service_name == "s3"


def test_sessions_made_in_many_threads_at_once_all_make_clients() -> None:
    # Given eight threads each making a new session and a client at the same time
    made: list[str] = []
    errors: list[BaseException] = []

    def make() -> None:
        try:
            made.append(
                new_session().client("dynamodb", region_name="us-east-1").meta.service_model.service_name
            )
        except BaseException as error:  # pragma: no cover - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=make) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then every one of them got a DynamoDB client
    assert errors == [] and made == ["dynamodb"] * 8
