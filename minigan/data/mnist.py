"""MNIST and Fashion-MNIST from the standard IDX files (gzip or raw).

    images, labels = load_mnist("train")       # the paper's split: train[0:50000]
    images.shape, images.dtype                 # (50000, 784) float32, pixels / 255 in [0, 1]
    sampler = MNISTSampler(images)             # p_data for minigan.train.GAN: sampler(m, rng)

Splits by name (the paper's, Goodfellow et al. 2014):

    "train"       train[0:50000]        the GAN is trained on these
    "valid"       train[50000:60000]    the Parzen sigma is chosen on train[50000:51000]
    "test"        the 10,000 test images (t10k)
    "train-full"  all 60,000 training images

Where the files are looked for, in order:

1. the ``data_dir`` argument;
2. the environment variable ``MINIGAN_DATA``;
3. the user's cache folder, ``$XDG_CACHE_HOME/minigan`` (default ``~/.cache/minigan``).

In each folder the files may sit in a subfolder named after the data set
(``mnist/``, ``fashion-mnist/``) or directly in the folder, gzipped
(``train-images-idx3-ubyte.gz``) or not (``train-images-idx3-ubyte``).
Missing files are downloaded (``download=True``) into the first of those
folders, from the mirrors in ``MIRRORS`` tried in order; every download is
checked against ``CHECKSUMS`` and written atomically (``NAME.part``, renamed
only once verified), so an interrupted download never leaves a half file,
and no folder is made before a file has been fetched and verified (a mistyped
folder is not created). When the files are neither found nor downloaded,
``MNISTMissingError`` says it in one line: which files, where they were
looked for, why the download failed (in a word), and how to say where they are.

The IDX format (LeCun et al.): a big-endian header -- two zero bytes, a type
code (0x08 = uint8, ...), the number of dimensions n, then n uint32 sizes --
followed by the values in C order. Images: magic 2051 = 0x00000803 (N, 28, 28);
labels: magic 2049 = 0x00000801 (N,).
"""
from __future__ import annotations

import errno
import gzip
import hashlib
import http.client
import os
import socket
import ssl
import struct
import sys
import urllib.error
import urllib.request
import zlib
from pathlib import Path

import numpy as np

from .. import backend

__all__ = [
    "IDXError", "MNISTMissingError", "read_idx", "write_idx", "load_mnist", "download_mnist",
    "find_mnist_files", "data_folders", "MNISTSampler", "ImagesNotLoaded", "pixels_to_float", "SPLITS", "KINDS",
    "FILES",
    "MIRRORS", "CHECKSUMS",
]

KINDS = ("mnist", "fashion-mnist")

# role -> file name as published (gzipped)
FILES = {
    "train-images": "train-images-idx3-ubyte.gz",
    "train-labels": "train-labels-idx1-ubyte.gz",
    "test-images": "t10k-images-idx3-ubyte.gz",
    "test-labels": "t10k-labels-idx1-ubyte.gz",
}

# split name -> (which file pair, slice of it)
SPLITS = {
    "train": ("train", slice(0, 50000)),
    "valid": ("train", slice(50000, 60000)),
    "test": ("test", slice(None)),
    "train-full": ("train", slice(None)),
}

# Public mirrors, tried in order. yann.lecun.com is last: it has refused
# anonymous downloads at times.
MIRRORS = {
    "mnist": [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "https://raw.githubusercontent.com/fgnt/mnist/master/",
        "http://yann.lecun.com/exdb/mnist/",
    ],
    "fashion-mnist": [
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ],
}

