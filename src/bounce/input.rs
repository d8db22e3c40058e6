//! Preparing raw bytes for parsing: the size cap and line-ending repair.

use std::borrow::Cow;

/// Default size cap: 10 MiB (architecture.md, "Size cap").
pub const DEFAULT_MAX_BYTES: usize = 10 * 1024 * 1024;

/// Applies the size cap and turns CR-only line ends into LF.
///
/// A message over the cap is cut at the last line end before the cap, so the
/// parser sees whole lines; the caller marks the report `truncated`.
/// mail-parser understands LF and CRLF, but not lone CRs (old Mac mail, some
/// gateways): those become LF. The common case (no lone CR, under the cap)
/// borrows the input unchanged.
pub fn prepare(raw: &[u8], max_bytes: usize) -> (Cow<'_, [u8]>, bool) {
    let truncated = raw.len() > max_bytes;
    let capped = if truncated {
        let head = raw.get(..max_bytes).unwrap_or(raw);
        match head.iter().rposition(|&b| b == b'\n' || b == b'\r') {
            Some(pos) if pos > 0 => head.get(..=pos).unwrap_or(head),
            _ => head,
        }
    } else {
        raw
    };
    if has_lone_cr(capped) {
        (Cow::Owned(fix_lone_cr(capped)), truncated)
    } else {
        (Cow::Borrowed(capped), truncated)
    }
}

fn has_lone_cr(bytes: &[u8]) -> bool {
    memchr::memchr_iter(b'\r', bytes).any(|pos| bytes.get(pos + 1) != Some(&b'\n'))
}

fn fix_lone_cr(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut iter = bytes.iter().peekable();
    while let Some(&b) = iter.next() {
        if b == b'\r' {
            if iter.peek() == Some(&&b'\n') {
                out.push(b'\r');
            } else {
                out.push(b'\n');
            }
        } else {
            out.push(b);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borrows_ordinary_input() {
        let (out, truncated) = prepare(b"A: b\r\n\r\nbody\n", 100);
        assert!(matches!(out, Cow::Borrowed(_)));
        assert!(!truncated);
    }

    #[test]
    fn repairs_cr_only() {
        let (out, _) = prepare(b"A: b\rC: d\r\rbody\r\n", 100);
        assert_eq!(&*out, b"A: b\nC: d\n\nbody\r\n");
    }

    #[test]
    fn caps_at_a_line_end() {
        let (out, truncated) = prepare(b"line one\nline two\nline three\n", 14);
        assert!(truncated);
        assert_eq!(&*out, b"line one\n");
    }
}
