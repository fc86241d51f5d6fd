"""Parse throughput per source format, on the shipped policies in each format.

    python benchmarks/bench_parse.py [--rounds 5]

The 15 Markdown policies of corpus/policies are parsed as they are, rendered to HTML, and
converted to Word and from Word to PDF by LibreOffice (`soffice`, when installed; as `make
test` installs it), and each format's parser reads all of them `--rounds` times. Prints MB/s
of source bytes, documents/s and (for PDF) pages/s, best round, parsing only (no chunking,
storing or embedding; a PDF is read in the ingest's child process, as an ingest does).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kb.ingest.base import Source  # noqa: E402
from kb.ingest.registry import BINARY_SUFFIXES, parser_for  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    policies = sorted((ROOT / "corpus" / "policies").glob("*.md"))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        renderer = MarkdownIt("commonmark").enable("table")
        for path in policies:
            body = re.sub(r"\A---\n.*?\n---\n", "", path.read_text(), flags=re.S)
            html = renderer.render(body)
            (folder / f"{path.stem}.html").write_text(
                f"<html><head><meta charset='utf-8'></head><body>{html}</body></html>"
            )
        files = {".md": policies, ".html": sorted(folder.glob("*.html"))}
        soffice = shutil.which("soffice")
        if soffice:
            _convert(soffice, folder, "docx:MS Word 2007 XML", files[".html"])
            files[".docx"] = sorted(folder.glob("*.docx"))
            _convert(soffice, folder, "pdf", files[".docx"])
            files[".pdf"] = sorted(folder.glob("*.pdf"))
        print(f"\n{len(policies)} shipped policies per format, best of {args.rounds} rounds\n")
        print("| format | files | MB | MB/s | documents/s | pages/s |")
        print("|---|---|---|---|---|---|")
        for suffix, paths in files.items():
            sources = [_source(p, suffix) for p in paths]
            size = sum(p.stat().st_size for p in paths)
            parse = parser_for(paths[0])
            best, pages = float("inf"), 0
            parse(sources[0])  # a PDF's reader process starts once
            for _ in range(args.rounds):
                started = time.perf_counter()
                results = [parse(source) for source in sources]
                best = min(best, time.perf_counter() - started)
            pages = sum(len(d.page_starts) for r in results for d in r.documents)
            print(
                f"| {suffix} | {len(paths)} | {size / 1e6:.2f} | {size / 1e6 / best:.1f} | "
                f"{len(paths) / best:.0f} | {f'{pages / best:.1f}' if pages else '—'} |"
            )
        if not soffice:
            print("\n(.docx and .pdf left out: LibreOffice's soffice is not installed)")
    print(
        "\nReproduce: python benchmarks/bench_parse.py"
        + (f" --rounds {args.rounds}" if args.rounds != 5 else "")
    )


def _convert(soffice: str, folder: Path, target: str, paths: list[Path]) -> None:
    """LibreOffice converts `paths` to `target` into `folder` (its own profile there)."""
    subprocess.run(
        [
            soffice,
            f"-env:UserInstallation=file://{folder / 'profile'}",
            "--headless",
            "--convert-to",
            target,
            "--outdir",
            str(folder),
            *map(str, paths),
        ],
        check=True,
        capture_output=True,
    )


def _source(path: Path, suffix: str) -> Source:
    if suffix in BINARY_SUFFIXES:
        return Source(path=path.name, text="", default_id=path.stem, raw=path.read_bytes())
    return Source(path=path.name, text=path.read_text(), default_id=path.stem)


if __name__ == "__main__":
    main()
