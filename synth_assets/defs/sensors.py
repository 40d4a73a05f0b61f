"""``batch_completion_sensor``: waits for batches so that no run ever does.

It reads each task's request record, not run history: a day's state there says what it
needs. ``waiting``: its batches are polled and once all are terminal a collect run is
requested; polling is bounded in calls and in time (a deadline well inside the tick's 60 s,
short per-call timeouts, no retries): what does not fit waits for the next tick.
``ready`` (every request final, tables not published for this state): a collect run
publishes them. ``resubmit`` (retryable failures within the budget, or a batch the backend
lost): a submit run sends what has no final answer. ``queued`` (no
room under the provider's enqueued-token limit or batches per hour): a submit run once
there is room, oldest day first, counting what this tick already let go. Each request
gets a run key that is unique in the record (generation, action, counter), and the record
notes it, so a lost cursor, a fresh Dagster instance or a replay requests nothing twice,
and a day's newest build always supersedes what came before it.
"""

import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field

import dagster as dg
import openai

from synth_assets.batch import TERMINAL, translate_api_error
from synth_assets.pipeline.record import PartitionRow, RequestRecord, State
from synth_assets.pipeline.settings import project_settings
from synth_assets.pipeline.submit import Budget
from synth_assets.tasks import BatchTask

from . import layout
from .jobs import AssetJob, collect_job_name, submit_job_name
from .resources import BatchApiResource, StorageResource

# A tick has 60 s: bound the Batch API calls it may make (and their time: see the
# resource's sensor_deadline_s and sensor_call_timeout_s).
MAX_RETRIEVES_PER_TICK = 50
# Below this much time left a call is not started (it could not answer in time).
MIN_CALL_S = 0.5
# On an instance without Dagster's run retries, a run that failed is requested again this
# many times, then the day is marked failed.
MAX_RUN_FAILURES = 3
# Set by Dagster on a failed run that its run retries will launch again.
WILL_RETRY_TAG = "dagster/will_retry"
# A requested run that never appeared (the tick, or the daemon, died after noting it) is
# requested again: Dagster creates a requested run within seconds of the tick.
LOST_REQUEST_S = 60.0
IDLE = "no day waits for anything"
_BLOCKED = -1  # in the tick's grants: this model's queue waits for its first day
_ACTIONS = {
    State.WAITING: "collect",
    State.READY: "collect",
    State.RESUBMIT: "resubmit",
    State.QUEUED: "resubmit",
}


def sensor_interval_s() -> int:
    """Seconds between the project's sensor ticks: 30, or ``SYNTH_SENSOR_INTERVAL_S`` (the
    demo and the UI tests tick every few seconds; the daemon's sensor loop takes ~5 s)."""
    return project_settings().sensor_interval_s


def build_completion_sensor(
    tasks: Sequence[BatchTask], jobs: Sequence[AssetJob]
) -> dg.SensorDefinition:
    """The sensor watching every task's record."""
    interval_s = sensor_interval_s()

    @dg.sensor(
        name="batch_completion_sensor",
        jobs=list(jobs),
        minimum_interval_seconds=interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Requests a collect run once a day's batches finished, and a submit run "
        "when its retryable failures are to be sent again or room frees for a queued day.",
    )
    def batch_completion_sensor(
        context: dg.SensorEvaluationContext,
        batch_api: BatchApiResource,
        storage: StorageResource,
    ) -> dg.SensorResult | dg.SkipReason:
        backend = batch_api.backend()
        run_requests: list[dg.RunRequest] = []
        notes: list[str] = []
        room = layout.budget(
            storage,
            backend.identity,
            token_limit=batch_api.enqueued_token_limit,
            per_hour=batch_api.max_batches_per_hour,
        )
        granted: dict[str, int] = {}  # tokens of the queued days this tick lets go, by model
        queued: list[str] = []
        # One client per tick, opened on the first poll and closed when the tick ends.
        with ExitStack() as closing:
            poll = _Poller(batch_api, closing)
            for task in tasks:
                if not layout.record_exists(storage, task):
                    continue
                with layout.open_record(storage, task, backend.identity) as record:
                    elsewhere = record.uncollected_elsewhere()
                    if elsewhere:
                        backends = sorted({backend.other_than(b.backend) for b in elsewhere})
                        notes.append(
                            f"{task.name}: {len(elsewhere)} batch(es) submitted to "
                            f"{', '.join(backends)} are not collected: the record keeps them "
                            "until that backend is configured again"
                        )
                    for row in record.partitions():
                        if row.state not in _ACTIONS or row.backend != backend.identity:
                            continue
                        if row.run_key and not _run_over(context.instance, record, row):
                            continue
                        if row.state == State.QUEUED and not _has_room(row, room, granted):
                            queued.append(f"{task.name} {row.partition}")
                            continue
                        if row.state == State.WAITING:
                            try:
                                if not _all_terminal(poll, record, row):
                                    continue
                            except openai.OpenAIError as exc:
                                # The next tick tries again; this one polls no more.
                                poll.stopped = str(translate_api_error(exc, backend))
                                continue
                        action = _ACTIONS[row.state]
                        key = record.request_run(row.partition, action, task.name)
                        job = (
                            submit_job_name(task)
                            if action == "resubmit"
                            else collect_job_name(task)
                        )
                        run_requests.append(
                            dg.RunRequest(
                                job_name=job,
                                partition_key=row.partition,
                                run_key=key,
                                tags={
                                    "synth/action": action,
                                    "synth/generation": str(row.generation),
                                },
                            )
                        )
        if poll.stopped:
            notes.append(poll.stopped)
        if queued:
            in_flight = ", ".join(f"{m}: {room.in_flight(m):,}" for m in sorted(granted))
            notes.append(
                f"{len(queued)} day(s) wait for queue room ({', '.join(queued[:5])}"
                f"{'…' if len(queued) > 5 else ''}); tokens in flight: {in_flight or 'see runs'}"
                + (f" of {room.token_limit:,}" if room.token_limit else "")
            )
        for note in notes:
            context.log.warning(note)
        if run_requests:
            return dg.SensorResult(run_requests=run_requests)
        return dg.SkipReason("; ".join(notes) or IDLE)

    return batch_completion_sensor


