"""Where in a user's source a kernel's problem is: ``file:line`` for messages.

User kernels come from plug-ins and module paths; an error inside Amaranth or
inside the flow says little about them, so messages name the line of the
user's own file instead.
"""

import inspect
import traceback

__all__ = ["source_file", "class_location", "member_location", "raise_site"]


def source_file(cls):
    """The file a class was defined in (``<module name>`` when unknown)."""
    try:
        return inspect.getsourcefile(cls) or inspect.getfile(cls)
    except (TypeError, OSError):
        return f"<module {cls.__module__}>"


def class_location(cls):
    """``file:line`` of a class statement (``file`` alone when the line is unknown)."""
    path = source_file(cls)
    try:
        _, line = inspect.getsourcelines(cls)
        return f"{path}:{line}"
    except (TypeError, OSError):
        return path


def member_location(cls, owner, attr):
    """``file:line`` of the ``def`` of ``attr`` in class ``owner`` (a base of ``cls``)."""
    fn = owner.__dict__[attr]
    fn = getattr(fn, "__func__", fn)
    try:
        lines, first = inspect.getsourcelines(fn)
    except (TypeError, OSError):
        return class_location(cls)
    # Point at the ``def`` line, not at a decorator above it.
    offset = next((i for i, line in enumerate(lines)
                   if line.lstrip().startswith(("def ", "async def "))), 0)
    return f"{inspect.getsourcefile(fn)}:{first + offset}"


def raise_site(exc, *classes):
    """``file:line`` of the deepest traceback frame in one of ``classes``' files, if any."""
    paths = {source_file(cls) for cls in classes}
    site = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename in paths:
            site = f"{frame.filename}:{frame.lineno}"
    return site
