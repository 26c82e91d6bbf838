"""The console in a real browser (Debian's chromium through Playwright), against a real ``serve`` with a ledger of
a few thousand statements and queries and a real ``console`` process per role: each role's pages, filters, a
finding's proof, the printable archive, a submitted objection in the ledger; every page view's queries in the
ledger before its data is shown; no request leaves the console's origin. Screenshots at 1280 px are saved with
the test's files, and copied to ``docs/`` when ``CREDIT_LEDGER_SCREENSHOTS=docs``."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_console_ledger import Site, build, console, serving

pytestmark = pytest.mark.server
playwright = pytest.importorskip("playwright.sync_api")
DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("console")
    with serving(build(root), root) as served:
        yield served


class Visit:
    """A browser tab on one console, checking what every page view added to the ledger."""

    def __init__(self, site: Site, browser: Any, role: str, proc: Any, shots: Path) -> None:
        self.site, self.role, self.origin, self.shots = site, role, proc.origin, shots
        self.context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
        self.page = self.context.new_page()
        self.requests: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(proc.start_url)  # stores the token's cookie, then the home page

    def view(self, path: str | None = None, action: Any = None) -> list[int]:
        """Open ``path`` (or run ``action``, which navigates); the leaves of the queries the page shows. With the
        statements it says it submitted, they must be exactly the entries the ledger gained while it loaded: each
        query was in the ledger before its answer was shown."""
        before = self.site.count()
        if action is None:
            self.page.goto(self.origin + (path or "/"))
        else:
            with self.page.expect_navigation():
                action()
        after = self.site.count()
        leaves = [int(x) for x in self.page.locator("tr.read").evaluate_all("rs => rs.map(r => r.dataset.leaf)") if x]
        signed = [int(x) for x in self.page.locator("[data-statement-leaf]").evaluate_all(
            "es => es.map(e => e.dataset.statementLeaf)")]  # a statement the page signed and submitted
        assert sorted(leaves + signed) == list(range(before, after)), (path, leaves, signed, before, after)
        return leaves

    def shot(self, name: str, doc: str | None = None, full: bool = False) -> None:
        path = self.shots / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full)
        if doc and os.environ.get("CREDIT_LEDGER_SCREENSHOTS") == "docs":
            shutil.copyfile(path, DOCS / doc)

    def close(self) -> None:
        foreign = [u for u in self.requests if not u.startswith(self.origin + "/")]
        assert not foreign, f"requests outside the console's origin: {foreign[:5]}"
        self.context.close()


@pytest.fixture
def visit(site: Site, browser: Any, tmp_path: Path) -> Iterator[Any]:
    opened: list[Any] = []

    def open_console(dept: str, role: str) -> Visit:
        cm = console(site, dept, role)
        v = Visit(site, browser, role, cm.__enter__(), tmp_path)
        opened.append((v, cm))
        return v

    yield open_console
    for v, cm in opened:
        try:
            v.close()
        finally:
            cm.__exit__(None, None, None)
    print(f"screenshots in {tmp_path}")


def test_privacy_officer_log_filters_subject_findings_with_proofs_and_charts(site: Site, visit: Any) -> None:
    v = visit("officer", "privacy_officer")
    page = v.page
    assert len(v.view("/privacy/log")) == 1
    assert page.locator("#access-log tbody tr").count() == 200
    # Filters: the query's own (purpose) and the console's (outcome); sorted by department.
    v.view(action=lambda: (page.select_option("select[name=purpose]", "public_benefits"),
                           page.select_option("select[name=outcome]", "refused"), page.click("form.filters button")))
    rows = page.locator("#access-log tbody tr")
    assert rows.count() > 0
    assert set(rows.locator("td:nth-child(5)").all_inner_texts()) == {"public_benefits"}
    assert set(rows.locator("td:nth-child(7) .badge").all_inner_texts()) == {"refused"}
    v.view(action=lambda: page.click("th a:has-text('department')"))
    depts = rows.locator("td:nth-child(2)").all_inner_texts()
    assert depts == sorted(depts, reverse=True) and len(set(depts)) > 1
    csv = page.request.get(v.origin + "/privacy/log.csv?purpose=public_benefits&outcome=refused")
    assert csv.status == 200 and csv.text().splitlines()[0].startswith("position,query_id,issued_at")
    assert len(csv.text().splitlines()) == rows.count() + 1
    # One subject's timeline.
    v.view(f"/privacy/subject?subject={site.subjects[0]}")
    assert page.locator(".timeline li").count() >= 3
    # The review report: a finding's query, and its inclusion proof checked here and in the page.
    v.view("/privacy/review")
    assert page.locator("section.finding").count() > 0
    v.shot("privacy-review")
    proof_link = page.locator("a.proof-link").first
    query_id = proof_link.get_attribute("href").split("statement_id=")[1].split("&")[0]
    v.view(action=lambda: proof_link.click())
    page.wait_for_selector("#page-check[data-verdict]")
    assert page.locator("#page-check").get_attribute("data-verdict") == "pass"
    assert "pass" in page.locator("#server-check").get_attribute("class")
    assert query_id in page.locator("h1").inner_text()
    # Patterns: four charts, each with its numbers as a table.
    v.view("/privacy/charts")
    figures = page.locator("figure.chart")
    assert figures.count() == 4 and page.locator("figure.chart svg").count() == 4
    v.shot("console-privacy-officer", "console-privacy-officer.png")
    figures.first.locator("details summary").click()
    assert figures.first.locator("details table tbody tr").count() == 30


def test_auditor_entries_points_in_time_verification_and_checkpoints(site: Site, visit: Any) -> None:
    v = visit("auditor", "auditor")
    page = v.page
    v.view("/audit/entries?start=100&end=160")
    assert page.locator("#entries tbody tr").count() == 60
    assert page.locator("#entries tbody tr td:first-child").first.inner_text() == "100"
    middle = site.count() // 2
    v.view(f"/audit/asof?what=black&position={middle}&position2={site.count()}")
    assert page.locator("section.asof").count() == 2
    assert page.locator("#difference tbody tr.diff-added").count() > 0
    # The whole history verified from the console, with progress and the result.
    before = site.count()
    page.goto(v.origin + "/audit/verify")
    page.click("#start-audit")
    page.wait_for_selector("#job[data-status=passed], #job[data-status=failed], #job[data-status=error]",
                           timeout=90_000)
    assert page.locator("#job").get_attribute("data-status") == "passed", page.locator("#job").inner_text()
    total = int(page.locator("#job-progress").get_attribute("max"))
    assert total == before and page.locator("#job-progress").get_attribute("value") == str(total)
    pages = -(-total // 1000)
    assert site.count() == before + pages  # one recorded ledger_entries query per page
    v.shot("auditor-verify")
    v.view("/audit/checkpoints")
    page.wait_for_function("document.querySelectorAll('[data-kind=consistency]:not([data-verdict])').length == 0")
    verdicts = page.locator("[data-kind=consistency]").evaluate_all("es => es.map(e => e.dataset.verdict)")
    assert verdicts and set(verdicts) == {"pass"}
    v.view(f"/audit/asof?what=black&position={middle}&position2={site.count()}")
    v.shot("console-auditor", "console-auditor.png")


def open_resident(v: Any, resident: str, method: str, reference: str) -> list[int]:
    """At the service window, open a resident's archive after an identity check; the leaves of its queries."""
    page = v.page
    page.goto(v.origin + "/window")

    def open_archive() -> None:
        page.fill("input[name=subject]", resident)
        page.select_option("select[name=method]", method)
        page.fill("input[name=reference]", reference)
        page.click("form button[type=submit]")

    return list(v.view(action=open_archive))


