"""The import readers: every encoding and delimiter, line numbers, spreadsheets, vCards and the limits.

Files are written by each test with known bytes; expected cells are worked out by hand.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from rapport.imports import readers, spreadsheets
from rapport.imports.readers import ReadError, ReadOptions, Row, open_table
from rapport.imports.vcard import HEADERS as VCARD_HEADERS

FIXTURES = Path(__file__).parent / "fixtures"


def read(path: Path, filename: str | None = None, **options: Any) -> tuple[readers.Table, list[Row]]:
    table = open_table(path, filename=filename or path.name, options=ReadOptions(**options))
    with table:
        rows = list(table.rows())
    return table, rows


def write_bytes(tmp_path: Path, data: bytes, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# --- encodings ------------------------------------------------------------------------------------

TEXT = "Name,City\nZoë Ångström,Zürich\nRenée,Besançon\n"
CELLS = [["Zoë Ångström", "Zürich"], ["Renée", "Besançon"]]


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (TEXT.encode("utf-8"), "utf-8"),
        (codecs.BOM_UTF8 + TEXT.encode("utf-8"), "utf-8"),
        (codecs.BOM_UTF16_LE + TEXT.encode("utf-16-le"), "utf-16-le"),
        (codecs.BOM_UTF16_BE + TEXT.encode("utf-16-be"), "utf-16-be"),
        (TEXT.encode("utf-16-le"), "utf-16-le"),  # Excel's "Unicode text" without a BOM
        (TEXT.encode("utf-16-be"), "utf-16-be"),
        (TEXT.encode("cp1252"), "cp1252"),
        (TEXT.encode("latin-1"), "cp1252"),  # these letters are the same bytes in both
    ],
    ids=["utf8", "utf8-bom", "utf16le-bom", "utf16be-bom", "utf16le", "utf16be", "cp1252", "latin1-as-cp1252"],
)
def test_each_encoding_with_and_without_bom(tmp_path: Path, data: bytes, encoding: str) -> None:
    table, rows = read(write_bytes(tmp_path, data))
    assert table.encoding == encoding
    assert table.headers == ["Name", "City"]
    assert [r.cells for r in rows] == CELLS
    assert [r.line for r in rows] == [2, 3]
    assert all(r.error is None for r in rows)


def test_cp1252_letters_that_latin1_lacks(tmp_path: Path) -> None:
    # 0x80 is € and 0x93/0x94 curly quotes in Windows-1252 (control characters in Latin-1).
    data = b"Name,Note\nAnn,\x80 5 \x93ok\x94\n"
    table, rows = read(write_bytes(tmp_path, data))
    assert table.encoding == "cp1252"
    assert rows[0].cells == ["Ann", "€ 5 \u201cok\u201d"]


def test_latin1_when_bytes_undefined_in_cp1252(tmp_path: Path) -> None:
    # 0x81 and 0x8d are undefined in cp1252: only Latin-1 reads the file.
    data = b"Name,Code\nJos\xe9,A\x81\x8dB\n"
    table, rows = read(write_bytes(tmp_path, data))
    assert table.encoding == "latin-1"
    assert rows[0].cells == ["José", "A\x81\x8dB"]


def test_chosen_encoding_overrides_detection(tmp_path: Path) -> None:
    # Valid UTF-8 bytes, but the user says the file is cp1252: "Ã©" is what cp1252 reads.
    data = "Name\nJosé\n".encode()
    table, rows = read(write_bytes(tmp_path, data), encoding="cp1252")
    assert table.encoding == "cp1252"
    assert rows[0].cells == ["JosÃ©"]


def test_unknown_encoding_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ReadError, match="Unknown encoding 'klingon'"):
        read(write_bytes(tmp_path, b"a\n1\n"), encoding="klingon")


def test_bytes_of_another_encoding_after_the_sample_are_reported_on_their_row(tmp_path: Path) -> None:
    # Detection reads the first MB (valid UTF-8); a cp1252 é on line 110,002 cannot be UTF-8: that row
    # comes out cleaned with an error naming the line and column, the rows around it are fine.
    body = b"Name,City\n" + b"Ann,Paris\n" * 110_000 + b"Jos\xe9,Lyon\nBob,Nice\n"
    assert len(body) > readers.SAMPLE_BYTES
    table, rows = read(write_bytes(tmp_path, body))
    assert table.encoding == "utf-8"
    bad = [r for r in rows if r.error]
    assert len(bad) == 1
    assert bad[0].line == 110_002
    assert bad[0].cells == ["Jos\ufffd", "Lyon"]
    assert bad[0].error is not None
    assert bad[0].error.line == 110_002 and bad[0].error.column == "Name"
    assert "Line 110002, column Name (A)" in bad[0].error.message and "UTF-8" in bad[0].error.message
    assert rows[-1].cells == ["Bob", "Nice"]


def test_nul_bytes_never_come_out_and_the_row_says_why(tmp_path: Path) -> None:
    data = b"Name,Email\nAnn,ann@x.org\nB\x00ob,bob@x.org\n"
    _, rows = read(write_bytes(tmp_path, data))
    assert rows[0].error is None
    assert rows[1].cells == ["Bob", "bob@x.org"]
    assert rows[1].error is not None
    assert rows[1].error.line == 3 and rows[1].error.column == "Name"
    assert "NUL" in rows[1].error.message


# --- delimiters and CSV shapes --------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_each_delimiter_is_sniffed(tmp_path: Path, delimiter: str) -> None:
    lines = [["Name", "Note", "Amount"], ["Ann", "a, b; c", "1,5"], ["Bob", "x|y", "2"]]
    text = "".join(
        delimiter.join(f'"{c}"' if any(d in c for d in ",;\t|") else c for c in line) + "\r\n" for line in lines
    )
    table, rows = read(write_bytes(tmp_path, text.encode()))
    assert table.delimiter == delimiter
    assert table.headers == lines[0]
    assert [r.cells for r in rows] == lines[1:]


def test_chosen_delimiter_overrides_sniffing(tmp_path: Path) -> None:
    path = write_bytes(tmp_path, b"a;b,c\n1;2,3\n")
    assert read(path)[0].delimiter in (";", ",")
    table, rows = read(path, delimiter=";")
    assert table.headers == ["a", "b,c"] and rows[0].cells == ["1", "2,3"]
    table, rows = read(path, delimiter="\\t")  # as typed in a form or on the command line
    assert table.delimiter == "\t" and table.headers == ["a;b,c"]


def test_a_single_column_file_reads_with_a_comma(tmp_path: Path) -> None:
    table, rows = read(write_bytes(tmp_path, b"Email\nann@x.org\nbob@x.org\n"))
    assert table.delimiter == "," and [r.cells for r in rows] == [["ann@x.org"], ["bob@x.org"]]


def test_multiline_quoted_fields_keep_the_line_where_the_row_starts(tmp_path: Path) -> None:
    text = (
        "Name,Note\r\n"  # line 1
        'Ann,"first\r\nsecond\r\nthird"\r\n'  # lines 2-4
        "Bob,plain\r\n"  # line 5
        '"Cy\nril","a ""quoted"" word"\n'  # lines 6-7
        "\r\n"  # line 8, blank: skipped
        "Dee,last\r\n"  # line 9
    )
    _, rows = read(write_bytes(tmp_path, text.encode()))
    assert [(r.line, r.cells) for r in rows] == [
        (2, ["Ann", "first\nsecond\nthird"]),
        (5, ["Bob", "plain"]),
        (6, ["Cy\nril", 'a "quoted" word']),
        (9, ["Dee", "last"]),
    ]


def test_header_is_the_first_non_empty_row(tmp_path: Path) -> None:
    table, rows = read(write_bytes(tmp_path, b"\n,,\n Name , Email ,,\nAnn,a@x.org\n"))
    assert table.header_line == 3
    assert table.headers == ["Name", "Email"]
    assert rows == [Row(4, ["Ann", "a@x.org"])]


def test_short_rows_are_padded_and_long_rows_are_reported(tmp_path: Path) -> None:
    text = b"A,B,C\n1\n1,2,3,,\n1,2,3,4\n"
    _, rows = read(write_bytes(tmp_path, text))
    assert rows[0] == Row(2, ["1", "", ""])
    assert rows[1] == Row(3, ["1", "2", "3"])  # trailing empty cells (a trailing delimiter) are harmless
    assert rows[2].cells == ["1", "2", "3"]
    error = rows[2].error
    assert error is not None and error.line == 4 and error.column == "D"
    assert error.message.startswith("Line 4 has 4 cells but the header has 3 columns")


def test_empty_and_blank_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ReadError, match="The file is empty"):
        read(write_bytes(tmp_path, b""))
    with pytest.raises(ReadError, match="no header row"):
        read(write_bytes(tmp_path, b"\r\n ,\r\n"))


def test_read_text_helper(tmp_path: Path) -> None:
    assert readers.read_text("a;b\n1;2\n") == [Row(2, ["1", "2"])]


# --- limits ---------------------------------------------------------------------------------------


def test_more_than_1000_columns_is_refused(tmp_path: Path) -> None:
    ok = ",".join(f"c{i}" for i in range(1000)).encode() + b"\n" + b"1," * 999 + b"1\n"
    table, rows = read(write_bytes(tmp_path, ok))
    assert len(table.headers) == 1000 and len(rows[0].cells) == 1000
    wide = ",".join(f"c{i}" for i in range(1001)).encode() + b"\n"
    with pytest.raises(ReadError) as info:
        read(write_bytes(tmp_path, wide))
    assert info.value.message.startswith("The file has 1,001 columns; at most 1,000 can be imported.")
    assert info.value.line == 1


def test_a_10_mb_cell_is_refused(tmp_path: Path) -> None:
    big = b"x" * (10 * 1024 * 1024 + 1)
    path = write_bytes(tmp_path, b"Name,Note\nAnn,ok\nBob," + big + b"\n")
    # Even when the configured cap is raised to the ceiling, a cell beyond 10 MB is never read.
    with pytest.raises(ReadError) as info:
        read(path, max_cell_chars=50 * 1024 * 1024)
    assert info.value.line == 3
    assert "larger than 10 MB" in info.value.message


def test_the_configured_cell_cap_names_line_and_column(tmp_path: Path, settings: Any) -> None:
    settings.RAPPORT_IMPORT_MAX_CELL_CHARS = 10
    path = write_bytes(tmp_path, b"Name,Note\nAnn,short\nBob,eleven char\n")
    with pytest.raises(ReadError) as info:
        read(path)
    assert info.value.line == 3 and info.value.column == "Note"
    assert info.value.message == (
        "Line 3, column Note (B): the cell holds 11 characters; at most 10 can be imported. Is a closing quote missing?"
    )


def test_files_over_the_configured_size_are_refused(tmp_path: Path, settings: Any) -> None:
    settings.RAPPORT_IMPORT_MAX_BYTES = 100
    path = write_bytes(tmp_path, b"Name\n" + b"Ann\n" * 30)
    with pytest.raises(ReadError, match=r"^The file is 125 bytes; files up to 100 bytes can be imported\.$"):
        read(path)
    settings.RAPPORT_IMPORT_MAX_BYTES = 1000
    assert len(read(path)[1]) == 30


STREAM_CHECK = """
import resource, sys, time
from pathlib import Path
from rapport.imports.readers import open_table
path = Path(sys.argv[1])
with open_table(Path(sys.argv[2]), filename="small.csv") as table:
    for row in table.rows():
        pass
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
count = last = 0
start = time.perf_counter()
with open_table(path, filename="big.csv") as table:
    for row in table.rows():
        count += 1
        last = row.line
