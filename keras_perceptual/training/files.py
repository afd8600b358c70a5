"""Writing outputs safely: atomic writes, stale temporary files, write errors.

Every output is written under a temporary name in its final folder (see ``_TEMP_NAME``),
flushed to disk and renamed with ``os.replace``, so a kill never leaves a half-written
file under the final name; ``remove_stale_temp_files`` deletes what a killed run left
behind. ``writing`` turns an ``OSError`` into an
:class:`~keras_perceptual.training.errors.OutputWriteError` that names the file, the step
and what is still intact. :class:`RunLock` keeps a second run out of a folder a run is
writing.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import platform
import re
import secrets
from collections.abc import Callable

import filelock
import keras

from keras_perceptual.errors import InputError, OutputWriteError, RunInProgressError
from keras_perceptual.training.replicas import local_batch_norm


def _fsync_file(path: str) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _fsync_dir(folder: str) -> None:
    """Makes a rename in ``folder`` durable (power loss); best effort, POSIX only."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


#: ``temp_path`` names: ``.<final name>.<8 random characters>.tmp[<suffix>]``.
_TEMP_NAME = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp(\.[A-Za-z0-9]+)*$")


def remove_stale_temp_files(folder: str) -> list[str]:
    """Deletes the temporary files a killed run left in ``folder`` (never a final name)."""
    removed = []
    try:
        entries = os.listdir(folder)
    except OSError:
        return removed
    for entry in entries:
        path = os.path.join(folder, entry)
        if _TEMP_NAME.match(entry) and os.path.isfile(path):
            try:
                os.remove(path)
                removed.append(entry)
            except OSError:
                pass
    return removed


