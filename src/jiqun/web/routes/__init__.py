"""Routers, one module per kind of page; each serves its page and its ``/api/…`` twin."""