seconds = time.perf_counter() - start
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(count, last, (after - before) * 1024, seconds)
"""


def test_csv_streams_with_flat_memory(tmp_path: Path) -> None:
    """A 40 MB file is read in a fresh process whose peak memory grows by a few MB at most over reading
    a tiny file: rows are never held, lines are read one at a time."""
    path = tmp_path / "big.csv"
    line = 'Ann,Lee,ann.lee@example.org,+44 20 7946 0000,"Flat 3\nHigh Street",London,Some words of a note\n'
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("First,Last,Email,Phone,Street,City,Note\n")
        for _ in range(40 * 1024 * 1024 // len(line)):
            handle.write(line)
    small = write_bytes(tmp_path, b"First,Last\nAnn,Lee\n", "small.csv")
    size = path.stat().st_size
    out = subprocess.run(
        [sys.executable, "-c", STREAM_CHECK, str(path), str(small)], capture_output=True, text=True, check=True
    ).stdout.split()
    count, last, grown, seconds = int(out[0]), int(out[1]), int(out[2]), float(out[3])
    assert count == size // len(line)
    assert last == 2 * count  # every row is two physical lines
    assert grown < 8 * 1024 * 1024, f"peak grew {grown / 1e6:.1f} MB reading a {size / 1e6:.0f} MB file"
    print(
        f"{size / 1e6:.0f} MB, {count} rows in {seconds:.1f} s ({count / seconds:,.0f} rows/s), +{grown / 1e6:.1f} MB"
    )


# --- spreadsheets ---------------------------------------------------------------------------------


@pytest.fixture(params=["calamine", "streamed"])
def xlsx_reader(request: Any, monkeypatch: Any) -> str:
    """Each XLSX test runs on both readers: calamine, and openpyxl's read-only mode that big sheets get."""
    if request.param == "streamed":
        monkeypatch.setattr(spreadsheets, "STREAM_FROM", -1)
    return str(request.param)


