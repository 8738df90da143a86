"""MNIST / Fashion-MNIST loading: IDX files, look-up order, downloads, the sampler.

Downloads are tested against a real HTTP server on 127.0.0.1 started here and
serving IDX files generated here; no test reaches the internet (the module's
mirror table is pointed at a closed local port for the whole file).
"""
import gzip
import hashlib
import http.server
import os
import threading
from pathlib import Path

import numpy as np
import pytest

from minigan import backend
from minigan.data import mnist
from minigan.data.mnist import (CHECKSUMS, FILES, IDXError, MNISTMissingError, MNISTSampler,
                                load_mnist, read_idx, write_idx)

NAMES = list(FILES.values())


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    """No real cache, no MINIGAN_DATA, and default mirrors that cannot reach anything."""
    monkeypatch.delenv("MINIGAN_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setattr(mnist, "MIRRORS", {k: ["http://127.0.0.1:9/"] for k in mnist.KINDS})
    mnist._CACHE.clear()


def sha(b):
    return hashlib.sha256(b).hexdigest()


def fake_dataset(n_train=50010, n_test=20, hw=(2, 2), seed=0):
    """Small IDX contents: n images of h x w, labels 0..9. Returns {gz name: gz bytes}, arrays."""
    rng = np.random.default_rng(seed)
    arrays = {
        FILES["train-images"]: rng.integers(0, 256, (n_train, *hw), dtype=np.uint8),
        FILES["train-labels"]: rng.integers(0, 10, n_train, dtype=np.uint8),
        FILES["test-images"]: rng.integers(0, 256, (n_test, *hw), dtype=np.uint8),
        FILES["test-labels"]: rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    return arrays


def gz_bytes(tmp_path, arrays):
    out = {}
    for name, a in arrays.items():
        p = write_idx(tmp_path / ("src-" + name), a)
        out[name] = p.read_bytes()
    return out


def sums_for(blobs):
    return {n: {"gz": sha(b), "raw": sha(gzip.decompress(b))} for n, b in blobs.items()}


# ---------------------------------------------------------------------- IDX round trip
@pytest.mark.parametrize("suffix", [".gz", ""])
@pytest.mark.parametrize("dtype,shape", [(np.uint8, (7, 5, 3)), (np.int32, (11,)),
                                         (np.float32, (4, 6)), (np.int16, (2, 3, 4, 5)),
                                         (np.float64, (3,))])
def test_idx_round_trip(tmp_path, suffix, dtype, shape):
    a = (np.arange(np.prod(shape)) * 7 % 251 - (0 if dtype == np.uint8 else 100)).astype(dtype).reshape(shape)
    p = write_idx(tmp_path / f"a.idx{suffix}", a)
    raw = p.read_bytes()
    assert (raw[:2] == b"\x1f\x8b") == (suffix == ".gz")
    b = read_idx(p)
    assert b.dtype == a.dtype and b.shape == a.shape
    np.testing.assert_array_equal(a, b)


def test_idx_header_is_big_endian_standard(tmp_path):
    p = write_idx(tmp_path / "labels", np.array([5, 0, 4], np.uint8))
    assert p.read_bytes() == bytes([0, 0, 8, 1, 0, 0, 0, 3, 5, 0, 4])   # magic 2049, n = 3, data
    p = write_idx(tmp_path / "images", np.zeros((2, 28, 28), np.uint8))
    assert int.from_bytes(p.read_bytes()[:4], "big") == mnist.IMAGES_MAGIC


def test_write_idx_rejects_unsupported_dtype(tmp_path):
    with pytest.raises(TypeError, match="uint8"):
        write_idx(tmp_path / "x", np.zeros(3, np.complex64))


# ---------------------------------------------------------------------- header validation
def _header(code, dims):
    return bytes([0, 0, code, len(dims)]) + b"".join(int(d).to_bytes(4, "big") for d in dims)


@pytest.mark.parametrize("gz", [False, True])
def test_bad_magic_names_the_file(tmp_path, gz):
    data = b"\x01\x02\x08\x01" + (3).to_bytes(4, "big") + b"abc"
    p = tmp_path / ("bad.idx.gz" if gz else "bad.idx")
    p.write_bytes(gzip.compress(data) if gz else data)
    with pytest.raises(IDXError, match="magic") as e:
        read_idx(p)
    assert str(p) in str(e.value)


def test_unknown_type_code(tmp_path):
    p = tmp_path / "code.idx"
    p.write_bytes(_header(0x07, [2]) + b"ab")
    with pytest.raises(IDXError, match="magic") as e:
        read_idx(p)
    assert "code.idx" in str(e.value)


@pytest.mark.parametrize("extra,word", [(-5, "truncated"), (3, "longer")])
def test_sizes_disagree_with_length(tmp_path, extra, word):
    body = bytes(2 * 3 * 3 + extra)                # 5 bytes short, or 3 bytes too many
    p = tmp_path / "sizes.idx"
    p.write_bytes(_header(0x08, [2, 3, 3]) + body)
    with pytest.raises(IDXError, match=word) as e:
        read_idx(p)
    assert "sizes.idx" in str(e.value) and "(2, 3, 3)" in str(e.value)


def test_file_ends_inside_header(tmp_path):
    p = tmp_path / "short.idx"
    p.write_bytes(bytes([0, 0, 8, 3, 0, 0]))
    with pytest.raises(IDXError, match="header") as e:
        read_idx(p)
    assert "short.idx" in str(e.value)


def test_truncated_gzip_names_the_file(tmp_path):
    full = write_idx(tmp_path / "full.idx.gz", np.arange(5000, dtype=np.int32)).read_bytes()
    p = tmp_path / "cut.idx.gz"
    p.write_bytes(full[: len(full) // 2])
    with pytest.raises(IDXError, match="truncated") as e:
        read_idx(p)
    assert "cut.idx.gz" in str(e.value)


def test_corrupted_gzip_names_the_file(tmp_path):
    full = bytearray(write_idx(tmp_path / "ok.gz", np.arange(5000, dtype=np.int32)).read_bytes())
    full[20:40] = b"\xff" * 20
    p = tmp_path / "corrupt.idx.gz"
    p.write_bytes(bytes(full))
    with pytest.raises(IDXError) as e:
        read_idx(p)
    assert "corrupt.idx.gz" in str(e.value)


def test_expected_magic(tmp_path):
    p = write_idx(tmp_path / "labels.gz", np.zeros(4, np.uint8))
    with pytest.raises(IDXError, match="expected 2051"):
        read_idx(p, expected_magic=mnist.IMAGES_MAGIC)
    assert read_idx(p, expected_magic=mnist.LABELS_MAGIC).shape == (4,)


# ---------------------------------------------------------------------- loading and look-up
def place(folder, arrays, gz=True):
    folder.mkdir(parents=True, exist_ok=True)
    for name, a in arrays.items():
        write_idx(folder / (name if gz else name[:-3]), a)


def test_splits_scaling_and_labels(tmp_path):
    arrays = fake_dataset()
    place(tmp_path / "d" / "mnist", arrays)
    tr_img, tr_lab = arrays[FILES["train-images"]], arrays[FILES["train-labels"]]
    flat = tr_img.reshape(len(tr_img), -1).astype(np.float32) / 255
    x, y = load_mnist("train", data_dir=tmp_path / "d", download=False)
    assert x.shape == (50000, 4) and x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_allclose(x, flat[:50000], rtol=1e-6)
    np.testing.assert_array_equal(y, tr_lab[:50000])
    x, y = load_mnist("valid", data_dir=tmp_path / "d", download=False)
    assert x.shape == (10, 4)
    np.testing.assert_allclose(x, flat[50000:], rtol=1e-6)
    np.testing.assert_array_equal(y, tr_lab[50000:])
    x, y = load_mnist("train-full", data_dir=tmp_path / "d", download=False)
    assert x.shape == (50010, 4)
    x, y = load_mnist("test", data_dir=tmp_path / "d", download=False)
    assert x.shape == (20, 4) and 0.0 <= x.min() and x.max() <= 1.0
    np.testing.assert_array_equal(y, arrays[FILES["test-labels"]])
    with pytest.raises(ValueError, match="split"):
        load_mnist("validation", data_dir=tmp_path / "d")
    with pytest.raises(ValueError, match="kind"):
        load_mnist("train", data_dir=tmp_path / "d", kind="emnist")


def test_raw_files_directly_in_folder(tmp_path):
    arrays = fake_dataset(n_train=30, n_test=5)
    place(tmp_path / "flat", arrays, gz=False)           # no mnist/ subfolder, not gzipped
    x, y = load_mnist("test", data_dir=tmp_path / "flat", download=False)
    assert x.shape == (5, 4)


def test_lookup_order(tmp_path, monkeypatch):
    explicit, env, cache = tmp_path / "explicit", tmp_path / "env", tmp_path / "xdg"
    for folder, seed in ((explicit, 1), (env, 2), (cache / "minigan", 3)):
        place(folder / "mnist", fake_dataset(n_train=30, n_test=5, seed=seed))
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.setenv("MINIGAN_DATA", str(env))

    def test_labels():
        mnist._CACHE.clear()
        return load_mnist("test", data_dir=None, download=False)[1]

    want = {s: fake_dataset(n_train=30, n_test=5, seed=s)[FILES["test-labels"]] for s in (1, 2, 3)}
    np.testing.assert_array_equal(load_mnist("test", data_dir=explicit, download=False)[1], want[1])
    np.testing.assert_array_equal(test_labels(), want[2])               # env before the cache
    monkeypatch.delenv("MINIGAN_DATA")
    np.testing.assert_array_equal(test_labels(), want[3])               # the XDG cache last
    assert mnist.data_folders()[-1] == cache / "minigan"


def test_fashion_subfolder(tmp_path):
    place(tmp_path / "d" / "fashion-mnist", fake_dataset(n_train=30, n_test=5))
    assert load_mnist("test", data_dir=tmp_path / "d", kind="fashion-mnist", download=False)[0].shape == (5, 4)
    with pytest.raises(MNISTMissingError):
        load_mnist("test", data_dir=tmp_path / "d", kind="mnist", download=False)


def test_an_empty_split_is_an_error_not_an_empty_array(tmp_path):
    place(tmp_path / "d" / "mnist", fake_dataset(n_train=100, n_test=5))
    assert load_mnist("train", data_dir=tmp_path / "d", download=False)[0].shape == (100, 4)
    with pytest.raises(IDXError, match=r"holds 100 images: the 'valid' split, rows 50000:60000 of it, is empty"):
        load_mnist("valid", data_dir=tmp_path / "d", download=False)


@pytest.mark.parametrize("where", ["flat", "subfolder"])
def test_the_other_kinds_files_are_refused(tmp_path, monkeypatch, where):
    """MNIST and Fashion-MNIST files have the same names: a folder of one kind's files
    must not pass for the other (the content is checked against the published sums)."""
    arrays = fake_dataset(n_train=30, n_test=5)
    folder = tmp_path / "d" if where == "flat" else tmp_path / "d" / "fashion-mnist"
    place(folder, arrays)
    raw = {n: sha(gzip.decompress((folder / n).read_bytes())) for n in NAMES}
    monkeypatch.setitem(CHECKSUMS, "mnist", {n: {"gz": "0" * 64, "raw": raw[n]} for n in NAMES})
    mnist._CONTENT_SHA.clear()
    kind = "fashion-mnist"                                 # these files are now "MNIST's"
    with pytest.raises(IDXError, match=r"is mnist's t10k-images-idx3-ubyte.gz .* not fashion-mnist's"):
        load_mnist("test", data_dir=tmp_path / "d", kind=kind, download=False)
    if where == "flat":                                    # asked for as what they are, they load
        assert load_mnist("test", data_dir=tmp_path / "d", kind="mnist", download=False)[0].shape == (5, 4)
    monkeypatch.setitem(CHECKSUMS, "mnist", {n: {"gz": "0" * 64, "raw": "1" * 64} for n in NAMES})
    mnist._CONTENT_SHA.clear()
    assert load_mnist("test", data_dir=tmp_path / "d", kind=kind, download=False)[0].shape == (5, 4)


def test_offline_message_lists_missing_files_and_where(tmp_path):
    folder = tmp_path / "empty"
    with pytest.raises(MNISTMissingError) as e:
        load_mnist("train", data_dir=folder, download=False)
    msg = str(e.value)
    assert FILES["train-images"] in msg and FILES["train-labels"] in msg
    assert FILES["test-images"] not in msg                      # only what this split needs
    assert f"looked in {folder}, " in msg and "mnist/ subfolders" in msg and "MINIGAN_DATA" in msg
    assert "\n" not in msg and "download=False" in msg
    assert e.value.message(how="--data-dir FOLDER").endswith(
        "pass --data-dir FOLDER, the folder that holds them, or set MINIGAN_DATA")
    assert not folder.exists()


def test_damaged_file_is_an_idx_error(tmp_path):
    place(tmp_path / "d" / "mnist", fake_dataset(n_train=30, n_test=5))
    p = tmp_path / "d" / "mnist" / FILES["test-images"]
    p.write_bytes(p.read_bytes()[:-10])
    with pytest.raises(IDXError) as e:
        load_mnist("test", data_dir=tmp_path / "d", download=False)
    assert FILES["test-images"] in str(e.value)


# ---------------------------------------------------------------------- downloads
class _Server:
    """A real HTTP server on 127.0.0.1 with routes /good/, /bad/ (wrong bytes),
    /trunc/ (Content-Length of the whole file, half the body, then hang up)."""

    def __init__(self, blobs):
        self.blobs = blobs
        self.requests = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                outer.requests.append(self.path)
                _, mode, name = self.path.split("/", 2)
                body = outer.blobs.get(name)
                if body is None or mode not in ("good", "bad", "trunc"):
                    self.send_error(404)
                    return
                if mode == "bad":
                    body = gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x01\x07", mtime=0)
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2] if mode == "trunc" else body)
                self.wfile.flush()
                self.close_connection = True

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def served(tmp_path):
    arrays = fake_dataset(n_train=30, n_test=5)
    blobs = gz_bytes(tmp_path, arrays)
    with _Server(blobs) as srv:
        yield srv, arrays, blobs


def leftovers(folder):
    return sorted(p.name for p in Path(folder).rglob("*") if p.name.endswith(".part"))


def test_download_then_load(tmp_path, served):
    srv, arrays, blobs = served
    data = tmp_path / "data"
    x, y = load_mnist("test", data_dir=data, mirrors=[srv.url + "/good/"], checksums=sums_for(blobs),
                      progress=False)
    np.testing.assert_array_equal(y, arrays[FILES["test-labels"]])
    assert sorted(os.listdir(data / "mnist")) == sorted([FILES["test-images"], FILES["test-labels"]])
    assert (data / "mnist" / FILES["test-images"]).read_bytes() == blobs[FILES["test-images"]]
    n = len(srv.requests)
    load_mnist("test", data_dir=data, mirrors=[srv.url + "/good/"], checksums=sums_for(blobs))
    assert len(srv.requests) == n                               # present files are not fetched again


def test_checksum_mismatch_falls_to_next_mirror(tmp_path, served):
    srv, arrays, blobs = served
    data = tmp_path / "data"
    mirrors = [srv.url + "/bad/", srv.url + "/good/"]
    x, y = load_mnist("test", data_dir=data, mirrors=mirrors, checksums=sums_for(blobs), progress=False)
    np.testing.assert_array_equal(y, arrays[FILES["test-labels"]])
    name = FILES["test-labels"]
    assert srv.requests.index(f"/bad/{name}") < srv.requests.index(f"/good/{name}")
    assert leftovers(data) == []


def test_truncated_response_falls_to_next_mirror(tmp_path, served):
    srv, arrays, blobs = served
    data = tmp_path / "data"
    mirrors = [srv.url + "/trunc/", srv.url + "/nowhere/", srv.url + "/good/"]
    files = mnist.download_mnist("mnist", data / "mnist", mirrors=mirrors, checksums=sums_for(blobs),
                                 progress=False)
    assert [p.read_bytes() for p in files] == [blobs[n] for n in NAMES]
    assert leftovers(data) == []


def test_all_mirrors_fail_leaves_no_files_and_says_what(tmp_path, served):
    srv, arrays, blobs = served
    data = tmp_path / "data"
    with pytest.raises(MNISTMissingError) as e:
        load_mnist("train", data_dir=data, mirrors=[srv.url + "/trunc/", srv.url + "/bad/"],
                   checksums=sums_for(blobs), progress=False)
    msg = str(e.value)
    assert FILES["train-images"] in msg and FILES["train-labels"] in msg
    assert "the download failed (truncated, checksum mismatch)" in msg and str(data) in msg
    assert "\n" not in msg and "http" not in msg                  # one line; the mirrors' details are kept apart
    assert [word for _, _, word in e.value.failures[FILES["train-images"]]] == ["truncated", "checksum mismatch"]
    assert not data.exists()                                     # no half file, no .part, no folder


def test_failed_mirrors_are_one_reason_each_and_print_nothing(tmp_path, served, capsys):
    """Even with the progress shown, failing mirrors print nothing: the error says why, a word per reason."""
    srv, _, blobs = served
    data = tmp_path / "data"
    with pytest.raises(MNISTMissingError) as e:
        load_mnist("test", data_dir=data, mirrors=[srv.url + "/nowhere/", "http://127.0.0.1:9/"],
                   checksums=sums_for(blobs), progress=True)
    assert "the download failed (HTTP 404, connection refused)" in str(e.value)
    assert capsys.readouterr().err == ""
    assert not data.exists()


def test_checksum_is_required(tmp_path, served):
    srv, _, blobs = served
    with pytest.raises(MNISTMissingError, match="no known SHA-256"):
        mnist.download_mnist("mnist", tmp_path / "x", names=[FILES["test-labels"]],
                             mirrors=[srv.url + "/good/"], checksums={}, progress=False)
    assert not (tmp_path / "x").exists()


def test_decompressed_checksum_accepts_a_regzipped_file(tmp_path, served):
    """Fashion-MNIST's sums are of the decompressed files: another gzip of the same data passes."""
    srv, arrays, blobs = served
    name = FILES["test-labels"]
    regz = gzip.compress(gzip.decompress(blobs[name]), compresslevel=9, mtime=12345)
    assert regz != blobs[name]
    original = sums_for(blobs)                                  # the sums of the files as first made
    srv.blobs[name] = regz
    raw_only = {n: {"raw": s["raw"]} for n, s in original.items()}
    (p,) = mnist.download_mnist("fashion-mnist", tmp_path / "f", names=[name],
                                mirrors=[srv.url + "/good/"], checksums=raw_only, progress=False)
    assert p.read_bytes() == regz
    # and a .gz-only table rejects it (its .gz sum differs)
    gz_only = {n: {"gz": s["gz"]} for n, s in original.items()}
    with pytest.raises(MNISTMissingError, match="mismatch"):
        mnist.download_mnist("mnist", tmp_path / "g", names=[name], mirrors=[srv.url + "/good/"],
                             checksums=gz_only, progress=False)


def test_progress_bar_draws_when_enabled(tmp_path, served, capsys):
    srv, _, blobs = served
    mnist.download_mnist("mnist", tmp_path / "p", names=[FILES["test-images"]],
                         mirrors=[srv.url + "/good/"], checksums=sums_for(blobs), progress=True)
    err = capsys.readouterr().err
    assert FILES["test-images"] in err and "100%" in err


def test_interrupted_download_leaves_nothing(tmp_path, served, monkeypatch):
    srv, _, blobs = served

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(mnist.os, "fsync", interrupted)      # dies while writing NAME.part
    with pytest.raises(KeyboardInterrupt):
        mnist.download_mnist("mnist", tmp_path / "i" / "mnist", names=[FILES["test-labels"]],
                             mirrors=[srv.url + "/good/"], checksums=sums_for(blobs), progress=False)
    assert not (tmp_path / "i").exists()                        # the folders made for the file went with it


# ---------------------------------------------------------------------- the sampler
def test_sampler_draws_rows_iid_uniform():
    images = np.arange(50 * 3, dtype=np.float32).reshape(50, 3)
    s = MNISTSampler(images)
    assert len(s) == 50 and s.dim == 3
    rng = backend.default_rng(7)
    batch = s(1000, rng)
    assert batch.shape == (1000, 3) and batch.dtype == np.float32
    assert type(batch) is type(backend.xp.zeros(1))                 # on the active backend
    idx = backend.to_host(batch)[:, 0].astype(int) // 3
    np.testing.assert_array_equal(backend.to_host(batch), images[idx])
    # the indices are exactly rng.integers(0, N, m): i.i.d. uniform with replacement
    np.testing.assert_array_equal(idx, backend.to_host(backend.default_rng(7).integers(0, 50, size=1000)))
    counts = np.bincount(idx, minlength=50)
    assert counts.min() > 0 and counts.max() < 60                   # ~20 each


def test_sampler_rejects_bad_input():
    with pytest.raises(ValueError, match=r"\(N, d\)"):
        MNISTSampler(np.zeros((3, 2, 2)))
    with pytest.raises(ValueError, match=r"MNISTSampler: order must be one of.*'shuffled'"):
        MNISTSampler(np.zeros((3, 2)), order="shuffled")
    with pytest.raises(ValueError, match=r"minibatch of 4 rows needs at least 4 images.*has 3"):
        MNISTSampler(np.zeros((3, 2)), order="epochs")(4, backend.default_rng(0))


def rows_of(batch):
    return backend.to_host(batch)[:, 0].astype(int) // 3


def test_sampler_epochs_serves_every_row_once_per_epoch(restore_backend):
    """On NumPy whatever the run's backend: it checks the epochs against NumPy's
    ``Generator.permutation``, which CuPy's Generator lacks (the next test covers that case)."""
    restore_backend.use("numpy")
    images = np.arange(50 * 3, dtype=np.float32).reshape(50, 3)
    s = MNISTSampler(images, order="epochs")
    rng = backend.default_rng(3)
    epochs = [np.concatenate([rows_of(s(10, rng)) for _ in range(5)]) for _ in range(3)]
    for e in epochs:
        np.testing.assert_array_equal(np.sort(e), np.arange(50))     # each row exactly once
    assert not np.array_equal(epochs[0], epochs[1])                    # a new permutation each epoch
    # the permutations are rng.permutation(50), one per epoch, from the trainer's generator
    ref = backend.default_rng(3)
    for e in epochs:
        np.testing.assert_array_equal(e, backend.to_host(ref.permutation(50)))
    np.testing.assert_array_equal(backend.to_host(s(10, backend.default_rng(0)))[:, 0] // 3,
                                  rows_of(images[backend.to_host(backend.default_rng(0).permutation(50))[:10]]))


def test_sampler_epochs_without_a_permutation_method_ranks_uniform_draws():
    class NoPermutation:                        # like CuPy's Generator: random() but no permutation()
        def __init__(self, seed):
            self.g = np.random.default_rng(seed)

        def random(self, n):
            return self.g.random(n)

    s = MNISTSampler(np.arange(20 * 3, dtype=np.float32).reshape(20, 3), order="epochs")
    rng = NoPermutation(1)
    got = np.concatenate([rows_of(s(5, rng)) for _ in range(4)])
    np.testing.assert_array_equal(got, np.argsort(np.random.default_rng(1).random(20), kind="stable"))


def test_sampler_epochs_skips_a_short_remainder_and_never_repeats_within_a_batch():
    s = MNISTSampler(np.arange(7 * 3, dtype=np.float32).reshape(7, 3), order="epochs")
    rng = backend.default_rng(5)
    for _ in range(20):
        rows = rows_of(s(3, rng))               # 7 = 3 + 3 + 1 left over: the third call starts a pass
        assert len(set(rows.tolist())) == 3


def test_sampler_state_resumes_exactly_and_random_order_has_none(restore_backend):
    """On NumPy whatever the run's backend: it resumes the trainer's generator by copying
    its state, which a CuPy Generator does not let anyone read."""
    restore_backend.use("numpy")
    images = np.arange(40 * 3, dtype=np.float32).reshape(40, 3)
    a = MNISTSampler(images, order="epochs")
    assert MNISTSampler(images).state_dict() == {}
    assert a.state_dict()["perm"].size == 0 and int(a.state_dict()["pos"]) == 0
    rng = backend.default_rng(9)
    for _ in range(3):
        a(8, rng)                               # mid-epoch: 24 of 40 rows served
    state = {k: v.copy() for k, v in a.state_dict().items()}
    assert int(state["pos"]) == 24
    b = MNISTSampler(images, order="epochs")
    b.load_state_dict(state)
    rng_b = backend.default_rng(0)
    rng_b.bit_generator.state = rng.bit_generator.state
    for _ in range(7):                          # across the epoch boundary
        np.testing.assert_array_equal(backend.to_host(a(8, rng)), backend.to_host(b(8, rng_b)))
    with pytest.raises(ValueError, match=r"permutation of 40 rows at position 24 does not fit .* 30 rows"):
        MNISTSampler(images[:30], order="epochs").load_state_dict(state)


# ---------------------------------------------------------------------- the real files
REAL = os.environ.get("MINIGAN_DATA")


@pytest.mark.skipif(not REAL, reason="set MINIGAN_DATA to a folder holding mnist/ to check the real files")
def test_real_mnist(monkeypatch):
    monkeypatch.setenv("MINIGAN_DATA", REAL)
    for name, sums in CHECKSUMS["mnist"].items():
        path = mnist.find_mnist_files("mnist")[name]
        assert path is not None, f"{name} not found under {REAL}"
        blob = path.read_bytes()
        if blob[:2] == b"\x1f\x8b":
            assert sha(blob) == sums["gz"] or sha(gzip.decompress(blob)) == sums["raw"]
        else:
            assert sha(blob) == sums["raw"]
    x, y = load_mnist("train", download=False)
    assert x.shape == (50000, 784) and x.dtype == np.float32
    assert y[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    xt, yt = load_mnist("test", download=False)
    assert xt.shape == (10000, 784) and yt[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert abs(xt.mean() * 255 - 33.791) < 1e-3
    xv, _ = load_mnist("valid", download=False)
    assert xv.shape == (10000, 784)
    flat = mnist.find_mnist_files("mnist")[FILES["test-images"]].parent     # MNIST's own folder
    with pytest.raises(IDXError, match="is mnist's t10k-images-idx3-ubyte.gz"):
        load_mnist("test", data_dir=flat, kind="fashion-mnist", download=False)
    full, yfull = load_mnist("train-full", download=False)
    assert np.bincount(yfull).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    np.testing.assert_array_equal(full[50000:], xv)


def test_pixel_mean_logit_takes_the_float64_mean_without_a_copy():
    # the G output bias of the paper's model: logit of the clipped mean pixel, the mean taken in
    # float64 (bit for bit the mean of a float64 copy) without making that copy
    import tracemalloc
    from minigan import models
    rng = np.random.default_rng(0)
    images = rng.random((2000, 784), dtype=np.float32)
    images[:, :3] = 0.0                                   # clipped at 1e-7
    want_p = np.clip(images.astype(np.float64).mean(axis=0), 1e-7, 1 - 1e-7)
    tracemalloc.start()
    got = models.pixel_mean_logit(images)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert np.array_equal(got, np.log(want_p) - np.log1p(-want_p))
    assert peak < images.nbytes                         # a float64 copy alone is twice the images


def test_images_kept_as_bytes_give_the_same_minibatches_and_mean_bit_for_bit(tmp_path):
    """load_mnist(as_uint8=True) with MNISTSampler keeps a quarter of the memory and serves, from the
    same generator, exactly the float32 minibatches of the float images; the G output bias
    (pixel_mean_logit) of the bytes equals that of the floats bit for bit, across blocks."""
    from minigan import models
    from minigan.data import mnist
    rng = np.random.default_rng(11)
    folder = tmp_path / "mnist"
    folder.mkdir()
    mnist.write_idx(folder / "train-images-idx3-ubyte", rng.integers(0, 256, (300, 28, 28), dtype=np.uint8))
    mnist.write_idx(folder / "train-labels-idx1-ubyte", rng.integers(0, 10, 300, dtype=np.uint8))
    floats, labels = mnist.load_mnist("train", data_dir=str(tmp_path), download=False)
    pixels, same_labels = mnist.load_mnist("train", data_dir=str(tmp_path), download=False, as_uint8=True)
    assert pixels.dtype == np.uint8 and pixels.shape == floats.shape and np.array_equal(labels, same_labels)
    assert np.array_equal(mnist.pixels_to_float(pixels), floats) and pixels.nbytes * 4 == floats.nbytes
    for order in ("random", "epochs"):
        a, b = mnist.MNISTSampler(floats, order=order), mnist.MNISTSampler(pixels, order=order)
        assert b.as_bytes and not a.as_bytes and (len(b), b.dim) == (len(a), a.dim)
        ra, rb = np.random.default_rng(3), np.random.default_rng(3)
        for _ in range(5):
            xa, xb = a(70, ra), b(70, rb)
            assert xb.dtype == xa.dtype == np.float32 and np.array_equal(xa, xb)
        assert np.array_equal(a.images, b.images)
    assert np.array_equal(models.pixel_mean_logit(floats), models.pixel_mean_logit(pixels, block=64))
    from minigan import presets
    assert presets.build("mnist-paper", data_dir=str(tmp_path), m=20).trainer.data_sampler.as_bytes
    assert not np.array_equal(models.pixel_mean_logit(floats),
                              models.pixel_mean_logit(np.clip(pixels.astype(np.int64) + 1, 0, 255).astype(np.uint8)))
