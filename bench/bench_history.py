"""Page speed with a big history: sign-in, analysis and history pages in Chromium with N entries.

Seeds a fresh data folder with one account holding N history entries spread over a year (and
another account with as many, so queries must pick one user's rows), serves ``ser app`` on the
shipped model, and times in a real Chromium (Playwright), ``--repeats`` times each:

- sign-in: click "Sign in" until "Signed in as ..." is shown;
- analysis: upload a 3.4-s clip until the answer is shown (the entry is added to the history);
- history: click "History" until the table's first cells and the chart (an SVG image) are shown;

plus, in-process on the same folder, the data store's calls and the building of the history page's
table and chart. Prints medians and writes JSON to
``bench/results/history.json``. Usage: ``.venv/bin/python bench/bench_history.py [--entries 10000]``.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT.parent / "shared/data/ravdess/Actor_05/03-01-05-02-01-01-05.flac"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]
PASSWORD = "bench password 1"
LABELS = ["angry", "calm", "disgust", "fearful", "happy", "neutral", "sad", "surprised"]


def seed(folder: Path, n: int) -> None:
    """Two accounts with ``n`` entries each over the last 365 days (one transaction per account)."""
    from ser_framework import DataStore, sign_up

    store = DataStore(folder)
    rng = random.Random(0)
    now = time.time()
    for name in ("bench", "other"):
        user = sign_up(store, name, PASSWORD)
        rows = []
        for _ in range(n):
            p = [rng.random() for _ in LABELS]
            total = sum(p)
            probs = {lab: v / total for lab, v in zip(LABELS, p)}
            rows.append((user.user_id, now - rng.uniform(0, 365 * 86400), max(probs, key=probs.get),
                         json.dumps(probs), rng.choice(["", "", "after a call", "morning"]), "bench"))
        with store.write() as conn:
            conn.executemany("INSERT INTO history (user_id, time, emotion, probabilities, note, model) "
                             "VALUES (?, ?, ?, ?, ?, ?)", rows)


def store_timings(folder: Path, repeats: int) -> dict:
    from ser_framework import DataStore, history_csv, sign_in
    from ser_frontends.app import history_view

    store = DataStore(folder)
    out = {"sign_in_s": [], "page_data_s": [], "table_and_chart_s": [], "entries_s": [], "csv_export_s": []}
    tz = history_view.timezone(None)
    for _ in range(repeats):
        t = time.perf_counter()
        user = sign_in(store, "bench", PASSWORD)
        out["sign_in_s"].append(time.perf_counter() - t)
        t = time.perf_counter()  # what the page reads: the count, one table page, (time, emotion) for the chart
        first, last = (history_view.day_of(x, tz) for x in user.time_span())
        user.count()
        rows = user.summary_rows(limit=history_view.PAGE_SIZE)
        pairs = user.emotion_times()
        out["page_data_s"].append(time.perf_counter() - t)
        t = time.perf_counter()
        history_view.table_html(rows, tz)
        history_view.chart_html(history_view.daily_counts(pairs, tz, first, last))
        out["table_and_chart_s"].append(time.perf_counter() - t)
        t = time.perf_counter()
        entries = user.entries()
        out["entries_s"].append(time.perf_counter() - t)
        t = time.perf_counter()
        history_csv(entries)
        out["csv_export_s"].append(time.perf_counter() - t)
    return {k: round(statistics.median(v), 3) for k, v in out.items()}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(folder: Path):
    port = free_port()
    env = {**os.environ, "SER_DATA_DIR": str(folder)}
    env.pop("SER_MODEL", None)
    proc = subprocess.Popen([str(Path(sys.executable).with_name("ser")), "app", "--port", str(port), "--address",
                             "127.0.0.1"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                return proc, url
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("the app did not start")


def browser_timings(url: str, wav: Path, repeats: int) -> dict:
    from playwright.sync_api import sync_playwright

    out = {"sign_in_s": [], "analysis_s": [], "history_s": [], "history_table_s": [], "history_again_s": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        for _ in range(repeats):
            page = browser.new_context(viewport={"width": 1000, "height": 900}).new_page()
            page.set_default_timeout(60_000)
            page.goto(url)
            page.get_by_role("link", name="Sign in").click()
            page.get_by_role("textbox", name="Name").fill("bench")
            page.get_by_role("textbox", name="Password").fill(PASSWORD)
            t = time.perf_counter()
            page.get_by_role("button", name="Sign in").click()
            page.get_by_text("Signed in as bench").wait_for()
            out["sign_in_s"].append(time.perf_counter() - t)

            page.get_by_role("link", name="Analyse").click()
            page.get_by_text("Which emotion is in this voice?").wait_for()
            page.get_by_text("Signed in as bench").wait_for(state="detached")
            t = time.perf_counter()
            page.locator("[data-testid=stFileUploaderDropzoneInput]").set_input_files(str(wav))
            page.locator(".st-key-ser-answer tbody tr").nth(2).wait_for()
            page.get_by_text("Kept in your private history").wait_for()
            out["analysis_s"].append(time.perf_counter() - t)

            for key in ("history_s", "history_again_s"):  # first visit, then again (the browser has the chart code)
                t = time.perf_counter()
                page.get_by_role("link", name="History").click()
                page.locator(".st-key-history-table td").first.wait_for()
                if key == "history_s":
                    out["history_table_s"].append(time.perf_counter() - t)
                page.locator(".st-key-history-chart img").first.wait_for()
                out[key].append(time.perf_counter() - t)
                page.get_by_role("link", name="Analyse").click()
                page.get_by_text("Which emotion is in this voice?").wait_for()
            page.context.close()
        browser.close()
    return {k: round(statistics.median(v), 3) for k, v in out.items()} | {"all": out}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=10_000, help="history entries per account")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    import soundfile as sf

    with tempfile.TemporaryDirectory() as tmp:
        folder, wav = Path(tmp) / "data", Path(tmp) / "clip.wav"
        y, sr = sf.read(CLIP, dtype="float32")
        buf = io.BytesIO()
        sf.write(buf, y, sr, format="WAV", subtype="PCM_16")
        wav.write_bytes(buf.getvalue())
        seed(folder, args.entries)
        store = store_timings(folder, args.repeats)
        proc, url = serve(folder)
        try:
            browser = browser_timings(url, wav, args.repeats)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    result = {"entries_per_account": args.entries, "accounts": 2, "repeats": args.repeats,
              "load_average": os.getloadavg()[0], "store": store, "browser": browser}
    print(f"{args.entries} history entries per account, 2 accounts; medians of {args.repeats} runs "
          f"(load average {result['load_average']:.1f} on {os.cpu_count()} cores)")
    print("browser (click to visible):  sign-in {sign_in_s:.2f} s · analysis (upload to answer) {analysis_s:.2f} s"
          " · history page {history_s:.2f} s (its table {history_table_s:.2f} s; visited again {history_again_s:.2f} s)"
          .format(**browser))
    print("in-process:  sign_in {sign_in_s:.3f} s · the page's queries {page_data_s:.3f} s · table + chart HTML/SVG "
          "{table_and_chart_s:.3f} s · entries() {entries_s:.3f} s · CSV export {csv_export_s:.3f} s".format(**store))
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "history.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