def temp_path(path: str, suffix: str = "") -> str:
    """A new, empty temporary file next to ``path`` (a ``_TEMP_NAME``), created with the
    permissions ``open()`` gives (``0o666`` less the umask, not ``mkstemp``'s ``0o600``),
    which the final file keeps after ``os.replace``."""
    folder, name = os.path.split(os.path.abspath(path))
    while True:
        tmp = os.path.join(folder, f".{name}.{secrets.token_hex(4)}.tmp{suffix}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp


def atomic_write(path: str | os.PathLike, write: Callable[[str], None], suffix: str = "") -> None:
    """Writes a file through a temporary name and ``os.replace``.

    ``write(tmp)`` writes the content to a temporary file in ``path``'s folder (see
    :func:`temp_path`); it is then flushed to disk and renamed to ``path``. Readers see the
    old content or the new one, never a partial file, even if the process is killed while
    writing; the temporary file is removed if anything fails.

    Args:
        path: the file to (over)write; its folder must exist.
        write: writes the content to the path it is given.
        suffix: the temporary file's extension (some writers infer the format from it).

    Returns:
        None.

    Example:
        >>> atomic_write("notes.txt", lambda tmp: open(tmp, "w").close(), ".txt")
        >>> os.path.exists("notes.txt")
        True
    """
    path = os.fspath(path)
    tmp = temp_path(path, suffix=suffix)
    try:
        write(tmp)
        _fsync_file(tmp)
        os.replace(tmp, path)
        _fsync_dir(os.path.dirname(os.path.abspath(path)))
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Writes ``text`` (UTF-8) to ``path`` atomically (:func:`atomic_write`).

    Example:
        >>> import json
        >>> atomic_write_text("config.json", json.dumps({"steps": 2000}))
        >>> open("config.json").read()
        '{"steps": 2000}'
    """

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)

    atomic_write(path, write)


def atomic_save_model(model: keras.Model, path: str | os.PathLike) -> None:
    """``model.save(path)`` atomically (:func:`atomic_write`), with batch norm as built.

    Args:
        model: the model to save.
        path: the target ``.keras`` file; its folder must exist.

    Example:
        >>> atomic_save_model(style_transfer_net(filters=4, num_residual_blocks=1), "net.keras")
    """

    def write(tmp: str) -> None:
        with local_batch_norm(model):
            model.save(tmp, overwrite=True)

    atomic_write(path, write, suffix=".keras")


def atomic_save_weights(model: keras.Model, path: str | os.PathLike) -> None:
    """``model.save_weights(path)`` atomically (:func:`atomic_write`)."""
    atomic_write(path, lambda tmp: model.save_weights(tmp, overwrite=True), suffix=".weights.h5")


@contextlib.contextmanager
def writing(what: str, path: str, step: int | None = None, kept: str | None = None):
    """Turns an ``OSError`` while writing an output into an :class:`OutputWriteError` that
    says what failed, that the previous version is intact, and what to do."""
    try:
        yield
    except OutputWriteError:
        raise
    except OSError as error:
        reason = error.strerror or str(error) or type(error).__name__
        at = f" at step {step}" if step is not None else ""
        kept = kept or f"{os.path.basename(path)!r} keeps its previous content"
        message = (
            f"Cannot write the {what} {path!r}{at} ({reason}); {kept}. Free space on that "
            f"disk or make {os.path.dirname(path)!r} writable (or choose another output "
            "folder), then run the same command again: training resumes from the last backup."
        )
        raise OutputWriteError(error.errno, message, path) from error


#: The run lock of an output folder (empty; kept after the run: waiters share its inode).
LOCK_FILE = "run.lock"
#: Who holds the run lock: ``{"pid", "host", "started"}`` (removed when the run ends).
LOCK_OWNER_FILE = "run.lock.json"


class RunLock:
    """One training run per output folder: an exclusive lock on ``output_dir/run.lock``.

    The lock is the operating system's (``filelock.FileLock``: ``flock`` on POSIX,
    ``msvcrt`` on Windows), taken without waiting, so a second run on the same folder fails
    at once with :class:`~keras_perceptual.errors.RunInProgressError`; it is released by
    :meth:`release`, and by the operating system when the process ends in any way (a kill
    included), so a crash never leaves a stale lock. On a file system without ``flock``
    (some FUSE and network mounts) filelock falls back to a marker file that records the
    holder's process, with a warning; a marker left by a dead process on the same host is
    taken over, so a killed run can still be resumed. Who holds it is written next to it
    (``run.lock.json``), for the refused run's message.

    Example:
        >>> lock = RunLock("runs/starry")
        >>> lock.acquire()  # raises RunInProgressError while another run holds it
        >>> lock.release()
    """

    def __init__(self, output_dir: str):
        self.output_dir = output_dir
        self.path = os.path.join(output_dir, LOCK_FILE)
        self.owner_path = os.path.join(output_dir, LOCK_OWNER_FILE)
        self._lock = filelock.FileLock(self.path, timeout=0)

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._lock.is_locked

    def acquire(self) -> None:
        """Takes the lock (without waiting) and records this process as its holder.

        Raises:
            RunInProgressError: another process holds it.
            InputError: the lock file cannot be created.
        """
        try:
            self._lock.acquire()
        except filelock.Timeout:
            raise RunInProgressError(self._refusal()) from None
        except OSError as error:
            raise InputError(
                f"output_dir {self.output_dir!r} cannot be locked for this run "
                f"({error.strerror or error}); choose a writable folder on a local disk. "
                f"Received: output_dir={self.output_dir!r}"
            ) from None
        owner = {
            "pid": os.getpid(),
            "host": platform.node(),
            "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        }
        with contextlib.suppress(OSError):  # informative only; the lock itself is held
            atomic_write_text(self.owner_path, json.dumps(owner))

    def release(self, remove: bool = False) -> None:
        """Releases the lock (nothing if not held); ``remove``: deletes the lock file too
        (while still holding it), for a run that leaves its folder empty."""
        if not self.held:
            return
        with contextlib.suppress(OSError):
            os.remove(self.owner_path)
        if remove:
            with contextlib.suppress(OSError):
                os.remove(self.path)
        self._lock.release()

    def _refusal(self) -> str:
        try:
            with open(self.owner_path, encoding="utf-8") as f:
                owner = json.load(f)
            who = f" (process {int(owner['pid'])} on host {owner['host']!r}, started {owner['started']})"
        except (OSError, ValueError, TypeError, KeyError):
            who = ""  # not written yet, or unreadable: the lock alone decides
        return (
            f"Another training run is writing to {self.output_dir!r}{who}; two runs in one "
            "folder would overwrite each other's checkpoints, config.json and logs. Wait for "
            "it to finish, stop it (running the same command again resumes it from its last "
            "backup), or choose another output_dir. "
            f"Received: output_dir={self.output_dir!r}"
        )
