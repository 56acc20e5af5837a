"""A bad-input corpus generated at test time: every case is predicted or refused with its own message.

The same cases go through the Python API (``load_audio`` and ``Bundle.predict``)
and through ``ser predict`` (exit code 1, one line on stderr, no traceback, no
partial output).
"""
from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import synth_tone

from ser_framework import errors
from ser_framework.audio import MIN_DURATION, audio_info, load_audio

SR = 16000


def _tone(seconds=0.5, sr=SR, amp=0.3):
    return synth_tone(220.0, seconds=seconds, sr=sr, amp=amp)


def _wav_bytes(y, sr=SR, **kw):
    buf = io.BytesIO()
    sf.write(buf, y, sr, format=kw.pop("format", "WAV"), **kw)
    return buf.getvalue()


def _write(path: Path, y, sr=SR, **kw):
    sf.write(path, y, sr, **kw)
    return path


def _bytes(path: Path, data: bytes):
    path.write_bytes(data)
    return path


def _encoded(path: Path, y, sr=SR, *, container="ipod", codec="aac", video=False):
    """``y`` ((frames,) or (frames, channels)) encoded with FFmpeg (PyAV) as a phone or browser would."""
    import av

    with av.open(str(path), "w", format=container) as out:
        if video:  # a film with no sound track
            stream = out.add_stream("mpeg4", rate=10)
            stream.width = stream.height = 32
            for _ in range(5):
                out.mux(stream.encode(av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")))
            out.mux(stream.encode(None))
            return path
        y = np.asarray(y, dtype=np.float32)
        y = y[:, None] if y.ndim == 1 else y
        layout = {1: "mono", 2: "stereo"}[y.shape[1]]
        stream = out.add_stream(codec, rate=sr, layout=layout)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(y.reshape(1, -1)), format="flt", layout=layout)
        frame.sample_rate = sr
        to_codec = av.AudioResampler(format=stream.codec_context.format.name, layout=layout, rate=sr,
                                     frame_size=stream.codec_context.frame_size or None)
        for chunk in [*to_codec.resample(frame), *to_codec.resample(None)]:
            out.mux(stream.encode(chunk))
        out.mux(stream.encode(None))
    return path


def _cut(path: Path, keep: float) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


# name -> (maker(tmp_path) -> path, expected). expected is "ok" or (exception class, message fragment)
REJECTED = {
    "empty_file": (lambda d: _bytes(d / "empty.wav", b""),
                   (errors.EmptyAudioError, "the file is empty")),
    "truncated_header": (lambda d: _bytes(d / "trunc.wav", _wav_bytes(_tone())[:20]),
                         (errors.NotAudioError, "not an audio file")),
    "header_only": (lambda d: _bytes(d / "hdr.wav", _wav_bytes(_tone())[:44]),
                    (errors.EmptyAudioError, "the recording is empty")),
    "random_bytes": (lambda d: _bytes(d / "random.wav", np.random.default_rng(3).bytes(4096)),
                     (errors.NotAudioError, "not an audio file (format not recognised)")),
    # starts with an MPEG frame sync (ff e4), so libsndfile's MP3 decoder tries it (and prints
    # warnings of its own on the C stderr, which must not reach the user)
    "random_bytes_mp3_sync": (lambda d: _bytes(d / "random2.wav", np.random.default_rng(1).bytes(4096)),
                              (errors.NotAudioError, "not an audio file, or a damaged one")),
    "text_named_wav": (lambda d: _bytes(d / "notes.wav", b"this is a shopping list\n" * 40),
                       (errors.NotAudioError, "not an audio file (format not recognised)")),
    "truncated_flac": (lambda d: _bytes(d / "cut.flac", _wav_bytes(_tone(2.0), format="FLAC")[:3000]),
                       (errors.NotAudioError, "damaged")),
    "nan_samples": (lambda d: _write(d / "nan.wav", np.where(np.arange(SR) == 100, np.nan, _tone(1.0)).astype(np.float32),
                                     subtype="FLOAT"),
                    (errors.InvalidSamplesError, "contains invalid samples (NaN)")),
    "inf_samples": (lambda d: _write(d / "inf.wav", np.where(np.arange(SR) == 7, np.inf, _tone(1.0)), subtype="DOUBLE"),
                    (errors.InvalidSamplesError, "contains invalid samples (infinite values)")),
    "zero_frames": (lambda d: _write(d / "zero.wav", np.zeros(0, np.float32)),
                    (errors.EmptyAudioError, "the recording is empty (0 samples)")),
    "too_short": (lambda d: _write(d / "short.wav", _tone(0.01)),
                  (errors.AudioTooShortError, f"too short: 0.01 s, need at least {MIN_DURATION:g} s")),
    "missing_path": (lambda d: d / "does-not-exist.wav",
                     (errors.AudioNotFoundError, "file not found")),
    "directory": (lambda d: (d / "a_folder.wav").mkdir() or d / "a_folder.wav",
                  (errors.AudioNotFoundError, "is a folder, not an audio file")),
    "digital_silence": (lambda d: _write(d / "silence.wav", np.zeros(SR, np.float32), subtype="PCM_16"),
                        (errors.NoSpeechError, "no speech found")),
    "near_silence": (lambda d: _write(d / "hiss.wav", (1e-4 * np.random.default_rng(2).standard_normal(SR)).astype(np.float32),
                                                   subtype="FLOAT"),
                     (errors.NoSpeechError, "no speech found")),
    "dc_offset_only": (lambda d: _write(d / "dc.wav", np.full(SR, 0.25, np.float32), subtype="FLOAT"),
                       (errors.NoSpeechError, "no speech found")),
    "sample_rate_too_low": (lambda d: _write(d / "2k.wav", _tone(1.0, sr=2000), sr=2000),
                            (errors.AudioError, "sample rate 2000 Hz is too low")),
    # phone formats (FFmpeg): an M4A cut before its index, a film without sound, an MP4 header on junk
    "m4a_cut_before_its_index": (lambda d: _cut(_encoded(d / "memo.m4a", _tone(2.0)), 0.5),
                                 (errors.NotAudioError, "not an audio file, or a damaged one")),
    "mp4_without_sound": (lambda d: _encoded(d / "film.mp4", None, container="mp4", video=True),
                          (errors.NotAudioError, "the file holds no audio track")),
    "mp4_header_on_junk": (lambda d: _bytes(d / "junk.m4a", b"\0\0\0\x20ftypM4A " + np.random.default_rng(4).bytes(4096)),
                           (errors.NotAudioError, "not an audio file, or a damaged one")),
    "silent_m4a": (lambda d: _encoded(d / "quiet.m4a", np.zeros(SR, np.float32)),
                   (errors.NoSpeechError, "no speech found")),
}

ACCEPTED = {
    "clipped": lambda d: _write(d / "clipped.wav", np.clip(_tone(1.0) * 10, -1, 1), subtype="PCM_16"),
    "pcm_u8": lambda d: _write(d / "u8.wav", _tone(), subtype="PCM_U8"),
    "pcm_16": lambda d: _write(d / "s16.wav", _tone(), subtype="PCM_16"),
    "pcm_24": lambda d: _write(d / "s24.wav", _tone(), subtype="PCM_24"),
    "pcm_32": lambda d: _write(d / "s32.wav", _tone(), subtype="PCM_32"),
    "float32": lambda d: _write(d / "f32.wav", _tone(), subtype="FLOAT"),
    "float64": lambda d: _write(d / "f64.wav", _tone().astype(np.float64), subtype="DOUBLE"),
    "ulaw": lambda d: _write(d / "ulaw.wav", _tone(), subtype="ULAW"),
    "stereo": lambda d: _write(d / "stereo.wav", np.stack([_tone(), 0.5 * _tone()], axis=1), subtype="PCM_16"),
    "six_channels": lambda d: _write(d / "six.wav", np.stack([_tone()] * 6, axis=1), subtype="PCM_24"),
    "8k": lambda d: _write(d / "8k.wav", _tone(sr=8000), sr=8000),
    "11k": lambda d: _write(d / "11k.wav", _tone(sr=11025), sr=11025),
    "44k1": lambda d: _write(d / "44k1.wav", _tone(sr=44100), sr=44100),
    "48k": lambda d: _write(d / "48k.wav", _tone(sr=48000), sr=48000),
    "96k_stereo_24bit": lambda d: _write(d / "96k.wav", np.stack([_tone(sr=96000)] * 2, axis=1), sr=96000,
                                         subtype="PCM_24"),
    "flac": lambda d: _write(d / "clip.flac", _tone(), format="FLAC"),
    "flac_named_wav": lambda d: _write(d / "really_flac.wav", _tone(), format="FLAC"),
    "ogg_vorbis": lambda d: _write(d / "clip.ogg", _tone(), format="OGG"),
    "just_long_enough": lambda d: _write(d / "min.wav", _tone(MIN_DURATION + 0.01)),
    # what phones, messengers and browsers record (decoded by FFmpeg): AAC in M4A (a voice memo),
    # stereo AAC in MP4, raw ADTS AAC, Opus in WebM (MediaRecorder), AMR-NB at 8 kHz, an M4A named .wav
    "m4a_aac": lambda d: _encoded(d / "memo.m4a", _tone(1.0)),
    "mp4_aac_stereo_44k1": lambda d: _encoded(d / "video-sound.mp4", np.stack([_tone(1.0, sr=44100)] * 2, axis=1),
                                              sr=44100, container="mp4"),
    "adts_aac": lambda d: _encoded(d / "clip.aac", _tone(1.0), container="adts"),
    "webm_opus": lambda d: _encoded(d / "note.webm", _tone(1.0, sr=48000), sr=48000, container="webm",
                                    codec="libopus"),
    "amr_nb": lambda d: _encoded(d / "call.amr", _tone(1.0, sr=8000), sr=8000, container="amr",
                                 codec="libopencore_amrnb"),
    "m4a_named_wav": lambda d: _encoded(d / "memo-renamed.wav", _tone(1.0)),
}


def _spectrum(y, n=2048):
    """Long-term magnitude spectrum (mean over 2048-sample frames)."""
    frames = np.lib.stride_tricks.sliding_window_view(y, n)[:: n // 2]
    return np.abs(np.fft.rfft(frames * np.hanning(n), axis=1)).mean(axis=0)


def _cosine(a, b):
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


FFMPEG_CASES = {"m4a_aac", "mp4_aac_stereo_44k1", "adts_aac", "webm_opus", "amr_nb", "m4a_named_wav"}


@pytest.fixture(scope="module")
def bundle(tiny_bundle_dir):
    from ser_framework.bundle import load_bundle

    return load_bundle(tiny_bundle_dir)


@pytest.mark.parametrize("case", sorted(REJECTED))
def test_api_rejects_with_its_message(case, tmp_path):
    maker, (exc_type, fragment) = REJECTED[case]
    with pytest.raises(exc_type) as info:
        load_audio(maker(tmp_path))
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message and "Traceback" not in message


@pytest.mark.parametrize("case", sorted(ACCEPTED))
def test_api_accepts_and_predicts(case, tmp_path, bundle):
    path = ACCEPTED[case](tmp_path)
    y = load_audio(path, sample_rate=22050)
    assert y.ndim == 1 and y.dtype == np.float32 and np.all(np.isfinite(y))
    if case in FFMPEG_CASES:  # a lossy codec adds its delay and padding; what it holds is still the tone
        assert audio_info(path).format.split(" in ")[0] in ("AAC", "OPUS", "AMRNB")
        assert 1.0 <= len(y) / 22050 < 1.2
        assert _cosine(_spectrum(y), _spectrum(_tone(1.0, sr=22050))) > 0.95  # the voice, not noise
    else:
        assert abs(len(y) / 22050 - sf.info(str(path)).duration) < 0.01
    pred = bundle.predict(path)
    assert pred.label in bundle.labels
    assert abs(sum(pred.probabilities.values()) - 1.0) < 1e-5


def test_messages_are_distinct():
    # every kind of failure has its own wording; the silent cases share theirs on purpose, and so do
    # the damaged phone files with the damaged ones libsndfile finds
    shared = {"near_silence", "dc_offset_only", "silent_m4a", "m4a_cut_before_its_index", "mp4_header_on_junk"}
    fragments = [frag for case, (_, frag) in REJECTED.items() if case not in shared]
    assert len(set(fragments)) >= len(fragments) - 2


def test_each_failure_is_an_audio_error_subclass():
    for _, (exc_type, _) in REJECTED.values():
        assert issubclass(exc_type, errors.AudioError) and issubclass(exc_type, errors.SerError)


@pytest.mark.parametrize("kind", ["wav", "m4a"])
def test_too_long_is_refused_from_the_header(kind, tmp_path, monkeypatch):
    """From the WAV header, or from the container's stated length for a phone file (FFmpeg)."""
    from ser_framework.audio_ffmpeg import FFmpegReader

    if kind == "wav":
        path, reader = _write(tmp_path / "long.wav", _tone(3.0)), sf.SoundFile
    else:
        path, reader = _encoded(tmp_path / "long.m4a", _tone(3.0)), FFmpegReader
    with pytest.raises(errors.AudioTooLongError, match=r"too long: 3\.\d s, the limit is 2 s"):
        load_audio(path, max_duration=2.0)

    # nothing past the header is decoded for a file over the limit
    def no_read(*a, **k):
        raise AssertionError("decoded samples of a file that is too long")

    monkeypatch.setattr(reader, "read", no_read)
    with pytest.raises(errors.AudioTooLongError):
        load_audio(path, max_duration=2.0)


def test_no_limit_reads_everything(tmp_path):
    path = _write(tmp_path / "long.wav", _tone(3.0))
    assert len(load_audio(path, max_duration=None, sample_rate=SR)) == 3 * SR


def test_long_multichannel_is_read_in_blocks(tmp_path, monkeypatch):
    """Multi-channel audio is mixed down block by block: no whole-file (frames x channels) buffer."""
    path = _write(tmp_path / "six.wav", np.stack([_tone(10.0)] * 6, axis=1), subtype="PCM_16")
    sizes = []
    real_read = sf.SoundFile.read

    def spy(self, frames=-1, *a, **k):
        out = real_read(self, frames, *a, **k)
        sizes.append(out.shape[0])
        return out

    monkeypatch.setattr(sf.SoundFile, "read", spy)
    y = load_audio(path, sample_rate=SR)
    assert len(y) == 10 * SR
    assert max(sizes) < 10 * SR


def test_mixdown_averages_channels(tmp_path):
    y = _tone()
    path = _write(tmp_path / "lr.wav", np.stack([y, -y], axis=1), subtype="FLOAT")
    # left and right cancel: the mono mix is silent and refused as such
    with pytest.raises(errors.NoSpeechError):
        load_audio(path)


def test_bytes_and_file_objects(tmp_path, bundle):
    data = _wav_bytes(_tone(), subtype="PCM_16")
    assert load_audio(data, sample_rate=SR).shape == (SR // 2,)
    assert load_audio(io.BytesIO(data), sample_rate=SR).shape == (SR // 2,)
    assert bundle.predict(data, name="upload.wav").path == "upload.wav"
    with pytest.raises(errors.EmptyAudioError, match="empty"):
        load_audio(b"")
    with pytest.raises(errors.NotAudioError, match="not an audio file"):
        load_audio(b"RIFF....WAVEfmt garbage")


def test_pipeline_uses_load_audio(bundle, monkeypatch):
    """Training, predict, evaluate and the app all decode through FeaturePipeline.load -> audio.load_audio."""
    import ser_framework.extraction as extraction

    calls = []
    monkeypatch.setattr(extraction, "load_audio", lambda src, **kw: calls.append((src, kw)) or _tone(1.0, sr=22050))
    bundle.predict("/no/such/file.wav")
    assert calls and calls[0][1]["sample_rate"] == bundle.pipeline.sample_rate
    assert calls[0][1]["min_duration"] == bundle.pipeline.audio["min_duration"]


# ---------------------------------------------------------------- CLI


def _predict_cli(args):
    from click.testing import CliRunner

    from ser_frontends.cli.main import cli

    return CliRunner().invoke(cli, ["predict", *args])


@pytest.mark.parametrize("case", sorted(REJECTED))
def test_cli_rejects_with_one_line(case, tmp_path, tiny_bundle_dir):
    maker, (_, fragment) = REJECTED[case]
    path = maker(tmp_path)
    result = _predict_cli([str(path), "-m", str(tiny_bundle_dir)])
    assert result.exit_code == 1, result.output
    assert result.stdout == ""  # no partial output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert fragment in lines[0]
    assert "Traceback" not in result.stderr
    assert not isinstance(result.exception, (AssertionError, TypeError, AttributeError))


@pytest.mark.parametrize("case", ["pcm_16", "six_channels", "flac_named_wav", "ogg_vorbis", "96k_stereo_24bit"])
def test_cli_predicts(case, tmp_path, tiny_bundle_dir):
    path = ACCEPTED[case](tmp_path)
    result = _predict_cli([str(path), "-m", str(tiny_bundle_dir)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"{path}: ")
    assert len(result.stdout.strip().splitlines()) == 1


def test_cli_bad_files_among_good_ones_each_get_their_answer(tmp_path, tiny_bundle_dir):
    """Every good file is answered; each bad one gets its own line (or JSON entry); exit 1."""
    good = ACCEPTED["pcm_16"](tmp_path)
    bad = REJECTED["text_named_wav"][0](tmp_path)
    missing = tmp_path / "missing.wav"
    args = [str(good), str(bad), str(missing), str(good), "-m", str(tiny_bundle_dir)]

    result = _predict_cli([*args, "--json"])
    assert result.exit_code == 1
    entries = json.loads(result.stdout)
    assert [e["path"] for e in entries] == [str(good), str(bad), str(missing), str(good)]
    assert "label" in entries[0] and "label" in entries[3] and "error" not in entries[0]
    assert "notes.wav: not an audio file" in entries[1]["error"]
    assert "not found" in entries[2]["error"]

    result = _predict_cli(args)
    assert result.exit_code == 1
    assert result.stdout.count(f"{good}: ") == 2  # both good files answered, in order
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 2 and "notes.wav: not an audio file" in errors[0] and "not found" in errors[1]


def test_cli_predicts_every_audio_file_in_a_folder(tmp_path, tiny_bundle_dir):
    """A folder stands for the audio files under it (all depths, sorted; other and hidden files skipped);
    a folder holding none gets its own error line and the rest are still answered."""
    memos = tmp_path / "memos"
    (memos / "week 2").mkdir(parents=True)
    (memos / ".trash").mkdir()
    b = _write(memos / "b.wav", _tone(1.0))
    a = _encoded(memos / "week 2" / "a.m4a", _tone(1.0))
    _write(memos / ".trash" / "old.wav", _tone(1.0))
    (memos / "notes.txt").write_text("not audio")
    empty = tmp_path / "empty"
    empty.mkdir()
    single = _write(tmp_path / "single.flac", _tone(1.0), format="FLAC")

    result = _predict_cli([str(memos), str(empty), str(single), "-m", str(tiny_bundle_dir), "--json"])
    assert result.exit_code == 1
    entries = json.loads(result.stdout)
    assert [e["path"] for e in entries] == [str(b), str(a), str(empty), str(single)]
    assert all("label" in entries[i] for i in (0, 1, 3))
    assert "is a folder, not an audio file, and holds none" in entries[2]["error"]


@pytest.mark.parametrize("case", ["nan_samples", "random_bytes_mp3_sync"])
def test_cli_subprocess_exit_code_and_stderr(case, tmp_path, tiny_bundle_dir):
    """The real console entry point: exit status 1, exactly one stderr line, no traceback.

    Run as a separate process so C-level output (libmpg123 probing random bytes) would show.
    """
    maker, (_, fragment) = REJECTED[case]
    bad = maker(tmp_path)
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("ser")), "predict", str(bad), "-m", str(tiny_bundle_dir)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 1
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"Error: {bad}: ") and fragment in lines[0]


def test_a_long_phone_recording_is_read_in_blocks_from_bytes(tmp_path):
    """The timeline's block reader takes an uploaded M4A (bytes, as the app gets it) like a WAV."""
    from ser_framework.timeline.stream import iter_blocks

    seconds = 12.0
    y = np.concatenate([_tone(1.0, sr=SR, amp=0.3) for _ in range(int(seconds))])
    data = io.BytesIO(_encoded(tmp_path / "long.m4a", y).read_bytes())
    info: dict = {}
    blocks = list(iter_blocks(data, sample_rate=22050, block_seconds=2.5, info=info))
    assert info["sample_rate"] == SR and abs(info["duration"] - seconds) < 0.2  # the container's stated length
    assert len(blocks) == 5 and all(abs(len(b) - 2.5 * 22050) < 2048 for b in blocks[:-1])
    assert abs(sum(map(len, blocks)) / 22050 - seconds) < 0.2
    whole = load_audio(io.BytesIO(data.getvalue()), sample_rate=22050)
    n = min(len(whole), sum(map(len, blocks))) - 2048  # the same samples (the ends resample apart)
    np.testing.assert_allclose(np.concatenate(blocks)[:n], whole[:n], atol=2e-3)


def test_a_webm_that_states_no_length_is_decoded_whole_then_checked(tmp_path, monkeypatch):
    """MediaRecorder's WebM names no duration: the track is decoded to learn it, and the limits still hold."""
    from ser_framework.audio_ffmpeg import FFmpegReader

    path = _encoded(tmp_path / "note.webm", _tone(3.0, sr=48000), sr=48000, container="webm", codec="libopus")
    stated = load_audio(path, sample_rate=SR)
    monkeypatch.setattr(FFmpegReader, "_stated_frames", lambda self: 0)
    assert audio_info(path).duration == pytest.approx(3.0, abs=0.03)
    np.testing.assert_array_equal(load_audio(path, sample_rate=SR), stated)
    with pytest.raises(errors.AudioTooLongError, match="the limit is 2 s"):
        load_audio(path, max_duration=2.0)


@pytest.mark.parametrize("codec, rate", [("aac", 44100), ("opus", 48000), ("amr", 8000)])
def test_encode_audio_makes_a_mono_file_of_the_codec(codec, rate, tmp_path):
    from ser_framework import encode_audio

    stereo = np.stack([_tone(1.0, sr=44100), 0.5 * _tone(1.0, sr=44100)], axis=1)
    data, encoded_at = encode_audio(stereo, 44100, codec)
    path = tmp_path / f"clip.{codec}"
    path.write_bytes(data)
    info = audio_info(path)
    assert (encoded_at, info.channels, info.sample_rate) == (rate, 1, rate)
    assert info.format.startswith({"aac": "AAC in MP4", "opus": "OPUS in WebM", "amr": "AMRNB in AMR"}[codec])


def test_encode_audio_without_the_encoder_says_so(monkeypatch):
    """A PyAV build without an encoder (18.1's wheels dropped AMR-NB) is a one-line error, not FFmpeg's."""
    import av

    from ser_framework import SerError, encode_audio

    monkeypatch.setattr(av, "codecs_available", set(av.codecs_available) - {"libopencore_amrnb"})
    with pytest.raises(SerError, match=r"has no libopencore_amrnb encoder, so it cannot make AMR files"):
        encode_audio(_tone(1.0, sr=8000), 8000, "amr")
    assert encode_audio(_tone(1.0, sr=16000), 16000, "aac")[1] == 16000  # the others still work
