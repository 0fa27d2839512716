"""Build of the one compiled module: the receiver's DC-09 fast path (receiver/_fastpath.c, linked with OpenSSL).

Everything else is declared in pyproject.toml. The pure-Python codec stays the reference; receiver/fastpath.py
falls back to it when the module was not built.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "receiver._fastpath",
            sources=["receiver/_fastpath.c"],
            libraries=["crypto"],
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
            # Without a compiler or OpenSSL 3 headers the install still succeeds and the receiver runs on the
            # Python codec alone (it logs so at start); the fast path's tests then fail, saying why.
            optional=True,
        )
    ]
)
