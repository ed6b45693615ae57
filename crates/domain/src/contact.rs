//! People's details, parsed: an email, a name, a phone number, a password.
//! Each `parse` refuses what a person could not have meant.

use std::fmt;

/// Why a detail was refused; the message is for a person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

fn invalid(msg: impl Into<String>) -> Invalid {
    Invalid(msg.into())
}

/// An email address as typed (trimmed), compared case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub const MAX_LEN: usize = 254;

    pub fn parse(text: &str) -> Result<Email, Invalid> {
        let t = text.trim();
        if t.is_empty() {
            return Err(invalid("is required"));
        }
        if t.chars().count() > Self::MAX_LEN {
            return Err(invalid(format!(
                "must be at most {} characters",
                Self::MAX_LEN
            )));
        }
        let Some((local, domain)) = t.rsplit_once('@') else {
            return Err(invalid("is not an email address (no @)"));
        };
        let labels_ok = domain.split('.').count() >= 2
            && domain.split('.').all(|l| {
                !l.is_empty()
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if local.is_empty()
            || local.len() > 64
            || local.contains('@')
            || local.starts_with('.')
            || local.ends_with('.')
            || local.contains("..")
            || t.chars()
                .any(|c| c.is_whitespace() || c.is_control() || "<>()[],;:\\\"".contains(c))
            || !labels_ok
        {
            return Err(invalid("is not a valid email address"));
        }
        Ok(Email(t.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form used for uniqueness and comparison.
    pub fn normalized(&self) -> String {
        self.0.to_lowercase()
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Characters that render as nothing: zero-width spaces and joiners, the
/// word joiner, the byte-order mark, soft hyphens, the Mongolian vowel
/// separator and the bidirectional controls.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// Checks text a person typed: no control characters (NUL included; line
/// breaks and tabs only where `multiline`), and something visible.
fn clean(t: &str, multiline: bool) -> Result<(), Invalid> {
    let allowed = |c: char| multiline && matches!(c, '\n' | '\r' | '\t');
    if t.chars().any(|c| c.is_control() && !allowed(c)) {
        return Err(invalid(if multiline {
            "must not contain control characters (only line breaks and tabs)"
        } else {
            "must not contain control characters or line breaks"
        }));
    }
    if t.chars().all(|c| c.is_whitespace() || is_invisible(c)) {
        return Err(invalid("must contain visible characters"));
    }
    Ok(())
}

/// A required one-line text (a name, a title): trimmed, visible, at most
/// `max` characters, no control characters.
pub fn required_line(text: &str, max: usize) -> Result<String, Invalid> {
    let t = text.trim();
    if t.is_empty() {
        return Err(invalid("is required"));
    }
    if t.chars().count() > max {
        return Err(invalid(format!("must be at most {max} characters")));
    }
    clean(t, false)?;
    Ok(t.to_owned())
}

/// A person's name: not blank, at most 200 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonName(String);

impl PersonName {
    pub const MAX_LEN: usize = 200;

    pub fn parse(text: &str) -> Result<PersonName, Invalid> {
        let t = text.trim();
        if t.is_empty() {
            return Err(invalid("is required"));
        }
        Ok(PersonName(required_line(t, Self::MAX_LEN)?))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A phone number: digits with the usual separators, 5 to 20 digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone(String);

impl Phone {
    pub fn parse(text: &str) -> Result<Phone, Invalid> {
        let t = text.trim();
        let digits = t.chars().filter(char::is_ascii_digit).count();
        if !t
            .chars()
            .all(|c| c.is_ascii_digit() || " +-().".contains(c))
            || t.chars().skip(1).any(|c| c == '+')
        {
            return Err(invalid("may contain only digits, spaces, + - ( ) ."));
        }
        if !(5..=20).contains(&digits) || t.len() > 40 {
            return Err(invalid("must have 5 to 20 digits"));
        }
        Ok(Phone(t.to_owned()))
    }

    /// An optional phone: blank means none.
    pub fn parse_optional(text: Option<&str>) -> Result<Option<Phone>, Invalid> {
        match text.map(str::trim) {
            None | Some("") => Ok(None),
            Some(t) => Phone::parse(t).map(Some),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new password: 10 to 1024 characters, not the account's email.
pub struct Password(String);

impl Password {
    pub const MIN_LEN: usize = 10;
    pub const MAX_LEN: usize = 1024;

    pub fn parse(text: &str, email: &Email) -> Result<Password, Invalid> {
        let n = text.chars().count();
        if n < Self::MIN_LEN {
            return Err(invalid(format!(
                "must be at least {} characters",
                Self::MIN_LEN
            )));
        }
        if n > Self::MAX_LEN {
            return Err(invalid(format!(
                "must be at most {} characters",
                Self::MAX_LEN
            )));
        }
        if text.trim().to_lowercase() == email.normalized() {
            return Err(invalid("must not be the email address"));
        }
        Ok(Password(text.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// Free text a customer adds (requirements, notes): absent or empty means
/// none; otherwise at most `max` characters, something visible, and no
/// control characters but line breaks and tabs.
pub fn optional_text(text: Option<&str>, max: usize) -> Result<Option<String>, Invalid> {
    match text {
        None | Some("") => Ok(None),
        Some(raw) => {
            let t = raw.trim();
            if t.chars().count() > max {
                return Err(invalid(format!("must be at most {max} characters")));
            }
            clean(raw, true)?;
            Ok(Some(t.to_owned()))
        }
    }
}

/// Free text an operator writes (a description): may be empty; otherwise
/// at most `max` characters with no control characters but line breaks
/// and tabs.
pub fn description(text: &str, max: usize) -> Result<String, Invalid> {
    let t = text.trim();
    if t.chars().count() > max {
        return Err(invalid(format!("must be at most {max} characters")));
    }
    if !t.is_empty() {
        clean(t, true)?;
    }
    Ok(t.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        for ok in [
            "john@example.com",
            " Jane.Doe+tours@mail.example.co.il ",
            "a@b.io",
        ] {
            assert!(Email::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "john",
            "john@",
            "@example.com",
            "john@example",
            "jo hn@example.com",
            "john@@example.com",
            "john@exa_mple.com",
            "john.@example.com",
            "a@-b.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(Email::parse(&long).is_err());
        assert_eq!(
            Email::parse("John@Example.COM").unwrap().normalized(),
            "john@example.com"
        );
    }

    #[test]
    fn names_and_phones() {
        assert!(PersonName::parse("   ").is_err());
        assert!(PersonName::parse(&"x".repeat(201)).is_err());
        assert_eq!(PersonName::parse(" Ada ").unwrap().as_str(), "Ada");
        assert!(Phone::parse("+972 (2) 555-1234").is_ok());
        assert!(Phone::parse("call me").is_err());
        assert!(Phone::parse("12").is_err());
        assert!(Phone::parse("1+2345678").is_err());
        assert_eq!(Phone::parse_optional(Some("  ")).unwrap(), None);
    }

    #[test]
    fn text_refuses_control_and_invisible_characters() {
        for bad in [
            "A\u{0}da",
            "Ada\u{7}",
            "Ada\nLovelace",
            "\u{200B}\u{200B}",
            " \u{FEFF} ",
        ] {
            assert!(PersonName::parse(bad).is_err(), "{bad:?}");
            assert!(required_line(bad, 200).is_err(), "{bad:?}");
        }
        assert!(optional_text(Some("Vegetarian\nno nuts"), 100).is_ok());
        for bad in ["a\u{0}b", "\u{1b}[31m", "   ", "\u{200D}", "x\u{7f}"] {
            assert!(optional_text(Some(bad), 100).is_err(), "{bad:?}");
        }
        assert_eq!(optional_text(Some(""), 10).unwrap(), None);
        assert_eq!(optional_text(None, 10).unwrap(), None);
        assert_eq!(description("", 10).unwrap(), "");
        assert!(description("ok\u{0}", 10).is_err());
        assert!(description("Line one\nLine two", 100).is_ok());
    }

    #[test]
    fn passwords() {
        let email = Email::parse("ada@example.com").unwrap();
        assert!(Password::parse("short", &email).is_err());
        assert!(Password::parse("ADA@example.com", &email).is_err());
        assert!(Password::parse("correct horse battery", &email).is_ok());
        assert_eq!(
            format!("{:?}", Password::parse("correct horse", &email).unwrap()),
            "Password(***)"
        );
    }
}
