//! The API token, kept apart so that nothing prints it: its `Debug` is
//! redacted, and its value comes out only for the `Authorization` header.

/// The API token. Its `Debug` never shows the value, so it cannot leak into logs.
#[derive(Clone)]
pub struct Token(String);

impl Token {
    pub fn new(value: String) -> Self {
        Token(value)
    }

    /// The value, for the `Authorization` header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_token() {
        let token = Token::new("sk_live_secret".into());
        assert_eq!(format!("{token:?}"), "Token(<redacted>)");
    }
}
