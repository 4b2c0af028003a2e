"""The WSGI servers `kb serve` runs: waitress in one process (the default, and the path on
Windows), or gunicorn pre-forking `workers` processes (Linux, macOS).

With several processes each worker loads its own model and opens the home's index files;
the flat vector index is memory-mapped (`index.vectors.FaissIndex.load`), so its pages are
shared through the page cache rather than copied per worker. A write from any process (an
upload, `kb ingest` beside the server) moves the store's generation; each worker sees that on
its next search and reloads the index files (`kb.live`), so every worker answers from the
same committed state.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from kb.settings import Settings

__all__ = ["serve"]

log = logging.getLogger("kb.web")


def _app(settings: Settings):
    from webapp import create_app
    from webapp.requestlog import configure_logging

    configure_logging(settings.log_format)
    app = create_app({"KB_SETTINGS": settings})
    app.extensions["kb"].warm()
    # Python hands the GIL over every 5 ms by default: a short API request waited behind long
    # page renders. 1 ms keeps short requests short when many run at once.
    sys.setswitchinterval(0.001)
    return app


def _body_limit(settings: Settings) -> int:
    """A body past the largest kb takes is refused (413) before it is read."""
    return max(settings.max_request_bytes, settings.max_upload_bytes) + 65536


def serve(settings: Settings, echo=print) -> None:
    if settings.workers <= 1:
        from waitress import serve as waitress_serve

        app = _app(settings)
        echo(f"kb: {app.extensions['kb'].counts().passages} passages from {settings.home}; "
             f"serving on http://{settings.host}:{settings.port}")
        waitress_serve(app, host=settings.host, port=settings.port, threads=settings.threads, ident="kb",
                       connection_limit=settings.max_connections, channel_timeout=settings.idle_timeout,
                       max_request_body_size=_body_limit(settings))
        return
    if os.name != "posix":
        raise SystemExit("kb serve --workers N needs a POSIX system (gunicorn); on Windows serve with one worker")
    from gunicorn.app.base import BaseApplication

    class Gunicorn(BaseApplication):
        def load_config(self):
            config = {
                "bind": f"{settings.host}:{settings.port}",
                "workers": settings.workers,
                "worker_class": "gthread",  # threads per worker, keep-alive connections held by them
                "threads": settings.threads,
                "worker_connections": settings.max_connections,
                "keepalive": min(settings.idle_timeout, 30),
                "timeout": 120,  # a worker silent this long (loading the model counts) is restarted
                "graceful_timeout": 20,
                "preload_app": False,  # each worker loads the model after the fork (no threads forked)
                "limit_request_line": 8190,
                "accesslog": None,
                "errorlog": "-",
                "loglevel": "warning",
                "proc_name": "kb",
            }
            for key, value in config.items():
                self.cfg.set(key, value)

        def load(self):
            return _app(settings)

    echo(f"kb: serving {settings.home} on http://{settings.host}:{settings.port} with {settings.workers} "
         f"worker processes (gunicorn), {settings.threads} threads each")
    Gunicorn().run()
