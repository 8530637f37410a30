//! Supplier files as they really come, through the real binary: workbooks
//! (made here with rust_xlsxwriter, or by hand for `.ods`), text in other
//! encodings, SIM vendor output files, title rows above the header, and
//! manifests carrying SIM secrets, which must not reach any byte simboard
//! writes.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};

/// `simboard validate` run in `dir` with these arguments.
fn validate(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_simboard"))
        .current_dir(dir)
        .arg("validate")
        .args(args)
        .output()
        .unwrap()
}

/// Validates `name` (in `dir`) into `r.csv` and returns the exit code, the
/// stderr summary and the result lines.
#[track_caller]
fn validated(dir: &Path, name: &str, flags: &[&str]) -> (i32, String, Vec<Line>) {
    let mut args = vec![name, "-o", "r.csv"];
    args.extend_from_slice(flags);
    let out = validate(dir, &args);
    let err = stderr(&out);
    let code = out.status.code().unwrap_or(-1);
    assert!(code == 0 || code == 1, "exit {code}: {err}");
    (code, err, results(&dir.join("r.csv")))
}

/// The header of a result file, past its nine fixed columns.
fn extra_headers(path: &Path) -> Vec<String> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let headers = reader.headers().unwrap();
    headers.iter().skip(9).map(str::to_owned).collect()
}

const GOOD: &str = "89883070000007537119";
const GOOD2: &str = "89883070000007537127";

/// A workbook whose first sheet is a cover page and whose second, "SIMs",
/// has two title rows, an empty row, the header on row 4, then: a text
/// ICCID with a date and a whole number, an ICCID stored as a number, and a
/// text ICCID with a fraction.
fn supplier_workbook(path: &Path) {
    let mut book = Workbook::new();
    let cover = book.add_worksheet();
    cover.set_name("Cover").unwrap();
    cover
        .write_string(0, 0, "Delivery note, see sheet SIMs")
        .unwrap();
    let sims = book.add_worksheet();
    sims.set_name("SIMs").unwrap();
    sims.write_string(0, 0, "ACME SIM delivery").unwrap();
    sims.write_string(1, 0, "Batch B-7").unwrap();
    for (col, name) in ["ICCID", "shipped", "quantity", "weight"]
        .iter()
        .enumerate()
    {
        sims.write_string(3, col as u16, *name).unwrap();
    }
    let date = Format::new().set_num_format("dd/mm/yyyy");
    let shipped = ExcelDateTime::from_ymd(2026, 4, 1).unwrap();
    sims.write_string(4, 0, GOOD).unwrap();
    sims.write_datetime_with_format(4, 1, &shipped, &date)
        .unwrap();
    sims.write_number(4, 2, 3.0).unwrap();
    sims.write_number(5, 0, 89883070000007537127.0).unwrap();
    sims.write_string(6, 0, GOOD2).unwrap();
    sims.write_number(6, 3, 2.5).unwrap();
    book.save(path).unwrap();
}

#[track_caller]
fn assert_supplier_sheet(code: i32, summary: &str, lines: &[Line]) {
    assert_eq!(code, 1, "one ICCID is stored as a number: {summary}");
    let seen: Vec<(u64, &str, &str)> = lines
        .iter()
        .map(|l| (l.line, l.outcome.as_str(), l.reason.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            (5, "valid", ""),
            (6, "invalid", "stored_as_number"),
            (7, "valid", "")
        ],
        "line numbers are the sheet's rows"
    );
    let message = &line(lines, 6).message;
    assert!(
        message.contains("format the column as text") && message.contains("again"),
        "{message}"
    );
    assert_eq!(
        line(lines, 5).extra[..3],
        ["2026-04-01", "3", ""],
        "a date as an ISO date, a whole number without .0"
    );
    assert_eq!(line(lines, 7).extra[2], "2.5");
    assert!(
        summary.contains("skipped lines 1-2 above the header on line 4"),
        "{summary}"
    );
}

