//! Recognising the security gateway that wrote a notice (Mimecast and the like).
//!
//! Gateways often send their own notice instead of letting the NDR through, so
//! the original's headers are missing and matching must fall back to the
//! recipient and a time window; naming the gateway explains that limit.

use mail_parser::Message;

/// `(gateway name, markers)`: a marker found in the From address, the
/// Message-ID, or the raw header block names the gateway.
const GATEWAYS: &[(&str, &[&str])] = &[
    ("mimecast", &["mimecast"]),
    ("proofpoint", &["pphosted.com", "proofpoint"]),
    ("barracuda", &["barracuda", "cudamail"]),
    ("messagelabs", &["messagelabs", "symantec.cloud"]),
    ("ironport", &["iphmx.com", "ironport"]),
    ("mcafee", &["mxlogic", "mcafee"]),
    ("trendmicro", &["trendmicro", "tmes.trendmicro"]),
    ("sophos", &["sophos"]),
    ("forcepoint", &["mailcontrol.com", "forcepoint", "websense"]),
    ("mailchannels", &["mailchannels"]),
    ("spamtitan", &["spamtitan"]),
    ("hornetsecurity", &["hornetsecurity", "antispameurope"]),
];

/// The gateway that wrote `msg`, when one is recognisable from its headers.
pub fn detect(msg: &Message<'_>) -> Option<&'static str> {
    let head = super::headers::header_block_lower(msg, 64 * 1024);
    // Only the From, Message-ID and vendor headers decide; a Received line that
    // merely passed through a gateway on the way in does not make it the author.
    let deciding: String = head
        .lines()
        .filter(|l| {
            l.starts_with("from:")
                || l.starts_with("message-id:")
                || l.starts_with("x-mc-")
                || l.starts_with("x-mimecast")
                || l.starts_with("x-proofpoint")
                || l.starts_with("x-barracuda")
                || l.starts_with("x-ironport")
                || l.starts_with("x-msg-ref")
                || l.starts_with("x-mxl-")
                || l.starts_with("x-tm-")
                || l.starts_with("x-sophos")
        })
        .collect::<Vec<_>>()
        .join("\n");
    GATEWAYS
        .iter()
        .find(|(_, markers)| markers.iter().any(|m| deciding.contains(m)))
        .map(|(name, _)| *name)
}
