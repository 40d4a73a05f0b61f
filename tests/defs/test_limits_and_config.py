"""Issue 16: the sensor keeps to a deadline against a slow backend, every Batch API client
is closed, typos in the typed settings are refused, schedules and partitions say what they
do (STOPPED unless a task opts in, UTC days)."""

import http.client
import threading
import time
import warnings
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dagster as dg
import openai
import pytest
from inprocess_driver import run_pipeline, submit_partitions

from synth_assets.batch.errors import SynthError
from synth_assets.batch.requests import RequestMode
from synth_assets.defs import build_definitions
from synth_assets.defs import resources as resources_module
from synth_assets.defs.resources import BatchApiResource, StorageResource, TaskSettings
from synth_assets.tasks import SPAM_TRIAGE

DATES = ["2026-11-02", "2026-11-03", "2026-11-04"]


class SlowProxy:
    """A loopback HTTP proxy to a real local server that, once ``slow_s`` is set, waits that
    long before answering ``GET /v1/batches/{id}`` (a backend that answers late, or never)."""

    def __init__(self, upstream: str) -> None:
        self.slow_s = 0.0
        self.release = threading.Event()  # set at teardown: no handler outlives the test
        target = urlsplit(upstream)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _forward(self) -> None:
                if self.command == "GET" and self.path.startswith("/v1/batches/batch"):
                    proxy.release.wait(proxy.slow_s)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                upstream_conn = http.client.HTTPConnection(target.hostname, target.port)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                    upstream_conn.request(self.command, self.path, body or None, headers)
                    answer = upstream_conn.getresponse()
                    data = answer.read()
                    self.send_response(answer.status)
                    for key, value in answer.getheaders():
                        if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                            self.send_header(key, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting: that is the point
                finally:
                    upstream_conn.close()

            do_GET = do_POST = do_DELETE = _forward

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def slow_proxy(stack: Any) -> Iterator[SlowProxy]:
    proxy = SlowProxy(stack.url)
    yield proxy
    proxy.close()


def _defs(url: str, root: Path, **batch_api: Any) -> dg.Definitions:
    return build_definitions(
        resources={
            "batch_api": BatchApiResource(base_url=url, **batch_api),
            "storage": StorageResource(root=str(root / "out"), work_dir=str(root / "work")),
            "task_settings": TaskSettings(),
        }
    )


def _tick(defs: dg.Definitions, instance: dg.DagsterInstance) -> Any:
    sensor = defs.resolve_sensor_def("batch_completion_sensor")
    resources = {name: defs.resources[name] for name in ("batch_api", "storage")}  # type: ignore[index]
    with dg.build_sensor_context(
        instance=instance, resources=resources, definitions=defs
    ) as context:
        return sensor.evaluate_tick(context)


def _wait_until_finished(url: str, count: int) -> None:
    with openai.OpenAI(base_url=url, api_key="test", max_retries=0) as client:
        for _ in range(200):
            batches = client.batches.list(limit=100).data
            if len(batches) == count and all(b.status == "completed" for b in batches):
                return
            time.sleep(0.1)
    raise AssertionError("the local server did not finish its batches")


def test_a_tick_against_a_slow_backend_ends_by_its_deadline_and_leaves_the_rest(
    stack, slow_proxy, instance, tmp_path
):
    # Submitted through the proxy (so the record names its URL), all three finished.
    submit_partitions(_defs(slow_proxy.url, tmp_path), SPAM_TRIAGE, DATES, instance)
    _wait_until_finished(stack.url, 3)

    # Each retrieve now takes 1.5 s; the tick may poll for 2.5 s.
    slow_proxy.slow_s = 1.5
    slow = _defs(slow_proxy.url, tmp_path, sensor_deadline_s=2.5)
    started = time.monotonic()
    first = _tick(slow, instance)
    assert time.monotonic() - started < 2.5 + 5
    assert len(first.run_requests or []) == 1  # one day polled in time, the rest waits

    slow_proxy.slow_s = 0.0
    second = _tick(_defs(slow_proxy.url, tmp_path), instance)
    assert sorted(r.partition_key for r in second.run_requests or []) == sorted(
        set(DATES) - {first.run_requests[0].partition_key}  # type: ignore[index]
    )


def test_a_backend_that_never_answers_does_not_hold_the_tick(stack, slow_proxy, instance, tmp_path):
    submit_partitions(_defs(slow_proxy.url, tmp_path), SPAM_TRIAGE, DATES[:1], instance)
    slow_proxy.slow_s = 600.0  # released at teardown
    # The default per-call timeout (10 s) is longer than the deadline: the deadline wins.
    defs = _defs(slow_proxy.url, tmp_path, sensor_deadline_s=2.0)
    started = time.monotonic()
    result = _tick(defs, instance)
    assert time.monotonic() - started < 2.0 + 5
    assert not result.run_requests
    assert "next tick" in (result.skip_message or "")


@pytest.mark.filterwarnings("error::ResourceWarning")
def test_every_batch_api_client_is_closed(stack, instance, monkeypatch):
    made: list[openai.OpenAI] = []
    real = resources_module.make_client

    def recording(*args: Any, **kwargs: Any) -> openai.OpenAI:
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(resources_module, "make_client", recording)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        outcome = run_pipeline(stack.defs(), SPAM_TRIAGE, ["2026-11-05"], instance, timeout_s=60)
    assert outcome.states == {"2026-11-05": "settled"}, outcome.problems
    # submit, the sensor's ticks and collect each made one, and closed it
    assert len(made) >= 3
    assert all(client.is_closed() for client in made)


def test_a_typo_in_the_task_settings_is_refused_in_one_sentence():
    with pytest.raises(SynthError, match=r"^task_settings\.mode 'tool' is not a request mode; "):
        TaskSettings(mode="tool")
    with pytest.raises(
        SynthError, match=r"^task_settings\.retry_reasons: 'http_eror' is not a reason; use "
    ):
        TaskSettings(retry_reasons=["expired", "http_eror"])
    settings = TaskSettings(mode="tools", retry_reasons=["expired"])
    assert settings.request_mode() is RequestMode.TOOLS
    assert settings.policy().retry_reasons == frozenset({"expired"})


def test_a_typo_in_run_config_fails_the_run_before_any_step(stack, instance, tmp_path):
    defs = stack.defs()
    job = defs.resolve_job_def("spam_triage_submit_job")
    with pytest.raises(dg.DagsterResourceFunctionError) as failed:
        job.execute_in_process(
            partition_key="2026-11-05",
            instance=instance,
            run_config={"resources": {"task_settings": {"config": {"retry_reasons": ["expird"]}}}},
        )
    assert "'expird' is not a reason" in str(failed.value.__cause__)
    assert stack.batch_count() == 0


def test_schedules_start_stopped_unless_the_task_opts_in_and_partitions_are_utc():
    defs = build_definitions()
    for schedule in defs.schedules or []:  # no shipped task opts in: paid work waits for you
        assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED, schedule.name
    assert defs.resolve_sensor_def("batch_completion_sensor").default_status == (
        dg.DefaultSensorStatus.RUNNING
    )
    graph = defs.resolve_asset_graph()
    timezones = {
        graph.get(key).partitions_def.timezone  # type: ignore[union-attr]
        for key in graph.get_all_asset_keys()
        if graph.get(key).partitions_def is not None
    }
    assert timezones == {"UTC"}
