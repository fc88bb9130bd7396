//! Tokens of the text form.
//!
//! The lexer streams: it hands out one token at a time and never builds a token vector, so a
//! constant with tens of millions of elements parses in constant extra memory. Every token knows
//! its 1-based line and column (columns count characters, not bytes).

use crate::IrError;

/// What a token is. Identifiers and numbers borrow the source; strings are unescaped.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok<'a> {
    /// `[A-Za-z_][A-Za-z0-9_]*`, and the NaN spelling `nan:0x…`.
    Ident(&'a str),
    /// A numeric literal, possibly signed: `12`, `-0.5`, `1e-45`, `-inf`, `-nan`.
    Number(&'a str),
    /// A double-quoted string with its escapes resolved.
    Str(String),
    /// One of `= ( ) { } [ ] , : ^`.
    Punct(char),
    Eof,
}

/// A token and where it starts.
#[derive(Clone, Debug)]
pub(crate) struct Token<'a> {
    pub tok: Tok<'a>,
    pub line: usize,
    pub col: usize,
}

impl Token<'_> {
    /// How the token reads in an error message.
    pub fn describe(&self) -> String {
        match &self.tok {
            Tok::Ident(s) | Tok::Number(s) => format!("`{s}`"),
            Tok::Str(_) => "a string".to_string(),
            Tok::Punct(c) => format!("`{c}`"),
            Tok::Eof => "end of input".to_string(),
        }
    }

    /// A parse error located at this token.
    pub fn error(&self, reason: impl Into<String>) -> IrError {
        IrError::Parse {
            line: self.line,
            col: self.col,
            reason: reason.into(),
        }
    }
}

/// The streaming tokenizer.
pub(crate) struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    line: usize,
    col: usize,
}

const PUNCT: &[u8] = b"=(){}[],:^";

impl<'a> Lexer<'a> {
    pub fn new(src: &'a str) -> Self {
        Lexer {
            src,
            pos: 0,
            line: 1,
            col: 1,
        }
    }

    /// Bytes of source left after the current position (bounds the size of what can follow).
    pub fn remaining(&self) -> usize {
        self.src.len().saturating_sub(self.pos)
    }

    fn byte(&self, at: usize) -> Option<u8> {
        self.src.as_bytes().get(at).copied()
    }

    /// Advance one byte, keeping line and column (continuation bytes of a multi-byte character
    /// do not start a new column).
    fn bump_byte(&mut self) {
        if let Some(b) = self.byte(self.pos) {
            self.pos += 1;
            if b == b'\n' {
                self.line += 1;
                self.col = 1;
            } else if b & 0xC0 != 0x80 {
                self.col += 1;
            }
        }
    }

    fn error_here(&self, reason: impl Into<String>) -> IrError {
        IrError::Parse {
            line: self.line,
            col: self.col,
            reason: reason.into(),
        }
    }

    fn skip_trivia(&mut self) {
        while let Some(b) = self.byte(self.pos) {
            match b {
                b' ' | b'\t' | b'\r' | b'\n' => self.bump_byte(),
                b'/' if self.byte(self.pos + 1) == Some(b'/') => {
                    while matches!(self.byte(self.pos), Some(c) if c != b'\n') {
                        self.bump_byte();
                    }
                }
                _ => break,
            }
        }
    }

