"""Ingest looks at the bytes, not the name: binary files are skipped with the reason, PDF reader
warnings go into the per-file report (not the console), and progress reaches the end."""

from __future__ import annotations

import codecs
import json
import os
import random
import shutil
import subprocess
import sys

import pytest

from cupola.client import LocalClient
from cupola.errors import BinaryContent
from cupola.knowledge import documents as docs
from cupola.knowledge.content import decode_text
from cupola.knowledge.service import KnowledgeService
from cupola.knowledge.store import KnowledgeStore

from test_http_api import make_client


def _random_bytes(n: int, seed: int = 7, without_nul: bool = False) -> bytes:
    rng = random.Random(seed)
    data = bytes(rng.randrange(256) for _ in range(n))
    return data.replace(b"\x00", b"\x01") if without_nul else data


def _pdf_bytes(text: str) -> bytes:
    fpdf = pytest.importorskip("fpdf")
    pdf = fpdf.FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.multi_cell(0, 10, text)
    return bytes(pdf.output())


@pytest.fixture
def folder(tmp_path):
    """Two real documents among an executable named .md, random bytes named .txt, a PDF whose
    reader repairs it (junk before the header), a broken PDF and a text file that is not UTF-8."""
    d = tmp_path / "docs"
    d.mkdir()
    (d / "heat.md").write_text("# Heat pumps\n\nA heat pump moves heat from outside air into the house.")
    shutil.copy(sys.executable, d / "python.md")
    (d / "noise.txt").write_bytes(_random_bytes(20_000))
    (d / "repaired.pdf").write_bytes(b"junk before the header\n" + _pdf_bytes("Solar panels on the roof."))
    (d / "broken.pdf").write_bytes(_pdf_bytes("never read")[:300])
    (d / "latin1.txt").write_bytes("Crème brûlée is a dessert.".encode("cp1252"))
    return d


# -- what the bytes are ------------------------------------------------------------------------

def test_binary_content_is_detected_whatever_the_name():
    with open(sys.executable, "rb") as fh:
        elf = fh.read(100_000)
    with pytest.raises(BinaryContent, match="ELF executable"):
        decode_text(elf, "ls.md")
    with pytest.raises(BinaryContent, match="NUL"):
        decode_text(_random_bytes(5000), "noise.txt")
    with pytest.raises(BinaryContent, match="control characters"):  # random bytes with no NUL at all
        decode_text(_random_bytes(5000, without_nul=True), "noise.txt")
    with pytest.raises(BinaryContent, match="PNG image"):
        decode_text(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "picture.html")
    with pytest.raises(BinaryContent, match="name it .pdf"):
        docs.parse(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\x00", "report.txt")


def test_text_in_any_usual_encoding_is_read():
    assert decode_text("plain ascii\twith tabs\r\n\x1b[1mbold\x1b[0m".encode(), "a.txt")[1] == []
    assert decode_text("naïve café".encode("utf-8"), "a.txt") == ("naïve café", [])
    text, notes = decode_text("Crème brûlée, à la carte, déjà vu".encode("cp1252"), "a.txt")
    assert text == "Crème brûlée, à la carte, déjà vu" and "Windows-1252" in notes[0]
    for bom, encoding in ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF32_BE, "utf-32-be")):
        assert decode_text(bom + "ünïcode".encode(encoding), "a.txt")[0] == "ünïcode"
    text, notes = decode_text(("x" * 5000).encode() + b"\xff" + b"end", "a.txt")  # one damaged byte
    assert text.endswith("\ufffdend") and "1 byte(s)" in notes[0]


def test_pdf_reader_warnings_are_kept_per_file(capfd):
    doc = docs.parse(b"junk\n" + _pdf_bytes("Wind turbines."), "wind.pdf")
    assert "Wind turbines." in doc.text
    assert any("invalid pdf header" in w for w in doc.warnings)
    assert "invalid pdf header" not in capfd.readouterr().err  # nothing on the console


