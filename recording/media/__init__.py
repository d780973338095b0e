"""The server recorder's media: aiortc peers, composition, encoding, files and the RTMP push.

Only this package (and recording/finishing.py) imports aiortc and PyAV; the rest of the service talks
to it through recording/recorder_worker.py (live sessions) and plain file paths.
"""
