//! A worker of the pipeline: takes queued rows one at a time and onboards
//! each through the [`Onboarder`] that every worker shares.

use std::sync::mpsc::{Receiver, Sender};
use std::sync::Mutex;

use crate::onboard::{Onboarder, Stop};
use crate::results::ResultRow;

use super::pipeline::{Body, Finished, Job, Shared};

pub(super) fn work(
    onboarder: &Onboarder,
    jobs: &Mutex<Receiver<Job>>,
    done: &Sender<Finished>,
    shared: Shared<'_>,
) {
    loop {
        let job = match jobs.lock().unwrap_or_else(|e| e.into_inner()).recv() {
            Ok(job) => job,
            Err(_) => return,
        };
        // After Ctrl-C, queued rows are left for --resume; the sink is told,
        // so that the rows after them are not held back.
        let skipped = Finished {
            seq: job.seq,
            body: Body::Skipped,
        };
        if shared.stopped() {
            if done.send(skipped).is_err() {
                return;
            }
            continue;
        }
        match onboarder.onboard(&job.request) {
            Ok(result) => {
                let row = ResultRow {
                    line: job.line,
                    iccid: job.request.iccid,
                    outcome: result.outcome(),
                    reason: result.reason.to_owned(),
                    message: result.message,
                    sim_id: result.sim_id,
                    plan_id: result.plan_id,
                    user_id: result.user_id,
                    subscription_id: result.subscription_id,
                    extra: job.extra,
                };
                if done
                    .send(Finished {
                        seq: job.seq,
                        body: Body::Fresh(row),
                    })
                    .is_err()
                {
                    return;
                }
            }
            Err(stop) => {
                match stop {
                    Stop::Interrupted => shared.halt(),
                    refused @ Stop::TokenRefused(_) => shared.fail(refused.to_string()),
                }
                if done.send(skipped).is_err() {
                    return;
                }
            }
        }
    }
}