def test_upload_names_never_traverse():
    assert docs.upload_name("../../etc/passwd.md") == "passwd.md"
    assert docs.upload_name("..\\..\\boot.ini.txt") == "boot.ini.txt"
    assert docs.upload_name("..") == "upload.txt" and docs.upload_name(None) == "upload.txt"
    assert docs.upload_name("new\nline\x00.md") == "newline.md"
    assert docs.read_upload(b"# T\ntext", "../../../x.md").id == "x.md"


# -- ingest reports ----------------------------------------------------------------------------

@pytest.fixture
def kb(fake_runtime, settings):
    store = KnowledgeStore(settings.db_path("knowledge"))
    yield KnowledgeService(store, LocalClient(fake_runtime), models=fake_runtime.store)
    store.close()


async def test_ingest_reports_skipped_failed_and_warnings_and_counts_every_file(kb, folder, capfd):
    kb.create("notes")
    seen: list[tuple[str, int, int | None]] = []
    report = await kb.ingest_paths("notes", [folder], progress=lambda *a: seen.append(a))
    assert report.added == 3  # heat.md, repaired.pdf, latin1.txt
    skipped = {os.path.basename(s["source"]): s["reason"] for s in report.skipped}
    assert set(skipped) == {"python.md", "noise.txt"}
    assert "ELF executable" in skipped["python.md"] and skipped["noise.txt"].startswith("binary content")
    assert [os.path.basename(f["source"]) for f in report.failed] == ["broken.pdf"]
    assert "not a readable PDF" in report.failed[0]["error"]
    notes = {(os.path.basename(w["source"]), w["warning"].split(":")[0]) for w in report.file_warnings}
    assert {("repaired.pdf", "invalid pdf header"), ("latin1.txt", "not UTF-8")} <= notes
    assert [s for s in seen if s[0] == "documents"][-1] == ("documents", 6, 6)  # the bar reaches the end
    assert "pdf" not in capfd.readouterr().err.lower()
    titles = {d["title"] for d in kb.store.documents(kb.get("notes"))}
    assert titles == {"Heat pumps", "repaired", "latin1"}


def test_http_upload_of_binary_and_traversing_names(settings):
    with make_client(settings) as client:
        assert client.post("/api/kb", json={"name": "notes"}).status_code == 201
        files = [("files", ("../../../../tmp/evil.md", b"# Evil\nOnly a label.", "text/markdown")),
                 ("files", ("ls.md", b"\x7fELF\x02\x01\x01\x00\x00\x00", "text/markdown"))]
        report = client.post("/api/kb/notes/documents", files=files).json()
        assert report["added"] == 1 and report["failed"] == []
        assert report["skipped"] == [{"source": "ls.md", "reason": "binary content (an ELF executable), not text"}]
        listed = client.get("/api/kb/notes/documents").json()["data"]
        assert [(d["doc_id"], d["source"]) for d in listed] == [("evil.md", None)]
        assert client.delete("/api/kb/notes/documents/evil.md").json()["deleted"] is True


@pytest.mark.real
def test_cli_ingest_skips_binaries_keeps_the_console_clean_and_search_never_finds_them(home_with_models, folder):
    env = {**os.environ, "CUPOLA_HOME": str(home_with_models), "COLUMNS": "120"}
    run = subprocess.run([sys.executable, "-m", "cupola", "kb", "ingest", "notes", str(folder), "--create",
                          "--local"], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, run.stderr  # broken.pdf failed
    assert "6/6" in run.stderr  # the progress bar reached the end
    assert "skipped" in run.stderr and "python.md: binary content (an ELF executable)" in run.stderr
    assert "failed" in run.stderr and "broken.pdf" in run.stderr
    lines = run.stderr.splitlines()
    assert all(line.startswith("warning: ") for line in lines if "invalid pdf header" in line)
    assert "3 added" in run.stdout
    query = [sys.executable, "-m", "cupola", "kb", "search", "notes", "--mode", "semantic", "-k", "10", "--json",
             "--local"]
    found = json.loads(subprocess.run(query + ["\x7fELF GLIBC libc.so.6 __cxa_finalize"], env=env,
                                      capture_output=True, text=True, timeout=300, check=True).stdout)
    assert {r["doc_id"] for r in found["results"]} <= {"heat.md", "repaired.pdf", "latin1.txt"}
