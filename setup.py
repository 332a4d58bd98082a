"""Only the optional C extension; everything else about the package is in pyproject.toml.

``feeds._bookc`` holds the order book's two hot loops. ``optional=True``: where no C compiler
or Python headers exist, the install still succeeds and feeds/book.py runs the same loops in
Python (``feeds.book.native_loops()`` tells which ran).
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("feeds._bookc", ["feeds/_bookc.c"], optional=True, extra_compile_args=["-O2"])])