def make_xlsx(tmp_path: Path, name: str = "data.xlsx") -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "People"
    sheet.append([])  # an empty first row: the header is on row 2
    sheet.append(["Name", "Amount", "Signed on", "Active", "Met at", "Formula", "Id"])
    sheet.append(["Ann", 0.1 + 0.2, dt.date(2024, 3, 5), True, dt.datetime(2024, 3, 5, 14, 30), "=1+2", 42])
    sheet.append(["Bob", 42.0, dt.datetime(2024, 3, 6), False, None, "=SUM(B3:B4)", 7.5])
    sheet.append([])
    sheet.append(["Eve", -1.25, None, None, None, "'=quoted", 1e20])
    book.create_sheet("Companies").append(["Company"])
    book["Companies"].append(["Acme"])
    book.save(tmp_path / name)
    return tmp_path / name


def test_xlsx_cells_become_text_the_serializers_accept(xlsx_reader: str, tmp_path: Path) -> None:
    table, rows = read(make_xlsx(tmp_path))
    assert table.format == "xlsx"
    assert table.sheets == ["People", "Companies"] and table.sheet == "People"
    assert table.header_line == 2
    assert table.headers == ["Name", "Amount", "Signed on", "Active", "Met at", "Formula", "Id"]
    assert [(r.line, r.cells) for r in rows] == [
        # 0.1 + 0.2 is 0.30000000000000004 in binary; the spreadsheet shows 0.3, and so do we.
        # openpyxl stores formulas without a cached value: the cell is empty, never computed by us.
        (3, ["Ann", "0.3", "2024-03-05", "true", "2024-03-05 14:30:00", "", "42"]),
        (4, ["Bob", "42", "2024-03-06", "false", "", "", "7.5"]),
        (6, ["Eve", "-1.25", "", "", "", "'=quoted", "100000000000000000000"]),
    ]


