"""The console end to end in a real headless Chromium (Debian's, driven by Playwright; nothing is
downloaded) against the running app: sign in, read the overview, set a tenant's threshold by
target share, promote a candidate, label a duel with a keyboard shortcut. Screenshots of every
page go to test-artifacts/console/ (look at them)."""
from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from feedback.models import Duel
from routerhub.audit.models import AuditEvent
from routerhub.tenants.models import Tenant
from tests.support.console import WIN_RATES, make_operator, seed
from tests.support.paths import REPO
from training.models import RouterVersion

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = REPO / "test-artifacts" / "console"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True),
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")]


def browse(base: str, duel_request: str) -> dict:
    """The whole browser session (in a thread of its own: Playwright's sync API runs an event loop,
    and Django's ORM refuses to run beside one, so the test's database checks stay in the main thread)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    seen: dict = {}
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1360, "height": 900})

        def shot(name: str) -> None:
            page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

        page.goto(base + "/console/")
        seen["login_url"] = page.url
        shot("00-login")
        page.fill("input[name=username]", "ops")
        page.fill("input[name=password]", "pw-ops-123")
        page.click("button[type=submit]")
        page.wait_for_url(base + "/console/")
        page.goto(base + "/console/?tenant=acme&period=7d")
        for stat in ("requests", "strong_share", "spend", "spend_reference", "savings", "error_rate", "feedback_rate"):
            seen[stat] = page.text_content(f"[data-stat={stat}]").strip()
        shot("01-overview")
        page.goto(base + "/console/tenants/")
        shot("02-tenants")
        page.click("text=acme")
        page.select_option("select[name=mode]", "share")
        page.fill("input[name=value]", "25")
        page.click("#preview-button")
        page.wait_for_selector("#preview")
        seen["preview_threshold"] = page.text_content("[data-preview=threshold]").strip()
        seen["preview_share"] = page.text_content("[data-preview=share]").strip()
        seen["preview_url"] = page.url
        shot("03-tenant-preview")
        page.click("#save-threshold")
        page.wait_for_selector(".messages .success")
        seen["saved_threshold"] = page.text_content("#current-threshold").strip()
        shot("04-tenant-saved")
        page.goto(base + "/console/routers/")
        shot("05-routers")
        page.click("#versions-mf tbody tr >> nth=0 >> a")  # the newest version: the candidate
        shot("06-router-candidate")
        page.click("#promote")
        shot("07-router-confirm")
        page.click("#confirm")
        page.wait_for_selector(".messages .success")
        seen["promoted_status"] = page.text_content("#version-status").strip()
        shot("08-router-promoted")
        page.goto(base + "/console/training/")
        shot("09-training")
        page.click("table a >> nth=0")
        shot("10-run")
        page.goto(base + "/console/requests/?tenant=acme&feedback=with")
        shot("11-requests")
        page.click("table tbody a >> nth=0")
        shot("12-request")
        page.goto(base + "/console/arena/")
        seen["arena_left"] = page.text_content("#answer-left").strip()
        shot("13-arena")
        page.keyboard.press("1")  # "answer 1 is better"
        page.wait_for_selector(".messages .success")
        seen["arena_after"] = page.text_content("main").strip()
        shot("14-arena-done")
        page.goto(base + f"/console/requests/{duel_request}/")
        seen["duel_request"] = page.text_content("main").strip()
        shot("14b-request-with-duel")
        page.goto(base + "/console/audit/")
        seen["audit"] = page.text_content("#audit").strip()
        shot("15-audit")
        browser.close()
    return seen


def test_the_console_in_a_real_browser(live_server):
    seeded = seed()
    make_operator()
    with ThreadPoolExecutor(1) as pool:
        seen = pool.submit(browse, live_server.url, str(seeded.duel.request_id)).result(timeout=180)
    assert "/console/login/" in seen["login_url"]
    # the overview shows the seeded numbers
    strong = int((WIN_RATES >= 0.5).sum())
    assert seen["requests"] == "61"
    assert seen["strong_share"] == f"{strong / 60 * 100:.1f}%"
    assert seen["spend_reference"] == "$2.40" and seen["feedback_rate"] == "16.7%"
    # the threshold set by a target share of 25% is the 75th percentile of the tenant's win rates
    expected = float(np.percentile(WIN_RATES, 75))
    assert seen["preview_threshold"] == seen["saved_threshold"] == f"{expected:.4f}"
    assert Tenant.objects.get(slug="acme").routing_threshold == pytest.approx(expected)
    assert "csrfmiddlewaretoken" not in seen["preview_url"]  # the preview posts: no token in URLs or logs
    # the candidate is promoted
    assert seen["promoted_status"] == "active"
    assert RouterVersion.objects.get(status="active").pk == seeded.v2.pk
    # the duel is labelled from the keyboard: "1" = the answer shown on the left
    duel = Duel.objects.get()
    assert duel.status == "labelled" and duel.labelled_by == "user:ops"
    assert duel.winner == ("model_a" if seen["arena_left"] == duel.answer_a else "model_b")
    assert "Nothing to label" in seen["arena_after"]
    assert "labelled" in seen["duel_request"] and "user:ops" in seen["duel_request"]
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert actions == {"threshold_changed", "version_promoted"} and "promoted mf v" in seen["audit"]
    assert len(list(ARTIFACTS.glob("*.png"))) >= 16
