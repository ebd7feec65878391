from musechat_tui.app.screens.chat import ChatScreen
from musechat_tui.app.screens.confirm import ConfirmScreen
from musechat_tui.app.screens.help import HelpScreen
from musechat_tui.app.screens.no_catalog import NoCatalogScreen

__all__ = ["ChatScreen", "ConfirmScreen", "HelpScreen", "NoCatalogScreen"]
