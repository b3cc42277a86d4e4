"""MockBatchServer, the in-process server: start, addresses, control calls, and server-side failures
raised in the caller."""

from __future__ import annotations

import socket
import threading
import urllib.error
import urllib.request

import openai
import pytest

from mockbatch.engine import Batches, Files
from mockbatch.server import ControlError, MockBatchServer, ServerError
from mockbatch.settings import SettingsError
from mockbatch.store import Store
from tests.conftest import START
from tests.helpers import chat_line, read_jsonl, start_batch, upload


def sdk(server: MockBatchServer, key: str = "sk-test") -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key=key, max_retries=0)


def reachable(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/_mockbatch/health", timeout=2) as resp:
            return resp.status == 200
    except (urllib.error.URLError, ConnectionError):
        return False


def test_context_manager_serves_on_a_free_port_and_stops() -> None:
    with MockBatchServer(clock="manual", seed=7, start_time=START) as mb:
        assert mb.port and mb.port != 8000
        assert mb.url == f"http://127.0.0.1:{mb.port}"
        assert mb.base_url == mb.url + "/v1"
        assert mb.health()["status"] == "ok"
        with sdk(mb) as client:
            f = upload(client, [chat_line(1)])
            assert f.created_at == START
        thread = next(t for t in threading.enumerate() if t.name == f"mockbatch-server-{mb.port}")
        assert thread.daemon
        assert mb.running
    assert not mb.running
    assert not reachable(mb.url)
    mb.stop()  # idempotent
    with pytest.raises(ServerError, match="not running"):
        mb.reset()


def test_two_servers_side_by_side_are_independent() -> None:
    with MockBatchServer(clock="manual") as a, MockBatchServer(clock="manual") as b:
        assert a.port != b.port
        with sdk(a) as ca, sdk(b) as cb:
            upload(ca, [chat_line(1)])
            assert len(ca.files.list().data) == 1
            assert cb.files.list().data == []


def test_settings_use_the_cli_names() -> None:
    with MockBatchServer(clock="manual", seed=3, start_time=START + 60, api_keys=["sk-only"]) as mb:
        assert mb.settings.api_keys == ("sk-only",)
        assert mb.api_key == "sk-only"
        assert mb.now() == START + 60
        with sdk(mb, "sk-other") as wrong, pytest.raises(openai.AuthenticationError):
            wrong.files.list()
        with sdk(mb, mb.api_key) as right:
            assert right.files.list().data == []


def test_start_time_and_api_keys_take_the_cli_forms() -> None:
    with MockBatchServer(clock="manual", start_time="2025-06-01T00:00:00Z", api_keys="sk-a, sk-b") as mb:
        assert mb.now() == 1_748_736_000
        assert mb.settings.api_keys == ("sk-a", "sk-b")
    with pytest.raises(SettingsError, match="start-time"):
        MockBatchServer(start_time="yesterday")


def test_advance_drives_a_batch_to_completion_and_reset_forgets_it(server: MockBatchServer,
                                                                    client: openai.OpenAI) -> None:
    batch = start_batch(client, [chat_line(i) for i in range(3)])
    assert client.batches.retrieve(batch.id).status == "validating"
    assert server.advance(60) == START + 60
    done = client.batches.retrieve(batch.id)
    assert done.status == "completed"
    assert sorted(line["custom_id"] for line in read_jsonl(client, done.output_file_id)) == [
        "request-0", "request-1", "request-2"]
    server.reset()
    assert server.now() == START
    assert client.files.list().data == []
    with pytest.raises(openai.NotFoundError):
        client.batches.retrieve(batch.id)


def test_a_refused_control_call_raises_control_error(server: MockBatchServer) -> None:
    with pytest.raises(ControlError) as info:
        server.advance(-1)
    assert info.value.status == 400
    assert info.value.param == "seconds"
    assert "'seconds'" in info.value.message


def test_a_handler_exception_is_raised_in_the_test(server: MockBatchServer, client: openai.OpenAI,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(*args: object) -> None:
        raise ZeroDivisionError("broken on purpose")

    monkeypatch.setattr(Files, "list", broken)
    with pytest.raises(openai.InternalServerError):
        client.files.list()
    with pytest.raises(ServerError, match="broken on purpose") as info:
        server.check()
    assert isinstance(info.value.__cause__, ZeroDivisionError)
    server.check()  # reported once, not again
    monkeypatch.undo()
    assert client.files.list().data == []


def test_the_next_control_call_raises_an_unchecked_failure(server: MockBatchServer, client: openai.OpenAI,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(*args: object) -> None:
        raise KeyError("lost")

    monkeypatch.setattr(Batches, "retrieve", broken)
    with pytest.raises(openai.InternalServerError):
        client.batches.retrieve("batch_x")
    with pytest.raises(ServerError, match="KeyError"):
        server.advance(1)
    assert server.now() == START + 1  # the call itself went through


def test_stop_raises_an_unchecked_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(*args: object) -> None:
        raise RuntimeError("unseen until stop")

    mb = MockBatchServer(clock="manual").start()
    monkeypatch.setattr(Batches, "list", broken)
    with sdk(mb) as client, pytest.raises(openai.InternalServerError):
        client.batches.list()
    with pytest.raises(ServerError, match="unseen until stop"):
        mb.stop()
    assert not mb.running


def test_a_response_that_breaks_midway_is_raised_too(server: MockBatchServer, client: openai.OpenAI,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    f = upload(client, [chat_line(i) for i in range(3)])

    async def broken_blob(self: Store, blob_id: int):  # type: ignore[no-untyped-def]
        yield b'{"partial": '
        raise OSError("disk went away")

    monkeypatch.setattr(Store, "read_blob", broken_blob)
    with pytest.raises(Exception):  # noqa: B017 - the client sees a cut-off body; the server error is what counts
        client.files.content(f.id).read()
    with pytest.raises(ServerError, match="disk went away") as info:
        server.check()
    assert isinstance(info.value.__cause__, OSError)


def test_a_failed_start_raises_its_cause(tmp_path) -> None:
    (tmp_path / "plain-file").write_text("")
    with pytest.raises(ServerError, match="failed to start") as info:
        MockBatchServer(db=str(tmp_path / "plain-file" / "db.sqlite3")).start()  # no folder can be made there
    assert isinstance(info.value.__cause__, OSError)


def test_a_start_that_misses_its_deadline_is_stopped() -> None:
    mb = MockBatchServer(clock="manual", startup_timeout=0)
    with pytest.raises(ServerError, match="did not start within 0 s"):
        mb.start()
    assert not mb.running


def test_a_busy_port_is_an_immediate_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError):
            MockBatchServer(port=taken.getsockname()[1]).start()


def test_use_scenario_switches_behaviour_and_requests_shows_the_journal(server: MockBatchServer,
                                                                       client: openai.OpenAI) -> None:
    f = upload(client, [chat_line(1)])
    server.use_scenario("create_429")
    with pytest.raises(openai.RateLimitError):
        client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")
    journal = server.requests()
    assert [(e["method"], e["path"], e["operation"], e["status"]) for e in journal] == [
        ("POST", "/v1/files", "files.create", 200),
        ("POST", "/v1/batches", "batches.create", 429),
    ]
    assert journal[1]["fault"] == "create-429"
    server.reset()  # back to the configured scenario, with an empty journal
    assert server.requests() == []
    f = upload(client, [chat_line(1)])
    client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")
    assert [e["status"] for e in server.requests()] == [200, 200]


def test_an_unknown_scenario_is_a_control_error(server: MockBatchServer) -> None:
    with pytest.raises(ControlError, match="Unknown scenario 'no-such'") as info:
        server.use_scenario("no-such")
    assert (info.value.status, info.value.param, info.value.code) == (400, "name", "scenario_not_found")


def test_the_scenario_setting_is_active_from_the_start() -> None:
    with MockBatchServer(clock="manual", scenario="create_429") as mb, sdk(mb) as client:
        f = upload(client, [chat_line(1)])
        with pytest.raises(openai.RateLimitError):
            client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")
        mb.reset()
        with pytest.raises(openai.RateLimitError):  # reset restores the configured scenario, faults rearmed
            client.batches.create(input_file_id=upload(client, [chat_line(1)]).id,
                                  endpoint="/v1/chat/completions", completion_window="24h")