# Known SHA-256 sums, per file: "gz" of the .gz bytes, "raw" of the decompressed IDX.
# A downloaded file is accepted when EITHER matches.
#
# MNIST: the .gz sums are those of the canonical files (byte-identical to the
# yann.lecun.com downloads; they are the digests TensorFlow Datasets and Keras
# publish), and the raw sums are the widely published ones of the decompressed files.
#
# Fashion-MNIST: only the decompressed sums are listed. The copy we could check
# byte for byte was re-gzipped by Debian (new gzip header and mtime), so its .gz
# sums are NOT upstream's, and a .gz sum taken from it would reject the genuine
# upstream download. The content is what matters, and the decompressed sums are
# the same for upstream and for Debian, so we verify those -- it accepts any
# faithful gzip of the data, from any mirror.
CHECKSUMS = {
    "mnist": {
        "train-images-idx3-ubyte.gz": {
            "gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            "raw": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"},
        "train-labels-idx1-ubyte.gz": {
            "gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            "raw": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"},
        "t10k-images-idx3-ubyte.gz": {
            "gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            "raw": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"},
        "t10k-labels-idx1-ubyte.gz": {
            "gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
            "raw": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"},
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": {
            "raw": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"},
        "train-labels-idx1-ubyte.gz": {
            "raw": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"},
        "t10k-images-idx3-ubyte.gz": {
            "raw": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"},
        "t10k-labels-idx1-ubyte.gz": {
            "raw": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"},
    },
}

IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049

# IDX type code -> big-endian dtype
_IDX_TYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"),
              0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_IDX_CODES = {dt.newbyteorder("=") if dt.itemsize > 1 else dt: code for code, dt in _IDX_TYPES.items()}


class IDXError(ValueError):
    """An IDX file is malformed: wrong magic number, sizes that disagree with its
    length, or a damaged/truncated gzip stream. The message names the file."""


class MNISTMissingError(FileNotFoundError):
    """The data files are not on disk and could not be downloaded.

    Its message is one line: which ``missing`` files of ``kind``, the ``folders``
    looked in, the ``reason`` they were not downloaded (``"the download failed
    (no network)"``), and how to say where they are. ``message(how=...)``
    words that last part for a command line (``how="--data-dir FOLDER"``).
    ``failures`` holds, per file, every mirror tried and the full reason.
    """

    def __init__(self, text=None, *, kind="mnist", missing=(), folders=(), reason=None, failures=None):
        self.kind, self.missing, self.folders = kind, list(missing), [Path(f) for f in folders]
        self.reason, self.failures, self._text = reason, dict(failures or {}), text
        super().__init__(self.message())

    def message(self, how="data_dir=FOLDER"):
        if self._text is not None:
            return self._text
        looked = ", ".join(str(f) for f in self.folders)
        return (f"{self.kind} files not found: {', '.join(self.missing)}; looked in {looked} (and their "
                f"{self.kind}/ subfolders); {self.reason or 'not downloaded'}; pass {how}, the folder that "
                f"holds them, or set MINIGAN_DATA")

    def __str__(self):
        return self.message()


# ---------------------------------------------------------------------- IDX files
def _read_bytes(path):
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(2)
    if head == b"\x1f\x8b":                      # gzip magic
        try:
            with gzip.open(path, "rb") as f:
                return f.read()
        except EOFError as exc:
            raise IDXError(f"{path}: the gzip stream is truncated ({exc}); "
                           "delete the file and download it again") from None
        except (OSError, zlib.error) as exc:
            raise IDXError(f"{path}: not a valid gzip stream ({exc})") from None
    return path.read_bytes()


def _parse_idx(buf, name):
    if len(buf) < 4:
        raise IDXError(f"{name}: {len(buf)} bytes is too short for an IDX header")
    zero, code, ndim = struct.unpack(">HBB", buf[:4])
    if zero != 0 or code not in _IDX_TYPES or ndim < 1:
        raise IDXError(f"{name}: bad IDX magic number 0x{buf[:4].hex()} (expected 00 00, a type code "
                       f"in {sorted(hex(c) for c in _IDX_TYPES)}, then the number of dimensions >= 1)")
    header = 4 + 4 * ndim
    if len(buf) < header:
        raise IDXError(f"{name}: file ends inside the IDX header ({len(buf)} bytes, header needs {header})")
    dims = struct.unpack(f">{ndim}I", buf[4:header])
    dtype = _IDX_TYPES[code]
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(buf) != expected:
        raise IDXError(f"{name}: header says shape {dims} of {dtype.name} ({expected} bytes with the "
                       f"header) but the data is {len(buf)} bytes; the file is "
                       f"{'truncated' if len(buf) < expected else 'longer than its header says'}")
    return (zero << 16) | (code << 8) | ndim, np.frombuffer(buf, dtype, offset=header).reshape(dims)


def read_idx(path, expected_magic=None):
    """Read an IDX file (gzipped or raw) into a NumPy array.

    Raises ``IDXError`` naming the file when the magic number is wrong (or is
    not ``expected_magic``, e.g. 2051 for images), when the sizes in the header
    disagree with the file's length, or when the gzip stream is damaged/truncated.
    """
    magic, arr = _parse_idx(_read_bytes(path), str(path))
    if expected_magic is not None and magic != expected_magic:
        raise IDXError(f"{path}: magic number {magic} but expected {expected_magic} "
                       f"({'images' if expected_magic == IMAGES_MAGIC else 'labels'})")
    return arr.astype(arr.dtype.newbyteorder("="), copy=False) if arr.dtype.itemsize > 1 else arr


def write_idx(path, array):
    """Write ``array`` as an IDX file; gzipped if ``path`` ends in ``.gz``."""
    a = np.ascontiguousarray(array)
    key = a.dtype.newbyteorder("=") if a.dtype.itemsize > 1 else a.dtype
    if key not in _IDX_CODES:
        raise TypeError(f"write_idx: dtype {a.dtype} has no IDX type code "
                        "(use uint8, int8, int16, int32, float32 or float64)")
    code = _IDX_CODES[key]
    data = struct.pack(f">HBB{a.ndim}I", 0, code, a.ndim, *a.shape) + a.astype(_IDX_TYPES[code]).tobytes()
    path = Path(path)
    if path.suffix == ".gz":
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)
    return path


# ---------------------------------------------------------------------- where the files are
def data_folders(data_dir=None):
    """The folders searched, in order: ``data_dir``, ``$MINIGAN_DATA``, the cache folder."""
    folders = []
    if data_dir is not None:
        folders.append(Path(data_dir).expanduser())
    env = os.environ.get("MINIGAN_DATA")
    if env:
        folders.append(Path(env).expanduser())
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folders.append(Path(cache) / "minigan")
    return folders


def _check_kind(kind):
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")


def _candidates(folder, kind, gz_name):
    raw = gz_name[:-3]
    for d in (folder / kind, folder):
        yield d / gz_name
        yield d / raw


def find_mnist_files(kind="mnist", data_dir=None):
    """{file name: path or None} for the four files of ``kind``, from the first folder holding each."""
    _check_kind(kind)
    found = {}
    for gz_name in FILES.values():
        found[gz_name] = next((p for folder in data_folders(data_dir)
                               for p in _candidates(folder, kind, gz_name) if p.is_file()), None)
    return found


# ---------------------------------------------------------------------- download
def _progress_bar(label, total_bytes, enabled):
    """A progress bar counting kilobytes: ``minigan.progress.Progress`` when it is
    there, else a minimal stand-in with the same ``update(n)`` / ``close()``."""
    total_kb = (total_bytes + 1023) // 1024 if total_bytes else 0
    try:
        from ..progress import Progress  # noqa: PLC0415
        return Progress(total_kb, desc=f"{label} (kB)", enabled=enabled, unit="kB")
    except ImportError:                                   # pragma: no cover
        class _Plain:
            def update(self, n=1):
                pass

            def close(self):
                if enabled:
                    print(f"{label}: done", file=sys.stderr)
        return _Plain()


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def _verify(data, sums, name):
    """None if ``data`` (the bytes of NAME.gz) matches a known sum, else why not."""
    if not sums or not (sums.get("gz") or sums.get("raw")):
        return f"no known SHA-256 for {name}; refusing an unverified file"
    got = _sha256(data)
    if sums.get("gz") and got == sums["gz"]:
        return None
    if sums.get("raw"):
        try:
            raw = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
        except (EOFError, OSError, zlib.error) as exc:
            return f"not a complete gzip file ({exc})"
        got_raw = _sha256(raw)
        if got_raw == sums["raw"]:
            return None
        return f"SHA-256 mismatch (.gz {got[:12]}..., decompressed {got_raw[:12]}...)"
    return f"SHA-256 mismatch (got {got[:12]}..., expected {sums['gz'][:12]}...)"


def _fetch(url, timeout, progress_label, show_progress):
    """The body of ``url`` as bytes; raises OSError on any failure or short body."""
    req = urllib.request.Request(url, headers={"User-Agent": "minigan (python urllib)"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        total = resp.headers.get("Content-Length")
        total = int(total) if total and total.isdigit() else None
        bar = _progress_bar(progress_label, total, show_progress)
        chunks, kb_shown, got = [], 0, 0
        try:
            while True:
                chunk = resp.read(1 << 16)
                if not chunk:
                    break
                chunks.append(chunk)
                got += len(chunk)
                kb = -(-got // 1024)                      # kilobytes started, so the last one counts
                bar.update(kb - kb_shown)
                kb_shown = kb
        finally:
            bar.close()
    data = b"".join(chunks)
    if total is not None and len(data) != total:
        raise OSError(f"truncated response: got {len(data)} of {total} bytes")
    return data


class _Unverified(OSError):
    """A download whose bytes are not the published file's; ``word`` says why in a word."""

    def __init__(self, why, word):
        super().__init__(why)
        self.word = word


def _reason_word(exc):
    """Why a download failed, in a word or two: 'no network', 'timed out', 'HTTP 404', ..."""
    if isinstance(exc, _Unverified):
        return exc.word
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code}"
    reason = getattr(exc, "reason", None)
    cause = reason if isinstance(reason, BaseException) else exc
    if isinstance(cause, socket.gaierror):
        return "no network"                      # the mirror's name could not be resolved
    if isinstance(cause, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused"
    if isinstance(cause, ssl.SSLError):
        return "TLS error"
    if isinstance(cause, FileNotFoundError):
        return "not found"
    if isinstance(cause, OSError) and cause.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return "no network"
    if "truncated" in str(cause):
        return "truncated"
    if isinstance(cause, (ConnectionError, http.client.HTTPException)):
        return "connection lost"
    return type(cause).__name__


def _summary(failures):
    """The distinct reason words of ``{name: [(url, reason, word)]}``, in the order met."""
    words = []
    for tries in failures.values():
        for _, _, word in tries:
            if word not in words:
                words.append(word)
    return ", ".join(words) or "no mirror"


def _make_folder(folder):
    """``folder.mkdir(parents=True)``; returns the folders it created, deepest first."""
    created, f = [], Path(os.path.abspath(folder))
    while not f.exists():
        created.append(f)
        f = f.parent
    folder.mkdir(parents=True, exist_ok=True)
    return created


def _download_one(name, target, mirrors, sums, timeout, show_progress):
    """Try each mirror for ``name``; write ``target`` atomically once verified.

    Returns None on success, else the list of (url, reason, reason in a word) of every
    mirror tried. The body is held in memory until its checksum passes; only then is
    its folder made (if it is not there) and the body written to ``NAME.part`` and
    renamed, so no failure or interruption leaves a partial file or a new empty folder."""
    failures = []
    part = target.with_name(target.name + ".part")
    for base in mirrors:
        url = base.rstrip("/") + "/" + name
        try:
            data = _fetch(url, timeout, f"{name} <- {base}", show_progress)
            why = _verify(data, sums, name)
            if why is not None:
                raise _Unverified(why, "no known SHA-256" if why.startswith("no known") else
                                  "truncated" if "not a complete" in why else "checksum mismatch")
            made = _make_folder(target.parent)
            try:
                with open(part, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(part, target)         # atomic: the final name appears only when complete
            finally:
                if part.exists():
                    part.unlink()
                if not target.exists():          # failed: take back the folders made for it
                    for folder in made:
                        try:
                            folder.rmdir()
                        except OSError:
                            break
            return None
        except (OSError, http.client.HTTPException, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            failures.append((url, str(reason), _reason_word(exc)))   # said once, in one line, if all fail
    return failures


def download_mnist(kind="mnist", folder=None, *, names=None, mirrors=None, checksums=None,
                   timeout=30.0, progress=None):
    """Download the files of ``kind`` into ``folder`` (default: the first search folder + kind).

    ``mirrors`` (list of base URLs) and ``checksums`` ({name: {"gz": sha, "raw": sha}})
    default to the module tables ``MIRRORS[kind]`` and ``CHECKSUMS[kind]``. Each
    file is tried on every mirror in order until one verifies. Raises
    ``MNISTMissingError`` naming what could not be fetched and why; the folder is
    made only once a file has been fetched and verified.
    """
    _check_kind(kind)
    folder = Path(folder) if folder is not None else data_folders()[0] / kind
    mirrors = MIRRORS[kind] if mirrors is None else list(mirrors)
    checksums = CHECKSUMS[kind] if checksums is None else checksums
    names = list(FILES.values()) if names is None else list(names)
    show = sys.stderr.isatty() if progress is None else bool(progress)
    failed = {}
    for name in names:
        target = folder / name
        if target.is_file():
            continue
        problems = _download_one(name, target, mirrors, checksums.get(name), timeout, show)
        if problems:
            failed[name] = problems
    if failed:
        reason = f"the download failed ({_summary(failed)})"
        raise MNISTMissingError(f"could not download the {kind} files {', '.join(failed)} into {folder}: "
                                f"{reason}", kind=kind, missing=list(failed), folders=[folder],
                                reason=reason, failures=failed)
    return [folder / n for n in names]


# ---------------------------------------------------------------------- loading
_CACHE: dict = {}


def _load_file(path, magic):
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _CACHE:
        if len(_CACHE) >= 8:
            _CACHE.clear()
        _CACHE[key] = read_idx(path, expected_magic=magic)
    return _CACHE[key]


_CONTENT_SHA = {}


def _other_kind(kind, name, path, array):
    """The other kind whose published file ``name`` holds ``array`` (read from ``path``), else None.

    Compares the SHA-256 of the IDX bytes (header and values, as decompressed)
    with ``CHECKSUMS``; computed once per file and modification time (about
    0.1 s for the 47 MB training images).
    """
    known = {k: sums[name]["raw"] for k, sums in CHECKSUMS.items() if k != kind and name in sums}
    if not known or array.dtype != np.uint8:       # every published file is uint8
        return None
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _CONTENT_SHA:
        h = hashlib.sha256(struct.pack(f">HBB{array.ndim}I", 0, 0x08, array.ndim, *array.shape))
        h.update(memoryview(np.ascontiguousarray(array)).cast("B"))
        _CONTENT_SHA[key] = h.hexdigest()
    return next((k for k, digest in known.items() if digest == _CONTENT_SHA[key]), None)


def load_mnist(split="train", data_dir=None, kind="mnist", download=True, *,
               mirrors=None, checksums=None, progress=None, as_uint8=False):
    """Images and labels of one split of MNIST or Fashion-MNIST.

    Returns ``(images, labels)``: images float32 of shape (N, 784) with values
    pixel / 255 in [0, 1] (not binarised, as in the paper); labels int64 (N,).
    ``as_uint8``: the images as the file's bytes, uint8 (N, 784), a quarter of the memory;
    ``pixels_to_float`` gives the float32 values, bit for bit, of any rows of them.
    ``split``: "train" (train[0:50000]), "valid" (train[50000:60000]), "test"
    (10,000) or "train-full" (60,000). Missing files are downloaded into the
    first search folder when ``download`` is true (see the module docstring).
    """
    _check_kind(kind)
    if split not in SPLITS:
        raise ValueError(f"split must be one of {tuple(SPLITS)}, got {split!r}")
    which, rows = SPLITS[split]
    names = [FILES[f"{which}-images"], FILES[f"{which}-labels"]]
    found = find_mnist_files(kind, data_dir)
    missing = [n for n in names if found[n] is None]
    if missing:
        if not download:
            raise MNISTMissingError(kind=kind, missing=missing, folders=data_folders(data_dir),
                                    reason="not downloaded (download=False)")
        target = data_folders(data_dir)[0] / kind
        try:
            download_mnist(kind, target, names=missing, mirrors=mirrors, checksums=checksums,
                           progress=progress)
        except MNISTMissingError as exc:
            raise MNISTMissingError(kind=kind, missing=missing, folders=data_folders(data_dir),
                                    reason=exc.reason, failures=exc.failures) from None
        found = find_mnist_files(kind, data_dir)
    images = _load_file(found[names[0]], IMAGES_MAGIC)
    labels = _load_file(found[names[1]], LABELS_MAGIC)
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise IDXError(f"{found[names[0]]} and {found[names[1]]}: images {images.shape} and labels "
                       f"{labels.shape} do not pair up (expected (N, 28, 28) and (N,))")
    for name, array in zip(names, (images, labels)):   # both kinds' files have the same names
        other = _other_kind(kind, name, found[name], array)
        if other is not None:
            raise IDXError(f"{found[name]} is {other}'s {name} (its content's SHA-256 is the published "
                           f"one), not {kind}'s: keep each kind in its own folder, "
                           f"DATA/{kind}/ and DATA/{other}/")
    if not len(range(images.shape[0])[rows]):
        raise IDXError(f"{found[names[0]]} holds {images.shape[0]} images: the {split!r} split, "
                       f"rows {rows.start}:{rows.stop} of it, is empty")
    x = images[rows].reshape(-1, images.shape[1] * images.shape[2])
    return (x.copy() if as_uint8 else pixels_to_float(x)), labels[rows].astype(np.int64)


def pixels_to_float(pixels, dtype=np.float32):
    """uint8 pixels (any shape, NumPy or CuPy) as values in [0, 1]: pixel * (1/255) in ``dtype``
    (float32: exactly ``load_mnist``'s images)."""
    xp = backend.array_module(pixels)
    x = pixels.astype(dtype)
    x *= xp.asarray(1.0 / 255.0, dtype=dtype)
    return x


# ---------------------------------------------------------------------- the sampler
def _permutation(rng, n):
    """A uniformly random permutation of range(n) on the host, drawn from ``rng``.

    ``rng.permutation`` where the generator has it (NumPy's); else the ranks of
    n uniform draws (CuPy's Generator has no ``permutation``), equally uniform.
    """
    if callable(getattr(rng, "permutation", None)):
        return np.asarray(backend.to_host(rng.permutation(n)), dtype=np.int64)
    return np.argsort(backend.to_host(rng.random(n)), kind="stable").astype(np.int64)


class MNISTSampler:
    """p_data for the GAN: ``sampler(m, rng)`` -> a minibatch of m rows.

    Two orders, both drawn from ``rng`` (the trainer's backend Generator):

    ``order="random"`` (default)
        i.i.d. indices, uniform with replacement: each minibatch is m
        independent draws from the empirical p_data, as Algorithm 1 reads.
    ``order="epochs"``
        passes over a fresh random permutation of the rows, m consecutive rows
        of it per minibatch: every row once per epoch, as pylearn2's
        ``shuffled_sequential`` iteration fed the paper's released run. A pass
        whose remaining rows are fewer than m starts the next permutation (the
        few rows left over are skipped for that epoch, never repeated within a
        batch). The permutation and the position are the sampler's state,
        saved in checkpoints (``state_dict`` / ``load_state_dict``).

    The images are copied to the active backend's device once, at
    construction. Works for any (N, d) array, not only MNIST. uint8 images
    (``load_mnist(..., as_uint8=True)``) are kept as bytes, a quarter of the
    memory, and each minibatch is converted as it is drawn (``pixels_to_float``:
    the same values, bit for bit, as from float32 images).
    """

    ORDERS = ("random", "epochs")

    def __init__(self, images, dtype=None, *, order="random"):
        images = np.asarray(backend.to_host(images))
        if images.ndim != 2 or images.shape[0] < 1:
            raise ValueError(f"MNISTSampler needs a non-empty (N, d) array, got shape {images.shape}")
        if order not in self.ORDERS:
            raise ValueError(f"MNISTSampler: order must be one of {self.ORDERS}, got {order!r}")
        self.order = order
        self.dtype = np.dtype(dtype or backend.DEFAULT_DTYPE)
        self.as_bytes = images.dtype == np.uint8          # kept as uint8 pixels, converted per minibatch
        self._store = backend.to_device(images, dtype=np.uint8 if self.as_bytes else self.dtype)
        self._perm = None        # "epochs": this pass's permutation (host int64), None before the first
        self._pos = 0            # "epochs": rows of _perm already served

    def __len__(self):
        return int(self._store.shape[0])

    @property
    def dim(self):
        return int(self._store.shape[1])

    def _rows(self, rows):
        return pixels_to_float(rows, self.dtype) if self.as_bytes else rows

    @property
    def images(self):
        """Every image as values of ``dtype`` (a converted copy when the sampler keeps bytes)."""
        return self._rows(self._store)

    @property
    def stored(self):
        """The images as the sampler keeps them, on the device: uint8 bytes or values of ``dtype``."""
        return self._store

    def __call__(self, m, rng):
        m = int(m)
        if self.order == "random":
            return self._rows(self._store[rng.integers(0, len(self), size=m)])
        if m > len(self):
            raise ValueError(f"MNISTSampler(order='epochs'): a minibatch of {m} rows needs at least {m} "
                             f"images, this sampler has {len(self)}")
        if self._perm is None or self._pos + m > len(self._perm):
            self._perm = _permutation(rng, len(self))
            self._pos = 0
        idx = self._perm[self._pos:self._pos + m]
        self._pos += m
        return self._rows(self._store[backend.to_device(idx)])

    def state_dict(self):
        """``{"perm", "pos"}`` for ``order="epochs"`` (empty perm before the first pass); ``{}`` for the
        stateless ``order="random"``."""
        if self.order == "random":
            return {}
        perm = self._perm if self._perm is not None else np.zeros(0, dtype=np.int64)
        return {"perm": perm.copy(), "pos": np.asarray(self._pos, dtype=np.int64)}

    def load_state_dict(self, state):
        perm = np.asarray(backend.to_host(state["perm"]), dtype=np.int64).reshape(-1)
        pos = int(np.asarray(backend.to_host(state["pos"])))
        if perm.size and (perm.size != len(self) or not 0 <= pos <= perm.size):
            raise ValueError(f"MNISTSampler.load_state_dict: a permutation of {perm.size} rows at position "
                             f"{pos} does not fit a sampler of {len(self)} rows")
        self._perm, self._pos = (perm if perm.size else None), pos

    def __repr__(self):
        return f"MNISTSampler({len(self)} x {self.dim}, {self.dtype.name}, order={self.order!r})"


class ImagesNotLoaded:
    """Stands in for an ``MNISTSampler`` in a run built only to be drawn from
    (``presets.build(..., load_data=False)``: ``minigan sample`` and ``minigan
    parzen`` need G, whose parameters come from a checkpoint, not the training
    images). No file is read. It keeps the sampler state a checkpoint gives it,
    so that the checkpoint loads, and refuses to serve a minibatch.
    """

    ORDERS = MNISTSampler.ORDERS

    def __init__(self, dim=784, *, order="random"):
        if order not in self.ORDERS:
            raise ValueError(f"MNISTSampler: order must be one of {self.ORDERS}, got {order!r}")
        self.dim, self.order = int(dim), order
        self._state = ({"perm": np.zeros(0, dtype=np.int64), "pos": np.asarray(0, dtype=np.int64)}
                       if order == "epochs" else {})

    def __call__(self, m, rng):
        raise RuntimeError("this run was built without its training images (load_data=False): "
                           "it can draw from G, not train or evaluate D on real data")

    def state_dict(self):
        return dict(self._state)

    def load_state_dict(self, state):
        self._state = dict(state)

    def __repr__(self):
        return f"ImagesNotLoaded({self.dim}, order={self.order!r})"
