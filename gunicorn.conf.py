"""gunicorn settings for production: `gunicorn -c gunicorn.conf.py wsgi:app`.

Every value can be overridden from the environment (GUNICORN_WORKERS, PORT...).
"""

import gc
import os

from portal.config import web_workers

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = web_workers()  # the portal's production check reads the same number
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
worker_class = "sync"
# A sync worker silent this long is killed, mid-response too: the admin's CSV of every
# transaction streams for about 40 s at 1,000,000 rows on a 2-core machine, and a kill there
# would end the file early. Two minutes leaves it room; a hung worker still goes.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
graceful_timeout = 30
keepalive = 5
# Recycle a worker now and then so its memory stays bounded over weeks: about once a minute
# at the bare route's full rate and every few minutes on real pages, not every few seconds (each
# new worker opens its database connection again and starts with empty caches).
max_requests = 50_000
max_requests_jitter = 5_000
# Import the app once in the master and fork workers from it: a new or recycled worker starts
# in milliseconds instead of spending most of a second of CPU importing the portal. A new
# release therefore needs a restart, not a HUP.
preload_app = True
accesslog = None if os.environ.get("GUNICORN_ACCESS_LOG") == "off" else "-"
errorlog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms rid=%({x-request-id}o)s'
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def when_ready(server):  # noqa: ARG001 - gunicorn's hook signature
    """Compile the templates once in the master, before the first worker is forked."""
    from portal.templating import compile_templates
    from wsgi import app

    compile_templates(app)


def pre_fork(server, worker):  # noqa: ARG001 - gunicorn's hook signature
    """Leave the imported app out of the workers' garbage collections.

    The master's hundreds of thousands of long-lived objects (the libraries, the templates, the
    mappers) never become garbage; without this, each full collection in a worker walks them
    all, and copying their pages on write undoes what forking shared.
    """
    gc.freeze()


def post_fork(server, worker):  # noqa: ARG001 - gunicorn's hook signature
    """A forked worker opens its own database connections, never the master's."""
    from portal.extensions import db
    from wsgi import app

    with app.app_context():
        db.engine.dispose(close=False)
