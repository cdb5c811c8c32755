"""Benchmark of the paper reader (run by hand: python bench/bench_paper.py).

Prints, with PASS or FAIL beside each target (the exit status is 1 if any fails):
  (a) parse time of a 10-page two-column paper with parse_pdf, against pypdf's plain
      extract_text over all pages (targets: <= 0.2 s, and pypdf at least 3x slower), and the
      same over the shared corpus of real papers when it is there (MLR_PAPERS_DIR);
  (b) peak RSS of a process parsing a 300-page paper (target: < 300 MB);
  (c) wall time of a whole `python -c` process parsing the 10-page paper, against a fresh
      process running pypdf's extract_text (target: ours faster), and what importing the
      pydantic models costs on its own.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "server"))

from tests.pdfs import make_paper_pdf  # noqa: E402

RUNS = 7
PAIRS = 100
# The shared corpus of real papers (see tests/paper/test_corpus.py), used when present.
PAPERS = Path(os.environ.get("MLR_PAPERS_DIR") or ROOT.parent / "shared" / "papers")
# Documents typeset by pdfTeX that Debian installs with some packages; used when present.
TYPESET_SAMPLES = [
    "/usr/share/doc/shared-mime-info/shared-mime-info-spec.pdf",
    "/usr/share/doc/libtasn1-doc/libtasn1.pdf",
]


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _median_time(fn, runs: int = RUNS) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _paired(ours, theirs) -> tuple[float, float, list[float]]:
    """Median times of two functions run in turn, and the quartiles of their per-pair ratios.

    The machine's speed drifts by a factor of two within seconds here; a pair run back to
    back sees the same speed, so its ratio is steady where separate medians are not.
    """
    mine, other, ratios = [], [], []
    for _ in range(PAIRS):
        start = time.perf_counter()
        ours()
        a = time.perf_counter() - start
        start = time.perf_counter()
        theirs()
        b = time.perf_counter() - start
        mine.append(a)
        other.append(b)
        ratios.append(b / a)
    return statistics.median(mine), statistics.median(other), statistics.quantiles(ratios, n=4)


def _process_time(code: str, runs: int = RUNS) -> float:
    env_path = f"{ROOT / 'server'}"
    cmd = [sys.executable, "-c", f"import sys; sys.path.insert(0, {env_path!r}); {code}"]
    subprocess.run(cmd, check=True)  # warm the file cache
    return _median_time(lambda: subprocess.run(cmd, check=True), runs)


def _peak_rss(code: str) -> tuple[float, float, int, int]:
    """Peak RSS in MB of a fresh process running `code`, its run time, and its `extra` pair.

    On Linux a child's getrusage maxrss starts from the parent's peak (it survives fork and
    exec), which would report this bench's own size; the child's VmHWM is its own.
    """
    probe = (
        "import resource, sys, time; sys.path.insert(0, {server!r}); t = time.perf_counter(); {code}; "
        "t = time.perf_counter() - t; "
        "hwm = next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM'));"
        "print(hwm, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, t, *extra)"
    ).format(server=str(ROOT / "server"), code=code)
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout.split()
    return int(out[0]) / 1024, float(out[2]), int(out[3]), int(out[4])


def main() -> int:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    from pypdf import PdfReader

    from mlr_copilot.paper import parse_pdf

    with tempfile.TemporaryDirectory() as tmp:
        ten = make_paper_pdf(Path(tmp) / "ten.pdf", columns=2, pages=10)
        parse_pdf(ten)
        ours, theirs, (low, ratio, high) = _paired(
            lambda: parse_pdf(ten), lambda: "".join(p.extract_text() for p in PdfReader(ten).pages))
        print(f"(a) 10-page two-column paper, in process (median of {PAIRS} interleaved pairs)")
        results = [ours <= 0.2, ratio >= 3]
        print(f"    parse_pdf            {ours * 1000:7.1f} ms   (target <= 200 ms)  {_verdict(results[0])}")
        print(f"    pypdf extract_text   {theirs * 1000:7.1f} ms   ({ratio:.2f}x ours, median of the pairs' "
              f"ratios; target >= 3x)  {_verdict(results[1])}")
        print(f"    the pairs' ratios, first to third quartile: {low:.2f}x to {high:.2f}x")
        # The test paper uses the 14 standard fonts and plain strings, pypdf's cheapest case;
        # papers typeset by TeX (subset fonts, kerned TJ arrays, ToUnicode maps) are the usual one.
        for typeset in TYPESET_SAMPLES:
            if Path(typeset).is_file():
                ours = _median_time(lambda typeset=typeset: parse_pdf(typeset), 3)
                theirs = _median_time(lambda typeset=typeset: "".join(p.extract_text() for p in PdfReader(typeset).pages), 3)
                pages = len(PdfReader(typeset).pages)
                print(f"    {Path(typeset).name} ({pages} pages, pdfTeX): parse_pdf {ours * 1000:.1f} ms, "
                      f"pypdf {theirs * 1000:.1f} ms ({theirs / ours:.1f}x ours)")
        corpus = sorted(PAPERS.glob("pdfs/*.pdf"))
        if corpus:
            ours = _median_time(lambda: [parse_pdf(f) for f in corpus], 3)
            theirs = _median_time(lambda: ["".join(p.extract_text() for p in PdfReader(f).pages) for f in corpus], 3)
            pages = sum(len(PdfReader(f).pages) for f in corpus)
            results.append(theirs >= 3 * ours)
            print(f"    the shared corpus ({len(corpus)} real papers, {pages} pages): parse_pdf {ours * 1000:.0f} ms "
                  f"({ours * 1000 / pages:.1f} ms a page), pypdf {theirs * 1000:.0f} ms ({theirs / ours:.1f}x ours; "
                  f"target >= 3x)  {_verdict(results[-1])}")

        start = time.perf_counter()
        big = make_paper_pdf(Path(tmp) / "big.pdf", columns=2, pages=300)
        made = time.perf_counter() - start
        parse_rss, parse_time, pages, chars = _peak_rss(
            f"from mlr_copilot.paper import parse_pdf; p = parse_pdf({str(big)!r}); "
            "extra = (p.pages, len(p.full_text()))")
        import_rss, *_ = _peak_rss("import mlr_copilot.paper, pypdfium2; extra = (0, 0)")
        print(f"(b) 300-page two-column paper ({big.stat().st_size / 1e6:.1f} MB, made in {made:.1f} s)")
        results.append(parse_rss < 300)
        print(f"    peak RSS             {parse_rss:7.1f} MB   (target < 300 MB; {import_rss:.1f} MB after imports alone)  "
              f"{_verdict(results[-1])}")
        print(f"    parse time           {parse_time:7.2f} s    ({pages} pages, {chars:,} characters of text)")

        ours_proc = _process_time(f"from mlr_copilot.paper import parse_pdf; parse_pdf({str(ten)!r})")
        theirs_proc = _process_time(
            f"from pypdf import PdfReader; ''.join(p.extract_text() for p in PdfReader({str(ten)!r}).pages)")
        bare = _process_time("pass")
        pdfium_only = _process_time("import pypdfium2")
        models = _process_time("from mlr_copilot.paper import Paper")
        pydantic = _process_time("from pydantic import BaseModel\nclass M(BaseModel):\n    x: list[str]")
        print(f"(c) whole `python -c` process on the 10-page paper (median of {RUNS})")
        results.append(ours_proc < theirs_proc)
        print(f"    mlr_copilot.paper    {ours_proc * 1000:7.1f} ms   (target: faster than pypdf)  {_verdict(results[-1])}")
        print(f"    pypdf extract_text   {theirs_proc * 1000:7.1f} ms   ({theirs_proc / ours_proc:.2f}x ours)")
        print(f"    bare interpreter     {bare * 1000:7.1f} ms")
        print(f"    import pypdfium2     {(pdfium_only - bare) * 1000:7.1f} ms over bare")
        print(f"    import Paper         {(models - bare) * 1000:7.1f} ms over bare (frozen dataclasses)")
        print(f"    pydantic + 1 model   {(pydantic - bare) * 1000:7.1f} ms over bare (what a pydantic Paper would add)")
        cli = [sys.executable, "-m", "mlr_copilot.cli", "paper", str(ten), "--json"]
        subprocess.run(cli, check=True, capture_output=True)
        cli_time = _median_time(lambda: subprocess.run(cli, check=True, capture_output=True))
        results.append(cli_time < theirs_proc)
        print(f"(d) `mlr-copilot paper --json` as a whole process: {cli_time * 1000:.1f} ms "
              f"(pypdf process {theirs_proc * 1000:.1f} ms; target: faster)  {_verdict(results[-1])}")
    print(f"result {_verdict(all(results))}")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
