//! Where finished rows go: each is appended to the journal at once (one
//! `write` per row, so that a SIGKILL loses nothing that had finished), and
//! put back in manifest order (a small reorder buffer: workers take rows in
//! order, so only rows still in flight leave gaps) and streamed to
//! `<results>.tmp`, renamed over the result file at the end, when the
//! journal is removed. Should a kept row not get there, the previous result
//! file and the journal are left as they were.
//!
//! A row that waits for the rows above it waits encoded, and a wide one
//! waits on disk ([`Spill`]): behind one slow row, thousands of rows of
//! 100 KB would otherwise be held in memory.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::exit::Fatal;
use crate::results::{self, Output, ResultRow, ResultWriter};

use super::output::temp_path;
use super::pipeline::{Body, Finished};

/// Where finished rows go: the journal at once, the ordered file as soon as
/// every row before it has finished.
pub(super) struct Sink {
    pub(super) journal: Option<File>,
    pub(super) journal_path: Option<PathBuf>,
    pub(super) ordered: ResultWriter<Box<dyn Write + Send>>,
    pub(super) output: Output,
    /// Rows that arrived before some row above them; bounded by [`Window`].
    pub(super) waiting: BTreeMap<u64, Waiting>,
    /// Where wide waiting rows wait.
    pub(super) spill: Spill,
    /// The next `seq` to write.
    pub(super) next: u64,
    pub(super) buf: Vec<u8>,
    pub(super) finished: u64,
    /// Rows kept from the previous run that are in the ordered file.
    pub(super) kept_written: u64,
    /// Standard output: rows flushed to it, and rows written since the
    /// last flush (what its reader can have got, when it goes away).
    pub(super) delivered: u64,
    pub(super) unflushed: u64,
}

/// What [`Sink::finish`] did with the files.
pub(super) enum Finish {
    /// The result file holds every finished row; the journal is gone.
    Replaced,
    /// Some kept rows never came: the previous result file and the journal
    /// were left as they were (they hold every finished row).
    LeftAlone,
}

pub(super) enum FinishError {
    /// The result file could not be written or put in place; the journal and
    /// the previous result file are as they were.
    Write(io::Error),
    /// The result file is in place, but the journal is still there.
    Journal(io::Error),
}

impl Sink {
    pub(super) fn open(
        output: &Output,
        journal_path: Option<&Path>,
        extra_headers: &[String],
    ) -> Result<Sink, Fatal> {
        let cannot = |path: &Path, err: io::Error| {
            Fatal::before_results(format!("cannot create {}: {err}", path.display()))
        };
        let journal = match journal_path {
            Some(path) => Some(open_journal(path, extra_headers).map_err(|e| cannot(path, e))?),
            None => None,
        };
        let out: Box<dyn Write + Send> = match output {
            Output::Stdout => {
                results::open_output(output).map_err(|e| cannot(Path::new("-"), e))?
            }
            Output::File(path) => {
                let temp = temp_path(path);
                Box::new(io::BufWriter::with_capacity(
                    256 * 1024,
                    File::create(&temp).map_err(|e| cannot(&temp, e))?,
                ))
            }
        };
        let write_error =
            |err| Fatal::before_results(format!("cannot write the results to {output}: {err}"));
        let mut ordered = ResultWriter::new(out, extra_headers).map_err(write_error)?;
        if *output == Output::Stdout {
            ordered.flush().map_err(write_error)?;
        }
        Ok(Sink {
            journal,
            journal_path: journal_path.map(Path::to_owned),
            ordered,
            output: output.clone(),
            waiting: BTreeMap::new(),
            spill: Spill::new(match output {
                Output::File(path) => path.parent().map(Path::to_owned),
                Output::Stdout => None,
            }),
            next: 0,
            buf: Vec::with_capacity(512),
            finished: 0,
            kept_written: 0,
            delivered: 0,
            unflushed: 0,
        })
    }

