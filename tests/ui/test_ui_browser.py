"""`driftgate ui` in a real headless Chromium (Debian's `chromium` and `chromium-driver`,
driven by Selenium), on a copy of the example workspace with a run, a gate and served
traffic: every page opens with its script finished and no console error, a run is
filtered, a comparison opens, five answers are reviewed with the keyboard and exactly those
five reach the golden set and the feedback log, and a hostile output stays text.

Screenshots of each page go to test-artifacts/ui/ (docs/ui/ holds the README's copies).
`make test` (CI) installs the browser and requires it; bare pytest skips without it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "ui"
HOSTILE = "<script>window.__pwned=1</script><img src=x onerror=window.__pwned=2>"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
REQUIRED = os.environ.get("DRIFTGATE_REQUIRE_BROWSER") == "1"
MISSING = (
    "chromium and chromium-driver are needed: `make browser` (as root) or "
    "`sudo apt-get install chromium chromium-driver`"
)
AVAILABLE = Path(CHROMIUM).exists() and Path(DRIVER).exists()

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not AVAILABLE and not REQUIRED, reason=MISSING)]


@pytest.fixture(autouse=True)
def _browser_required() -> None:
    if not AVAILABLE:
        pytest.fail(f"make test needs headless Chromium for the web UI: {MISSING}")


def _driftgate(root: Path, *args: str) -> None:
    env = {**os.environ, "DRIFTGATE_HOME": str(root.parent / "home")}
    out = subprocess.run(
        [str(Path(os.sys.executable).parent / "driftgate"), *args],
        cwd=root, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, (
        f"driftgate {' '.join(args)}:\n{out.stdout[-1500:]}{out.stderr[-1500:]}"
    )


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example workspace after the README's first loop steps: registered, production
    promoted through the gate on the simulator (a run each side), traffic served with
    simulated users' feedback; plus one run whose output is hostile markup."""
    root = tmp_path_factory.mktemp("ui") / "ws"
    root.mkdir()
    for name in ("prompts", "evalsets", "routes"):
        shutil.copytree(REPO / name, root / name)
    shutil.copy(REPO / "pyproject.toml", root)
    _driftgate(root, "register")
    _driftgate(root, "promote", "prompt/categorize@2", "--to", "production",
               "-c", "evalsets/categorize-sim.suite.yaml", "-m", "sim/acme@v2")  # fmt: skip
    _driftgate(root, "run", "-c", "evalsets/categorize-sim.suite.yaml", "--limit", "60")
    _driftgate(root, "route", "replay", "categorize", "evalsets/traffic.jsonl", "--feedback")
    for _ in range(2):  # a baseline, then a check
        _driftgate(root, "drift", "check", "-c", "evalsets/categorize-sim.suite.yaml",
                   "--sample", "40")  # fmt: skip
    from driftgate.store.records import CaseResult, RunManifest
    from driftgate.store.runs import RunStore

    store = RunStore(root / "runs")
    manifest = RunManifest(id="20200101-000000-0bad00", created_at=1.6e9, driftgate_version="x",
                           status="finished", suite="hostile")  # fmt: skip
    store.create(manifest)
    with store.writer(manifest.id) as w:
        w.write(CaseResult(run_id=manifest.id, key="p|m|e|evil|0", evalset="e", case_id="evil",
                           prompt="p", prompt_digest="d", model="m", output=HOSTILE,
                           ts=1.6e9).model_dump(mode="json"))  # fmt: skip
    return root


@pytest.fixture(scope="module")
def base_url(example: Path) -> Iterator[str]:
    import uvicorn

    from driftgate.ui import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(example), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the UI server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1000",
                 "--disable-dev-shm-usage", "--no-first-run", "--disable-background-networking",
                 f"--user-data-dir={tmp_path_factory.mktemp('profile')}"):  # fmt: skip
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _open(driver, url: str, shot: str | None = None) -> None:  # noqa: ANN001 - selenium's driver
    driver.get(url)
    _ready(driver)
    if shot:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / f"{shot}.png"))


def _ready(driver) -> None:  # noqa: ANN001
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 20).until(
        lambda d: d.find_element("tag name", "body").get_attribute("data-ready") == "1"
    )
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors


def _loads(driver, act) -> None:  # noqa: ANN001
    """Do `act` (a click, a select that submits its form) and wait for the page it loads:
    the old page stays "ready" until it is replaced, so readiness alone can be the old one's."""
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    body = driver.find_element("tag name", "body")
    act()
    WebDriverWait(driver, 20).until(ec.staleness_of(body))
    _ready(driver)