#[test]
fn an_xlsx_sheet_named_or_numbered_gives_sheet_rows_stored_numbers_and_cells_as_shown() {
    let dir = tempfile::tempdir().unwrap();
    supplier_workbook(&dir.path().join("delivery.xlsx"));

    let (code, summary, by_name) = validated(dir.path(), "delivery.xlsx", &["--sheet", "SIMs"]);
    assert_supplier_sheet(code, &summary, &by_name);
    assert_eq!(
        extra_headers(&dir.path().join("r.csv")),
        ["shipped", "quantity", "weight"]
    );

    let (code, summary, by_number) = validated(dir.path(), "delivery.xlsx", &["--sheet", "2"]);
    assert_supplier_sheet(code, &summary, &by_number);
}

#[test]
fn without_sheet_the_first_sheet_is_read_and_a_wrong_sheet_lists_the_sheets() {
    let dir = tempfile::tempdir().unwrap();
    supplier_workbook(&dir.path().join("delivery.xlsx"));

    // The cover sheet holds no ICCID column: the message says so, which
    // proves it was the sheet read.
    let out = validate(dir.path(), &["delivery.xlsx", "-o", "r.csv"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("Delivery note"), "{}", stderr(&out));

    let out = validate(dir.path(), &["delivery.xlsx", "--sheet", "Invoice"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("\"Cover\", \"SIMs\""), "{err}");
}

#[test]
fn a_workbook_renamed_csv_is_still_read_as_a_workbook() {
    let dir = tempfile::tempdir().unwrap();
    supplier_workbook(&dir.path().join("delivery.csv"));
    let (code, summary, lines) = validated(dir.path(), "delivery.csv", &["--sheet", "SIMs"]);
    assert_supplier_sheet(code, &summary, &lines);
}

#[test]
fn an_xlsm_workbook_reads_as_its_xlsx_twin() {
    let dir = tempfile::tempdir().unwrap();
    supplier_workbook(&dir.path().join("delivery.xlsm"));
    let (code, summary, lines) = validated(dir.path(), "delivery.xlsm", &["--sheet", "SIMs"]);
    assert_supplier_sheet(code, &summary, &lines);
}

/// The same supplier workbook in the old binary `.xls` format, made by
/// `tests/fixtures/make_delivery_xls.py` (no Rust crate writes `.xls`).
fn supplier_xls(dir: &Path, name: &str) {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/delivery.xls");
    std::fs::copy(fixture, dir.join(name)).unwrap();
}

#[test]
fn an_xls_workbook_gives_sheet_rows_stored_numbers_and_cells_as_shown() {
    let dir = tempfile::tempdir().unwrap();
    supplier_xls(dir.path(), "delivery.xls");

    let (code, summary, by_name) = validated(dir.path(), "delivery.xls", &["--sheet", "SIMs"]);
    assert_supplier_sheet(code, &summary, &by_name);
    let (code, summary, by_number) = validated(dir.path(), "delivery.xls", &["--sheet", "2"]);
    assert_supplier_sheet(code, &summary, &by_number);
}

#[test]
fn an_xls_workbook_renamed_csv_is_still_read_as_a_workbook() {
    let dir = tempfile::tempdir().unwrap();
    supplier_xls(dir.path(), "delivery.csv");
    let (code, summary, lines) = validated(dir.path(), "delivery.csv", &["--sheet", "SIMs"]);
    assert_supplier_sheet(code, &summary, &lines);
}

/// A minimal OpenDocument spreadsheet, written entry by entry as the format
/// asks: an uncompressed `mimetype` first, then the manifest and content.
fn ods(path: &Path, rows: &[&[&str]]) {
    use std::io::Write;
    use zip::write::SimpleFileOptions;
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let stored = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file("mimetype", stored).unwrap();
    zip.write_all(b"application/vnd.oasis.opendocument.spreadsheet")
        .unwrap();
    zip.start_file("META-INF/manifest.xml", stored).unwrap();
    zip.write_all(
        br#"<?xml version="1.0" encoding="UTF-8"?>
<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">
<manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>
<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>
</manifest:manifest>"#,
    )
    .unwrap();
    let mut table = String::new();
    for row in rows {
        table.push_str("<table:table-row>");
        for cell in *row {
            table.push_str(&format!(
                "<table:table-cell office:value-type=\"string\"><text:p>{cell}</text:p></table:table-cell>"
            ));
        }
        table.push_str("</table:table-row>");
    }
    zip.start_file("content.xml", stored).unwrap();
    write!(
        zip,
        r#"<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"><office:body><office:spreadsheet><table:table table:name="Lieferung">{table}</table:table></office:spreadsheet></office:body></office:document-content>"#
    )
    .unwrap();
    zip.finish().unwrap();
}

#[test]
fn an_ods_workbook_is_read_by_sheet_name() {
    let dir = tempfile::tempdir().unwrap();
    ods(
        &dir.path().join("lieferung.ods"),
        &[&["ICCID", "Name"], &[GOOD, "Jürgen Müller"], &["8988", "x"]],
    );
    let (code, _, lines) = validated(dir.path(), "lieferung.ods", &["--sheet", "Lieferung"]);
    assert_eq!(code, 1);
    assert_eq!(line(&lines, 2).extra, ["Jürgen Müller"]);
    failed_validation(&lines, 3, "invalid_length");
}

#[track_caller]
fn failed_validation(lines: &[Line], n: u64, reason: &str) {
    let l = line(lines, n);
    assert_eq!((l.outcome.as_str(), l.reason.as_str()), ("invalid", reason));
}

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("samples")
        .join(name)
}

#[test]
fn the_vendor_sample_validates_with_its_own_line_numbers_and_no_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(sample("vendor-output.out")).unwrap();
    for name in ["vendor-output.out", "vendor-output.csv"] {
        std::fs::write(dir.path().join(name), &text).unwrap();
        let (code, summary, lines) = validated(dir.path(), name, &[]);
        assert_eq!(code, 0, "{summary}");
        // Each SIM's line number is the line it has in the vendor's file.
        let expected: Vec<u64> = text
            .lines()
            .enumerate()
            .filter(|(_, l)| l.starts_with("8988"))
            .map(|(i, _)| i as u64 + 1)
            .collect();
        assert_eq!(lines.iter().map(|l| l.line).collect::<Vec<_>>(), expected);
        assert!(lines.iter().all(|l| l.outcome == "valid"));
        assert_eq!(extra_headers(&dir.path().join("r.csv")), ["IMSI"]);
        assert!(summary.contains("SIM vendor output file"), "{summary}");
        assert!(summary.contains("\"KI\", \"OPC\""), "{summary}");
    }
}

