"""The pytest plugin, run as users run it: pytester writes a test suite, pytest runs it with the plugin
loaded through its entry point, and we read the outcomes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections import defaultdict

import pytest

pytest_plugins = ["pytester"]

LINE = ('{"custom_id": "r-%d", "method": "POST", "url": "/v1/chat/completions", '
        '"body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi %d"}]}}\\n')


@pytest.fixture(autouse=True)
def _ini(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")


def no_way_out(monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy from the environment that goes nowhere: the fixtures' clients must not use it."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)


def suite(pytester: pytest.Pytester, source: str, **files: str) -> None:
    pytester.makepyfile(test_suite=textwrap.dedent(source), **{k: textwrap.dedent(v) for k, v in files.items()})


def test_each_test_gets_a_clean_session_server(pytester: pytest.Pytester) -> None:
    suite(pytester, f"""
        SEEN = []

        def upload(client):
            return client.files.create(file=("in.jsonl", (('{LINE}' % (1, 1)).encode())), purpose="batch")

        def test_first(mockbatch, mockbatch_client):
            SEEN.append(mockbatch.base_url)
            assert mockbatch.base_url.endswith("/v1")
            upload(mockbatch_client)
            mockbatch.advance(30)
            assert len(mockbatch_client.files.list().data) == 1

        def test_second_sees_none_of_it(mockbatch, mockbatch_client, mockbatch_server):
            assert mockbatch is mockbatch_server
            SEEN.append(mockbatch.base_url)
            assert mockbatch_client.files.list().data == []
            assert mockbatch.now() == 1_735_689_600  # the default clock: manual, at its fixed start
            assert mockbatch.requests()[-1]["path"] == "/v1/files"

        def test_one_server_for_the_session():
            assert len(SEEN) == 2 and SEEN[0] == SEEN[1]
    """)
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=3)


def test_a_full_batch_through_the_client_fixture(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    no_way_out(monkeypatch)
    suite(pytester, f"""
        import json

        def test_batch(mockbatch, mockbatch_client):
            lines = "".join('{LINE}' % (i, i) for i in range(3)).encode()
            f = mockbatch_client.files.create(file=("in.jsonl", lines), purpose="batch")
            batch = mockbatch_client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions",
                                                    completion_window="24h")
            assert batch.status == "validating"
            mockbatch.advance(60)
            batch = mockbatch_client.batches.retrieve(batch.id)
            assert batch.status == "completed"
            out = mockbatch_client.files.content(batch.output_file_id).text.splitlines()
            assert sorted(json.loads(line)["custom_id"] for line in out) == ["r-0", "r-1", "r-2"]
    """)
    pytester.runpytest().assert_outcomes(passed=1)


def test_settings_are_overridden_in_a_conftest(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("""
        import pytest

        @pytest.fixture(scope="session")
        def mockbatch_settings():
            return {"clock": "manual", "seed": 5, "start_time": 1_000_000, "api_keys": ["sk-suite"]}
    """)
    suite(pytester, """
        import openai, pytest

        def test_settings(mockbatch, mockbatch_client):
            assert mockbatch.settings.seed == 5
            assert mockbatch.now() == 1_000_000
            assert mockbatch_client.api_key == "sk-suite"
            assert mockbatch_client.files.list().data == []
            with pytest.raises(openai.AuthenticationError):
                openai.OpenAI(base_url=mockbatch.base_url, api_key="sk-other").files.list()
    """)
    pytester.runpytest().assert_outcomes(passed=1)


def test_the_marker_gives_a_test_its_own_server_only_when_needed(pytester: pytest.Pytester) -> None:
    suite(pytester, """
        import pytest

        def test_plain(mockbatch, mockbatch_server):
            assert mockbatch is mockbatch_server

        @pytest.mark.mockbatch(clock="manual", seed=0)
        def test_same_settings_share_the_session_server(mockbatch, mockbatch_server):
            assert mockbatch is mockbatch_server

        @pytest.mark.mockbatch(scenario="create_429")
        def test_scenario(mockbatch, mockbatch_client, request):
            assert mockbatch is not request.getfixturevalue("mockbatch_server")
            f = mockbatch_client.files.create(file=("in.jsonl", b'{}'), purpose="batch")
            # the scenario rate-limits the first two creates; the SDK retries them and succeeds
            mockbatch_client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions",
                                            completion_window="24h")
            assert [e["status"] for e in mockbatch.requests()] == [200, 429, 429, 200]

        @pytest.mark.mockbatch(seed=11)
        class TestSeeded:
            def test_seed(self, mockbatch):
                assert mockbatch.settings.seed == 11
                assert mockbatch.settings.clock == "manual"  # the rest comes from mockbatch_settings

        @pytest.mark.mockbatch(clock="real", time_scale=1000)
        def test_real_clock(mockbatch, mockbatch_client):
            import time
            f = mockbatch_client.files.create(file=("in.jsonl", b'{LINE}'), purpose="batch")
            batch = mockbatch_client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions",
                                                    completion_window="24h")
            deadline = time.monotonic() + 20
            while batch.status != "completed" and time.monotonic() < deadline:
                time.sleep(0.05)
                batch = mockbatch_client.batches.retrieve(batch.id)
            assert batch.status == "completed"

        @pytest.mark.mockbatch("real")
        def test_positional(mockbatch):
            pass
    """.replace("{LINE}", LINE % (1, 1)))
    result = pytester.runpytest()
    result.assert_outcomes(passed=5, errors=1)
    result.stdout.fnmatch_lines(["*TypeError: @pytest.mark.mockbatch takes settings as keyword arguments*"])


def test_a_server_side_exception_errors_the_test_that_caused_it(pytester: pytest.Pytester) -> None:
    suite(pytester, """
        import openai, pytest
        from mockbatch.engine import Batches, Files

        def test_breaks_the_server(mockbatch, mockbatch_client, monkeypatch):
            async def broken(*args):
                raise ZeroDivisionError("broken on purpose")

            monkeypatch.setattr(Files, "list", broken)
            with pytest.raises(openai.InternalServerError):
                mockbatch_client.with_options(max_retries=0).files.list()

        def test_next_one_is_clean(mockbatch, mockbatch_client):
            assert mockbatch_client.files.list().data == []

        def test_uses_the_session_server_directly(mockbatch_server, monkeypatch):
            async def broken(*args):
                raise KeyError("left behind")

            monkeypatch.setattr(Batches, "list", broken)
            with pytest.raises(openai.InternalServerError):
                openai.OpenAI(base_url=mockbatch_server.base_url, api_key="k", max_retries=0).batches.list()

        def test_after_it(mockbatch):
            pass
    """)
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=3, errors=2)
    result.stdout.fnmatch_lines([
        "*ERROR at teardown of test_breaks_the_server*",
        "*ServerError: mockbatch server error: ZeroDivisionError('broken on purpose')*",
        "*ERROR at setup of test_after_it*",
        "*ServerError: mockbatch server error: KeyError('left behind') (raised before this test started)*",
    ])


def test_async_tests_use_the_async_client(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    no_way_out(monkeypatch)
    suite(pytester, f"""
        import pytest

        @pytest.mark.asyncio
        async def test_async(mockbatch, mockbatch_async_client):
            f = await mockbatch_async_client.files.create(file=("in.jsonl", b'{LINE % (1, 1)}'), purpose="batch")
            batch = await mockbatch_async_client.batches.create(
                input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")
            mockbatch.advance(60)
            assert (await mockbatch_async_client.batches.retrieve(batch.id)).status == "completed"

        @pytest.mark.asyncio
        async def test_again_on_a_new_loop(mockbatch, mockbatch_async_client):
            assert (await mockbatch_async_client.files.list()).data == []
    """)
    pytester.runpytest("-W", "error").assert_outcomes(passed=2)


def test_one_server_per_xdist_worker(pytester: pytest.Pytester) -> None:
    log = pytester.path / "servers.log"
    suite(pytester, f"""
        import os, pytest

        @pytest.mark.parametrize("i", range(8))
        def test_record(i, mockbatch):
            with open({str(log)!r}, "a") as f:
                f.write(os.environ["PYTEST_XDIST_WORKER"] + " " + mockbatch.base_url + "\\n")
            assert mockbatch.health()["status"] == "ok"
    """)
    pytester.runpytest("-n", "2", "-p", "no:benchmark").assert_outcomes(passed=8)
    urls: dict[str, set[str]] = defaultdict(set)
    for line in log.read_text().splitlines():
        worker, url = line.split()
        urls[worker].add(url)
    assert sorted(urls) == ["gw0", "gw1"]
    assert all(len(seen) == 1 for seen in urls.values())
    assert urls["gw0"] != urls["gw1"]


def test_plugin_loads_light_and_clients_skip_without_openai(pytester: pytest.Pytester) -> None:
    heavy = ["mockbatch.server", "mockbatch.app", "mockbatch.engine", "uvicorn", "starlette", "aiosqlite", "faker"]
    code = f"import sys, mockbatch.pytest_plugin; print([m for m in {heavy!r} if m in sys.modules])"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"
    pytester.makeconftest("""
        import sys
        sys.modules["openai"] = None  # as if it were not installed
    """)
    suite(pytester, f"""
        import sys

        def test_loaded_through_its_entry_point_and_nothing_heavy_yet(pytestconfig):
            assert pytestconfig.pluginmanager.has_plugin("mockbatch")
            assert [m for m in {heavy[:3]!r} if m in sys.modules] == []

        def test_sync(mockbatch_client):
            pass

        def test_async(mockbatch_async_client):
            pass

        def test_server_alone(mockbatch):
            assert mockbatch.health()["status"] == "ok"
    """)
    result = pytester.runpytest_subprocess("-rs", "-p", "no:randomly")
    result.assert_outcomes(passed=2, skipped=2)
    result.stdout.fnmatch_lines([
        "*the openai package is not installed (pip install openai); it is needed by the mockbatch_client fixture*",
        "*it is needed by the mockbatch_async_client fixture*",
    ])
