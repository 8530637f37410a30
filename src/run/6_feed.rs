//! The feeder of the pipeline: reads the manifest as checked rows (the same
//! [`CheckedRows`] as `validate` and the pre-pass), answers what needs no
//! API call, and queues the rest to the workers, in manifest order.

use std::collections::HashMap;
use std::sync::mpsc::{Sender, SyncSender};

use crate::manifest::{self, Manifest, ManifestError, Row};
use crate::onboard::{AddressCells, RowRequest};
use crate::results::{self, Outcome, ResultRow};
use crate::validate::{Checked, CheckedRows};

use super::pipeline::{Body, Finished, Job, Shared, Window};
use super::resume::{judge, Holds, Kept};
use super::RunConfig;

/// Why the feeder stopped the run.
#[derive(Debug, thiserror::Error)]
pub(super) enum FeedError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The manifest changed since the pre-pass checked the kept rows.
    #[error(
        "the manifest changed while the run was going (line {0}); run the same command \
         again with --resume"
    )]
    Changed(u64),
}

/// Where the feeder sends rows.
pub(super) struct Feeder<'a> {
    pub(super) jobs: SyncSender<Job>,
    pub(super) done: Sender<Finished>,
    pub(super) window: &'a Window,
    pub(super) shared: Shared<'a>,
}

/// Reads and validates the manifest, answers what needs no API call, and
/// queues the rest. After a stop it hands out no new row, but keeps reading to
/// pass on every row kept by `--resume`: the result file is rewritten at the
/// end, and must not lose them.
pub(super) fn feed(
    config: &RunConfig,
    manifest: &mut Manifest,
    columns: &Columns,
    mut kept: HashMap<u64, Kept>,
    to: &Feeder<'_>,
) -> Result<(), FeedError> {
    let mut rows = CheckedRows::new(manifest, config.check_digit);
    let (mut seq, mut scratch) = (0u64, Vec::new());
    loop {
        if to.shared.stopped() && kept.is_empty() {
            return Ok(());
        }
        let Some((chunk, checked)) = rows.next_chunk()? else {
            return Ok(());
        };
        for (row, checked) in chunk.iter().zip(checked) {
            if to.pass_on(row, &checked, columns, &mut kept, &mut seq, &mut scratch)? == Fed::Done {
                return Ok(());
            }
        }
    }
}

/// Whether the feeder goes on after a row.
#[derive(PartialEq, Eq)]
enum Fed {
    More,
    /// Stopped with nothing kept left to pass on, or nobody listens any more.
    Done,
}

impl Feeder<'_> {
    /// Passes one checked row on: a kept row and an invalid one straight to
    /// the sink, a valid one to the workers (none after a stop).
    fn pass_on(
        &self,
        row: &Row,
        checked: &Checked,
        columns: &Columns,
        kept: &mut HashMap<u64, Kept>,
        seq: &mut u64,
        scratch: &mut Vec<u8>,
    ) -> Result<Fed, FeedError> {
        let stopped = self.shared.stopped();
        if stopped && kept.is_empty() {
            return Ok(Fed::Done);
        }
        let more = |sent: bool| if sent { Fed::More } else { Fed::Done };
        if let Some(mut previous) = kept.remove(&row.line) {
            // The pre-pass dropped the changed rows; the manifest may have
            // changed since.
            let fingerprint = columns.fingerprint(row, scratch);
            let valid = checked.valid_iccid().is_some();
            if judge(&previous, checked.iccid(), valid, fingerprint) != Holds::Same {
                return Err(FeedError::Changed(row.line));
            }
            let extra = columns.extra.iter().map(|&i| row.get_bytes(i));
            results::end_row(&mut previous.encoded, extra);
            return Ok(more(self.send(seq, Body::Kept(previous))));
        }
        if stopped {
            return Ok(Fed::More);
        }
        let extra = columns
            .extra
            .iter()
            .map(|&i| row.get(i).to_owned())
            .collect();
        let Some(iccid) = checked.valid_iccid() else {
            let result = ResultRow {
                reason: checked.reason().to_owned(),
                message: checked.message(),
                extra,
                ..ResultRow::new(checked.line, checked.iccid().to_owned(), Outcome::Invalid)
            };
            return Ok(more(self.send(seq, Body::Fresh(result))));
        };
        self.window.wait_for(*seq);
        let job = Job {
            seq: *seq,
            line: row.line,
            request: columns.request(row, iccid),
            extra,
        };
        *seq += 1;
        Ok(more(self.jobs.send(job).is_ok()))
    }

    /// Sends a row that needs no worker; false when nobody listens any more.
    fn send(&self, seq: &mut u64, body: Body) -> bool {
        self.window.wait_for(*seq);
        let sent = self.done.send(Finished { seq: *seq, body }).is_ok();
        *seq += 1;
        sent
    }
}

