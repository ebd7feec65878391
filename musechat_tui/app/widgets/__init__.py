"""The chat app's widgets. Every text that came from a file or a model passes through
`sanitize.clean` before it becomes a `rich.text.Text` (never markup)."""

from musechat_tui.app.widgets.busy import Busy
from musechat_tui.app.widgets.chat_log import ChatLog, TurnMessage
from musechat_tui.app.widgets.now_playing import EnergyLine, NowPlaying
from musechat_tui.app.widgets.prompt import PromptInput
from musechat_tui.app.widgets.recommendations import RecommendationsTable
from musechat_tui.app.widgets.video_panel import ThumbStrip, VideoPanel

__all__ = [
    "Busy",
    "ChatLog",
    "EnergyLine",
    "NowPlaying",
    "PromptInput",
    "RecommendationsTable",
    "ThumbStrip",
    "TurnMessage",
    "VideoPanel",
]