def test_service_window_archive_printed_and_an_objection_signed_into_the_ledger(site: Site, visit: Any) -> None:
    v = visit("window", "service_window")
    page = v.page
    assert len(open_resident(v, site.resident, "id_card_reader", "window 3, card read 51007")) == 2  # archive, log
    records = page.locator("article.record")
    assert records.count() > 0 and page.locator("#points-total").inner_text().strip().lstrip("-").isdigit()
    v.shot("console-service-window", "console-service-window.png")
    page.emulate_media(media="print")
    assert not page.locator("#objection-form").is_visible() and records.first.is_visible()
    assert page.locator(".print-only").first.is_visible()
    v.shot("service-window-print", full=True)
    page.emulate_media(media="screen")
    record_id = page.locator("#objection-form select[name=record_id] option").first.get_attribute("value")

    def file_objection() -> None:
        page.fill("#objection-form textarea[name=grounds]", "The resident paid the fine on the day; receipt 0451.")
        page.click("#objection-form button")

    before = site.count()
    leaves = v.view(action=file_objection)
    assert page.locator("#submit-result.success").count() == 1, page.locator("#submit-result").inner_text()
    text = page.locator("#submit-result").inner_text()
    statement_id = page.locator("#submit-result code.id").inner_text()
    assert site.count() == before + 4 and len(leaves) == 3  # checked read, objection, archive and log again
    httpx.post(site.url + "/v1/log/checkpoint", timeout=30)
    proof = httpx.get(site.url + "/v1/log/proof/inclusion", params={"statement_id": statement_id}, timeout=30)
    assert proof.status_code == 200 and str(proof.json()["leaf_index"]) in text
    assert page.locator(f"#record-{record_id} .badge.open").count() >= 1  # the record shows the open objection


