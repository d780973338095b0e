"""Unit tests of the pure parts: tus headers, the wire protocol, layout, the mixer, the job queue."""
