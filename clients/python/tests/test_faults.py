"""The error paths the real service cannot be made to produce, through respx:
a connection cut after a batch arrived, a 503 with Retry-After, a 429 on a
command. Everything not faulted goes on to the running service."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
import respx
from conftest import registered
from local_service import LocalService

from procedure_edge import Client, NetworkError, ProblemError, RetryPolicy


@pytest.fixture
def real(service: LocalService) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service.base_url) as client:
        yield client


def forwarder(real: httpx.Client) -> Callable[[httpx.Request], httpx.Response]:
    """Sends a request on to the running service and hands its answer back."""

    def forward(request: httpx.Request) -> httpx.Response:
        answer = real.request(
            request.method, request.url.raw_path.decode(), headers=request.headers, content=request.content
        )
        return httpx.Response(
            answer.status_code, headers={"content-type": answer.headers.get("content-type", "")}, content=answer.content
        )

    return forward


def faulty_client(service: LocalService, router: respx.Router, sleeps: list[float]) -> Client:
    policy = RetryPolicy(random=lambda: 0.0)
    return Client(
        service.base_url,
        service.token,
        transport=httpx.MockTransport(router.handler),
        sleep=sleeps.append,
        retry=policy,
    )


def test_a_batch_whose_answer_was_lost_is_sent_again_and_recorded_once(
    service: LocalService, admin: Client, real: httpx.Client
) -> None:
    pid = str(registered(admin).procedure_id)
    admin.start(pid)
    forward = forwarder(real)
    answers: list[httpx.Response] = []

    def cut_after_arrival(request: httpx.Request) -> httpx.Response:
        answer = forward(request)
        answers.append(answer)
        if len(answers) == 1:
            raise httpx.ReadError("connection reset by peer", request=request)
        return answer

    router = respx.Router(assert_all_called=False)
    batches = router.post(path__regex=r"/activities$").mock(side_effect=cut_after_arrival)
    router.route().mock(side_effect=forward)
    sleeps: list[float] = []
    with faulty_client(service, router, sleeps) as client, client.activity_writer(pid) as writer:
        futures = [writer.append("reading", {"n": n}) for n in range(300)]
    assert all(future.exception() is None for future in futures)
    assert batches.call_count == 2
    assert len(sleeps) == 1
    # The first attempt was recorded; the retry was counted as duplicates, never recorded twice.
    assert [a.json() for a in answers] == [
        {"event_count": 300, "duplicate_count": 0},
        {"event_count": 0, "duplicate_count": 300},
    ]
    assert len(list(admin.activities(pid))) == 300


def test_a_503_with_retry_after_is_waited_out_then_retried(
    service: LocalService, admin: Client, real: httpx.Client
) -> None:
    pid = str(registered(admin).procedure_id)
    admin.start(pid)
    forward = forwarder(real)
    unavailable = httpx.Response(
        503,
        headers={"retry-after": "7", "content-type": "application/problem+json"},
        json={
            "type": "about:blank",
            "title": "Service Unavailable",
            "status": 503,
            "detail": "busy",
            "error_class": "InternalError",
        },
    )
    router = respx.Router(assert_all_called=False)
    batches = router.post(path__regex=r"/activities$").mock(side_effect=[unavailable, unavailable, forward])
    router.route().mock(side_effect=forward)
    sleeps: list[float] = []
    with faulty_client(service, router, sleeps) as client, client.activity_writer(pid) as writer:
        writer.append("reading", {"n": 1})
    assert batches.call_count == 3
    assert sleeps == [7.0, 7.0]
    assert len(list(admin.activities(pid))) == 1


def test_commands_are_retried_on_429_only(service: LocalService, admin: Client, real: httpx.Client) -> None:
    pid = str(registered(admin).procedure_id)
    admin.start(pid)
    forward = forwarder(real)
    limited = httpx.Response(
        429, headers={"retry-after": "3"}, json={"status": 429, "detail": "slow down", "error_class": "RateLimited"}
    )
    failed = httpx.Response(502, text="<html>bad gateway</html>", headers={"content-type": "text/html"})
    router = respx.Router(assert_all_called=False)
    holds = router.post(path__regex=r"/hold$").mock(side_effect=[limited, forward])
    completes = router.post(path__regex=r"/complete$").mock(side_effect=[failed, forward])
    router.route().mock(side_effect=forward)
    sleeps: list[float] = []
    with faulty_client(service, router, sleeps) as client:
        # 429 is answered before the service acts: the hold is sent again and taken once.
        assert client.hold(pid, "inspect").status == "Held"
        assert sleeps == [3.0]
        assert len(admin.get(pid).hold_claims) == 1
        client.resume(pid, 0)
        # A 5xx on a command may have acted: it is not repeated. A page that is not a problem is UnexpectedResponse.
        with pytest.raises(ProblemError) as refused:
            client.complete(pid)
        assert (refused.value.status, refused.value.error_class) == (502, "UnexpectedResponse")
        assert completes.call_count == 1
    assert holds.call_count == 2
    assert admin.get(pid).status == "Running"


def test_no_answer_to_a_command_is_a_network_error_without_a_retry(service: LocalService, admin: Client) -> None:
    pid = str(registered(admin).procedure_id)
    router = respx.Router(assert_all_called=False)
    starts = router.post(path__regex=r"/start$").mock(side_effect=httpx.ConnectError("refused"))
    sleeps: list[float] = []
    with faulty_client(service, router, sleeps) as client, pytest.raises(NetworkError):
        client.start(pid)
    assert starts.call_count == 1
    assert sleeps == []
    assert admin.get(pid).status == "Defined"


def test_reads_give_up_after_max_attempts(service: LocalService) -> None:
    router = respx.Router()
    reads = router.get("/v1/me").mock(side_effect=httpx.ConnectError("refused"))
    sleeps: list[float] = []
    with faulty_client(service, router, sleeps) as client, pytest.raises(NetworkError, match="8 attempt"):
        client.me()
    assert reads.call_count == 8
    # Exponential backoff (no jitter here): 0.125, 0.25, 0.5, ...
    assert sleeps == [0.125 * 2**n for n in range(7)]


ERROR_FRAME = b'event: error\ndata: {"reason":"too-slow","detail":"reconnect with Last-Event-ID"}\n\n'


@pytest.mark.parametrize("ending", ["cut", "error"])
def test_a_stream_that_ends_early_is_reopened_from_the_last_id(
    service: LocalService, admin: Client, real: httpx.Client, ending: str
) -> None:
    pid = str(registered(admin).procedure_id)
    admin.start(pid)
    admin.hold(pid, "inspect")
    admin.resume(pid, 0)
    admin.complete(pid)
    # From just after the registration (version 1): the four events, then the final state.
    whole = list(admin.follow(pid, after="1.0"))
    assert len(whole) == 5

    forward = forwarder(real)
    opened: list[httpx.Request] = []

    def cut_once(request: httpx.Request) -> httpx.Response:
        opened.append(request)
        answer = forward(request)
        if len(opened) > 1:
            return answer
        # After three whole messages the connection drops in the middle of the fourth,
        # or the service ends the stream with its final error message (which has no id).
        frames = answer.content.split(b"\n\n")
        tail = frames[3][:10] if ending == "cut" else ERROR_FRAME
        return httpx.Response(200, headers=answer.headers, content=b"\n\n".join(frames[:3]) + b"\n\n" + tail)

    router = respx.Router(assert_all_called=False)
    router.get(path__regex=r"/stream$").mock(side_effect=cut_once)
    sleeps: list[float] = []
    with faulty_client(service, router, sleeps) as client:
        resumed = list(client.follow(pid, after="1.0"))
    assert [m.id for m in resumed] == [m.id for m in whole]
    assert len(opened) == 2
    assert opened[1].headers["last-event-id"] == whole[2].id
    assert len(sleeps) == 1
