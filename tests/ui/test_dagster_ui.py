"""The Dagster UI in a real browser: what a user does on day one, step by step.

Each test is one step and needs the steps before it (a step whose predecessor failed is
skipped, naming it). Every step saves screenshots in the folder the run's summary names.
``SYNTH_UI_UPDATE_IMAGES=1`` also rewrites the README's pictures in ``docs/images/``.
"""

import importlib.util
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest

from .stack import BACKFILL_DATE, CHROMIUM, PROJECT_ROOT, DagsterStack

_missing = [
    *([f"Chromium at {CHROMIUM}"] if not CHROMIUM.exists() else []),
    *(["the playwright package"] if importlib.util.find_spec("playwright") is None else []),
]
if _missing:
    pytest.skip(
        f"Dagster UI tests need {' and '.join(_missing)}; to run them: "
        "`apt-get install chromium` and `pip install playwright`",
        allow_module_level=True,
    )

from playwright.sync_api import Locator, Page, expect  # noqa: E402
from playwright.sync_api import TimeoutError as PlaywrightTimeout  # noqa: E402

DATE = "2026-11-01"
TASK = "spam_triage"
CHAIN = [
    "emails",
    "batch_requests",
    "submitted_batch",
    "batch_output",
    "parsed",
    "unparsed",
    "label_summary",
]
SUBMIT_JOB = f"{TASK}_submit_job"
COLLECT_JOB = f"{TASK}_collect_job"
SENSOR = "batch_completion_sensor"
RUN_TIMEOUT_S = 120
README_IMAGES = PROJECT_ROOT / "docs" / "images"
UPDATE_IMAGES = os.environ.get("SYNTH_UI_UPDATE_IMAGES") == "1"
RUN_FAILURES = """
query ($runId: ID!) { logsForRun(runId: $runId) { __typename ... on EventConnection {
  events { __typename ... on MessageEvent { message }
           ... on ExecutionStepFailureEvent { stepKey error { message } } } } } }
"""

expect.set_options(timeout=20_000)  # a loaded CI machine renders slowly
# Dagster's icons are CSS masks over SVG files fetched on first use: load every icon on
# the page and let two frames paint before a screenshot, or it shows empty icon boxes.
ICONS_LOADED = """async () => {
  const urls = new Set();
  for (const el of document.querySelectorAll('[style*="--icon-image-path"]')) {
    const m = /url\\((['"]?)(.*?)\\1\\)/.exec(el.style.getPropertyValue('--icon-image-path'));
    if (m) urls.add(new URL(m[2], location.href).href);
  }
  await Promise.all([...urls].map(src => new Promise(done => {
    const img = new Image(); img.onload = img.onerror = done; img.src = src;
  })));
  await new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)));
  return urls.size;
}"""
passed: set[str] = set()  # steps that passed, for the steps after them
shots: list[str] = []


def needs(*steps: str) -> None:
    """Skip this step when a step it builds on did not pass."""
    missing = [s for s in steps if s not in passed]
    if missing:
        pytest.skip(f"needs step {', '.join(missing)}, which did not pass")


def nav(page: Page, name: str) -> None:
    """Click an entry of the left navigation.

    A link's accessible name starts with its icon's ligature text ("column_lineage Jobs"),
    so the label is matched as the name's last word: a plain substring "Lineage" would
    also match the Jobs link."""
    label = re.compile(rf"(^|\s){re.escape(name)}$")
    page.get_by_role("navigation").get_by_role("link", name=label).click()


def shot(page: Page, folder: Path, name: str, readme: str | None = None) -> Path:
    """Save a numbered screenshot of the page (transitions finished); with ``readme`` and
    SYNTH_UI_UPDATE_IMAGES=1, also as that README picture."""
    shots.append(name)
    path = folder / f"{len(shots):02d}-{name}.png"
    page.evaluate(ICONS_LOADED)
    page.screenshot(path=path, animations="disabled")
    if readme and UPDATE_IMAGES:
        README_IMAGES.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=README_IMAGES / readme, animations="disabled")
    return path


