"""``credit-ledger report``: check a credit report offline (``ledger.log.report``) and render it for people."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from api.cli.common import CLIError, read_json
from api.cli.verify import _read_text, verifier_key_from
from ledger.domain.catalogue import LATEST_SHIPPED, shipped_catalogue_document


def report_of(document: Any) -> Any:
    """The report in ``document``: a report itself, or a query's answer holding it under ``data``."""
    if isinstance(document, dict) and "format" not in document and isinstance(document.get("data"), dict):
        return document["data"]
    return document


def cmd_report_verify(args: argparse.Namespace) -> int:
    from ledger.log.report import ReportError, verify_report

    report = report_of(read_json(args.file))
    if (args.later_checkpoint is None) != (args.consistency_proof is None):
        raise CLIError("--later-checkpoint and --consistency-proof go together")
    later = _read_text(args.later_checkpoint, "later checkpoint") if args.later_checkpoint else None
    proof = read_json(args.consistency_proof) if args.consistency_proof else None
    try:
        result = verify_report(report, verifier_key_from(args.report_key), verifier_key_from(args.log_verifier_key),
                               later, proof)
    except ReportError as exc:
        raise CLIError(f"report NOT verified: {exc}") from None
    print(result.line())
    return 0


def site_of(report: dict[str, Any], site: str | None) -> str:
    """The public site a report's code leads to: ``--site``, else ``https://`` and the host of its log origin."""
    if site:
        return site.rstrip("/")
    return "https://" + str(report.get("ledger", "")).split("/", 1)[0]


def qr_svg(url: str) -> str:
    """The QR code of ``url`` as inline SVG with a viewBox and no fixed size, so that the page's CSS scales the
    whole symbol, quiet zone included, to the size it prints at."""
    import segno

    return str(segno.make(url, error="m").svg_inline(scale=4, border=2, omitsize=True))


ROLES = {r["code"]: (r["name_zh"], r["name_en"])
         for r in shipped_catalogue_document(LATEST_SHIPPED).get("responsible_roles", [])}
"""The names of the roles a person may hold for an organisation (the latest shipped catalogue's)."""


def render_html(report: Any, site: str | None = None) -> tuple[str, str]:
    """The printable page of a report, and its verification code (``ledger.log.report.report_entry_code``)."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    from ledger.log.report import FORMAT, ReportError, report_entry_code

    if not isinstance(report, dict) or report.get("format") != FORMAT:
        raise CLIError(f"the file holds no credit report (format {FORMAT})")
    try:
        code = report_entry_code(report)
    except ReportError as exc:
        raise CLIError(f"cannot render the report: {exc}") from None
    url = f"{site_of(report, site)}/verify?{urlencode({'code': code})}"
    qr = qr_svg(url)
    env = Environment(loader=PackageLoader("api.site", "templates"), autoescape=select_autoescape(default=True))
    try:
        html = env.get_template("report.html").render(r=report, code=code, verify_url=url, qr=qr, roles=ROLES)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:  # a report missing parts the page shows
        raise CLIError(f"cannot render the report: {exc}") from None
    return html, code


FOOTER = ('<div style="width:100%;margin:0 14mm;font-size:7.5pt;color:#333;display:flex;justify-content:space-between;'
          'font-family:\'Noto Sans CJK SC\',sans-serif"><span>验证码 Verification code {code}</span>'
          '<span>第 <span class="pageNumber"></span> / <span class="totalPages"></span> 页 page</span></div>')
"""Each printed page's footer: the report's code (a page apart from the others still leads to /verify) and
"page i / n", drawn by Chromium in the page's bottom margin."""


def print_pdf(html_file: Path, pdf_file: Path, code: str = "") -> None:
    """Print the page to A4 PDF with Chromium (through Playwright), each page with the code and its number."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise CLIError("--pdf needs Chromium (the chromium command) to print the page; the HTML page was written")
    from html import escape

    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium)
            try:
                page = browser.new_page()
                page.goto(html_file.resolve().as_uri())
                page.pdf(path=str(pdf_file), format="A4", print_background=True, prefer_css_page_size=True,
                         display_header_footer=True, header_template="<span></span>",
                         footer_template=FOOTER.format(code=escape(code)))
            finally:
                browser.close()
    except PlaywrightError as exc:
        raise CLIError(f"printing to PDF failed: {str(exc).splitlines()[0]}") from None


def cmd_report_render(args: argparse.Namespace) -> int:
    html, code = render_html(report_of(read_json(args.file)), args.site)
    out = Path(args.html)
    try:
        out.write_text(html, encoding="utf-8")
    except OSError as exc:
        raise CLIError(f"cannot write {out}: {exc.strerror}") from None
    if args.pdf:
        print_pdf(out, Path(args.pdf), code)
    print(f"report {code}: {out}" + (f" and {args.pdf}" if args.pdf else ""))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's commands to the CLI's subcommands."""
    report = sub.add_parser("report", help="check a credit report").add_subparsers(dest="report_command",
                                                                                   required=True)
    p = report.add_parser(
        "verify", help="check a credit report offline with pinned keys",
        description="Check the report's signature with the pinned report key, its checkpoint's signature with the "
                    "pinned log key, that it is of that log, and every inclusion proof it carries against the "
                    "checkpoint's root; optionally that a later checkpoint extends the report's. Nothing is "
                    "fetched. Exit 0 with one line if it holds, 1 with one line naming what failed.")
    p.add_argument("file", metavar="FILE",
                   help="the report JSON (the data of a credit_report query's answer, or the whole answer)")
    p.add_argument("--report-key", required=True, metavar="KEY",
                   help="the ledger's report verifier key (GET /v1/report/verifier-key), pinned out of band, or a "
                        "file holding it")
    p.add_argument("--log-verifier-key", required=True, metavar="KEY",
                   help="the log's verifier key (GET /v1/log/verifier-key), pinned out of band, or a file holding it")
    p.add_argument("--later-checkpoint", metavar="FILE",
                   help="a later signed checkpoint of the log (GET /v1/log/checkpoint), to show the report's history "
                        "was not rewritten afterwards; needs --consistency-proof")
    p.add_argument("--consistency-proof", metavar="FILE",
                   help="the consistency proof JSON from the report's tree size to the later checkpoint's "
                        "(GET /v1/log/proof/consistency?first=M&second=N)")
    p.set_defaults(func=cmd_report_verify)
    p = report.add_parser(
        "render", help="render a credit report as a printable page (and PDF)",
        description="Write the report as a self-contained printable HTML page (Chinese with English labels) with its "
                    "verification code and a QR code leading to the site's /verify page; --pdf also prints it with "
                    "Chromium. The report is not checked here: use report verify.")
    p.add_argument("file", metavar="FILE", help="the report JSON (the data of a credit_report answer, or the answer)")
    p.add_argument("--html", required=True, metavar="OUT", help="the HTML file to write")
    p.add_argument("--pdf", metavar="OUT", help="also print the page to this PDF file (needs chromium)")
    p.add_argument("--site", metavar="URL",
                   help="the public site the code and QR code lead to (default: https:// and the log origin's host)")
    p.set_defaults(func=cmd_report_render)
