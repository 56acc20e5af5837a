"""The ``voice_quality`` extractor on synthetic voices whose F0, jitter, shimmer, formants and
harmonic levels are known; and the optional ``opensmile`` extractor's missing-package error."""
from __future__ import annotations

import sys

import numpy as np
import pytest
import scipy.signal

from ser_framework import AudioContext, PluginError
from ser_framework.plugins import get_registry

N_VALUES = 55
#: where the measures sit in the vector (see plugins/features_quality.py)
F0_MEAN, F0_P50, F0_P80, RISE, FALL = 0, 3, 4, 6, 8
LOUD_PEAKS, ALPHA, HAMMARBERG, SLOPE_LOW, SLOPE_MID = 16, 17, 19, 21, 23
HNR, F1, B1, F2, F3, H1H2 = 29, 31, 33, 35, 39, 43
JITTER, SHIMMER, VSEG_RATE, VSEG_LEN, USEG_LEN, VOICED_SHARE = 47, 48, 49, 50, 52, 54
VOWEL_A = ((700, 80), (1220, 90), (2600, 120))
VOWEL_U = ((300, 60), (870, 80), (2240, 110))


@pytest.fixture(scope="module")
def extractor():
    return get_registry(load_entrypoints=False).build("feature", "voice_quality")


def _vq(extractor, y, sr) -> np.ndarray:
    return extractor.extract(AudioContext(np.asarray(y, dtype=np.float32), sr)).astype(np.float64)


def vowel(f0=110.0, jitter=0.0, shimmer_db=0.0, formants=VOWEL_A, seconds=1.0, sr=16000, seed=0):
    """A source-filter vowel between 0.4 s of -80 dB noise.

    Glottal pulses (impulses at 160 kHz, periods ``(1 +- jitter u) / f0`` and amplitudes
    ``10^(+-shimmer_db u / 40)`` with random sign and ``u`` uniform in 0.5-1.5, a -12 dB/octave
    pulse shape, differentiated for lip radiation) through three formant resonators (Hz,
    bandwidth Hz), down-sampled to ``sr``. Returns the waveform and the true local jitter (%)
    and local shimmer (dB) of the pulses made.
    """
    rng = np.random.default_rng(seed)
    up = 160000
    n = int(seconds * f0) + 2
    periods = (1 + jitter * rng.choice([-1, 1], n) * rng.uniform(0.5, 1.5, n)) / f0
    amps = 10 ** (shimmer_db / 40 * rng.choice([-1, 1], n) * rng.uniform(0.5, 1.5, n))
    times = np.cumsum(periods)
    keep = times < seconds - 1e-3
    times, amps = times[keep], amps[keep]
    src = np.zeros(int(seconds * up))
    src[np.round(times * up).astype(int)] = amps
    y = np.diff(scipy.signal.lfilter([1], [1, -2 * 0.996, 0.996 ** 2], src), prepend=0)
    for f, bw in formants:
        r, theta = np.exp(-np.pi * bw / up), 2 * np.pi * f / up
        y = scipy.signal.lfilter([1 - r], [1, -2 * r * np.cos(theta), r * r], y)
    y = scipy.signal.resample_poly(y, sr, up)
    k = np.arange(len(y))
    y = 0.3 * y / np.abs(y).max() * np.minimum(1, np.minimum(k, len(y) - 1 - k) / (0.02 * sr))
    pad = np.zeros(int(0.4 * sr))
    y = np.concatenate([pad, y, pad]) + 1e-5 * rng.standard_normal(len(y) + 2 * len(pad))
    p = np.diff(times)
    true_jitter = 100 * np.mean(np.abs(np.diff(p))) / np.mean(p)
    true_shimmer = np.mean(np.abs(20 * np.log10(amps[1:] / amps[:-1])))
    return y.astype(np.float32), true_jitter, true_shimmer


