"""The web app in a real browser: ``ser app --port N`` driven through Playwright and Chromium.

Leaves ``test-artifacts/app.png`` (the answer page) and ``test-artifacts/app-timing.json``
(seconds from upload to answer) under the project root.
"""
from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from app_support import CLIP, CORPUS, ROOT, bundle_for_tests, wav_bytes

pytestmark = [pytest.mark.browser, pytest.mark.corpus]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ARTIFACTS = ROOT / "test-artifacts"
SER = Path(sys.executable).with_name("ser")
PERCENT = re.compile(r"^\d{1,3}\.\d%$")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"`ser app` exited with code {proc.returncode}:\n{proc.stdout.read()}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"the app did not answer on {url} within {timeout:.0f} s")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    assert CLIP.is_file(), f"the corpus is missing: {CORPUS}"
    return bundle_for_tests(tmp_path_factory)


@contextlib.contextmanager
def serving(model, cwd, **env_extra):
    """``ser app --port N`` in a subprocess started in ``cwd``; its URL while it runs."""
    port = free_port()
    cmd = [str(SER), "app", "--port", str(port), "--address", "127.0.0.1"]
    if model is not None:
        cmd += ["--model", model]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **env_extra}
    env.pop("SER_MODEL", None)
    env.pop("SER_APP_MAX_SECONDS", None)
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def server(model, tmp_path_factory):
    """``ser app --port N`` in a subprocess, started from an unrelated folder."""
    with serving(model, tmp_path_factory.mktemp("elsewhere")) as url:
        yield url


@pytest.fixture(scope="module")
def playwright():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing (`make test` installs it)"
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright):
    b = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    yield b
    b.close()


def open_page(browser, url, init_script: str | None = None, **context_args):
    context = browser.new_context(viewport={"width": 1000, "height": 900}, **context_args)
    if init_script:
        context.add_init_script(init_script)
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.external_requests = []  # the page must work offline: everything comes from the server
    page.on("request", lambda r: r.url.startswith(url) or page.external_requests.append(r.url))
    page.goto(url)
    page.locator("[data-testid=stFileUploaderDropzoneInput]").wait_for(state="attached")
    return context, page


@pytest.fixture
def page(browser, server):
    context, page = open_page(browser, server)
    yield page
    context.close()


@pytest.fixture(scope="module")
def clip_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("uploads")
    good = folder / "clip.wav"
    good.write_bytes(wav_bytes())
    notes = folder / "notes.wav"
    notes.write_text("this is a shopping list, not a recording\n" * 50)
    return good, notes


def expected_answer(model, wav: Path):
    from ser_framework.bundle import load_bundle

    prediction = load_bundle(model).predict(wav)
    return prediction.label.capitalize(), [(lab.capitalize(), f"{100 * p:.1f}%") for lab, p in prediction.top(3)]


def read_answer(page):
    answer = page.locator(".st-key-ser-answer")
    heading = answer.locator("h1")
    icon = heading.locator("span[role=img]")
    icon_name = icon.inner_text().strip()
    title = heading.inner_text().replace(icon_name, "").strip()
    cells = answer.locator("tbody tr").evaluate_all(
        "rows => rows.map(r => Array.from(r.cells, c => c.innerText.trim()))")
    return title, icon_name, [tuple(c) for c in cells]


def assert_no_traceback(page):
    assert page.locator("[data-testid=stException]").count() == 0
    assert "Traceback" not in page.locator("body").inner_text()


def test_upload_in_a_real_browser(page, model, clip_files):
    from ser_frontends.app.logic import icon_for

    good, notes = clip_files
    title_expected, rows_expected = expected_answer(model, good)

    t0 = time.perf_counter()
    page.locator("[data-testid=stFileUploaderDropzoneInput]").set_input_files(str(good))
    page.locator(".st-key-ser-answer h1").wait_for(state="visible")
    page.locator(".st-key-ser-answer tbody tr").nth(2).wait_for(state="visible")
    seconds = time.perf_counter() - t0

    title, icon_name, rows = read_answer(page)
    assert title == title_expected  # the emotion in words, not only an icon
    assert icon_name == icon_for(title_expected.lower())
    # the icon font is served locally: the ligature draws one glyph, not the icon's long name
    icon_box = page.locator(".st-key-ser-answer h1 span[role=img]").bounding_box()
    assert icon_box["width"] < 2 * icon_box["height"]
    assert rows == rows_expected
    values = [float(pct.rstrip("%")) for _, pct in rows]
    assert all(PERCENT.match(pct) for _, pct in rows) and values == sorted(values, reverse=True)
    font_px = float(page.locator(".st-key-ser-answer h1").evaluate("e => parseFloat(getComputedStyle(e).fontSize)"))
    assert font_px >= 48  # large
    assert page.locator("[data-testid=stSidebar]").count() == 0
    assert_no_traceback(page)
    assert page.external_requests == []

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "app.png"), full_page=True)
    (ARTIFACTS / "app-timing.json").write_text(json.dumps(
        {"upload_to_answer_s": round(seconds, 3), "clip": CLIP.name, "model": model or "default"}, indent=1))
    print(f"\nupload to answer in the browser: {seconds:.2f} s")
    assert seconds < 15

    # a file that is not audio: a short message, no traceback, and the page keeps working
    page.locator("[data-testid=stFileUploaderDropzoneInput]").set_input_files(str(notes))
    error = page.locator(".st-key-ser-error [data-testid=stAlert]")
    error.wait_for(state="visible")
    message = error.inner_text()
    assert "notes.wav" in message and "not an audio file" in message and len(message) < 200
    assert page.locator(".st-key-ser-answer").count() == 0
    assert_no_traceback(page)
    page.screenshot(path=str(ARTIFACTS / "app-bad-input.png"), full_page=True)

    page.locator("[data-testid=stFileUploaderDropzoneInput]").set_input_files(str(good))
    page.locator(".st-key-ser-answer h1").wait_for(state="visible")
    assert read_answer(page)[0] == title_expected