/// A two-row manifest with a name that only Unicode spells right.
const NAMES: &str = "ICCID\tName\r\n89883070000007537119\tJürgen Müller\r\n";

#[test]
fn utf8_with_a_bom_reads_as_utf8() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = [&b"\xEF\xBB\xBF"[..], NAMES.as_bytes()].concat();
    std::fs::write(dir.path().join("m.txt"), bytes).unwrap();
    let (code, summary, lines) = validated(dir.path(), "m.txt", &[]);
    assert_eq!(code, 0);
    assert_eq!(line(&lines, 2).extra, ["Jürgen Müller"]);
    assert!(
        !summary.contains("read as"),
        "UTF-8 is not named: {summary}"
    );
}

#[test]
fn unicode_text_in_utf16_either_way_round_reads_right() {
    let dir = tempfile::tempdir().unwrap();
    let le: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(NAMES.encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    let be: Vec<u8> = [0xFE, 0xFF]
        .into_iter()
        .chain(NAMES.encode_utf16().flat_map(u16::to_be_bytes))
        .collect();
    for (bytes, name) in [(le, "UTF-16LE"), (be, "UTF-16BE")] {
        std::fs::write(dir.path().join("unicode.txt"), bytes).unwrap();
        let (code, summary, lines) = validated(dir.path(), "unicode.txt", &[]);
        assert_eq!(code, 0, "{summary}");
        assert_eq!(line(&lines, 2).extra, ["Jürgen Müller"]);
        assert!(summary.contains(name), "{summary}");
        let written = std::fs::read(dir.path().join("r.csv")).unwrap();
        assert!(String::from_utf8(written).is_ok(), "results are UTF-8");
    }
}

#[test]
fn windows_1252_from_excel_comes_out_right_and_is_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("excel.csv"),
        b"iccid,full_name\r\n89883070000007537119,J\xFCrgen M\xFCller\r\n89883070000007537127,\x80 fee\r\n",
    )
    .unwrap();
    let (code, summary, lines) = validated(dir.path(), "excel.csv", &[]);
    assert_eq!(code, 0, "{summary}");
    assert_eq!(line(&lines, 2).extra, ["Jürgen Müller"]);
    assert_eq!(line(&lines, 3).extra, ["€ fee"]);
    assert!(summary.contains("windows-1252"), "{summary}");
}

