"""A threaded WSGI host calls one app from many threads at once; every request must still be answered."""

import threading
from concurrent.futures import ThreadPoolExecutor

from tests.support import invoke, new_event


def test_one_handler_serves_eight_threads_at_once(lambda_handler, make_api_key):
    key, _ = make_api_key()
    start = threading.Barrier(8)

    def client(_):
        start.wait()
        return [invoke(lambda_handler, "POST", "/v1/events", key=key, body=new_event()) for _ in range(5)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = [response for batch in pool.map(client, range(8)) for response in batch]
    assert [response.status for response in responses] == [201] * 40
    assert len({response.json["event_id"] for response in responses}) == 40
    inbox = invoke(lambda_handler, "GET", "/v1/inbox", key=key, query={"limit": "100"}).json["events"]
    assert len(inbox) == 40