def test_choose_the_sheet(xlsx_reader: str, tmp_path: Path) -> None:
    table, rows = read(make_xlsx(tmp_path), sheet="Companies")
    assert table.sheet == "Companies" and table.headers == ["Company"] and rows == [Row(2, ["Acme"])]
    with pytest.raises(ReadError, match=r"There is no sheet 'Deals' in the file; its sheets are: People, Companies\."):
        read(make_xlsx(tmp_path), sheet="Deals")


def rewrite_member(path: Path, member: str, change: Any) -> None:
    """Rewrite one part of a zip (an XLSX or ODS) in place."""
    with zipfile.ZipFile(path) as old:
        parts = [(info, old.read(info)) for info in old.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as new:
        for info, data in parts:
            new.writestr(info, change(data) if info.filename == member else data)


def test_a_formula_gives_its_cached_value_never_one_we_compute(xlsx_reader: str, tmp_path: Path) -> None:
    # A formula whose cached value (as the spreadsheet program saved it) is deliberately not its result:
    # the reader returns what was saved; nothing evaluates =1+2.
    path = make_xlsx(tmp_path)

    def cache(xml: bytes) -> bytes:
        start = xml.index(b'<c r="F3"')
        end = xml.index(b"</c>", start) + 4
        return xml[:start] + b'<c r="F3" t="str"><f>1+2</f><v>cached 99</v></c>' + xml[end:]

    rewrite_member(path, "xl/worksheets/sheet1.xml", cache)
    _, rows = read(path)
    assert rows[0].cells[5] == "cached 99"
    assert rows[1].cells[5] == ""


def test_formula_like_text_is_kept_as_plain_text(tmp_path: Path) -> None:
    data = b'Name,Note\n"=HYPERLINK(""http://x"",""y"")",+1 cmd\n@SUM(A1),-2\n'
    _, rows = read(write_bytes(tmp_path, data))
    assert [r.cells for r in rows] == [['=HYPERLINK("http://x","y")', "+1 cmd"], ["@SUM(A1)", "-2"]]


def test_xls_fixture(tmp_path: Path) -> None:
    # tests/fixtures/import-sample.xls was written with xlwt (Excel 97 BIFF8): two sheets, a date cell
    # formatted YYYY-MM-DD, a number and a formula-like text.
    table, rows = read(FIXTURES / "import-sample.xls")
    assert table.format == "xls" and table.sheets == ["Contacts", "Second"]
    assert table.headers == ["Name", "Amount", "Signed on", "Note"]
    assert [(r.line, r.cells) for r in rows] == [
        (2, ["Zoë Ångström", "3.5", "2024-01-02", "=1+2"]),
        (3, ["Bob", "7", "", "plain"]),
    ]
    assert read(FIXTURES / "import-sample.xls", sheet="Second")[1] == [Row(2, ["x"])]


ODS_CONTENT = """<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
 xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"
 xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">
<office:body><office:spreadsheet><table:table table:name="Contacts">
<table:table-row>
 <table:table-cell office:value-type="string"><text:p>Name</text:p></table:table-cell>
 <table:table-cell office:value-type="string"><text:p>Amount</text:p></table:table-cell>
 <table:table-cell office:value-type="string"><text:p>Born</text:p></table:table-cell>
</table:table-row>
<table:table-row>
 <table:table-cell office:value-type="string"><text:p>Zoë</text:p></table:table-cell>
 <table:table-cell office:value-type="float" office:value="2.5"><text:p>2.5</text:p></table:table-cell>
 <table:table-cell office:value-type="date" office:date-value="1990-07-01"><text:p>01/07/90</text:p></table:table-cell>
</table:table-row>
<table:table-row table:number-rows-repeated="2"><table:table-cell/></table:table-row>
<table:table-row>
 <table:table-cell office:value-type="string"><text:p>Bob</text:p></table:table-cell>
 <table:table-cell office:value-type="float" office:value="3"><text:p>3</text:p></table:table-cell>
 <table:table-cell table:formula="of:=1+2" office:value-type="float" office:value="3"
  ><text:p>3</text:p></table:table-cell>
</table:table-row>
</table:table></office:spreadsheet></office:body></office:document-content>
"""

ODS_MANIFEST = """<?xml version="1.0" encoding="UTF-8"?>
<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">
 <manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>
 <manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>
</manifest:manifest>
"""


def make_ods(tmp_path: Path, content: str = ODS_CONTENT) -> Path:
    """A minimal OpenDocument spreadsheet, as LibreOffice lays one out (mimetype first, stored)."""
    path = tmp_path / "data.ods"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.spreadsheet", zipfile.ZIP_STORED
        )
        archive.writestr("META-INF/manifest.xml", ODS_MANIFEST)
        archive.writestr("content.xml", re.sub(r">\s+<", "><", content))  # no whitespace between cells
    return path