#[test]
fn the_encoding_flag_overrides_the_guess() {
    let dir = tempfile::tempdir().unwrap();
    // UTF-8 bytes, read as Windows-1252 because the user says so.
    std::fs::write(dir.path().join("m.csv"), NAMES.replace('\t', ",")).unwrap();
    let (_, summary, lines) = validated(dir.path(), "m.csv", &["--encoding", "windows-1252"]);
    assert_eq!(line(&lines, 2).extra, ["JÃ¼rgen MÃ¼ller"]);
    assert!(summary.contains("windows-1252"), "{summary}");

    // Windows-1252 bytes that the user says are UTF-8: refused, not guessed.
    std::fs::write(
        dir.path().join("w.csv"),
        b"iccid,n\n89883070000007537119,J\xFCrgen\n",
    )
    .unwrap();
    let out = validate(
        dir.path(),
        &["w.csv", "-o", "w.results.csv", "--encoding", "utf-8"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("line 2"), "{}", stderr(&out));
}

#[test]
fn title_rows_above_the_header_are_skipped_and_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("m.csv"),
        format!("SIM delivery note\nACME,2026-04-01\n\nDevice,ICCID\nd1,{GOOD}\nd2,{GOOD2}\n"),
    )
    .unwrap();
    let (code, summary, lines) = validated(dir.path(), "m.csv", &[]);
    assert_eq!(code, 0, "{summary}");
    assert_eq!(
        lines
            .iter()
            .map(|l| (l.line, l.iccid.as_str()))
            .collect::<Vec<_>>(),
        [(5, GOOD), (6, GOOD2)]
    );
    assert_eq!(line(&lines, 5).extra, ["d1"]);
    assert!(
        summary.contains("skipped lines 1-2 above the header on line 4"),
        "{summary}"
    );
}

#[test]
fn a_headerless_list_still_works() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.csv"), format!("{GOOD}\n{GOOD2}\n")).unwrap();
    let (code, summary, lines) = validated(dir.path(), "m.csv", &[]);
    assert_eq!(code, 0, "{summary}");
    assert_eq!(
        lines.iter().map(|l| l.line).collect::<Vec<_>>(),
        [1, 2],
        "the first line is a row"
    );
    assert!(!summary.contains("skipped"), "{summary}");
}

/// The secret columns of the run tests, each with a value per row that
/// appears nowhere else.
const SECRET_COLUMNS: [&str; 7] = ["Ki", "OPc", "PIN1", "PUK2", "ADM1", "Ki (hex)", "PUK 1"];

fn secret(column: usize, row: usize) -> String {
    format!("5EC{column}E7{row:05}")
}

