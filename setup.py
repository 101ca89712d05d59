"""Shim for tools that still run ``setup.py``; the metadata is in
``pyproject.toml`` (PEP 621)."""
from setuptools import setup

setup()