def test_ods(tmp_path: Path) -> None:
    table, rows = read(make_ods(tmp_path), filename="contacts.ods")
    assert table.format == "ods" and table.sheets == ["Contacts"]
    assert table.headers == ["Name", "Amount", "Born"]
    assert [(r.line, r.cells) for r in rows] == [(2, ["Zoë", "2.5", "1990-07-01"]), (5, ["Bob", "3", "3"])]


def test_the_format_comes_from_the_bytes_not_the_name(tmp_path: Path) -> None:
    path = make_xlsx(tmp_path, "looks-like.csv")
    assert read(path)[0].format == "xlsx"
    with pytest.raises(ReadError, match="This zip archive is not a spreadsheet"):
        path = tmp_path / "other.zip"
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("readme.txt", "hello")
        read(path, filename="other.xlsx")


def test_a_damaged_spreadsheet_is_refused(tmp_path: Path) -> None:
    path = make_xlsx(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ReadError, match="cannot be opened|damaged"):
        read(path)


# --- safety ---------------------------------------------------------------------------------------


def test_a_zip_bomb_is_refused_before_calamine_opens_it(tmp_path: Path, monkeypatch: Any) -> None:
    opened: list[str] = []
    import python_calamine

    monkeypatch.setattr(python_calamine.CalamineWorkbook, "from_path", lambda p: opened.append(p), raising=False)
    path = make_xlsx(tmp_path)
    # 200 MB of zeros in one sheet compress to ~200 KB: a ratio of ~1000 where workbooks have 3–20.
    with (
        zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as archive,
        archive.open("xl/worksheets/sheet9.xml", "w") as member,
    ):
        chunk = b"0" * (1024 * 1024)
        for _ in range(200):
            member.write(chunk)
    with pytest.raises(ReadError) as info:
        read(path)
    assert "zip bomb" in info.value.message
    assert opened == []