    pub(super) fn push(&mut self, finished: Finished) -> io::Result<()> {
        match &finished.body {
            Body::Fresh(row) => {
                if let Some(journal) = &mut self.journal {
                    self.buf.clear();
                    encode(&mut self.buf, row, true);
                    // One write per row, straight to the file: once it returns,
                    // a SIGKILL cannot take the row back.
                    journal.write_all(&self.buf)?;
                }
                self.finished += 1;
            }
            Body::Kept(_) => self.finished += 1,
            Body::Skipped => {}
        }
        if finished.seq == self.next {
            self.write(finished.body)?;
            self.next += 1;
        } else {
            let parked = self.park(finished.body)?;
            self.waiting.insert(finished.seq, parked);
        }
        while let Some(parked) = self.waiting.remove(&self.next) {
            self.unpark(parked)?;
            self.next += 1;
        }
        if self.waiting.is_empty() {
            self.spill.clear()?;
        }
        if self.output == Output::Stdout {
            // Row by row, so that a reader that went away (`| head`) is
            // noticed at once and the run stops handing out rows, instead of
            // creating subscriptions whose rows would appear nowhere.
            self.ordered.flush()?;
            self.delivered += std::mem::take(&mut self.unflushed);
        }
        Ok(())
    }

    pub(super) fn write(&mut self, body: Body) -> io::Result<()> {
        self.unflushed += u64::from(!matches!(body, Body::Skipped));
        match body {
            Body::Fresh(row) => self.ordered.write(&row),
            Body::Kept(kept) => {
                self.kept_written += 1;
                self.ordered.write_raw(&kept.encoded)
            }
            Body::Skipped => Ok(()),
        }
    }

    /// Encodes a row that must wait; a wide one goes to the spill file.
    fn park(&mut self, body: Body) -> io::Result<Waiting> {
        let (bytes, kept) = match body {
            Body::Fresh(row) => {
                let mut bytes = Vec::new();
                encode(&mut bytes, &row, true);
                (bytes, false)
            }
            Body::Kept(kept) => (kept.encoded, true),
            Body::Skipped => return Ok(Waiting::Skipped),
        };
        if bytes.len() < SPILL_FROM {
            return Ok(Waiting::Encoded { bytes, kept });
        }
        let (at, len) = self.spill.put(&bytes)?;
        Ok(Waiting::Spilled { at, len, kept })
    }

    /// Writes a row that waited.
    fn unpark(&mut self, parked: Waiting) -> io::Result<()> {
        let kept = match parked {
            Waiting::Skipped => return Ok(()),
            Waiting::Encoded { bytes, kept } => {
                self.ordered.write_raw(&bytes)?;
                kept
            }
            Waiting::Spilled { at, len, kept } => {
                self.spill.get(at, len, &mut self.buf)?;
                self.ordered.write_raw(&self.buf)?;
                kept
            }
        };
        self.kept_written += u64::from(kept);
        self.unflushed += 1;
        Ok(())
    }

    pub(super) fn rows_finished(&self) -> u64 {
        self.finished
    }

    /// Writes what is left in order (after a stop, with gaps). If every one
    /// of the `kept` rows of the previous run is in it, puts the result file
    /// in place and drops the journal, whose rows are all in it. Otherwise
    /// replacing the previous file would lose rows: both files stay as they are.
    pub(super) fn finish(mut self, kept: u64) -> Result<Finish, FinishError> {
        for (_, parked) in std::mem::take(&mut self.waiting) {
            self.unpark(parked).map_err(FinishError::Write)?;
        }
        if self.kept_written < kept {
            self.abandon();
            return Ok(Finish::LeftAlone);
        }
        let mut out = self.ordered.into_inner().map_err(FinishError::Write)?;
        out.flush().map_err(FinishError::Write)?;
        drop(out);
        if let Output::File(path) = &self.output {
            std::fs::rename(temp_path(path), path).map_err(FinishError::Write)?;
        }
        if let Some(journal) = self.journal_path {
            drop(self.journal);
            std::fs::remove_file(journal).map_err(FinishError::Journal)?;
        }
        Ok(Finish::Replaced)
    }

