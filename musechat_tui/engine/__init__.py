"""The conversational recommendation engine: a video first, then refinement turns of
video + anchor track + words. No UI code; the CLI and the app drive `ChatEngine`.

    from musechat_tui.engine import ChatEngine
    with ChatEngine(settings) as engine:
        session = engine.start(video_path)
        turn = engine.run_turn(session)                    # turn 1: the video alone
        turn = engine.run_turn(session, "slower, no drums")
"""

from musechat_tui.engine.engine import ChatEngine, EngineError, default_checkpoint
from musechat_tui.engine.requests import Request, parse_request
from musechat_tui.engine.session import (
    Recommendation,
    Session,
    SessionError,
    SessionStore,
    Turn,
)
from musechat_tui.engine.video import VideoFeatures

__all__ = [
    "ChatEngine",
    "EngineError",
    "Recommendation",
    "Request",
    "Session",
    "SessionError",
    "SessionStore",
    "Turn",
    "VideoFeatures",
    "default_checkpoint",
    "parse_request",
]