def test_an_archive_larger_than_the_ceiling_when_unpacked_is_refused(tmp_path: Path) -> None:
    path = make_xlsx(tmp_path)
    with pytest.raises(ReadError, match="zip bomb"):
        spreadsheets.check_archive(path, max_expanded=1000)


def test_a_zip_whose_declared_sizes_lie_is_refused(tmp_path: Path) -> None:
    # The central directory says sheet1.xml is 10 bytes; the real content is longer: the CRC check of the
    # scan catches it before any parser trusts the declared size.
    path = make_xlsx(tmp_path)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        info = archive.getinfo("xl/worksheets/sheet1.xml")
    real = info.file_size.to_bytes(4, "little")
    name = b"xl/worksheets/sheet1.xml"
    # Patch the uncompressed size in the local header and in the central directory entry.
    for marker, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = 0
        while (at := data.find(marker, at)) >= 0:
            name_at = at + (30 if marker == b"PK\x03\x04" else 46)
            if data[name_at : name_at + len(name)] == name and data[at + offset : at + offset + 4] == real:
                data[at + offset : at + offset + 4] = (10).to_bytes(4, "little")
            at += 4
    path.write_bytes(bytes(data))
    with pytest.raises(ReadError, match="damaged"):
        read(path)


XXE = b"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<!DOCTYPE foo [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>
"""


def test_an_xlsx_with_an_external_entity_is_refused(tmp_path: Path) -> None:
    path = make_xlsx(tmp_path)
    rewrite_member(path, "xl/workbook.xml", lambda xml: XXE + xml.split(b"?>", 1)[-1])
    with pytest.raises(ReadError) as info:
        read(path)
    assert "document type declaration" in info.value.message


def test_a_billion_laughs_in_ods_is_refused(tmp_path: Path) -> None:
    laughs = '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>\n'
    content = ODS_CONTENT.replace("?>\n", "?>\n" + laughs, 1).replace("<text:p>Zoë", "<text:p>&lol2;")
    with pytest.raises(ReadError, match="document type declaration"):
        read(make_ods(tmp_path, content))


def test_a_doctype_pushed_past_the_first_chunk_is_still_found(tmp_path: Path) -> None:
    path = make_xlsx(tmp_path)
    padding = b"<!--" + b" " * (3 * 1024 * 1024) + b"-->"
    rewrite_member(path, "xl/styles.xml", lambda xml: b'<?xml version="1.0"?>' + padding + b"<!doctype x>" + xml)
    with pytest.raises(ReadError, match="document type declaration"):
        read(path)


def test_a_wide_spreadsheet_is_refused(xlsx_reader: str, tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    book.active.append([f"c{i}" for i in range(1001)])
    book.save(tmp_path / "wide.xlsx")
    with pytest.raises(ReadError, match="1,001 columns; at most 1,000"):
        read(tmp_path / "wide.xlsx")


def test_a_big_spreadsheet_cell_is_refused(xlsx_reader: str, tmp_path: Path, settings: Any) -> None:
    settings.RAPPORT_IMPORT_MAX_CELL_CHARS = 1000
    book = openpyxl.Workbook()
    book.active.append(["Name", "Note"])
    book.active.append(["Ann", "x" * 1001])
    book.save(tmp_path / "big.xlsx")
    with pytest.raises(ReadError) as info:
        read(tmp_path / "big.xlsx")
    assert (info.value.line, info.value.column) == (2, "Note")


# --- vCard ----------------------------------------------------------------------------------------

VCARD_3 = (
    "BEGIN:VCARD\r\n"  # line 1
    "VERSION:3.0\r\n"
    "N:Lovelace;Ada;Augusta;Lady;\r\n"
    "FN:Ada Lovelace\r\n"
    "ORG:Analytical Engines Ltd;Research\r\n"
    "TITLE:Mathematician\r\n"
    "EMAIL;TYPE=INTERNET,WORK:ada@engines.example\r\n"
    "EMAIL;TYPE=INTERNET,HOME,PREF:ada@home.example\r\n"
    "TEL;TYPE=CELL:+44 20 7946 0001\r\n"
    "TEL;TYPE=WORK,VOICE:+44 20 7946 0002\r\n"
    "ADR;TYPE=WORK:;Floor 2;12 St James's Square;London;;SW1Y 4JH;United Kingdom\r\n"
    "BDAY:1815-12-10\r\n"
    "NOTE:Wrote the first program\\, famously.\\nSecond line of a long note that is fol\r\n"
    " ded across lines.\r\n"
    "PHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQSkZJRgABAQAAAQABAAD\r\n"
    " AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\r\n"
    "END:VCARD\r\n"  # line 17
    "BEGIN:VCARD\r\n"  # line 18
    "VERSION:4.0\r\n"
    "FN:Grace Hopper\r\n"
    'EMAIL;TYPE="work";PREF=1:mailto:grace@navy.example\r\n'
    'TEL;VALUE=uri;TYPE="voice,home":tel:+1-202-555-0101\r\n'
    "BDAY:19061209\r\n"
    'item1.ADR;LABEL="Arlington, VA":;;1 Navy Way;Arlington;VA;22202;USA\r\n'
    "END:VCARD\r\n"
)


def cells(row: Row) -> dict[str, str]:
    return {h: c for h, c in zip(VCARD_HEADERS, row.cells, strict=True) if c}


def test_vcard_3_and_4(tmp_path: Path) -> None:
    table, rows = read(write_bytes(tmp_path, VCARD_3.encode(), "contacts.vcf"))
    assert table.format == "vcard"
    assert table.headers[:6] == ["First name", "Last name", "Full name", "Email", "Email 2", "Email 3"]
    assert [r.line for r in rows] == [1, 18]
    assert cells(rows[0]) == {
        "First name": "Ada",
        "Last name": "Lovelace",
        "Full name": "Ada Lovelace",
        "Email": "ada@home.example",  # the preferred one first
        "Email 2": "ada@engines.example",
        "Phone": "+44 20 7946 0001",
        "Phone 2": "+44 20 7946 0002",
        "Company": "Analytical Engines Ltd",
        "Job title": "Mathematician",
        "Street": "12 St James's Square, Floor 2",
        "City": "London",
        "Postal code": "SW1Y 4JH",
        "Country": "United Kingdom",
        "Birthday": "1815-12-10",
        "Note": "Wrote the first program, famously.\nSecond line of a long note that is folded across lines.",
    }
    assert cells(rows[1]) == {
        "Full name": "Grace Hopper",
        "Email": "grace@navy.example",
        "Phone": "+1-202-555-0101",
        "Street": "1 Navy Way",
        "City": "Arlington",
        "Region": "VA",
        "Postal code": "22202",
        "Country": "USA",
        "Birthday": "1906-12-09",
    }
    assert all(r.error is None for r in rows)


def test_vcard_21_quoted_printable_and_charset(tmp_path: Path) -> None:
    data = (
        b"BEGIN:VCARD\n"
        b"VERSION:2.1\n"
        b"N;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:M=C3=BCller;J=C3=\n"
        b"=BCrgen\n"
        b"FN;CHARSET=ISO-8859-1;QUOTED-PRINTABLE:J=FCrgen M=FCller\n"
        b"TEL;WORK;VOICE:+49 30 1234\n"
        b"TEL;CELL:+49 170 1234\n"
        b"EMAIL;INTERNET:j@example.de\n"
        b"ORG:M=FCller GmbH\n"
        b"NOTE;ENCODING=QUOTED-PRINTABLE:Zeile 1=0D=0AZeile 2\n"
        b"END:VCARD\n"
    )
    _, rows = read(write_bytes(tmp_path, data, "old.vcf"))
    assert cells(rows[0]) == {
        "First name": "Jürgen",
        "Last name": "Müller",
        "Full name": "Jürgen Müller",
        "Email": "j@example.de",
        "Phone": "+49 30 1234",
        "Phone 2": "+49 170 1234",
        "Company": "M=FCller GmbH",  # not marked quoted-printable: kept as written
        "Note": "Zeile 1\nZeile 2",
    }


def test_vcard_with_too_many_emails_says_so(tmp_path: Path) -> None:
    emails = "".join(f"EMAIL:p{i}@x.org\n" for i in range(6))
    data = f"\nBEGIN:VCARD\nVERSION:3.0\nFN:Pat Many\n{emails}END:VCARD\n".encode()
    _, rows = read(write_bytes(tmp_path, data, "many.vcf"))
    assert rows[0].line == 2
    assert cells(rows[0])["Email 4"] == "p3@x.org"
    assert rows[0].error is not None
    assert rows[0].error.message.startswith("Line 2: the card of Pat Many has 6 emails; at most 4 can be imported")


def test_vcard_detected_by_content_and_empty_cards_skipped(tmp_path: Path) -> None:
    data = b"\xef\xbb\xbfBEGIN:VCARD\r\nVERSION:3.0\r\nEND:VCARD\r\nBEGIN:VCARD\r\nFN:Only Name\r\nEND:VCARD\r\n"
    table, rows = read(write_bytes(tmp_path, data, "export.txt"))
    assert table.format == "vcard"
    assert [(r.line, cells(r)) for r in rows] == [(4, {"Full name": "Only Name"})]


# --- formula-like values: plain text in, neutralised out --------------------------------------------


def test_formula_like_cells_are_imported_as_text_and_exported_neutralised(tmp_path: Path, users: Any) -> None:
    from django.test import RequestFactory

    from rapport.core import export, registry

    from .conftest import write

    data = b'First name,Last name\n"=HYPERLINK(""http://x"",""y"")",@SUM(A1)\n'
    _, rows = read(write_bytes(tmp_path, data))
    first, last = rows[0].cells
    person = write("people", {"first_name": first, "last_name": last}, actor=users["member"])
    assert (person.first_name, person.last_name) == ('=HYPERLINK("http://x","y")', "@SUM(A1)")  # stored as is

    request = RequestFactory().get("/people/export/", {"format": "csv"})
    request.user = users["member"]
    response = export.export_response(request, registry.get("people"), "csv")
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    exported = next(r for r in csv.reader(io.StringIO(body)) if "HYPERLINK" in r[1])
    assert exported[1:3] == ['\'=HYPERLINK("http://x","y")', "'@SUM(A1)"]
    # And read back by the import: the quote stays part of the text, nothing is evaluated.
    _, again = read(write_bytes(tmp_path, body.encode(), "again.csv"))
    assert again[0].cells[1] == '\'=HYPERLINK("http://x","y")'
