"""The control plane and the request journal as seen by someone who should not be trusted: keys in the journal
are masked and its entries bounded, the control plane wants a key when the server has keys, and a scenario
named by a request is a name from the scenario folders, never a file."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path

import httpx
import openai
import pytest

from mockbatch.scenarios import ScenarioBook, ScenarioError
from mockbatch.server import ControlError, MockBatchServer, ServerError
from tests.conftest import START
from tests.helpers import chat_line, start_batch, upload

pytest_plugins = ["pytester"]

KEY = "sk-proj-0123456789abcdefghijklmnopqrstuvwxyzABCD"
GOOD, WRONG = "sk-good-key-123", "sk-wrong-key-999"
MISSING = {"message": "Missing bearer or basic authentication in header", "type": "invalid_request_error",
           "param": None, "code": None}
INCORRECT = {"message": "Incorrect API key provided: sk-wro***999. You can find your API key at "
                        "https://platform.openai.com/account/api-keys.",
             "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}
STATUSES = "validating, failed, in_progress, finalizing, completed, expired, cancelling, cancelled"
NAMING = ("a scenario is named by its file name in a scenario folder, without '.toml' (at most 128 printable "
          "characters), never by a path.")


def sdk(server: MockBatchServer, key: str = "sk-test") -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key=key, max_retries=0)


def known(server: MockBatchServer) -> str:
    return ", ".join(s["name"] for s in server.control("GET", "/scenarios")["data"])


def unknown(server: MockBatchServer, shown: str, param: str | None) -> dict:
    return {"error": {"message": f"Unknown scenario {shown}: {NAMING} Known scenarios: {known(server)}.",
                      "type": "invalid_request_error", "param": param, "code": "scenario_not_found"}}


# -- the journal --------------------------------------------------------------------------------------
def test_the_journal_masks_keys_as_the_dashboard_does(server: MockBatchServer) -> None:
    for key in (KEY, GOOD, "sk-test", "k", "sess_abcdefghijklmnop", "abcdefghijklmnopqrstuvwxyz-1234567890"):
        sdk(server, key).files.list()
    journal = server.requests()
    assert [e["tenant"] for e in journal] == ["sk-...ABCD", "sk-...-123", "sk-...", "...", "sess_...mnop",
                                              "...7890"]  # the kind only up to 8 characters, half kept hidden
    assert journal[0] == {"time": START, "tenant": "sk-...ABCD", "method": "GET", "path": "/v1/files",
                          "operation": "files.list", "status": 200, "retry_count": 0, "fault": None,
                          "batch_id": None, "file_id": None}
    raw = httpx.get(f"{server.url}/_mockbatch/requests").text
    assert KEY not in raw and GOOD not in raw and "sk-test" not in raw


def test_a_huge_key_or_path_costs_an_entry_256_characters(server: MockBatchServer) -> None:
    key, file_id = "sk-" + "k" * 60_000 + "WXYZ", "file-" + "f" * 60_000
    r = httpx.get(f"{server.url}/v1/files/{file_id}", headers={"authorization": f"Bearer {key}"})
    assert r.status_code == 404
    [entry] = server.requests()
    assert entry == {"time": START, "tenant": "sk-...WXYZ", "method": "GET", "path": ("/v1/files/" + file_id)[:253] +
                     "...", "operation": "files.retrieve", "status": 404, "retry_count": None, "fault": None,
                     "batch_id": None, "file_id": file_id[:253] + "..."}
    assert len(httpx.get(f"{server.url}/_mockbatch/requests").content) < 1000


def test_a_masked_tenant_still_gets_its_invisible_file_fault(server_factory: Callable[..., MockBatchServer]) -> None:
    server = server_factory()  # the fault is keyed by the real tenant, not by what the journal shows
    server.use_scenario("file_not_visible")
    client = sdk(server, KEY)
    f = upload(client, [chat_line(0)])
    with pytest.raises(openai.BadRequestError):
        client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")
    server.advance(5)
    assert client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")


# -- keys on the control plane ------------------------------------------------------------------------
CALLS = [  # every control call but the health check, with what it answers given the key
    ("GET", "/clock", None, 200),
    ("POST", "/clock/advance", {"seconds": 1}, 200),
    ("GET", "/scenarios", None, 200),
    ("GET", "/scenario", None, 200),
    ("PUT", "/scenario", {"name": "happy"}, 200),
    ("POST", "/batches/batch_nope/transition", {"to": "failed"}, 404),
    ("GET", "/requests", None, 200),
    ("DELETE", "/requests", None, 200),
    ("POST", "/reset", None, 200),
]


@pytest.mark.parametrize(("method", "path", "body", "status"), CALLS)
def test_with_keys_the_control_plane_wants_one(server_factory: Callable[..., MockBatchServer], method: str,
                                               path: str, body: dict | None, status: int) -> None:
    server = server_factory(api_keys=[GOOD, "sk-other-key-456"])
    url = f"{server.url}/_mockbatch{path}"
    server.control("PUT", "/scenario", {"name": "slow"})
    missing = httpx.request(method, url, json=body)
    assert (missing.status_code, missing.json()) == (401, {"error": MISSING})
    assert missing.headers["www-authenticate"] == 'Bearer realm="OpenAI API"'
    wrong = httpx.request(method, url, json=body, headers={"authorization": f"Bearer {WRONG}"})
    assert (wrong.status_code, wrong.json()) == (401, {"error": INCORRECT})
    assert server.now() == START and server.control("GET", "/scenario")["name"] == "slow"  # refused: no effect
    right = httpx.request(method, url, json=body, headers={"authorization": "Bearer sk-other-key-456"})
    assert right.status_code == status


def test_the_health_check_stays_open_and_without_keys_everything_is(server_factory) -> None:
    keyed = server_factory(api_keys=[GOOD])
    r = httpx.get(f"{keyed.url}/_mockbatch/health")
    assert r.status_code == 200 and r.json()["status"] == "ok"
    open_ = server_factory()
    for method, path, body, status in CALLS:
        assert httpx.request(method, f"{open_.url}/_mockbatch{path}", json=body).status_code == status


def test_mockbatch_server_sends_a_configured_key(server_factory: Callable[..., MockBatchServer]) -> None:
    server = server_factory(api_keys=[GOOD])
    client = sdk(server, server.api_key)
    assert server.health()["status"] == "ok"
    server.use_scenario("happy")
    batch = start_batch(client, [chat_line(0)])
    assert server.advance(10) == START + 10
    assert client.batches.retrieve(batch.id).status == "completed"
    assert [e["operation"] for e in server.requests()] == ["files.create", "batches.create", "batches.retrieve"]
    with pytest.raises(ControlError) as err:
        server.use_scenario("nope")
    assert (err.value.status, err.value.code, err.value.param) == (400, "scenario_not_found", "name")
    server.reset()
    assert server.now() == START and server.requests() == []


def test_the_pytest_plugin_drives_a_keyed_server(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makeconftest(textwrap.dedent("""
        import pytest

        @pytest.fixture(scope="session")
        def mockbatch_settings():
            return {"clock": "manual", "start_time": 1_000_000, "api_keys": ["sk-suite-key-0001"]}
    """))
    pytester.makepyfile(test_suite=textwrap.dedent("""
        import pytest

        @pytest.mark.parametrize("round", [1, 2])  # the second test's reset goes through too
        def test_control(mockbatch, mockbatch_client, round):
            mockbatch.use_scenario("happy")
            mockbatch_client.files.list()
            assert mockbatch.advance(5) == 1_000_005
            assert [e["tenant"] for e in mockbatch.requests()] == ["sk-...0001"]
    """))
    pytester.runpytest().assert_outcomes(passed=2)


# -- scenario names -----------------------------------------------------------------------------------
def test_a_request_never_names_a_file(server_factory: Callable[..., MockBatchServer], tmp_path: Path) -> None:
    (tmp_path / "happy.toml").write_text('description = "Not the bundled one."\n[phases]\nvalidating = "manual"\n')
    (tmp_path / "broken.toml").write_text('description = "x"\n[phases]\nvalidating = "later"\n')
    server = server_factory()
    listed = server.control("GET", "/scenarios")
    alice, bob = sdk(server, "sk-alice"), sdk(server, "sk-bob")
    f = upload(alice, [chat_line(0)])
    names = [str(tmp_path / "happy.toml"), str(tmp_path / "broken.toml"), "../scenarios/happy.toml", "/etc/passwd",
             "..", "a\\b", "x" * 129]
    for name in names:
        shown = f"'{name}'" if len(name) <= 40 else f"'{name[:40]}...'"
        r = httpx.get(f"{server.url}/v1/batches", headers={"authorization": "Bearer sk-alice",
                                                           "x-mockbatch-scenario": name})
        assert (r.status_code, r.json()) == (400, unknown(server, shown, None)), name
        with pytest.raises(openai.BadRequestError) as err:
            alice.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h",
                                 metadata={"mockbatch_scenario": name})
        assert err.value.status_code == 400 and err.value.body["code"] == "scenario_not_found"  # type: ignore[index]
        assert err.value.body["message"] == unknown(server, shown, None)["error"]["message"]  # type: ignore[index]
        r = httpx.put(f"{server.url}/_mockbatch/scenario", json={"name": name})
        assert (r.status_code, r.json()) == (400, unknown(server, shown, "name"))
    # Nothing was loaded or replaced: the listing is as it was, and Bob's "happy" is the bundled one.
    assert server.control("GET", "/scenarios") == listed
    b = start_batch(bob, [chat_line(0)], extra_headers={"X-Mockbatch-Scenario": "happy"})
    server.advance(5)
    assert bob.batches.retrieve(b.id).status == "completed"
    assert [e["status"] for e in server.requests() if e["path"] == "/v1/batches" and e["method"] == "GET"] == [
        400] * len(names)
    assert server.control("GET", "/scenario")["name"] == "default"


@pytest.mark.parametrize(("name", "shown"), [("\udc80", "'\\udc80'"), ("nul\x00", "'nul\\x00'"),
                                             ("tab\tname", "'tab\\tname'")])
def test_unprintable_names_are_a_clean_400(server: MockBatchServer, client: openai.OpenAI, name: str,
                                           shown: str) -> None:
    f = upload(client, [chat_line(0)])
    body = json.dumps({"input_file_id": f.id, "endpoint": "/v1/chat/completions", "completion_window": "24h",
                       "metadata": {"mockbatch_scenario": name}})  # a lone surrogate as JSON escapes it: \udc80
    r = httpx.post(f"{server.url}/v1/batches", content=body, headers={"authorization": "Bearer sk-test",
                                                                      "content-type": "application/json"})
    error = r.json()["error"]
    assert error["param"] in (None, "metadata.mockbatch_scenario")  # the latter once the engine passes it on
    assert (r.status_code, {**error, "param": None}) == (400, unknown(server, shown, None)["error"])
    r = httpx.put(f"{server.url}/_mockbatch/scenario", content=json.dumps({"name": name}))
    assert r.status_code == 400 and r.json()["error"]["param"] == "name"  # refused by the name check or the body's
    assert client.batches.list().data == []


def test_header_bytes_of_a_surrogate_are_a_clean_400(server: MockBatchServer) -> None:
    # A header cannot carry a lone surrogate; a client that sends one's UTF-8-style bytes sends latin-1 text
    # with a control character in it, which is no scenario name either.
    r = httpx.get(f"{server.url}/v1/files", headers={"authorization": "Bearer sk-test",
                                                     "x-mockbatch-scenario": b"\xed\xb2\x80"})
    assert (r.status_code, r.json()) == (400, unknown(server, "'\\xed\\xb2\\x80'", None))
    assert server.requests()[-1]["status"] == 400


def test_a_bad_file_in_a_scenario_folder_stops_the_start(tmp_path: Path) -> None:
    (tmp_path / "broken.toml").write_text('description = "x"\n[phases]\nvalidating = "later"\n')
    with pytest.raises(ServerError, match=r"broken\.toml: phases\.validating: expected seconds"):
        MockBatchServer(clock="manual", scenarios_dir=str(tmp_path)).start()


@pytest.mark.parametrize(("to", "shown"), [("\x00", "'\\x00'"), ("z" * 5000, "'" + "z" * 40 + "...'"),
                                           ("done", "'done'")])
def test_an_unknown_transition_target_is_a_clean_400(server: MockBatchServer, client: openai.OpenAI, to: str,
                                                     shown: str) -> None:
    batch = start_batch(client, [chat_line(0)])
    r = httpx.post(f"{server.url}/_mockbatch/batches/{batch.id}/transition", json={"to": to})
    assert (r.status_code, r.json()) == (400, {"error": {
        "message": f"Unknown status {shown}; expected one of: {STATUSES}.", "type": "invalid_request_error",
        "param": "to", "code": None}})


def test_a_lone_surrogate_transition_target_is_a_clean_400(server: MockBatchServer, client: openai.OpenAI) -> None:
    batch = start_batch(client, [chat_line(0)])
    r = httpx.post(f"{server.url}/_mockbatch/batches/{batch.id}/transition", content=b'{"to": "\\udc80"}')
    assert r.status_code == 400 and r.json()["error"]["param"] == "to"  # no 500: the server check at teardown
    assert client.batches.retrieve(batch.id).status == "validating"


# -- the server's own scenario may still be a file --------------------------------------------------------
def test_the_server_may_be_configured_with_a_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text('description = "Mine."\n[phases]\nvalidating = "manual"\n')
    book = ScenarioBook()
    assert book.configure(str(path)).description == "Mine." and book.configured is book.get("mine")
    assert book.configure(None) is book.get("default")
    with pytest.raises(KeyError):
        book.configure(str(tmp_path / "absent.toml"))
    (tmp_path / "bad.toml").write_text("description = ")
    with pytest.raises(ScenarioError, match=r"bad\.toml: not valid TOML"):
        book.configure(str(tmp_path / "bad.toml"))


def test_a_server_configured_with_a_file_keeps_it_across_resets(server_factory, tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text('description = "Mine."\n[phases]\nvalidating = "manual"\n')
    server = server_factory(scenario=str(path))
    assert server.control("GET", "/scenario") == {"name": "mine", "description": "Mine."}
    server.use_scenario("happy")
    server.reset()
    assert server.control("GET", "/scenario") == {"name": "mine", "description": "Mine."}
