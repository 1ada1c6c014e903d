"""The WSGI entry point gunicorn loads: `webstack_app.wsgi:app`."""

from webstack_app import create_app

app = create_app()
