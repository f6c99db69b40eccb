"""Atomic file writes: a crash, a kill -9 or a full disk leaves the old file whole (or
no file), never a truncated one.

``write_atomically(path, write)`` calls ``write(temporary)`` on a hidden temporary in
the same folder, ``.STEM.tmp-RANDOM.EXT`` (a leading dot: readers such as pyarrow's
dataset scan skip it; the file's own extension last, for writers that go by it, such as
matplotlib),
flushes it to disk, renames it over ``path`` (``os.replace``, atomic on POSIX) and
flushes the folder so the rename survives a power cut. On any failure the temporary
is removed and the error propagates.
"""

import os
import tempfile

TEMPORARY_MARK = ".tmp-"


def write_atomically(path, write):
    """``write(temporary_path)``, then fsync and rename over ``path``. Returns ``path``."""
    path = os.fspath(path)
    folder, name = os.path.split(os.path.abspath(path))
    stem, extension = os.path.splitext(name)
    handle, temporary = tempfile.mkstemp(prefix=f".{stem}{TEMPORARY_MARK}", suffix=extension, dir=folder)
    os.close(handle)
    try:
        write(temporary)
        with open(temporary, "rb+") as file:
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    fsync_folder(folder)
    return path


def is_temporary(name):
    """Whether the file name ``name`` is a temporary of :func:`write_atomically` (one left
    by an interrupted write)."""
    return name.startswith(".") and TEMPORARY_MARK in name


def write_text_atomically(path, text):
    """Write the str ``text`` to ``path`` atomically (UTF-8)."""

    def write(temporary):
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(text)

    return write_atomically(path, write)


def fsync_folder(folder):
    """Flush a folder's entries (renames, new files) to disk; a no-op where folders
    cannot be opened."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    finally:
        os.close(handle)