/// Where the manifest's optional columns are.
pub(super) struct Columns {
    plan: Option<usize>,
    user: Option<usize>,
    email: Option<usize>,
    full_name: Option<usize>,
    birthday: Option<usize>,
    address: [Option<usize>; 6],
    /// Every column but the ICCID's, carried into the results.
    pub(super) extra: Vec<usize>,
    /// The headers of `extra`.
    extra_headers: Vec<String>,
}

/// Two or more columns that mean the same thing (two `email` columns, or
/// `email` and `e-mail`): which one a row means cannot be told.
#[derive(Debug, thiserror::Error)]
#[error(
    "the manifest has {count} columns that mean {meaning}: {headers}; keep one of them \
     (rename or delete the others)"
)]
pub(super) struct SameMeaning {
    meaning: &'static str,
    count: usize,
    headers: String,
}

impl Columns {
    /// Finds the columns `run` reads, refusing any meaning given by two.
    pub(super) fn find(manifest: &Manifest) -> Result<Self, SameMeaning> {
        let meanings: [(&'static str, &[&str]); 12] = [
            ("the ICCID", manifest::ICCID_ALIASES),
            ("the plan", manifest::PLAN_ALIASES),
            ("the user", manifest::USER_ALIASES),
            ("the email", manifest::EMAIL_ALIASES),
            ("the full name", manifest::FULL_NAME_ALIASES),
            ("the birthday", manifest::BIRTHDAY_ALIASES),
            ("address line 1", manifest::ADDRESS_ALIASES[0]),
            ("address line 2", manifest::ADDRESS_ALIASES[1]),
            ("the city", manifest::ADDRESS_ALIASES[2]),
            ("the postal code", manifest::ADDRESS_ALIASES[3]),
            ("the state", manifest::ADDRESS_ALIASES[4]),
            ("the country", manifest::ADDRESS_ALIASES[5]),
        ];
        for (meaning, aliases) in meanings {
            let columns = manifest.columns_named(aliases);
            if columns.len() > 1 {
                let headers: Vec<String> = columns
                    .iter()
                    .map(|&i| format!("{:?} (column {})", manifest.header(i), i + 1))
                    .collect();
                return Err(SameMeaning {
                    meaning,
                    count: columns.len(),
                    headers: headers.join(", "),
                });
            }
        }
        Ok(Columns {
            plan: manifest.column(manifest::PLAN_ALIASES),
            user: manifest.column(manifest::USER_ALIASES),
            email: manifest.column(manifest::EMAIL_ALIASES),
            full_name: manifest.column(manifest::FULL_NAME_ALIASES),
            birthday: manifest.column(manifest::BIRTHDAY_ALIASES),
            address: manifest::ADDRESS_ALIASES.map(|aliases| manifest.column(aliases)),
            extra_headers: manifest
                .other_columns()
                .iter()
                .map(|&i| manifest.header(i).to_owned())
                .collect(),
            extra: manifest.other_columns(),
        })
    }

    /// The [`results::fingerprint`] of the cells of `row` that its result carries.
    pub(super) fn fingerprint(&self, row: &Row, scratch: &mut Vec<u8>) -> u64 {
        results::fingerprint(
            self.extra_headers.iter().map(String::as_bytes),
            self.extra.iter().map(|&i| row.get_bytes(i)),
            scratch,
        )
    }

    pub(super) fn request(&self, row: &Row, iccid: &str) -> RowRequest {
        let cell = |column: Option<usize>| {
            column
                .map(|i| row.get(i).trim())
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let [line1, line2, city, postal_code, state, country] = self.address.map(cell);
        RowRequest {
            iccid: iccid.to_owned(),
            plan: cell(self.plan),
            user: cell(self.user),
            email: cell(self.email),
            full_name: cell(self.full_name),
            birthday: cell(self.birthday),
            address: AddressCells {
                line1,
                line2,
                city,
                postal_code,
                state,
                country,
            },
        }
    }
}
