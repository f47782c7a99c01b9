"""The browser study room: a static page and its ES modules, served by the server itself."""

from server.web.routes import web_router

__all__ = ["web_router"]
