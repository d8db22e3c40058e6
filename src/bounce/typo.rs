//! Suggesting the intended address when a hard bounce went to a near miss of
//! a big provider's domain (`gmial.com`, `hotmial.com`, `email.com` for `gmail.com`).

/// Big consumer providers whose domains are mistyped most.
const PROVIDERS: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "yahoo.com",
    "hotmail.com",
    "outlook.com",
    "live.com",
    "icloud.com",
    "aol.com",
    "msn.com",
    "comcast.net",
    "gmx.de",
    "gmx.net",
    "web.de",
    "yahoo.fr",
    "orange.fr",
    "free.fr",
    "wanadoo.fr",
    "laposte.net",
    "hotmail.fr",
    "yahoo.co.uk",
    "hotmail.co.uk",
    "btinternet.com",
    "mail.ru",
    "yandex.ru",
];

/// Typos seen so often that edit distance alone would not find them.
const KNOWN: &[(&str, &str)] = &[
    ("email.com", "gmail.com"),
    ("gmail.co", "gmail.com"),
    ("gmai.com", "gmail.com"),
];

/// The corrected address, when `address`'s domain is a near miss of a provider.
pub fn suggest(address: &str) -> Option<String> {
    let (local, domain) = address.rsplit_once('@')?;
    if local.is_empty() || PROVIDERS.contains(&domain) {
        return None;
    }
    if let Some((_, fixed)) = KNOWN.iter().find(|(typo, _)| *typo == domain) {
        return Some(format!("{local}@{fixed}"));
    }
    let mut best: Option<(&str, usize)> = None;
    for provider in PROVIDERS {
        // Only a distance of 1 is accepted: lengths further apart cannot be.
        if domain.len().abs_diff(provider.len()) > 1 {
            continue;
        }
        let distance = damerau(domain, provider);
        if distance > 0 && distance <= 1 && best.is_none_or(|(_, d)| distance < d) {
            best = Some((provider, distance));
        }
    }
    best.map(|(p, _)| format!("{local}@{p}"))
}

/// Optimal-string-alignment distance (Damerau-Levenshtein with adjacent swaps).
fn damerau(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > 2 || a.len() > 64 || b.len() > 64 {
        return usize::MAX;
    }
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    let at = |i: usize, j: usize| i * width + j;
    for i in 0..=a.len() {
        if let Some(cell) = d.get_mut(at(i, 0)) {
            *cell = i;
        }
    }
    for j in 0..=b.len() {
        if let Some(cell) = d.get_mut(at(0, j)) {
            *cell = j;
        }
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let get = |x: usize| d.get(x).copied().unwrap_or(usize::MAX / 2);
            let cost = usize::from(a.get(i - 1) != b.get(j - 1));
            let mut value = (get(at(i - 1, j)) + 1)
                .min(get(at(i, j - 1)) + 1)
                .min(get(at(i - 1, j - 1)) + cost);
            if i > 1 && j > 1 && a.get(i - 1) == b.get(j - 2) && a.get(i - 2) == b.get(j - 1) {
                value = value.min(get(at(i - 2, j - 2)) + 1);
            }
            if let Some(cell) = d.get_mut(at(i, j)) {
                *cell = value;
            }
        }
    }
    d.get(at(a.len(), b.len())).copied().unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_near_misses_only() {
        assert_eq!(suggest("jean@gmial.com").as_deref(), Some("jean@gmail.com"));
        assert_eq!(
            suggest("jean@hotmial.com").as_deref(),
            Some("jean@hotmail.com")
        );
        assert_eq!(suggest("jean@email.com").as_deref(), Some("jean@gmail.com"));
        assert_eq!(suggest("jean@gmail.com"), None);
        assert_eq!(suggest("jean@example.com"), None);
    }
}