/// A manifest of `sims` whose rows carry secrets in every secret column.
fn secret_manifest(world: &World, sims: &[String]) {
    let header = format!("iccid,email,full_name,{},device", SECRET_COLUMNS.join(","));
    let rows: Vec<String> = sims
        .iter()
        .enumerate()
        .map(|(row, iccid)| {
            let secrets: Vec<String> = (0..SECRET_COLUMNS.len()).map(|c| secret(c, row)).collect();
            format!("{iccid},k@x.example,Kay,{},dev{row}", secrets.join(","))
        })
        .collect();
    world.write("m.csv", &manifest(&header, &rows));
}

/// Every secret value (of columns not in `except`) found in `bytes`.
fn leaks(bytes: &[u8], rows: usize, except: &[usize]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    let mut found = Vec::new();
    for column in (0..SECRET_COLUMNS.len()).filter(|c| !except.contains(c)) {
        for row in 0..rows {
            let value = secret(column, row);
            if text.contains(&value) {
                found.push(value);
            }
        }
    }
    found
}

/// Asserts that no file in the world's directory but the manifest holds a
/// secret value; returns how many files were searched.
#[track_caller]
fn assert_no_file_leaks(world: &World, rows: usize, except: &[usize]) -> usize {
    let mut searched = 0;
    for entry in std::fs::read_dir(world.work.dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap() == "m.csv" {
            continue;
        }
        // A temporary file may be renamed away between listing and reading.
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        searched += 1;
        let found = leaks(&bytes, rows, except);
        assert!(found.is_empty(), "{} holds {found:?}", path.display());
    }
    searched
}

#[track_caller]
fn assert_output_clean(out: &Output, rows: usize) {
    for (name, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        let found = leaks(bytes, rows, &[]);
        assert!(found.is_empty(), "{name} holds {found:?}");
    }
}