def _has_room(row: PartitionRow, room: Budget, granted: dict[str, int]) -> bool:
    """Whether a day waiting for queue room may be sent now (and count it as sent). Days go
    in order: once one is refused, later ones of its model wait behind it."""
    model, tokens = row.queued_model or "", row.queued_tokens or 0
    if granted.get(model) == _BLOCKED:
        return False
    if row.not_before and time.time() < row.not_before:
        return False
    granted.setdefault(model, 0)
    in_flight = room.in_flight(model) + granted[model]
    fits = room.token_limit is None or in_flight == 0 or in_flight + tokens <= room.token_limit
    if not fits or (room.per_hour is not None and room.created_last_hour() >= room.per_hour):
        granted[model] = _BLOCKED
        return False
    granted[model] += tokens
    return True


@dataclass
class _Poller:
    """The tick's Batch API calls: at most ``MAX_RETRIEVES_PER_TICK``, none started after
    the deadline, each with a timeout that ends by the deadline and no retries. Once it
    stops (deadline, call budget or an API error), ``stopped`` says why."""

    batch_api: BatchApiResource
    closing: ExitStack
    calls_left: int = MAX_RETRIEVES_PER_TICK
    deadline: float = field(init=False)
    stopped: str = ""
    _client: openai.OpenAI | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.deadline = time.monotonic() + self.batch_api.sensor_deadline_s

    def statuses(self, batch_ids: Sequence[str]) -> Iterator[tuple[str, str | None]]:
        """``(batch_id, status)`` for as many of ``batch_ids`` as this tick may ask about
        (``None``: the backend does not know the batch)."""
        for batch_id in batch_ids:
            if self.stopped:
                return
            left = self.deadline - time.monotonic()
            if self.calls_left <= 0 or left < MIN_CALL_S:
                self.stopped = (
                    "batch polling stopped at the tick's limit "
                    f"({MAX_RETRIEVES_PER_TICK} calls, {self.batch_api.sensor_deadline_s:g} s); "
                    "the rest waits for the next tick"
                )
                return
            self.calls_left -= 1
            if self._client is None:
                self._client = self.closing.enter_context(
                    self.batch_api.open_client(
                        timeout_s=self.batch_api.sensor_call_timeout_s, max_retries=0
                    )
                )
            # The call ends by the deadline whatever the per-call timeout says.
            client = self._client.with_options(
                timeout=min(self.batch_api.sensor_call_timeout_s, left)
            )
            status: str | None
            try:
                status = client.batches.retrieve(batch_id).status
            except openai.NotFoundError:
                status = None
            except openai.APITimeoutError:
                waited = min(self.batch_api.sensor_call_timeout_s, left)
                self.stopped = (
                    f"the Batch API did not answer within {waited:.1f} s; "
                    "the rest waits for the next tick"
                )
                return
            yield batch_id, status


def _all_terminal(poll: _Poller, record: RequestRecord, row: PartitionRow) -> bool:
    """True when every batch the day waits for is finished (or lost: collect says so)."""
    unknown = []
    for batch_id in row.waiting:
        known = record.batch(batch_id)
        if known is None or not (known.collected or known.status in TERMINAL):
            unknown.append(batch_id)
    answered = 0
    for batch_id, status in poll.statuses(unknown):
        answered += 1
        if status is None:
            continue  # the collect run records it as lost; its requests are sent again
        record.set_status(batch_id, status)
        if status not in TERMINAL:
            return False
    return answered == len(unknown)


def _run_over(instance: dg.DagsterInstance, record: RequestRecord, row: PartitionRow) -> bool:
    """Whether the run requested for the day is over (so another may be requested)."""
    runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/run_key": row.run_key}), limit=1)
    if not runs:
        # Never launched (the tick died after noting it): ask again after a while.
        return time.time() - (row.run_requested or 0) > LOST_REQUEST_S
    run = runs[0]  # the newest under the key: Dagster's retries of a run keep its run key
    if run.status == dg.DagsterRunStatus.SUCCESS:
        record.run_finished(row.partition, failed=False, limit=MAX_RUN_FAILURES)
        return True
    if run.status == dg.DagsterRunStatus.FAILURE and run.tags.get(WILL_RETRY_TAG) == "true":
        return False  # the daemon launches its retry
    if run.status in (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED):
        # With Dagster's run retries on, they were the retries: the day fails now. Without
        # them (an instance that has them off), the sensor asks again a few times itself.
        if instance.run_retries_enabled:
            note = f"run {run.run_id[:8]} failed after Dagster's run retries; see its logs"
            return not record.run_finished(row.partition, failed=True, limit=1, note=note)
        return not record.run_finished(row.partition, failed=True, limit=MAX_RUN_FAILURES)
    return False