def syllables(sr=16000, seconds=1.5, f0a=200.0, f0b=200.0, amplitudes=(1.0,), seed=0):
    """Harmonic complex (harmonic k has amplitude ``amplitudes[k-1]``, or ``1/k`` past the list;
    harmonics < 3.8 kHz) gliding from ``f0a`` to ``f0b`` Hz, in 200-ms syllables with 100-ms pauses."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    f0 = 2 ** (np.log2(f0a) + np.log2(f0b / f0a) * t / seconds)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    y = sum((amplitudes[h - 1] if h <= len(amplitudes) else 1 / h) * np.sin(h * phase)
            for h in range(1, 40) if h * max(f0a, f0b) < 3800)
    cycle = (t % 0.3) / 0.2
    env = np.where(cycle < 1, np.sin(np.pi * np.minimum(cycle, 1)) ** 0.5, 0.0)
    return (0.3 * y * env / np.abs(y).max() + 1e-5 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.mark.parametrize("f0", [110.0, 220.0])
def test_f0_and_jitter_of_a_source_filter_vowel(extractor, f0):
    estimates, truths = [], []
    for jitter in (0.005, 0.01, 0.02):
        y, true_jitter, _ = vowel(f0=f0, jitter=jitter, seconds=1.5)
        v = _vq(extractor, y, 16000)
        assert abs(v[F0_P50] - 12 * np.log2(f0 / 27.5)) < 0.3  # semitones re 27.5 Hz
        assert abs(v[JITTER] - true_jitter) < 0.4, (jitter, v[JITTER], true_jitter)  # percentage points
        estimates.append(v[JITTER])
        truths.append(true_jitter)
    assert estimates == sorted(estimates)
    assert _vq(extractor, vowel(f0=f0, seconds=1.5)[0], 16000)[JITTER] < 0.3  # strictly periodic


@pytest.mark.parametrize("f0", [110.0, 150.0])
def test_shimmer_grows_with_the_true_shimmer(extractor, f0):
    """Shimmer is read from the low-passed waveform, where the formants' ringing from one cycle
    overlaps the next: it is a biased measure (about 0.75 x the truth at 110 Hz, a floor of about
    0.4 dB at 150 Hz), but it rises with the true shimmer."""
    estimates = []
    for shimmer_db in (0.0, 0.6, 1.2, 2.4):
        y, _, true_shimmer = vowel(f0=f0, jitter=0.002, shimmer_db=shimmer_db, seconds=1.5)
        v = _vq(extractor, y, 16000)
        assert abs(v[SHIMMER] - true_shimmer) < 0.45 + 0.3 * true_shimmer, (v[SHIMMER], true_shimmer)  # dB
        estimates.append(v[SHIMMER])
    assert estimates == sorted(estimates)


@pytest.mark.parametrize("formants", [VOWEL_A, VOWEL_U], ids=["a", "u"])
def test_formants_of_a_low_voice(extractor, formants):
    v = _vq(extractor, vowel(f0=110.0, jitter=0.005, formants=formants, seconds=1.5)[0], 16000)
    for i, (true, _) in zip((F1, F2, F3), formants):
        assert abs(v[i] - true) < 0.12 * true, (v[i], true)
    assert 0 < v[B1] < 300


def test_hnr_falls_with_noise(extractor):
    y, _, _ = vowel(f0=150.0, jitter=0.003, seconds=1.5)
    rng = np.random.default_rng(5)
    noise = rng.standard_normal(y.size).astype(np.float32)
    speech = y[np.abs(y) > 1e-3]
    hnr = [_vq(extractor, y + (np.std(speech) / 10 ** (snr / 20)) * noise, 16000)[HNR] for snr in (60, 10, 0)]
    assert hnr[0] > hnr[1] + 3 > hnr[2] + 6


def test_h1_h2_of_a_harmonic_complex(extractor):
    for ratio_db in (-6.0, 0.0, 10.0):
        y = syllables(f0a=180.0, f0b=180.0, amplitudes=(1.0, 10 ** (-ratio_db / 20)))
        assert abs(_vq(extractor, y, 16000)[H1H2] - ratio_db) < 1.0


def test_spectral_balance_follows_the_tilt(extractor):
    flat = _vq(extractor, syllables(amplitudes=[1.0] * 19), 16000)
    steep = _vq(extractor, syllables(amplitudes=[1 / h ** 2 for h in range(1, 20)]), 16000)
    assert steep[ALPHA] > flat[ALPHA] + 10 and steep[HAMMARBERG] > flat[HAMMARBERG] + 10
    assert steep[SLOPE_MID] < flat[SLOPE_MID] - 5


def test_segments_loudness_peaks_and_slopes(extractor):
    v = _vq(extractor, syllables(f0a=180.0, f0b=240.0), 16000)
    assert abs(v[VSEG_RATE] - 1 / 0.3) < 0.6  # one voiced segment per 0.3-s syllable cycle
    assert abs(v[VSEG_LEN] - 0.2) < 0.05 and abs(v[USEG_LEN] - 0.1) < 0.05  # seconds
    assert abs(v[LOUD_PEAKS] - 1 / 0.3) < 0.6 and v[VOICED_SHARE] > 0.8
    falling = _vq(extractor, syllables(f0a=240.0, f0b=180.0), 16000)
    assert v[RISE] > v[FALL] and falling[FALL] > falling[RISE]
    assert v[F0_P80] > v[F0_P50] > v[F0_MEAN] - 1


def test_level_independent(extractor):
    y, _, _ = vowel(f0=130.0, jitter=0.01, shimmer_db=0.5, seconds=1.5)
    a, b = _vq(extractor, y, 16000), _vq(extractor, 0.1 * y, 16000)  # -20 dB
    assert np.max(np.abs(a - b) / np.maximum(1.0, np.abs(a))) < 1e-3


def test_input_rate_hardly_matters(extractor):
    y16 = vowel(f0=130.0, jitter=0.01, seconds=1.5)[0]
    for sr in (8000, 44100):
        other = _vq(extractor, vowel(f0=130.0, jitter=0.01, seconds=1.5, sr=sr)[0], sr)
        base = _vq(extractor, y16, 16000)
        assert abs(other[F0_P50] - base[F0_P50]) < 0.2 and abs(other[JITTER] - base[JITTER]) < 0.3
        assert abs(other[F1] - base[F1]) < 50 and abs(other[F2] - base[F2]) < 80


def _odd_inputs():
    rng = np.random.default_rng(0)
    y = vowel(f0=130.0, jitter=0.01, seconds=1.0)[0]
    return {
        "silence-padded": (np.concatenate([np.zeros(32000, np.float32), y, np.zeros(32000, np.float32)]), 16000),
        "0.1-s clip": (y[6400:8000], 16000),
        "0.01-s clip": (y[6400:6560], 16000),
        "silence": (np.zeros(22050), 22050),
        "white noise": (0.1 * rng.standard_normal(22050), 22050),
        "tone": (0.3 * np.sin(2 * np.pi * 220 * np.arange(22050) / 22050), 22050),
        "8-kHz input": (scipy.signal.resample_poly(y, 1, 2), 8000),
        "hard clipping": (np.clip(20 * y, -1, 1), 16000),
    }


@pytest.mark.parametrize("name", list(_odd_inputs()))
def test_length_is_fixed_and_values_finite(extractor, name):
    y, sr = _odd_inputs()[name]
    v = extractor.extract(AudioContext(np.asarray(y, dtype=np.float32), sr))
    assert v.dtype == np.float32 and v.shape == (N_VALUES,) and np.all(np.isfinite(v))


def test_silence_padding_keeps_the_voice_measures(extractor):
    y = vowel(f0=130.0, jitter=0.01, shimmer_db=0.4, seconds=1.5)[0]
    padded = np.concatenate([np.zeros(16000, np.float32), y, np.zeros(16000, np.float32)])
    a, b = _vq(extractor, y, 16000), _vq(extractor, padded, 16000)
    for i in (F0_P50, JITTER, SHIMMER, HNR, F1, F2, H1H2):
        assert abs(a[i] - b[i]) <= 0.02 * max(1.0, abs(a[i])), i


def test_pitch_tracker_octave_cost_is_a_param(extractor):
    with pytest.raises(Exception, match="octave_cost"):
        get_registry(load_entrypoints=False).build("feature", {"name": "voice_quality", "params": {"octave_cost": -1}})
    plain = get_registry(load_entrypoints=False).build(
        "feature", {"name": "voice_quality", "params": {"octave_cost": 0.0}})
    y = vowel(f0=220.0, seconds=1.5)[0]  # strictly periodic: the plain argmax finds a multiple of the period
    assert abs(_vq(extractor, y, 16000)[F0_P50] - 12 * np.log2(220 / 27.5)) < 0.3
    assert _vq(plain, y, 16000)[F0_P50] < 12 * np.log2(220 / 27.5) - 5


def test_voice_band_and_voice_quality_on_one_clip_equal_each_alone(extractor):
    """The two extractors share one clip's level-normalised spectra and autocorrelation but pick F0
    with different octave costs (0 and 0.1): sharing must not leak one's pitch track into the other."""
    band = get_registry(load_entrypoints=False).build("feature", "voice_band")
    y = np.asarray(vowel(f0=220.0, seconds=1.5)[0], np.float32)  # where the two octave costs disagree
    shared = AudioContext(y, 16000)
    together = band.extract(shared), extractor.extract(shared)
    alone = band.extract(AudioContext(y, 16000)), extractor.extract(AudioContext(y, 16000))
    np.testing.assert_array_equal(together[0], alone[0])
    np.testing.assert_array_equal(together[1], alone[1])
    plain = get_registry(load_entrypoints=False).build(
        "feature", {"name": "voice_quality", "params": {"octave_cost": 0.0}})
    assert not np.array_equal(plain.extract(AudioContext(y, 16000)), alone[1])