    /// Gives up the ordered file (its temp file is removed) and leaves the
    /// journal and the previous result file as they are.
    pub(super) fn abandon(self) {
        let Sink {
            ordered, output, ..
        } = self;
        drop(ordered);
        if let Output::File(path) = &output {
            let _ = std::fs::remove_file(temp_path(path));
        }
    }
}

/// A waiting row at least this long (encoded) waits on disk.
const SPILL_FROM: usize = 4 * 1024;

/// A row that waits for the rows above it.
pub(super) enum Waiting {
    Skipped,
    Encoded {
        bytes: Vec<u8>,
        kept: bool,
    },
    /// In the spill file, at `at`.
    Spilled {
        at: u64,
        len: usize,
        kept: bool,
    },
}

/// A scratch file for wide waiting rows, beside the results (standard
/// output: in the temp dir), created when first needed and emptied whenever
/// no row waits. It is removed as soon as it is open (where the system
/// allows), so that a crash leaves nothing behind.
pub(super) struct Spill {
    dir: Option<PathBuf>,
    file: Option<(File, PathBuf)>,
    end: u64,
}

impl Spill {
    fn new(dir: Option<PathBuf>) -> Self {
        Spill {
            dir,
            file: None,
            end: 0,
        }
    }

    fn put(&mut self, bytes: &[u8]) -> io::Result<(u64, usize)> {
        if self.file.is_none() {
            let dir = self.dir.clone().unwrap_or_else(std::env::temp_dir);
            let dir = if dir.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                dir
            };
            static SPILLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let n = SPILLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let path = dir.join(format!(".simboard-{}-{n}.spill", std::process::id()));
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(&path)?;
            let _ = std::fs::remove_file(&path);
            self.file = Some((file, path));
        }
        let Some((file, _)) = &mut self.file else {
            return Err(io::Error::other("the spill file is not open"));
        };
        let at = self.end;
        file.seek(SeekFrom::Start(at))?;
        file.write_all(bytes)?;
        self.end += bytes.len() as u64;
        Ok((at, bytes.len()))
    }

    fn get(&mut self, at: u64, len: usize, into: &mut Vec<u8>) -> io::Result<()> {
        let Some((file, _)) = &mut self.file else {
            return Err(io::Error::other("the spill file is not open"));
        };
        into.clear();
        into.resize(len, 0);
        file.seek(SeekFrom::Start(at))?;
        file.read_exact(into)
    }

    /// No row waits: the file starts again from nothing.
    fn clear(&mut self) -> io::Result<()> {
        if let Some((file, _)) = &mut self.file {
            if self.end > 0 {
                file.set_len(0)?;
                self.end = 0;
            }
        }
        Ok(())
    }
}

impl Drop for Spill {
    fn drop(&mut self) {
        if let Some((file, path)) = self.file.take() {
            drop(file);
            // Where an open file cannot be removed, it is removed now.
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Encodes a row; without `extra`, only its fixed cells (no line end).
pub(super) fn encode(buf: &mut Vec<u8>, row: &ResultRow, extra: bool) {
    let cells = row.extra.iter().map(String::as_bytes).filter(|_| extra);
    results::encode_row(buf, row.line, row.fixed_cells(), cells);
    if !extra {
        buf.pop(); // the line end: the manifest's extra columns come first
    }
}

/// Opens the journal for appending; a new one starts with the header. An
/// existing one is first cut back to the end of its last complete row: a row
/// torn by a kill (perhaps inside a quoted cell, which would otherwise stay
/// open and swallow every row appended after it) is dropped, to run again.
fn open_journal(path: &Path, extra_headers: &[String]) -> io::Result<File> {
    let complete = if path.exists() {
        results::read_results_each(path, |_| {})?.complete_len
    } else {
        0
    };
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    if file.metadata()?.len() != complete {
        file.set_len(complete)?;
    }
    if complete == 0 {
        let writer = ResultWriter::new(&mut file, extra_headers)?;
        writer.into_inner()?;
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::Outcome;
    use crate::run::journal_path;

    #[test]
    fn a_torn_journal_line_is_dropped_before_appending() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv.journal");
        drop(open_journal(&path, &[]).unwrap());
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"2,8988,onboar").unwrap();
        drop(file);
        let mut file = open_journal(&path, &[]).unwrap();
        file.write_all(b"3,8989,invalid,duplicate,,,,,\n").unwrap();
        let (_, rows) = results::read_results(&path).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].line, 3);
    }

