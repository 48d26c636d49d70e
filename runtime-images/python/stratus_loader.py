"""Resolves a handler string ("main.handler", "pkg/app.run") to a callable in the user's code.

codeDir and codeDir/.python_packages (where the builder installs requirements) are put on sys.path.
Module names are prefixed stratus_ on our side so a user's module never shadows the runtime's.
"""

import importlib
import os
import sys
import traceback


class HandlerLoadError(Exception):
    """A load failure reported as "bad handler" (stem: 400; function role: exit 1)."""


def _split(handler):
    module, dot, attr = handler.rpartition(".")
    if not dot or not module or not attr:
        raise HandlerLoadError(f'handler "{handler}" must look like "module.function", e.g. "main.handler"')
    return module.replace("/", "."), attr


def load_handler(code_dir, handler):
    code_dir = os.path.abspath(code_dir)
    if not os.path.isdir(code_dir):
        raise HandlerLoadError(f"code directory {code_dir} does not exist")
    module_name, attr = _split(handler)
    path_before, modules_before = list(sys.path), set(sys.modules)
    try:
        return _import(code_dir, module_name, attr)
    except HandlerLoadError:
        # A stem stays reusable after a failed /init: forget what this attempt imported, so a later
        # /init with another code dir does not get a cached module of the same name from this one.
        for name in set(sys.modules) - modules_before:
            del sys.modules[name]
        sys.path[:] = path_before
        raise


def _import(code_dir, module_name, attr):
    for entry in (os.path.join(code_dir, ".python_packages"), code_dir):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    importlib.invalidate_caches()
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name and module_name.startswith(err.name):
            raise HandlerLoadError(f'handler module "{module_name}" not found in {code_dir}') from err
        raise HandlerLoadError(f'importing "{module_name}" failed: {type(err).__name__}: {err}{_where(err, code_dir)}') from err
    except BaseException as err:  # a user's module may raise anything (even SystemExit) at import
        raise HandlerLoadError(f'importing "{module_name}" failed: {type(err).__name__}: {err}{_where(err, code_dir)}') from err
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise HandlerLoadError(f'module "{module_name}" has no function "{attr}"')
    return fn


def _where(err, code_dir):
    """ " (at app.py:3)": the innermost frame of the user's code the error passed through, if any.
    A SyntaxError's own message already names its file and line."""
    if isinstance(err, SyntaxError):
        return ""
    for frame in reversed(traceback.extract_tb(err.__traceback__)):
        if frame.filename.startswith(code_dir + os.sep):
            return f" (at {os.path.relpath(frame.filename, code_dir)}:{frame.lineno})"
    return ""
