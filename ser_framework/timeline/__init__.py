"""Emotion timelines for long recordings: voice activity, windows, segments.

>>> from ser_framework.bundle import load_bundle
>>> from ser_framework.timeline import timeline
>>> result = timeline(load_bundle(), "meeting.flac")        # doctest: +SKIP
>>> [(s.start, s.end, s.label) for s in result.segments]    # doctest: +SKIP
"""
from .analyser import StreamAnalyser, WindowResult
from .export import table, write_csv
from .segments import HOP, WINDOW, Segment, Timeline, TimelineError, timeline
from .vad import VadParams, detect_speech

__all__ = ["timeline", "Timeline", "Segment", "TimelineError", "VadParams", "detect_speech",
           "StreamAnalyser", "WindowResult", "table", "write_csv", "WINDOW", "HOP"]