# ------------------------------------------------------------------------------------------ opensmile
def test_opensmile_without_the_package_names_the_extra(monkeypatch):
    import ser_plugins.features_opensmile as plugin

    monkeypatch.setitem(sys.modules, "opensmile", None)  # import opensmile -> ImportError
    plugin._smile.cache_clear()
    with pytest.raises(PluginError, match=r"pip install 'ser-framework\[opensmile\]'") as err:
        get_registry(load_entrypoints=False).build("feature", "opensmile")
    assert "research, personal and educational use only" in str(err.value)
    plugin._smile.cache_clear()


def test_opensmile_egemaps_when_installed():
    """In a fresh process: openSMILE's native library aborted a test process that had already
    loaded TensorFlow and the rest of the suite (seen once, Fatal Python error: Aborted)."""
    import subprocess

    pytest.importorskip("opensmile")
    code = ("import numpy as np\n"
            "from ser_framework import AudioContext\n"
            "from ser_framework.plugins import get_registry\n"
            "ex = get_registry(load_entrypoints=False).build('feature', 'opensmile')\n"
            "t = np.arange(16000) / 16000\n"
            "y = (0.2 * np.sin(2 * np.pi * 130 * t * (1 + 0.1 * t))).astype(np.float32)\n"
            "v = ex.extract(AudioContext(y, 16000))\n"
            "print(v.shape[0], bool(np.all(np.isfinite(v))))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["88", "True"]


def test_voice_quality_trains_and_predicts_through_a_bundle(synthetic_corpus_dir, tmp_path):
    from conftest import tiny_config_dict

    from ser_framework import load_bundle
    from ser_framework.config import validate
    from ser_framework.experiment import run_training

    registry = get_registry(load_entrypoints=False)
    raw = tiny_config_dict(synthetic_corpus_dir, tmp_path)
    raw["features"] = [{"name": "voice_quality"}]
    result = run_training(validate(raw, registry), registry, tmp_path / "run", progress=False)
    bundle = load_bundle(result.bundle_dir)
    clip = next(synthetic_corpus_dir.glob("*/*.wav"))
    assert bundle.predict(str(clip)).label in {p.name for p in synthetic_corpus_dir.iterdir()}


def test_cli_opensmile_missing_is_one_line_error(synthetic_corpus_dir, tmp_path, monkeypatch):
    import yaml
    from click.testing import CliRunner
    from conftest import tiny_config_dict

    import ser_plugins.features_opensmile as plugin
    from ser_frontends.cli.main import cli

    raw = tiny_config_dict(synthetic_corpus_dir, tmp_path)
    raw["features"] = [{"name": "opensmile"}]
    config = tmp_path / "opensmile.yaml"
    config.write_text(yaml.safe_dump(raw))
    monkeypatch.setitem(sys.modules, "opensmile", None)
    plugin._smile.cache_clear()
    result = CliRunner().invoke(cli, ["train", str(config), "-o", str(tmp_path / "run"), "-q"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "pip install 'ser-framework[opensmile]'" in result.output
    plugin._smile.cache_clear()
