//! The end-of-run summary printed on stderr: counts per outcome and per reason,
//! elapsed time and throughput. It also decides the exit code.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crate::exit::Exit;
use crate::results::Outcome;

/// Counts of what happened to the rows of one run.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    outcomes: BTreeMap<Outcome, u64>,
    reasons: BTreeMap<String, u64>,
    /// How long the run took.
    pub elapsed: Duration,
    /// Lines added after the counts (requests sent, where results went, ...).
    pub notes: Vec<String>,
}

impl Summary {
    /// Counts one row.
    pub fn record(&mut self, outcome: Outcome, reason: &str) {
        self.add(outcome, reason, 1);
    }

    /// Counts `n` rows with the same outcome and reason.
    pub fn add(&mut self, outcome: Outcome, reason: &str, n: u64) {
        if n == 0 {
            return;
        }
        *self.outcomes.entry(outcome).or_default() += n;
        if !reason.is_empty() {
            match self.reasons.get_mut(reason) {
                Some(count) => *count += n,
                None => {
                    self.reasons.insert(reason.to_owned(), n);
                }
            }
        }
    }

    pub fn rows(&self) -> u64 {
        self.outcomes.values().sum()
    }

    pub fn count(&self, outcome: Outcome) -> u64 {
        self.outcomes.get(&outcome).copied().unwrap_or(0)
    }

    pub fn reason_count(&self, reason: &str) -> u64 {
        self.reasons.get(reason).copied().unwrap_or(0)
    }

    /// 0 when every row succeeded, 1 when some are invalid or failed.
    pub fn exit(&self) -> Exit {
        if self.outcomes.iter().all(|(o, &n)| o.is_success() || n == 0) {
            Exit::Success
        } else {
            Exit::RowsFailed
        }
    }

    pub fn rows_per_second(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.rows() as f64 / secs
        } else {
            0.0
        }
    }
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} rows in {:.2} s ({} rows/s)",
            thousands(self.rows()),
            self.elapsed.as_secs_f64(),
            thousands(self.rows_per_second().round() as u64)
        )?;
        for (outcome, n) in &self.outcomes {
            writeln!(f, "  {:<22}{:>12}", outcome.as_str(), thousands(*n))?;
        }
        if !self.reasons.is_empty() {
            writeln!(f, "reasons:")?;
            for (reason, n) in &self.reasons {
                writeln!(f, "  {reason:<22}{:>12}", thousands(*n))?;
            }
        }
        for note in &self.notes {
            writeln!(f, "{note}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_exit_code() {
        let mut s = Summary::default();
        s.record(Outcome::Valid, "");
        assert_eq!(s.exit(), Exit::Success);
        s.record(Outcome::Invalid, "duplicate");
        s.record(Outcome::Invalid, "duplicate");
        assert_eq!((s.rows(), s.reason_count("duplicate")), (3, 2));
        assert_eq!(s.exit(), Exit::RowsFailed);
        let text = s.to_string();
        assert!(
            text.contains("valid") && text.contains("duplicate"),
            "{text}"
        );
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }
}