def _next_item(driver, item: str | None) -> None:  # noqa: ANN001
    """Wait for the page a review decision loads: its item is another one, and it is ready.
    Until the old page is replaced its elements answer, and then go stale mid-read: both
    are "not yet"."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    def moved_on(d) -> bool:  # noqa: ANN001
        try:
            body = d.find_element("tag name", "body")
            now = d.find_element("id", "review-item").get_attribute("data-item")
            return now != item and body.get_attribute("data-ready") == "1"
        except (StaleElementReferenceException, NoSuchElementException):
            return False

    WebDriverWait(driver, 20).until(moved_on)
    _ready(driver)


def test_runs_pages_filter_and_show_a_case(browser, base_url: str, example: Path) -> None:  # noqa: ANN001
    from selenium.webdriver.support.ui import Select

    _open(browser, f"{base_url}/runs", "runs")
    rows = browser.find_elements("css selector", "#runs tbody tr")
    assert len(rows) >= 3
    suite = Select(browser.find_element("name", "suite"))
    _loads(browser, lambda: suite.select_by_visible_text("hostile"))  # it submits its form
    assert "suite=hostile" in browser.current_url
    (only,) = browser.find_elements("css selector", "#runs tbody tr")
    _loads(browser, only.find_element("tag name", "a").click)
    # The hostile output is text on the page, and its script never ran.
    assert HOSTILE in browser.find_element("id", "cases").text
    assert browser.execute_script("return window.__pwned === undefined")

    _open(browser, f"{base_url}/runs")
    _loads(browser, browser.find_element("css selector", "#runs tbody tr a").click)  # newest
    status = Select(browser.find_element("name", "status"))
    _loads(browser, lambda: status.select_by_visible_text("failed"))
    kinds = {
        r.get_attribute("class") for r in browser.find_elements("css selector", "#cases tbody tr")
    }
    assert kinds == {"fail"}, kinds
    browser.save_screenshot(str(ARTIFACTS / "run.png"))
    _loads(browser, browser.find_element("css selector", "#cases tbody tr a").click)
    assert browser.find_element("id", "messages").text.strip()
    browser.save_screenshot(str(ARTIFACTS / "case.png"))


def test_compare_versions_drift_and_routes_pages(browser, base_url: str, example: Path) -> None:  # noqa: ANN001
    from selenium.webdriver.support.ui import Select

    # Compare: the latest real run's two few-shot arms, picked in the form.
    _open(browser, f"{base_url}/compare", None)
    latest = [
        o.get_attribute("value") for o in browser.find_elements("css selector", "#pick-a option")
    ]
    run = next(r for r in latest if not r.startswith("2020"))
    pick = Select(browser.find_element("id", "pick-a"))
    if pick.first_selected_option.get_attribute("value") != run:
        # Picking a run submits the form (a filter select): wait for the new page before
        # typing into it, or the fields typed into belong to the page being replaced.
        _loads(browser, lambda: pick.select_by_value(run))
    browser.find_element("name", "arm_a").send_keys("few-shot · sim/acme@v1")
    browser.find_element("name", "arm_b").send_keys("zero-shot · sim/acme@v1")
    _loads(browser, browser.find_element("id", "compare-go").click)
    assert browser.find_element("id", "verdict").text
    assert "pass" in browser.find_element("id", "headline").text
    browser.save_screenshot(str(ARTIFACTS / "compare.png"))

    # Versions: the prompt's versions, its production alias, a diff of @1 and @2.
    _open(browser, f"{base_url}/versions?target=prompt/categorize&a=1&b=2", "versions")
    assert "production" in browser.find_element("id", "versions").text
    diff = browser.find_element("id", "diff")
    assert diff.find_elements("tag name", "ins") and diff.find_elements("tag name", "del")
    assert "promote" in browser.find_element("id", "audit").text

    # Drift: the monitored suite's signals, one chart each.
    _open(browser, f"{base_url}/drift", "drift")
    assert "1 checks" in browser.find_element("id", "drift-summary").text
    assert len(browser.find_elements("css selector", "section svg")) >= 8

    # Routes: arms, live weights, the shadow's agreement, per-segment quality.
    _open(browser, f"{base_url}/routes?route=categorize", "routes")
    assert "never returned" in browser.find_element("id", "route-arms").text
    assert "provider-v1 (shadow)" in browser.find_element("id", "traffic").text
    assert "new-bank-format" in browser.find_element("id", "route-segments").text


def test_review_five_answers_with_the_keyboard(browser, base_url: str, example: Path) -> None:  # noqa: ANN001
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    from driftgate.router import read_feedback
    from driftgate.workspace import Workspace

    ws = Workspace.find(example)
    golden = example / "evalsets" / "reviewed.jsonl"
    assert not golden.exists()
    before = len(read_feedback(ws, "categorize"))
    _open(browser, f"{base_url}/review?route=categorize", "review")
    name = browser.find_element("id", "reviewer")
    name.clear()
    name.send_keys("ana", Keys.ESCAPE)  # Escape leaves the field: keys are shortcuts again
    decided = []
    for n in range(6):
        item = browser.find_element("id", "review-item").get_attribute("data-item")
        decided.append(item)
        key = ["a", "1", "e", "2", "3", "s"][n]
        if key == "e" and not browser.find_elements("id", "take-suggestion"):
            key = "4"  # no user correction on this one: pick a label instead
        ActionChains(browser).send_keys(key).perform()
        _next_item(browser, item)
        assert browser.find_element("id", "reviewer").get_attribute("value") == "ana"
    browser.save_screenshot(str(ARTIFACTS / "review-after.png"))
    # Five decisions, then a skip (stores nothing but the skip): exactly five golden cases
    # and five reviewed feedback events, for exactly the five answers decided.
    rows = [json.loads(line) for line in golden.read_text().splitlines()]
    assert {f"categorize/{r['id']}" for r in rows} == set(decided[:5])
    assert len(rows) == 5 and {r["metadata"]["reviewer"] for r in rows} == {"ana"}
    feedback = read_feedback(ws, "categorize")
    reviewed = [fb for fb in feedback if fb.reviewer == "ana"]
    assert {f"categorize/{fb.request_id}" for fb in reviewed} == set(decided[:5])
    assert len(reviewed) == 5 and len(feedback) == before + 5
