"""follow(): the live stream in commit order, ending with the procedure, and a
resume from a message's id that neither repeats nor misses anything."""

from __future__ import annotations

import threading

from conftest import registered

from procedure_edge import Client, StreamMessage


def drive(admin: Client, pid: str) -> None:
    admin.start(pid)
    with admin.activity_writer(pid) as writer:
        writer.append("reading", {"n": 1})
    admin.hold(pid, "inspect")
    admin.resume(pid, 0)
    admin.complete(pid)


def test_follow_sees_every_commit_and_ends_with_the_procedure(admin: Client) -> None:
    pid = str(registered(admin).procedure_id)
    messages: list[StreamMessage] = []
    stream = admin.follow(pid)
    messages.append(next(stream))  # the current state, before anything happens
    assert (messages[0].event, messages[0].data["status"]) == ("state", "Defined")

    driver = threading.Thread(target=drive, args=(admin, pid))
    driver.start()
    messages.extend(stream)  # ends by itself once the procedure completed
    driver.join()

    # Every event after the first state's version, as the event log has them, and the activity batch among them.
    events = [m.event for m in messages if m.event != "state"]
    logged = [event.type for event in admin.events(pid, after=messages[0].data["version"])]
    assert [event for event in events if event != "activity"] == logged
    assert events.index("activity") < events.index("ProcedureHeld")
    activity = next(m for m in messages if m.event == "activity")
    assert [item["payload"] for item in activity.data["items"]] == [{"n": 1}]
    assert messages[-1].event == "state"
    assert messages[-1].data["status"] == "Completed"
    assert all(m.id for m in messages)


def test_following_again_after_an_id_gets_exactly_what_followed_it(admin: Client) -> None:
    pid = str(registered(admin).procedure_id)
    stream = admin.follow(pid)
    everything = [next(stream)]
    driver = threading.Thread(target=drive, args=(admin, pid))
    driver.start()
    everything.extend(stream)
    driver.join()
    middle = next(i for i, m in enumerate(everything) if m.event == "ProcedureHeld")
    rest = list(admin.follow(pid, after=everything[middle].id))
    assert [m.id for m in rest if m.event != "state"] == [m.id for m in everything[middle + 1 :] if m.event != "state"]