#[test]
fn secrets_reach_no_byte_written_by_a_killed_then_resumed_verbose_run() {
    let sims = iccid_batch(60, 40);
    let world = World::start(simboard::emulator::EmulatorConfig {
        latency: std::time::Duration::from_millis(15),
        ..config(&sims)
    });
    secret_manifest(&world, &sims);

    let child = world
        .command(&["m.csv", "-o", "r.csv", "-v", "--concurrency", "2"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = child;
    let journal = world.path("r.csv.journal");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    // While the run is going, its journal and temporary files are searched.
    loop {
        let rows = std::fs::read_to_string(&journal)
            .map(|t| t.lines().count())
            .unwrap_or(0);
        assert_no_file_leaks(&world, sims.len(), &[]);
        if rows > 5 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no journal rows");
        std::thread::yield_now();
    }
    child.kill().unwrap();
    let killed = child.wait_with_output().unwrap();
    assert_output_clean(&killed, sims.len());
    assert!(assert_no_file_leaks(&world, sims.len(), &[]) >= 1);
    assert!(
        world.counter("subscriptionsCreated") < 40,
        "killed too late"
    );

    let resumed = world.run(&["m.csv", "-o", "r.csv", "--resume", "-v"]);
    assert_eq!(resumed.status.code(), Some(0), "{}", stderr(&resumed));
    assert_output_clean(&resumed, sims.len());
    assert_no_file_leaks(&world, sims.len(), &[]);
    let lines = results(&world.path("r.csv"));
    assert_eq!(lines.len(), 40);
    for l in &lines {
        assert_eq!(l.extra[2], format!("dev{}", l.line - 2), "line {}", l.line);
    }
    assert_eq!(
        extra_headers(&world.path("r.csv")),
        ["email", "full_name", "device"]
    );
    let summary = stderr(&resumed);
    assert!(
        summary.contains(r#""Ki", "OPc", "PIN1", "PUK2", "ADM1", "Ki (hex)", "PUK 1""#),
        "the summary lists the withheld columns: {summary}"
    );
    // Nor does the API ever see them.
    let state = world.state().to_string();
    assert!(leaks(state.as_bytes(), sims.len(), &[]).is_empty());
}

#[test]
fn secrets_reach_no_byte_written_by_a_run_that_fails() {
    let sims = iccid_batch(61, 12);
    let world = World::start(simboard::emulator::EmulatorConfig {
        revoke_token_after: Some(12),
        ..config(&sims)
    });
    secret_manifest(&world, &sims);
    let out = world.run(&["m.csv", "-o", "r.csv", "-v", "--concurrency", "1"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_output_clean(&out, sims.len());
    let partial = results(&world.path("r.csv"));
    assert!(
        !partial.is_empty() && partial.len() < sims.len(),
        "the run failed part way: {}",
        stderr(&out)
    );
    assert!(assert_no_file_leaks(&world, sims.len(), &[]) >= 1);
}

#[test]
fn keep_column_keeps_the_one_column_it_names() {
    let sims = iccid_batch(62, 3);
    let world = World::with_stock(&sims);
    secret_manifest(&world, &sims);
    let out = world.run(&["m.csv", "-o", "r.csv", "--keep-column", "puk 1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        extra_headers(&world.path("r.csv")),
        ["email", "full_name", "PUK 1", "device"]
    );
    let lines = results(&world.path("r.csv"));
    assert_eq!(
        line(&lines, 2).extra[2..],
        [secret(6, 0), "dev0".to_owned()]
    );
    assert_no_file_leaks(&world, sims.len(), &[6]);
    let summary = stderr(&out);
    assert!(
        summary.contains(r#""Ki (hex)""#) && !summary.contains(r#""PUK 1""#),
        "{summary}"
    );
}

#[test]
fn secrets_never_reach_standard_output_when_results_go_there() {
    let sims = iccid_batch(63, 4);
    let world = World::with_stock(&sims);
    secret_manifest(&world, &sims);
    let out = world.run(&["m.csv", "-o", "-", "-v"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 5, "a header and four rows: {text}");
    assert_output_clean(&out, sims.len());
    assert_no_file_leaks(&world, sims.len(), &[]);
}

#[test]
fn a_workbook_with_secret_columns_validates_without_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    for (col, name) in ["ICCID", "Ki (hex)", "PIN1", "device"].iter().enumerate() {
        sheet.write_string(0, col as u16, *name).unwrap();
    }
    sheet.write_string(1, 0, GOOD).unwrap();
    sheet.write_string(1, 1, "00FF00FF00FF00FF5EC7E7").unwrap();
    sheet.write_number(1, 2, 73519.0).unwrap();
    sheet.write_string(1, 3, "d1").unwrap();
    book.save(dir.path().join("sims.xlsx")).unwrap();

    let (code, summary, lines) = validated(dir.path(), "sims.xlsx", &[]);
    assert_eq!(code, 0, "{summary}");
    assert_eq!(extra_headers(&dir.path().join("r.csv")), ["device"]);
    assert_eq!(line(&lines, 2).extra, ["d1"]);
    let written = std::fs::read_to_string(dir.path().join("r.csv")).unwrap();
    for value in ["00FF00FF00FF00FF5EC7E7", "73519"] {
        assert!(!written.contains(value) && !summary.contains(value));
    }
    assert!(summary.contains(r#""Ki (hex)", "PIN1""#), "{summary}");
}

#[test]
fn a_file_whose_lines_end_with_a_lone_carriage_return_is_refused_not_read_as_no_rows() {
    // Old Mac exports end lines with '\r' alone: read as one line, the file
    // gave "0 rows" and exit 0, every ICCID silently missing.
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in [
        (
            "header.csv",
            "iccid,name\r89883070000007537119,Ann\r89883070000007537127,Bob\r",
        ),
        ("bare.csv", "89883070000007537119\r89883070000007537127\r"),
    ] {
        std::fs::write(dir.path().join(name), text).unwrap();
        let out = validate(dir.path(), &[name, "-o", "r.csv"]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(err.contains("carriage return"), "{name}: {err}");
    }
}
