//! `simboard validate`, driven as a user would: write a manifest, run the real
//! binary, read the result CSV, and check each line's outcome and reason.

mod common;

use common::{
    results_with_headers as read_results, sample, stderr, Line as ResultLine, Workdir,
    FIXED_COLUMNS,
};

/// (line, outcome, reason) of every result row.
fn verdicts(rows: &[ResultLine]) -> Vec<(u64, &str, &str)> {
    rows.iter()
        .map(|r| (r.line, r.outcome.as_str(), r.reason.as_str()))
        .collect()
}

#[test]
fn a_dirty_supplier_export_with_bom_and_crlf_gets_a_reason_per_line() {
    let w = Workdir::new();
    let out_path = w.path("dirty.results.csv");
    let out = w.simboard(&[
        "validate",
        &sample("supplier-dirty.csv"),
        "-o",
        "dirty.results.csv",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let (headers, rows) = read_results(&out_path);
    assert_eq!(headers[..9], FIXED_COLUMNS);
    assert_eq!(headers[9..], ["Device Serial", "Pallet", "Notes"]);
    assert_eq!(
        verdicts(&rows),
        [
            (2, "valid", ""),
            (3, "valid", ""),
            (4, "valid", ""),
            (5, "valid", ""),
            (6, "valid", ""),
            (7, "invalid", "missing_iccid"),
            (8, "invalid", "scientific_notation"),
            (9, "invalid", "invalid_characters"),
            (10, "invalid", "invalid_characters"),
            (11, "invalid", "invalid_length"),
            (12, "invalid", "invalid_prefix"),
            (13, "invalid", "rounded_by_spreadsheet"),
            (14, "invalid", "invalid_check_digit"),
            (16, "invalid", "duplicate"),
            (17, "valid", ""),
        ]
    );
    // Normalised ICCIDs, messages that say what to do, columns carried over.
    assert_eq!(rows[1].iccid, "89883070000010001012");
    assert_eq!(rows[3].iccid, "8988307000002000006");
    assert!(rows[4].message.contains("not enforced for test SIMs"));
    assert!(rows[6].message.contains("formatted as text"));
    assert!(rows[7].message.contains("letter O"));
    assert!(rows[12].message.contains("8 was expected"));
    assert!(rows[13].message.contains("line 2"));
    assert_eq!(
        rows[13].extra,
        ["DEV-0014", "P-03", "same SIM listed twice"]
    );
    // A formula in the manifest is written inert.
    assert!(
        rows[14].extra[2].starts_with("'=HYPERLINK"),
        "{:?}",
        rows[14].extra
    );
    let summary = stderr(&out);
    assert!(
        summary.contains("rows/s") && summary.contains("rounded_by_spreadsheet"),
        "{summary}"
    );
}

#[test]
fn a_semicolon_export_with_an_icc_id_number_header() {
    let w = Workdir::new();
    let out = w.simboard(&["validate", &sample("semicolon.csv"), "-o", "r.csv"]);
    assert_eq!(out.status.code(), Some(1));
    let (headers, rows) = read_results(&w.path("r.csv"));
    assert_eq!(&headers[9..], ["Artikel", "Lieferdatum", "Menge"]);
    assert_eq!(rows.len(), 9);
    assert_eq!(rows[8].line, 10);
    assert_eq!(rows[8].reason, "duplicate");
    assert!(rows[8].message.contains("line 4"));
    assert_eq!(
        rows[0].extra[2], "1,00",
        "a decimal comma stays in its cell"
    );
}

#[test]
fn a_clean_manifest_exits_0_and_writes_beside_the_manifest() {
    let w = Workdir::new();
    let manifest = w.write("acme.csv", std::fs::read(sample("clean.csv")).unwrap());
    let out = w.simboard(&["validate", manifest.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (_, rows) = read_results(&w.path("acme.results.csv"));
    assert_eq!(rows.len(), 12);
    assert!(rows
        .iter()
        .all(|r| r.outcome == "valid" && r.reason.is_empty()));
}

#[test]
fn a_bare_list_without_header() {
    let w = Workdir::new();
    let m = w.write(
        "list.txt",
        "89883070000007537119\n\n8988 3070 0000 0753 7119\n8.98830700000075E+19\n89883070000007600000\n",
    );
    let out = w.simboard(&["validate", m.to_str().unwrap(), "-o", "r.csv"]);
    assert_eq!(out.status.code(), Some(1));
    let (headers, rows) = read_results(&w.path("r.csv"));
    assert_eq!(headers.len(), 9, "a bare list has no other columns");
    assert_eq!(
        verdicts(&rows),
        [
            (1, "valid", ""),
            (3, "invalid", "duplicate"),
            (4, "invalid", "scientific_notation"),
            (5, "invalid", "rounded_by_spreadsheet"),
        ]
    );
}

#[test]
fn a_repeat_inside_a_quote_left_open_is_still_a_duplicate() {
    let w = Workdir::new();
    let m = w.write(
        "m.csv",
        "iccid\n89883070000007537119\n\"89883070000007537119\n\n",
    );
    let out = w.simboard(&["validate", m.to_str().unwrap(), "-o", "r.csv"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let (_, rows) = read_results(&w.path("r.csv"));
    assert_eq!(
        verdicts(&rows),
        [(2, "valid", ""), (3, "invalid", "duplicate")]
    );
    assert!(rows[1].message.contains("line 2"));
}

#[test]
fn tab_separated_quoted_and_short_rows() {
    let w = Workdir::new();
    let m = w.write(
        "t.tsv",
        "sim_iccid\tdevice\tnote\n\"89883070000007537119\"\t\"d 1\"\n89424242420033529334\td2\tx\n",
    );
    let out = w.simboard(&["validate", m.to_str().unwrap(), "-o", "-"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(
            "line,iccid,outcome,reason,message,sim_id,plan_id,user_id,subscription_id,device,note"
        )
    );
    assert_eq!(
        lines.next(),
        Some("2,89883070000007537119,valid,,,,,,,d 1,")
    );
    assert!(lines
        .next()
        .unwrap()
        .starts_with("3,89424242420033529334,valid,,Gigs test SIM"));
}

#[test]
fn delimiter_flag_overrides_sniffing() {
    let w = Workdir::new();
    // The first line has more commas than pipes, so sniffing would pick commas.
    let m = w.write("p.csv", "iccid|note\n89883070000007537119|a,b,c\n");
    let out = w.simboard(&[
        "validate",
        m.to_str().unwrap(),
        "-o",
        "r.csv",
        "--delimiter",
        "|",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (headers, rows) = read_results(&w.path("r.csv"));
    assert_eq!(headers[9], "note");
    assert_eq!(rows[0].extra, ["a,b,c"]);
}

#[test]
fn no_check_digit_accepts_serial_digits_with_a_warning() {
    let w = Workdir::new();
    let m = w.write("m.csv", "iccid\n89883070000007537118\n");
    let strict = w.simboard(&["validate", m.to_str().unwrap(), "-o", "r.csv"]);
    assert_eq!(strict.status.code(), Some(1));
    let lax = w.simboard(&[
        "validate",
        m.to_str().unwrap(),
        "-o",
        "r.csv",
        "--no-check-digit",
    ]);
    assert_eq!(lax.status.code(), Some(0));
    let (_, rows) = read_results(&w.path("r.csv"));
    assert_eq!(rows[0].outcome, "valid");
    assert!(
        rows[0].message.starts_with("warning"),
        "{}",
        rows[0].message
    );
}

#[test]
fn quiet_prints_nothing() {
    let w = Workdir::new();
    let out = w.simboard(&["validate", &sample("clean.csv"), "-o", "r.csv", "--quiet"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stderr(&out), "");
}

#[test]
fn a_missing_file_is_fatal_and_names_it() {
    let w = Workdir::new();
    let out = w.simboard(&["validate", "nowhere.csv"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("nowhere.csv") && err.contains("no result file was written"),
        "{err}"
    );
    assert!(!w.path("nowhere.results.csv").exists());
}

#[test]
fn no_iccid_column_lists_the_headers_seen() {
    let w = Workdir::new();
    let m = w.write("m.csv", "Device,Owner\nd1,o1\n");
    let out = w.simboard(&["validate", m.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("m.csv") && err.contains("\"Device\", \"Owner\""),
        "{err}"
    );
}

#[test]
fn text_that_is_not_utf8_names_the_line_and_the_partial_file() {
    let w = Workdir::new();
    let mut bytes = b"iccid,name\n89883070000007537119,ok\n".to_vec();
    bytes.extend_from_slice(b"89883070000007537127,M\xfcller\n");
    let m = w.write("latin1.csv", bytes);
    // Without --encoding, such a file is read as Windows-1252.
    let out = w.simboard(&[
        "validate",
        m.to_str().unwrap(),
        "-o",
        "r.csv",
        "--encoding",
        "utf-8",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("latin1.csv") && err.contains("line 3"),
        "{err}"
    );
    assert!(
        err.contains("UTF-8") && err.contains("partial result file"),
        "{err}"
    );
}

#[test]
fn refuses_to_overwrite_the_manifest() {
    let w = Workdir::new();
    let m = w.write("m.csv", "iccid\n89883070000007537119\n");
    let out = w.simboard(&["validate", m.to_str().unwrap(), "-o", m.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("refusing"));
    assert_eq!(
        std::fs::read_to_string(&m).unwrap(),
        "iccid\n89883070000007537119\n"
    );
}

/// A manifest large enough to span many parallel chunks, damaged at random
/// places: every line comes back exactly once, in order.
/// How a generated manifest is written.
#[derive(Clone, Copy)]
struct Shape {
    rows: u64,
    crlf: bool,
    /// Quote the other cell, and give every 1,000th row a line end inside it.
    quoted: bool,
}

/// Generates a manifest of `shape` in which every 97th ICCID has a wrong check
/// digit and every 113th repeats the one 1,000 rows earlier, validates it,
/// and checks every line, outcome and repeat.
fn every_line_appears_once_in_order(shape: Shape) {
    let w = Workdir::new();
    let end = if shape.crlf { "\r\n" } else { "\n" };
    let mut text = format!("iccid,seq{end}");
    let (mut lines, mut expected_invalid, mut expected_repeats) =
        (Vec::new(), Vec::new(), Vec::new());
    let mut line = 2;
    for i in 0..shape.rows {
        lines.push(line);
        let payload = format!("8988307{:012}", i);
        let check = luhn(&payload);
        let iccid = if i % 97 == 0 {
            expected_invalid.push(line);
            format!("{payload}{}", (check + 1) % 10)
        } else if i % 113 == 0 && i >= 1000 && is_plain(i - 1000) {
            // A repeat of the ICCID 1,000 rows earlier: the first sighting is
            // in another block or another piece of this one.
            let earlier = format!("8988307{:012}", i - 1000);
            expected_invalid.push(line);
            expected_repeats.push((line, lines[(i - 1000) as usize]));
            format!("{earlier}{}", luhn(&earlier))
        } else {
            format!("{payload}{check}")
        };
        let seq = match (shape.quoted, i % 1000 == 999) {
            (false, _) => i.to_string(),
            (true, false) => format!("\"{i}, \"\"seq\"\"\""),
            (true, true) => {
                line += 1;
                format!("\"{i}, two{end}lines\"")
            }
        };
        text.push_str(&format!("{iccid},{seq}{end}"));
        line += 1;
    }
    let m = w.write("big.csv", &text);
    assert!(text.len() > 2 << 20, "the manifest spans several blocks");
    let out = w.simboard(&["validate", m.to_str().unwrap(), "-o", "r.csv"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let (_, rows) = read_results(&w.path("r.csv"));
    let got: Vec<u64> = rows.iter().map(|r| r.line).collect();
    assert_eq!(got, lines);
    let invalid: Vec<u64> = rows
        .iter()
        .filter(|r| r.outcome == "invalid")
        .map(|r| r.line)
        .collect();
    assert_eq!(invalid, expected_invalid);
    for (line, first) in expected_repeats {
        let row = rows.iter().find(|r| r.line == line).unwrap();
        assert_eq!(row.reason, "duplicate", "line {line}");
        assert!(
            row.message.ends_with(&format!("line {first}")),
            "{}",
            row.message
        );
    }
    for (i, row) in rows.iter().enumerate() {
        assert!(row.extra[0].starts_with(&i.to_string()), "{row:?}");
    }
}

#[test]
fn every_line_appears_once_in_order_across_blocks() {
    every_line_appears_once_in_order(Shape {
        rows: 90_000,
        crlf: false,
        quoted: false,
    });
}

#[test]
fn every_line_appears_once_in_order_across_quoted_crlf_blocks() {
    every_line_appears_once_in_order(Shape {
        rows: 60_000,
        crlf: true,
        quoted: true,
    });
}

/// Row `i` of the generated manifest holds its own, valid, ICCID.
fn is_plain(i: u64) -> bool {
    i % 97 != 0 && (i % 113 != 0 || i < 1000 || !is_plain(i - 1000))
}

fn luhn(payload: &str) -> u32 {
    let sum: u32 = payload
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let t = d * 2;
                if t > 9 {
                    t - 9
                } else {
                    t
                }
            } else {
                d
            }
        })
        .sum();
    (10 - sum % 10) % 10
}