def test_service_window_signs_a_commitment_and_files_a_repair_application_the_ledger_keeps(site: Site,
                                                                                              visit: Any) -> None:
    v = visit("window", "service_window")
    page = v.page
    open_resident(v, site.resident, "id_card_inspection", "window 5, card inspected")
    record_id = page.locator("#commitment-form select[name=record_id] option").first.get_attribute("value")

    def sign(form: str, fill: Any) -> None:
        page.select_option(f"#{form} select[name=record_id]", record_id)
        fill()
        page.click(f"#{form} button")

    before = site.count()
    v.view(action=lambda: sign("commitment-form", lambda: page.fill(
        "#commitment-form textarea[name=text]", "本人承诺按期缴清罚款并不再发生同类行为。")))
    assert page.locator("#submit-result.success").count() == 1, page.locator("#submit-result").inner_text()
    assert site.count() == before + 4  # checked read, the commitment, archive and log again
    assert "本人承诺" in page.locator(f"#record-{record_id} ul.commitments").inner_text()

    def repair() -> None:
        page.select_option("#repair-form select[name=method_of_repair]", "fulfilment")
        page.locator("#repair-form select[name=commitment_id]").select_option(index=1)
        page.fill("#repair-form textarea[name=reason]", "Fine paid on 2026-11-20, receipt 88231.")

    v.view(action=lambda: sign("repair-form", repair))
    assert page.locator("#submit-result.success").count() == 1, page.locator("#submit-result").inner_text()
    row = page.locator(f"#record-{record_id} table.applications tr[data-kind=repair]")
    assert row.count() == 1 and "open" in row.inner_text()
    v.shot("service-window-applications", full=True)
    # The ledger in force (catalogue v1) allows no deferral: the page says so and nothing is signed into it.
    before = site.count()

    def deferral() -> None:
        page.fill("#deferral-form input[name=until]", (date.today() + timedelta(days=60)).isoformat())
        page.fill("#deferral-form textarea[name=reason]", "Awaiting the court's ruling on the fine.")

    v.view(action=lambda: sign("deferral-form", deferral))
    assert "allows no deferrals" in page.locator("#submit-result.problem").inner_text()
    assert site.count() == before + 3  # the three reads, no statement


def test_lead_department_assessment_with_filters_tables_and_charts(site: Site, visit: Any) -> None:
    v = visit("lead", "authority")
    page = v.page
    v.view("/lead/assessment")
    totals = page.locator("#totals tbody tr")
    assert totals.count() >= 5
    assert page.locator("figure.chart svg").count() == 5 and page.locator("figure.chart details table").count() == 5
    housing = site.depts["housing"].code
    v.view(f"/lead/assessment?department={housing}")
    assert page.locator("#totals tbody tr").count() == 1 and "Housing" in page.locator("#totals").inner_text()
    months = page.locator("#months tbody tr td:first-child")
    assert months.count() >= 2 and set(months.evaluate_all("ts => ts.map(t => t.title)")) == {housing}
    # One occupational group: the query carries the filter; the console's ledger has no records with a group.
    assert len(v.view("/lead/assessment?occupational_group=teacher")) == 1
    assert page.locator("select[name=occupational_group]").input_value() == "teacher"
    assert "teacher" in page.locator("section.reads").inner_text() and page.locator("#totals tbody tr").count() == 0
    v.view("/lead/assessment")
    v.shot("console-lead-department", "console-lead-department.png")
    v.shot("lead-department-full", full=True)