def wait_visible(
    page: Page, locator: Locator, what: str, timeout_s: float, reload_every_s: float = 0
) -> None:
    """Wait for ``locator``; with ``reload_every_s`` reload the page between tries (for the
    views that refresh on a timer). Fails naming what was awaited and where."""
    deadline = time.monotonic() + timeout_s
    while True:
        remaining = deadline - time.monotonic()
        slice_s = min(reload_every_s or remaining, remaining)
        try:
            locator.first.wait_for(state="visible", timeout=max(slice_s, 0.1) * 1000)
            return
        except PlaywrightTimeout:
            if time.monotonic() >= deadline:
                pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what} on {page.url}")
            page.reload()


def run_failure(stack: DagsterStack, run_id: str) -> str:
    """The failure messages of a run, for a clear assertion message."""
    try:
        data = stack.graphql(RUN_FAILURES, runId=run_id)["logsForRun"]
    except Exception as exc:  # diagnostics only
        return f"(could not read the run's events: {exc})"
    messages = [
        f"{e['stepKey']}: {e['error']['message'].strip()}"
        if e["__typename"] == "ExecutionStepFailureEvent"
        else e["message"]
        for e in data.get("events", [])
        if e["__typename"] in ("ExecutionStepFailureEvent", "RunFailureEvent")
    ]
    return "\n".join(messages) or "(no failure event)"


def run_link(page: Page, *texts: str) -> Locator:
    """The run-id link of the runs-list row showing every one of ``texts``."""
    row = page.locator("div").filter(has=page.locator('a[href^="/runs/"]'))
    for text in texts:
        row = row.filter(has_text=text)
    return row.last.locator('a[href^="/runs/"]').filter(has_text=re.compile(r"^[0-9a-f]{8}$"))


SENSOR_RUNS = """
query ($filter: RunsFilter) { runsOrError(filter: $filter) { ... on Runs { results { runId } } } }
"""


def launched_run(stack: DagsterStack, job: str, date: str, timeout_s: float = 120) -> str:
    """The id of the run of ``job`` over ``date`` that the sensor launched (waiting for it)."""
    tags = [
        {"key": "dagster/partition", "value": date},
        {"key": "dagster/sensor_name", "value": SENSOR},
    ]
    deadline = time.monotonic() + timeout_s
    while True:
        found = stack.graphql(SENSOR_RUNS, filter={"pipelineName": job, "tags": tags})
        results = found["runsOrError"].get("results") or []
        if results:
            return results[-1]["runId"]  # newest first: the first it launched
        if time.monotonic() > deadline:
            pytest.fail(f"the sensor launched no {job} run of {date} in {timeout_s:.0f} s")
        time.sleep(2)


def wait_for_run(page: Page, stack: DagsterStack, run_id: str, what: str) -> None:
    """Open a run's page and wait until its status tag says Success."""
    page.goto(f"/runs/{run_id}")
    status = page.get_by_text(re.compile(r"^(Success|Failure|Canceled)$"))
    wait_visible(page, status, f"the end of {what} (run {run_id})", RUN_TIMEOUT_S, 15)
    outcome = status.first.inner_text()
    if outcome != "Success":
        pytest.fail(f"{what} (run {run_id}) ended {outcome}:\n{run_failure(stack, run_id)}")


@pytest.fixture(autouse=True)
def screenshot_on_failure(request: pytest.FixtureRequest, page: Page, ui_artifacts: Path) -> Any:
    """When a step fails, keep what the browser showed."""
    yield
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        path = ui_artifacts / f"FAILED-{request.node.name}.png"
        page.screenshot(path=path, full_page=True)
        print(f"the browser at failure ({page.url}): {path}")


def test_asset_graph_shows_the_whole_chain(page: Page, ui_artifacts: Path) -> None:
    page.goto("/")
    # With several tasks, the global lineage shows one collapsed node per task (asset group).
    group = page.locator("svg foreignObject").filter(has=page.get_by_text(TASK, exact=True))
    for _ in range(3):  # a click while the first page still renders can be lost: click again
        nav(page, "Lineage")
        try:
            group.first.wait_for(state="visible", timeout=10_000)
            break
        except PlaywrightTimeout:
            continue
    wait_visible(page, group, f"the asset group {TASK!r} in the lineage graph", 30)
    page.goto(f"/locations/synth_assets/asset-groups/{TASK}")
    graph = page.locator("svg").filter(has=page.locator("foreignObject"))
    for name in CHAIN:
        node = graph.locator("foreignObject").filter(has=page.get_by_text(name, exact=True))
        wait_visible(page, node, f"the asset node {name!r} in the lineage graph", 30)
    shot(page, ui_artifacts, "asset-graph")
    passed.add("graph")


