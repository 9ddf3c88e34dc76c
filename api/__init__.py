"""The HTTP surface and the CLI: app factory, settings, routes, auth.

Start reading at main.py (`create_app`) and cli.py (`vitrine3d`).
"""
