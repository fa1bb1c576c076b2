"""Download the MNRE v2 text files at a pinned commit, verify sha256, resume partial downloads.

Each file is streamed into ``<name>.part`` (continued with an HTTP ``Range`` request if a part is
already there) and renamed into place only after its sha256 matches the pinned value.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx
from tqdm import tqdm

from kecpm.data.errors import DISK_ERRNOS, WriteError
from kecpm.hashing import sha256_file
from kecpm.paths import default_cache_dir

log = logging.getLogger(__name__)

MNRE_REPO = "thecharm/MNRE"
MNRE_COMMIT = "354211ed"
MNRE_BASE_URL = f"https://raw.githubusercontent.com/{MNRE_REPO}/{MNRE_COMMIT}/mnre_txt"
# sha256 of the files at MNRE_COMMIT (as in the shared data folder).
MNRE_SHA256: dict[str, str] = {
    "mnre_train.txt": "1cc34438a00e2a2db73e4eba297820f926f62abd1fddc693caa13c58b62428b7",
    "mnre_val .txt": "c76865179b5678167b164c21fd25ed31f9a1416da393ac93ce70f32b00352b75",
    "mnre_test.txt": "f53c2f9b7739bea7d08aee4a91bfd6ec7432e1d0eeb83debf10f5d3291bc5215",
}


class FetchError(OSError):
    """A download failed: offline, HTTP error, or a hash mismatch. The message is one readable line."""


@dataclass
class Fetched:
    name: str
    path: Path
    status: str  # "cached", "downloaded" or "resumed"


def default_mnre_dir() -> Path:
    return default_cache_dir() / "data" / "mnre"


def file_url(base_url: str, name: str) -> str:
    """URL of ``name`` under ``base_url`` (the space in ``mnre_val .txt`` becomes ``%20``)."""
    return f"{base_url.rstrip('/')}/{quote(name)}"




def _stream_to_part(client: httpx.Client, url: str, part: Path, show_progress: bool) -> str:
    """Append the rest of ``url`` to ``part`` (or rewrite it); return ``downloaded`` or ``resumed``."""
    offset = part.stat().st_size if part.exists() else 0
    # identity encoding: byte ranges and hashes then refer to the file's own bytes
    headers = {"Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    with client.stream("GET", url, headers=headers) as r:
        if offset and r.status_code == 416:
            return "resumed"  # the part already holds the whole file; the hash check decides
        if offset and r.status_code == 206:
            start = r.headers.get("content-range", "").removeprefix("bytes ").split("-")[0]
            if start != str(offset):
                raise FetchError(f"{url}: server resumed at byte {start or '?'}, not {offset}")
            mode, status = "ab", "resumed"
        elif r.status_code == 200:
            mode, status, offset = "wb", "downloaded", 0
        else:
            raise FetchError(f"{url}: HTTP {r.status_code} {r.reason_phrase}")
        length = r.headers.get("content-length")
        total = offset + int(length) if length and length.isdigit() else None
        with open(part, mode) as fh, tqdm(total=total, initial=offset, unit="B", unit_scale=True,
                                          desc=part.name.removesuffix(".part"), leave=False,
                                          disable=not show_progress) as bar:
            for chunk in r.iter_bytes():  # unbuffered: an interruption keeps all bytes received
                fh.write(chunk)
                bar.update(len(chunk))
            fh.flush()
            os.fsync(fh.fileno())
    return status


def fetch_file(client: httpx.Client, url: str, dest: Path, sha256: str, show_progress: bool = False) -> str:
    """Fetch ``url`` to ``dest`` unless it is already there with the right hash; return the status."""
    if dest.exists() and sha256_file(dest) == sha256:
        return "cached"
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    host = urlsplit(url).netloc or url
    try:
        status = _stream_to_part(client, url, part, show_progress)
    except (httpx.ConnectError, httpx.ConnectTimeout) as e:
        raise FetchError(f"cannot reach {host} (offline?): {e}. Try again when online, "
                         "or pass --base-url to fetch from a mirror.") from e
    except httpx.TransportError as e:
        raise FetchError(f"download of {dest.name} from {host} was interrupted ({type(e).__name__}: {e}); "
                         "run again to resume.") from e
    except OSError as e:
        if e.errno in DISK_ERRNOS:  # the bytes received so far stay in the .part file: a rerun resumes
            raise WriteError(part, e) from e
        raise
    got = sha256_file(part)
    if got != sha256:
        part.unlink(missing_ok=True)
        raise FetchError(f"{dest.name}: sha256 mismatch (expected {sha256}, got {got}); the download was deleted.")
    os.replace(part, dest)
    return status


def fetch_mnre(
    out_dir: str | Path | None = None,
    base_url: str = MNRE_BASE_URL,
    files: dict[str, str] | None = None,
    timeout: float = 30.0,
    show_progress: bool = False,
) -> list[Fetched]:
    """Fetch the MNRE v2 files (name -> sha256, default the pinned ones) into ``out_dir``."""
    out = Path(out_dir) if out_dir is not None else default_mnre_dir()
    files = MNRE_SHA256 if files is None else files
    done = []
    with httpx.Client(timeout=timeout, follow_redirects=True) as client:
        for name, sha in files.items():
            status = fetch_file(client, file_url(base_url, name), out / name, sha, show_progress)
            log.debug("%s: %s", name, status)
            done.append(Fetched(name, out / name, status))
    return done
