//! Per-row onboarding: resolve, pair a plan, pair a user, subscribe. (Being written: see issue 4.)