def test_materialize_one_partition_of_the_submit_assets(
    page: Page, dagster_stack: DagsterStack, ui_artifacts: Path
) -> None:
    needs("graph")
    nav(page, "Jobs")
    page.get_by_role("link", name=SUBMIT_JOB).click()  # its name also has the icon's "job"
    expect(page.get_by_text("View 3 assets", exact=True)).to_be_visible()
    expect(page.locator("svg foreignObject").filter(has_text="emails").first).to_be_visible()
    shot(page, ui_artifacts, "submit-job")

    page.get_by_role("button", name="Materialize all").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Launch runs to materialize 3 assets")
    partitions = dialog.get_by_placeholder("No matching partitions")
    partitions.fill(DATE)
    partitions.press("Enter")
    expect(dialog).to_contain_text("1 partition")
    launch = dialog.get_by_role("button", name="Launch 1 run")
    expect(launch).to_be_enabled()
    shot(page, ui_artifacts, "partition-dialog")
    launch.click()

    toast = page.get_by_text(re.compile(r"Launched run [0-9a-f]{8}"))
    wait_visible(page, toast, "the 'Launched run' notice", 20)
    short_id = toast.first.inner_text().split()[-1]
    nav(page, "Runs")
    link = run_link(page, short_id, SUBMIT_JOB, f"partition: {DATE}")
    wait_visible(page, link, f"run {short_id} of {SUBMIT_JOB} in the runs list", 20)
    run_id = (link.first.get_attribute("href") or "").rsplit("/", 1)[-1]
    link.first.click()
    wait_for_run(page, dagster_stack, run_id, "the submit run")
    expect(page.get_by_text("3 assets", exact=True)).to_be_visible()
    shot(page, ui_artifacts, "submit-run-success")
    passed.add("submit")


def test_sensor_ticks_and_the_collect_run_succeeds(
    page: Page, dagster_stack: DagsterStack, ui_artifacts: Path
) -> None:
    needs("submit")
    nav(page, "Automation")
    page.get_by_role("link", name=SENSOR).first.click()
    running = page.locator("tr").filter(has_text="Running").locator("input[type=checkbox]")
    expect(running).to_be_checked()  # the switch: default_status=RUNNING
    shot(page, ui_artifacts, "sensor-running")

    requested = page.get_by_text("1 run requested")
    wait_visible(page, requested, "a sensor tick that requested the collect run", 120, 5)
    shot(page, ui_artifacts, "sensor-tick")

    # Which run to look for: the list also holds `synth backfill`'s runs of another day.
    run_id = launched_run(dagster_stack, COLLECT_JOB, DATE)
    nav(page, "Runs")
    link = page.locator(f'a[href="/runs/{run_id}"]').filter(has_text=run_id[:8])
    wait_visible(page, link, f"the collect run of {DATE} in the runs list", 30, 5)
    link.first.click()
    wait_for_run(page, dagster_stack, run_id, "the collect run")
    shot(page, ui_artifacts, "collect-run-success")
    passed.add("collect")


BACKFILLS = "{ partitionBackfillsOrError { ... on PartitionBackfills { results { id } } } }"


def test_the_backfill_and_sensor_ticks_of_synth_backfill_show(
    page: Page, dagster_stack: DagsterStack, ui_artifacts: Path
) -> None:
    """`synth backfill` (as `make demo`) ran through a real daemon before `dagster dev`
    started: its backfill and the sensor ticks that collected the day are in the UI."""
    [backfill] = dagster_stack.graphql(BACKFILLS)["partitionBackfillsOrError"]["results"]
    page.goto(f"/runs/b/{backfill['id']}")
    expect(page.get_by_text(backfill["id"]).first).to_be_visible()
    expect(page.get_by_text(SUBMIT_JOB).first).to_be_visible()
    expect(page.get_by_text("Completed").first).to_be_visible()
    shot(page, ui_artifacts, "synth-backfill")

    run_id = launched_run(dagster_stack, COLLECT_JOB, BACKFILL_DATE)
    nav(page, "Runs")
    link = page.locator(f'a[href="/runs/{run_id}"]').filter(has_text=run_id[:8])
    wait_visible(page, link, f"the sensor's collect run of {BACKFILL_DATE}", 30, 5)
    nav(page, "Automation")
    page.get_by_role("link", name=SENSOR).first.click()
    expect(page.get_by_text("1 run requested").first).to_be_visible()
    shot(page, ui_artifacts, "synth-backfill-sensor-ticks")


