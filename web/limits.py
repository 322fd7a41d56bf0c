"""Rate limits (Flask-Limiter, in memory): per client address unless a route says otherwise."""

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

limiter = Limiter(get_remote_address, storage_uri="memory://")