    /// The next token (`Tok::Eof` forever once the input is exhausted).
    pub fn next_token(&mut self) -> Result<Token<'a>, IrError> {
        self.skip_trivia();
        let (line, col) = (self.line, self.col);
        let at = |tok| Token { tok, line, col };
        let Some(b) = self.byte(self.pos) else {
            return Ok(at(Tok::Eof));
        };
        let next = self.byte(self.pos + 1);
        if b.is_ascii_alphabetic() || b == b'_' {
            let s = self.word(self.pos)?;
            return Ok(at(Tok::Ident(s)));
        }
        let signed_start = (b == b'-' || b == b'+')
            && matches!(next, Some(c) if c.is_ascii_alphanumeric() || c == b'.');
        if b.is_ascii_digit() || signed_start {
            let s = self.number()?;
            return Ok(at(Tok::Number(s)));
        }
        if b == b'"' {
            let s = self.string(line, col)?;
            return Ok(at(Tok::Str(s)));
        }
        if PUNCT.contains(&b) {
            self.bump_byte();
            return Ok(at(Tok::Punct(b as char)));
        }
        let c = self.src.get(self.pos..).and_then(|s| s.chars().next());
        Err(self.error_here(match c {
            Some(c) => format!("unexpected character {c:?}"),
            None => "unexpected byte".to_string(),
        }))
    }

    /// An identifier starting at `start` (already known to start with a letter or `_`).
    fn word(&mut self, start: usize) -> Result<&'a str, IrError> {
        while matches!(self.byte(self.pos), Some(c) if c.is_ascii_alphanumeric() || c == b'_') {
            self.bump_byte();
        }
        self.nan_payload(start)?;
        self.slice(start)
    }

    /// Extend a `nan` token by a `:0x…` payload, so `nan:0x7fa00000` is a single token.
    fn nan_payload(&mut self, start: usize) -> Result<(), IrError> {
        let text = self.slice(start)?;
        let bare = text.trim_start_matches(['-', '+']);
        let rest = self.src.get(self.pos..).unwrap_or("");
        if bare == "nan" && rest.starts_with(":0x") {
            self.bump_byte();
            while matches!(self.byte(self.pos), Some(c) if c.is_ascii_alphanumeric()) {
                self.bump_byte();
            }
        }
        Ok(())
    }

    fn number(&mut self) -> Result<&'a str, IrError> {
        let start = self.pos;
        self.bump_byte();
        while let Some(c) = self.byte(self.pos) {
            let prev = self.byte(self.pos - 1);
            let exp_sign = (c == b'+' || c == b'-')
                && matches!(prev, Some(b'e') | Some(b'E'))
                && !self.slice(start)?.contains("0x");
            if c.is_ascii_alphanumeric() || c == b'.' || c == b'_' || exp_sign {
                self.bump_byte();
            } else {
                break;
            }
        }
        self.nan_payload(start)?;
        self.slice(start)
    }

    fn slice(&self, start: usize) -> Result<&'a str, IrError> {
        self.src
            .get(start..self.pos)
            .ok_or_else(|| self.error_here("token is not valid UTF-8"))
    }

    /// A quoted string; escapes: `\"`, `\\`, `\n`, `\r`, `\t`, `\u{hex}`.
    fn string(&mut self, line: usize, col: usize) -> Result<String, IrError> {
        self.bump_byte();
        let mut out = String::new();
        loop {
            let Some(c) = self.src.get(self.pos..).and_then(|s| s.chars().next()) else {
                return Err(IrError::Parse {
                    line,
                    col,
                    reason: "unterminated string".to_string(),
                });
            };
            match c {
                '"' => {
                    self.bump_byte();
                    return Ok(out);
                }
                '\n' => {
                    return Err(self.error_here("line break inside a string (write `\\n`)"));
                }
                '\\' => {
                    let at = (self.line, self.col);
                    self.bump_byte();
                    let c = self.escape().map_err(|reason| IrError::Parse {
                        line: at.0,
                        col: at.1,
                        reason,
                    })?;
                    out.push(c);
                }
                c => {
                    for _ in 0..c.len_utf8() {
                        self.bump_byte();
                    }
                    out.push(c);
                }
            }
        }
    }

    /// The character an escape stands for (the backslash is already consumed); errors are
    /// reported at the backslash by the caller.
    fn escape(&mut self) -> Result<char, String> {
        let Some(b) = self.byte(self.pos) else {
            return Err("unterminated string".to_string());
        };
        let simple = match b {
            b'"' => Some('"'),
            b'\\' => Some('\\'),
            b'n' => Some('\n'),
            b'r' => Some('\r'),
            b't' => Some('\t'),
            _ => None,
        };
        if let Some(c) = simple {
            self.bump_byte();
            return Ok(c);
        }
        if b != b'u' || self.byte(self.pos + 1) != Some(b'{') {
            return Err("unknown escape (use \\\" \\\\ \\n \\r \\t or \\u{hex})".to_string());
        }
        self.bump_byte();
        self.bump_byte();
        let start = self.pos;
        while matches!(self.byte(self.pos), Some(c) if c.is_ascii_hexdigit()) {
            self.bump_byte();
        }
        let hex = self.src.get(start..self.pos).unwrap_or("");
        if self.byte(self.pos) != Some(b'}') || hex.is_empty() || hex.len() > 6 {
            return Err("malformed \\u{hex} escape".to_string());
        }
        self.bump_byte();
        u32::from_str_radix(hex, 16)
            .ok()
            .and_then(char::from_u32)
            .ok_or_else(|| format!("\\u{{{hex}}} is not a character"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(src: &str) -> Result<Vec<Tok<'_>>, IrError> {
        let mut lx = Lexer::new(src);
        let mut v = Vec::new();
        loop {
            let t = lx.next_token()?;
            if t.tok == Tok::Eof {
                return Ok(v);
            }
            v.push(t.tok);
        }
    }

    #[test]
    fn numbers_words_and_nan_payloads() {
        let toks = all("n1 = -1.5e-7, 3, -inf nan:0x7fa00000 -nan:0xffa00000 1e+5 0x1e-2").unwrap();
        assert_eq!(
            toks,
            vec![
                Tok::Ident("n1"),
                Tok::Punct('='),
                Tok::Number("-1.5e-7"),
                Tok::Punct(','),
                Tok::Number("3"),
                Tok::Punct(','),
                Tok::Number("-inf"),
                Tok::Ident("nan:0x7fa00000"),
                Tok::Number("-nan:0xffa00000"),
                Tok::Number("1e+5"),
                // A hex literal never takes an exponent sign.
                Tok::Number("0x1e"),
                Tok::Number("-2"),
            ]
        );
    }

    #[test]
    fn strings_unescape() {
        let toks = all(r#""a\"b\\c\n\u{1f600}é" // comment"#).unwrap();
        assert_eq!(toks, vec![Tok::Str("a\"b\\c\n\u{1f600}é".to_string())]);
    }

    #[test]
    fn positions_count_characters() {
        let mut lx = Lexer::new("\"é\" x\n  y");
        lx.next_token().unwrap();
        let x = lx.next_token().unwrap();
        assert_eq!((x.line, x.col), (1, 5));
        let y = lx.next_token().unwrap();
        assert_eq!((y.line, y.col), (2, 3));
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(matches!(
            all("\"abc"),
            Err(IrError::Parse {
                line: 1,
                col: 1,
                ..
            })
        ));
        assert!(matches!(
            all("x $"),
            Err(IrError::Parse {
                line: 1,
                col: 3,
                ..
            })
        ));
        assert!(all(r#""\q""#).is_err());
        assert!(all(r#""\u{110000}""#).is_err());
        assert!(all("\"a\nb\"").is_err());
    }
}
