//! The Gigs Core API client. (Being written: see issue 4.)