    #[test]
    fn a_row_torn_inside_quotes_cannot_swallow_the_next_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv.journal");
        drop(open_journal(&path, &[]).unwrap());
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"2,8988,onboarded,,,sim_2,plan_1,usr_1,sub_2\n")
            .unwrap();
        // Killed in the middle of a quoted message.
        file.write_all(b"3,8989,failed,sim_in_use,\"the SIM, it s")
            .unwrap();
        drop(file);

        let mut file = open_journal(&path, &[]).unwrap();
        file.write_all(b"4,8990,invalid,duplicate,,,,,\n").unwrap();
        file.write_all(b"5,8991,onboarded,,,sim_5,plan_1,usr_1,sub_5\n")
            .unwrap();

        let (_, rows) = results::read_results(&path).unwrap();
        let lines: Vec<u64> = rows.iter().map(|r| r.line).collect();
        assert_eq!(
            lines,
            [2, 4, 5],
            "the torn row runs again; no other is lost"
        );
        assert_eq!(rows[2].subscription_id, "sub_5");
    }

    #[test]
    fn a_row_torn_after_its_outcome_is_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv.journal");
        drop(open_journal(&path, &[]).unwrap());
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        // The outcome parses, but the ids are cut short.
        file.write_all(b"2,8988,onboarded,,,sim_2,pla").unwrap();
        drop(file);
        let (_, rows) = results::read_results(&path).unwrap();
        assert!(rows.is_empty(), "{rows:?}");
    }

    #[test]
    fn wide_rows_that_wait_come_out_in_order_and_whole() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("r.csv");
        let output = Output::File(file.clone());
        let mut sink = Sink::open(&output, None, &["note".to_owned()]).unwrap();
        let wide = |seq: u64| ResultRow {
            extra: vec![format!("{seq}{}", "x\"y,".repeat(3000))],
            ..ResultRow::new(seq + 2, format!("898{seq}"), Outcome::Onboarded)
        };
        for seq in [3, 1, 2, 0] {
            sink.push(Finished {
                seq,
                body: Body::Fresh(wide(seq)),
            })
            .unwrap();
            if seq == 2 {
                assert!(sink.spill.end > 0, "the waiting rows are on disk");
            }
        }
        assert!(matches!(sink.finish(0), Ok(Finish::Replaced)));

        let (_, rows) = results::read_results(&file).unwrap();
        let lines: Vec<u64> = rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, [2, 3, 4, 5]);
        for (seq, row) in rows.iter().enumerate() {
            assert_eq!(row.extra, wide(seq as u64).extra);
        }
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "no spill file is left: {left:?}");
    }

    #[test]
    fn results_are_left_alone_when_kept_rows_never_came() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("r.csv");
        let previous = "line,iccid,outcome,reason,message,sim_id,plan_id,user_id,subscription_id\n\
                        2,8988,onboarded,,,sim_2,plan_1,usr_1,sub_2\n";
        std::fs::write(&file, previous).unwrap();
        let journal = journal_path(&file);
        let output = Output::File(file.clone());
        let mut sink = Sink::open(&output, Some(&journal), &[]).unwrap();
        let row = ResultRow::new(3, "8989", Outcome::Onboarded);
        sink.push(Finished {
            seq: 0,
            body: Body::Fresh(row),
        })
        .unwrap();

        // One row was kept from the previous run, and the sink never saw it.
        assert!(matches!(sink.finish(1), Ok(Finish::LeftAlone)));

        assert_eq!(std::fs::read_to_string(&file).unwrap(), previous);
        let (_, journaled) = results::read_results(&journal).unwrap();
        assert_eq!(journaled.len(), 1, "the new row is in the journal");
        assert!(!temp_path(&file).exists());
    }
}