def test_upload_size_limit_comes_from_the_app_config(page, tmp_path):
    import tomllib

    from ser_frontends.app.logic import __file__ as logic_file

    limit_mb = tomllib.loads((Path(logic_file).parent / ".streamlit/config.toml").read_text())["server"]["maxUploadSize"]
    big = tmp_path / "big.wav"
    big.write_bytes(wav_bytes()[:44] + bytes((limit_mb + 1) * 2**20))
    page.locator("[data-testid=stFileUploaderDropzoneInput]").set_input_files(str(big))
    message = page.get_by_text(re.compile(rf"{limit_mb}(\.0)?\s*MB"))
    message.first.wait_for(state="visible")
    assert page.locator(".st-key-ser-answer").count() == 0
    assert_no_traceback(page)


#: keeps every file the page uploads (Streamlit's uploads are XHRs of a FormData) in ``window.serUploads``
UPLOAD_SPY = """
window.serUploads = [];
const send = XMLHttpRequest.prototype.send;
XMLHttpRequest.prototype.send = function (body) {
  if (body instanceof FormData) for (const v of body.values()) if (v instanceof Blob) window.serUploads.push(v);
  return send.call(this, body);
};
"""
#: the kept uploads, base64-encoded
READ_UPLOADS = """async () => Promise.all(window.serUploads.map(async b => {
  const bytes = new Uint8Array(await b.arrayBuffer());
  let s = ""; for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}))"""


def record_through_the_microphone(playwright, server, wav: Path, seconds: float, screenshot: str | None = None,
                                  uploads: list | None = None):
    """Chromium's fake microphone plays ``wav`` (absolute path) into ``st.audio_input``; the page's answer.

    The WAV files the browser uploads to the app are appended to ``uploads`` if given."""
    fake_mic = [f"--use-file-for-fake-audio-capture={wav}%noloop", "--use-fake-device-for-media-stream",
                "--use-fake-ui-for-media-stream"]
    browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS + fake_mic)
    try:
        context, page = open_page(browser, server, UPLOAD_SPY if uploads is not None else None,
                                  permissions=["microphone"])
        page.locator("[data-testid=stAudioInputActionButton]").first.click()
        page.get_by_role("button", name="Stop recording").wait_for()
        time.sleep(seconds + 0.4)
        page.get_by_role("button", name="Stop recording").click()
        page.locator(".st-key-ser-answer tbody tr").nth(2).wait_for(state="visible")
        answer = read_answer(page)
        assert_no_traceback(page)
        if uploads is not None:
            uploads.extend(base64.b64decode(b) for b in page.evaluate(READ_UPLOADS))
        if screenshot:
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / screenshot), full_page=True)
        return answer
    finally:
        browser.close()


def test_recording_in_a_real_browser(playwright, server, clip_files):
    """Chromium's fake microphone plays the corpus clip into ``st.audio_input``."""
    import soundfile as sf

    good, _ = clip_files
    uploads = []
    title, icon_name, rows = record_through_the_microphone(playwright, server, good, 3.4, "app-recording.png",
                                                           uploads=uploads)
    assert title and icon_name and len(rows) == 3
    # what the app received (bench/recorder_capture.py keeps these): one 48 kHz WAV about as long as the clip
    assert len(uploads) == 1
    info = sf.info(io.BytesIO(uploads[0]))
    assert info.samplerate == 48000 and info.channels == 1 and 2.5 < info.duration < 6
    values = [float(pct.rstrip("%")) for _, pct in rows]
    assert all(PERCENT.match(pct) for _, pct in rows) and values == sorted(values, reverse=True)
    print(f"\nrecorded through the fake microphone: {title} ({', '.join(' '.join(r) for r in rows)})")


#: one clip per emotion, eight actors (odd male, even female), normal and strong intensity
RECORDER_CLIPS = [
    "Actor_17/03-01-01-01-01-01-17.flac", "Actor_18/03-01-02-02-01-01-18.flac",
    "Actor_19/03-01-03-02-02-01-19.flac", "Actor_20/03-01-04-01-02-02-20.flac",
    "Actor_03/03-01-05-02-01-02-03.flac", "Actor_08/03-01-06-01-02-01-08.flac",
    "Actor_11/03-01-07-02-01-01-11.flac", "Actor_14/03-01-08-01-02-02-14.flac",
]


def test_recorder_gives_the_upload_answer(playwright, server, model, tmp_path):
    """The same clip recorded through the app's recorder (the browser's 48 kHz capture with its
    automatic gain and noise suppression) and uploaded as a file: the same emotion for >= 7 of 8."""
    import soundfile as sf

    same, report = 0, []
    for name in RECORDER_CLIPS:
        wav = tmp_path / Path(name).with_suffix(".wav").name
        wav.write_bytes(wav_bytes(CORPUS / name))
        uploaded, _ = expected_answer(model, wav)
        rows = record_through_the_microphone(playwright, server, wav.resolve(), sf.info(str(wav)).duration)[2]
        recorded = rows[0][0]  # the most likely emotion (first row of the top-3 table)
        same += recorded.lower() == uploaded.lower()
        report.append(f"{Path(name).name}: upload {uploaded}, recorder {recorded}")
    print("\n" + "\n".join(report) + f"\nsame answer for {same} of {len(RECORDER_CLIPS)} clips")
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "recorder-vs-upload.txt").write_text("\n".join(report) + f"\nsame: {same}/{len(RECORDER_CLIPS)}\n")
    assert same >= 7, "\n".join(report)
