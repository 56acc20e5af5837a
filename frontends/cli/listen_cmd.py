"""``ser listen``: live emotion from the microphone (or a recording played as if it were one)."""
from __future__ import annotations

import json
import threading

import click

from .common import handle_errors, load_model, model_option, plugins_dir_option

#: seconds of audio per block read from the microphone
BLOCK_SECONDS = 0.1


def window_line(result, dropped: int) -> str:
    """``  0:03.5-0:07.0  angry      71%`` (or ``no speech`` / ``dropped``) for one window."""
    from ser_framework import clock

    span = f"{clock(result.start):>9}-{clock(result.end):<9}"
    if result.status == "ok":
        return f"{span} {result.label:<10} {result.confidence:4.0%}"
    if result.status == "dropped":
        return f"{span} (dropped: the classifier fell behind; {dropped} dropped so far)"
    return f"{span} (no speech)"


def json_line(result, dropped: int) -> str:
    return json.dumps({**result.as_dict(), "latency": round(result.latency, 3), "dropped": dropped})


def microphone(device):
    """``(sounddevice module, input device info)``; one clear error when there is no usable input."""
    from ser_framework import SerError

    try:
        import sounddevice as sd
    except (OSError, ImportError):
        raise SerError("cannot listen: the PortAudio library is not installed (Debian/Ubuntu: "
                       "apt-get install libportaudio2, or make audio); or play a file with --from FILE") from None
    try:
        info = sd.query_devices(device, "input")
    except (sd.PortAudioError, ValueError) as exc:
        which = f" {device!r}" if device is not None else ""
        raise SerError(f"no audio input device{which} found ({' '.join(str(exc).split())}); "
                       "list devices with: python -m sounddevice; or play a file with --from FILE") from None
    return sd, info


@click.command()
@click.option("--device", default=None, help="Input device: its number or part of its name (default: the system's).")
@click.option("--from", "source", type=click.Path(dir_okay=False), default=None,
              help="Play this recording through the live path instead of the microphone (at real-time speed).")
@click.option("--fast", is_flag=True, help="With --from: as fast as possible (never drops windows).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line and window.")
@click.option("--smooth", default=1, show_default=True, type=click.IntRange(min=1),
              help="Windows averaged per answer (the current one and those before it).")
@click.option("--seconds", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Stop listening after this many seconds (default: until Ctrl+C).")
@model_option
@plugins_dir_option
@handle_errors
def listen(device, source, fast, as_json, smooth, seconds, model, plugins_dirs):
    """Print the emotion of the voice as it speaks, one line per analysis window.

    Each line gives the window's time span, the emotion and its probability
    ("no speech" when the window holds no voice); silence prints nothing.
    If classification falls behind, windows are dropped and said so, so the
    answers never lag further and further. --from FILE plays a recording
    through the same path (--fast: as fast as possible; the labels then equal
    those of ser predict --segments FILE).
    """
    if fast and source is None:
        raise click.UsageError("--fast needs --from FILE")
    device = int(device) if device is not None and device.isdigit() else device
    sd_info = microphone(device) if source is None else None  # refuse a missing device before loading the model
    bundle = load_model(model, plugins_dirs=plugins_dirs)
    fmt = json_line if as_json else window_line
    lock = threading.Lock()

    def show(result, analyser):
        with lock:
            click.echo(fmt(result, analyser.dropped))

    if source is not None and fast:
        from ser_framework import StreamAnalyser, audio_info, play_recording

        analyser = StreamAnalyser(bundle, audio_info(source).sample_rate, smooth=smooth)
        for result in play_recording(analyser, source, realtime=False):
            show(result, analyser)
        return
    from ser_framework import LiveAnalyser

    holder: dict = {}
    stop = threading.Event()
    if source is not None:
        from ser_framework import audio_info, play_recording

        analyser = LiveAnalyser(bundle, audio_info(source).sample_rate, smooth=smooth,
                                on_result=lambda r: show(r, holder["a"]))
        holder["a"] = analyser
        analyser.warm_up()
        if seconds:
            timer = threading.Timer(seconds, stop.set)
            timer.daemon = True  # the recording may end first
            timer.start()
        for _ in play_recording(analyser, source, realtime=True, stop=stop):
            pass
    else:
        sd, info = sd_info
        rate = int(info["default_samplerate"])
        analyser = LiveAnalyser(bundle, rate, smooth=smooth, on_result=lambda r: show(r, holder["a"]))
        holder["a"] = analyser
        analyser.warm_up()
        _record(sd, device, rate, analyser, seconds)
        analyser.finish()
    if analyser.dropped:
        click.echo(f"{analyser.dropped} window(s) dropped: the classifier fell behind real time", err=True)


def _record(sd, device, rate: int, analyser, seconds: float | None) -> None:
    """Feed microphone blocks to ``analyser`` until Ctrl+C or ``seconds``."""
    import queue
    import time

    blocks: queue.Queue = queue.Queue(maxsize=100)

    def callback(indata, frames, when, status):
        try:
            blocks.put_nowait(indata[:, 0].copy())
        except queue.Full:  # the main thread is stuck; the analyser's own queue handles slow classification
            pass

    click.echo(f"listening on {sd.query_devices(device, 'input')['name']} ({rate} Hz); Ctrl+C to stop", err=True)
    end = None if seconds is None else time.monotonic() + seconds
    try:
        with sd.InputStream(device=device, channels=1, samplerate=rate, dtype="float32",
                            blocksize=int(rate * BLOCK_SECONDS), callback=callback):
            while end is None or time.monotonic() < end:
                try:
                    analyser.feed(blocks.get(timeout=0.5))
                except queue.Empty:
                    continue
    except KeyboardInterrupt:
        pass
    except sd.PortAudioError as exc:
        from ser_framework import SerError

        raise SerError(f"the audio input failed: {' '.join(str(exc).split())}") from None


COMMANDS = [listen]
