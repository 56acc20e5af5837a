"""The ``ser`` command line (click). Heavy libraries load inside commands only."""