def test_parsed_asset_page_shows_rows_schema_and_preview(
    page: Page, dagster_stack: DagsterStack, ui_artifacts: Path
) -> None:
    import pyarrow.parquet as pq

    needs("collect")
    table = pq.read_table(dagster_stack.table("parsed", DATE))
    page.goto(f"/assets/{TASK}/parsed")
    expect(page.get_by_role("link", name=TASK).first).to_be_visible()  # breadcrumb: task/parsed

    row_count = page.get_by_text("Row count", exact=True).locator("xpath=..")
    expect(row_count).to_contain_text(str(table.num_rows))
    expect(page.get_by_text(DATE).first).to_be_visible()  # the latest materialization's partition
    for field in table.schema:
        column = page.get_by_role("row").filter(
            has=page.get_by_role("cell", name=field.name, exact=True)
        )
        expect(column.filter(has_text=str(field.type)).first).to_be_visible()
    shot(page, ui_artifacts, "parsed-asset", readme="parsed-asset.png")

    preview = page.get_by_role("row").filter(
        has=page.get_by_role("cell", name="preview", exact=True)
    )
    preview.first.scroll_into_view_if_needed()
    shot(page, ui_artifacts, "parsed-metadata")
    first_id = table["custom_id"][0].as_py()
    hidden = preview.get_by_text("[Show Markdown]")
    if hidden.count():  # a long Markdown value opens in a dialog
        hidden.first.click()
        shown: Locator = page.get_by_role("dialog")
    else:  # a table value renders in place
        shown = preview.first
    expect(shown).to_contain_text("class_label")
    expect(shown).to_contain_text(first_id)
    shot(page, ui_artifacts, "parsed-preview")
    if hidden.count():
        page.get_by_role("dialog").get_by_role("button", name="Close").click()
    passed.add("parsed")


def test_asset_checks_passed(page: Page, ui_artifacts: Path) -> None:
    needs("collect")
    page.goto(f"/assets/{TASK}/parsed")
    page.get_by_role("tab", name="Checks").click()
    expect(page.get_by_text("Succeeded", exact=True)).to_have_count(2)  # the list of checks
    for check, metadata in (("conservation", "requested"), ("parse_rate", "minimum")):
        page.get_by_text(check, exact=True).first.click()
        expect(page).to_have_url(re.compile(check))
        expect(page.get_by_text("Evaluation result")).to_be_visible()
        expect(page.get_by_text("Passed", exact=True).first).to_be_visible()
        expect(page.get_by_text(metadata, exact=True).first).to_be_visible()
        shot(page, ui_artifacts, f"check-{check}")
    passed.add("checks")


def test_asset_graph_after_the_runs(page: Page, ui_artifacts: Path) -> None:
    needs("collect")
    # Wide enough, navigation hidden: the graph fits with full nodes (status, checks).
    page.set_viewport_size({"width": 1600, "height": 540})
    page.goto(f"/locations/synth_assets/asset-groups/{TASK}")
    page.get_by_role("button", name="Hide navigation").click()
    page.reload()  # the graph fits itself to the space it has when it loads
    graph = page.locator("svg").filter(has=page.locator("foreignObject"))
    for name in CHAIN:
        node = graph.locator("foreignObject").filter(has=page.get_by_text(name, exact=True))
        expect(node.first).to_contain_text("Latest event")
        if name == "parsed":
            expect(node.first).to_contain_text(re.compile(r"2\s*/\s*2\s*Passed"))
    shot(page, ui_artifacts, "asset-graph-materialized", readme="asset-graph.png")
    page.set_viewport_size({"width": 1440, "height": 900})
    passed.add("graph-after")
