"""Two people in two real Chromium sessions: each signs up, analyses a clip, and sees only their own history.

Leaves ``test-artifacts/history-alice.png`` and ``history-bob.png`` under the project root.
"""
from __future__ import annotations

import json

import pytest
from app_support import CLIP, CORPUS, bundle_for_tests, wav_bytes
from test_app_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, assert_no_traceback, serving

from ser_framework import DataStore

pytestmark = [pytest.mark.browser, pytest.mark.corpus]

PEOPLE = {  # name: (clip, note)
    "alice": (CLIP, "alice: before the exam"),
    "bob": (CORPUS / "Actor_18/03-01-04-02-01-01-18.flac", "bob: after the call"),
}


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    assert CLIP.is_file(), f"the corpus is missing: {CORPUS}"
    data = tmp_path_factory.mktemp("ser_data")
    with serving(bundle_for_tests(tmp_path_factory), tmp_path_factory.mktemp("elsewhere"), SER_DATA_DIR=str(data)) as url:
        yield url, data


def new_session(browser, url):
    context = browser.new_context(viewport={"width": 1000, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(url)
    page.get_by_text("Which emotion is in this voice?").wait_for()
    return context, page


def sign_up(page, name, password):
    page.get_by_role("link", name="Sign in").click()
    page.get_by_role("tab", name="Sign up").click()
    page.get_by_role("textbox", name="Choose a name").fill(name)
    page.get_by_role("textbox", name="Choose a password").fill(password)
    page.get_by_role("button", name="Create my account").click()
    page.get_by_text(f"Signed in as {name}").wait_for()


def analyse_with_note(page, wav, note):
    page.get_by_role("link", name="Analyse").click()
    page.get_by_text("Which emotion is in this voice?").wait_for()
    page.locator("[data-testid=stFileUploaderDropzoneInput]").set_input_files(str(wav))
    page.locator(".st-key-ser-answer h1").wait_for()
    page.get_by_role("textbox", name="Note").fill(note)
    page.get_by_role("button", name="Save note").click()
    page.get_by_text("Note saved").wait_for()


def history(page):
    """The history table's cells and the JSON export, as the browser gets them."""
    page.get_by_role("link", name="History").click()
    page.get_by_text("Your history").wait_for()
    cells = page.locator(".st-key-history-table td")
    cells.first.wait_for()
    page.locator(".st-key-history-chart img").wait_for()  # the chart, drawn as an image on the server
    with page.expect_download() as download:
        page.get_by_role("button", name="Export JSON").click()
    exported = json.loads(open(download.value.path(), encoding="utf-8").read())
    return cells.evaluate_all("cs => cs.map(c => c.textContent)"), exported


def test_two_users_in_two_browsers_see_only_their_own_history(app, tmp_path):
    from playwright.sync_api import sync_playwright

    url, data = app
    wavs = {}
    for name, (clip, _) in PEOPLE.items():
        wavs[name] = tmp_path / f"{name}.wav"
        wavs[name].write_bytes(wav_bytes(clip))
    with sync_playwright() as p:
        browsers = {name: p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
                    for name in PEOPLE}  # two browser processes: nothing shared but the server
        try:
            pages = {name: new_session(b, url)[1] for name, b in browsers.items()}
            for name, page in pages.items():
                sign_up(page, name, f"password of {name}")
            for name, page in pages.items():  # interleaved: both sessions are open at once
                analyse_with_note(page, wavs[name], PEOPLE[name][1])
            seen = {name: history(page) for name, page in pages.items()}
            ARTIFACTS.mkdir(exist_ok=True)
            for name, page in pages.items():
                page.screenshot(path=str(ARTIFACTS / f"history-{name}.png"), full_page=True)
                assert_no_traceback(page)

            store = DataStore(data)
            with store.read() as conn:
                ids = dict(conn.execute("SELECT name, id FROM users"))
                owner = dict(conn.execute("SELECT id, user_id FROM history"))
            for name, (cells, exported) in seen.items():
                other = next(n for n in PEOPLE if n != name)
                assert PEOPLE[name][1] in cells and PEOPLE[other][1] not in cells
                assert [e["note"] for e in exported] == [PEOPLE[name][1]]
                assert all(owner[e["id"]] == ids[name] for e in exported)

            # bob types alice's user id and entry number into the URL: a new session, not signed in,
            # and no history page; signed in, the URL changes nothing either
            alice_entry = seen["alice"][1][0]["id"]
            bob = pages["bob"]
            for query in (f"history?user_id={ids['alice']}", f"?user={ids['alice']}&entry={alice_entry}"):
                bob.goto(f"{url}/{query}")
                bob.get_by_text("Which emotion is in this voice?").wait_for()
                assert PEOPLE["alice"][1] not in bob.locator("body").inner_text()
            assert bob.get_by_role("link", name="History").count() == 0  # reloading signed bob out
        finally:
            for b in browsers.values():
                b.close()
