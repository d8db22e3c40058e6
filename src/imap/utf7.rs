//! IMAP's modified UTF-7 for mailbox names (RFC 3501 §5.1.3).
//!
//! Printable US-ASCII (0x20–0x7e) stands for itself, except `&`, which is
//! written `&-`. Anything else is UTF-16 in a modified base64 (`,` instead of
//! `/`, no `=` padding) between `&` and `-`. Servers send names this way
//! unless UTF8=ACCEPT is enabled (RFC 6855), which rebound does not ask for.

/// The modified base64 alphabet (RFC 3501 §5.1.3: `,` replaces `/`).
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

fn sextet(byte: u8) -> Option<u32> {
    let value = match byte {
        b'A'..=b'Z' => byte - b'A',
        b'a'..=b'z' => byte - b'a' + 26,
        b'0'..=b'9' => byte - b'0' + 52,
        b'+' => 62,
        b',' => 63,
        _ => return None,
    };
    Some(u32::from(value))
}

/// Decodes a mailbox name as the server sends it. `None` when it is not
/// valid modified UTF-7 (bad base64, unpaired surrogates, a shift sequence
/// that encodes plain ASCII, a raw non-ASCII byte, or a missing `-`).
///
/// ```
/// use rebound::imap::utf7::decode;
/// assert_eq!(decode("Entw&APw-rfe").as_deref(), Some("Entwürfe"));
/// assert_eq!(decode("Tom &- Jerry").as_deref(), Some("Tom & Jerry"));
/// assert_eq!(decode("&Jjo-"), Some("☺".to_string()));
/// assert_eq!(decode("&Jjo"), None);
/// ```
pub fn decode(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'&' => {
                let mut run = Vec::new();
                loop {
                    match bytes.next()? {
                        b'-' => break,
                        c => run.push(c),
                    }
                }
                if run.is_empty() {
                    out.push('&');
                } else {
                    decode_run(&run, &mut out)?;
                }
            }
            0x20..=0x7e => out.push(char::from(b)),
            _ => return None,
        }
    }
    Some(out)
}

/// Decodes one base64 run (between `&` and `-`) of UTF-16 into `out`.
fn decode_run(run: &[u8], out: &mut String) -> Option<()> {
    let mut units = Vec::with_capacity(run.len() * 6 / 16);
    let mut acc: u32 = 0;
    let mut bits: u32 = 0;
    for &c in run {
        acc = (acc << 6) | sextet(c)?;
        bits += 6;
        if bits >= 16 {
            bits -= 16;
            units.push(u16::try_from((acc >> bits) & 0xffff).ok()?);
            acc &= (1u32 << bits) - 1;
        }
    }
    // Leftover bits are padding: fewer than 6 and all zero.
    if bits >= 6 || acc != 0 {
        return None;
    }
    let text: String = char::decode_utf16(units.iter().copied())
        .collect::<Result<String, _>>()
        .ok()?;
    // A run must not encode what could be written directly (§5.1.3: printable
    // ASCII represents itself), so a run of plain ASCII is malformed.
    if text.is_empty() || text.chars().any(|c| (' '..='~').contains(&c)) {
        return None;
    }
    out.push_str(&text);
    Some(())
}

/// Encodes a UTF-8 mailbox name for the wire.
///
/// ```
/// use rebound::imap::utf7::encode;
/// assert_eq!(encode("Entwürfe"), "Entw&APw-rfe");
/// assert_eq!(encode("Tom & Jerry"), "Tom &- Jerry");
/// ```
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let mut pending: Vec<u16> = Vec::new();
    for c in s.chars() {
        if (' '..='~').contains(&c) {
            flush_run(&mut pending, &mut out);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut buf = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut buf));
        }
    }
    flush_run(&mut pending, &mut out);
    out
}

/// Writes pending UTF-16 units as `&<base64>-` and clears them.
fn flush_run(units: &mut Vec<u16>, out: &mut String) {
    if units.is_empty() {
        return;
    }
    out.push('&');
    let mut acc: u32 = 0;
    let mut bits: u32 = 0;
    for unit in units.drain(..) {
        acc = (acc << 16) | u32::from(unit);
        bits += 16;
        while bits >= 6 {
            bits -= 6;
            push_sextet((acc >> bits) & 0x3f, out);
        }
        acc &= (1u32 << bits) - 1;
    }
    if bits > 0 {
        push_sextet((acc << (6 - bits)) & 0x3f, out);
    }
    out.push('-');
}

fn push_sextet(value: u32, out: &mut String) {
    if let Some(&c) = usize::try_from(value).ok().and_then(|i| ALPHABET.get(i)) {
        out.push(char::from(c));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for name in [
            "INBOX",
            "Entwürfe",
            "Отправленные",
            "日本語/メール",
            "a&b",
            "&",
            "&&",
            "Ä",
            "mixed Ü and 😀 emoji",
            "",
            "~peter/mail/台北/日本語",
        ] {
            let wire = encode(name);
            assert!(wire.is_ascii(), "{wire}");
            assert_eq!(decode(&wire).as_deref(), Some(name), "{name} via {wire}");
        }
    }

    #[test]
    fn known_encodings() {
        // RFC 3501 §5.1.3's example.
        assert_eq!(
            encode("~peter/mail/台北/日本語"),
            "~peter/mail/&U,BTFw-/&ZeVnLIqe-"
        );
        assert_eq!(encode("Отправленные"), "&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-");
        assert_eq!(encode("😀"), "&2D3eAA-");
        assert_eq!(decode("&2D3eAA-").as_deref(), Some("😀"));
    }

    #[test]
    fn rejects_malformed() {
        assert_eq!(decode("&"), None); // unterminated
        assert_eq!(decode("&AGE-"), None); // encodes ASCII "a"
        assert_eq!(decode("&2D0-"), None); // lone high surrogate
        assert_eq!(decode("&APw/-"), None); // '/' is not in the alphabet
        assert_eq!(decode("&APx-"), None); // non-zero padding bits
        assert_eq!(decode("Entwürfe"), None); // raw 8-bit
        assert_eq!(decode("&A-"), None); // too short for one unit
    }
}
