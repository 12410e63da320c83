//! Full-text search over messages: the words a query asks for and the snippet a result
//! shows. Both stores and the browser use these, so they agree on what matched.

use serde::{Deserialize, Serialize};

use super::message::Message;

/// One message found by `search_messages`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchResult {
    pub conversation_id: String,
    /// Who the conversation is with, as the list names them.
    #[serde(default)]
    pub contact_name: String,
    pub message: Message,
    /// The part of the text around the first word found.
    pub snippet: String,
}

/// `search_messages` answer: newest first, and the cursor for the next (older) page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchPage {
    pub results: Vec<SearchResult>,
    pub next: Option<String>,
}

/// A query uses at most this many words (the rest are ignored).
pub const MAX_SEARCH_WORDS: usize = 8;

/// The words of a query, lower-case, each letters and digits only, in order, without
/// repeats. Every one must start a word of a message for it to match.
pub fn search_words(query: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for w in query.split(|c: char| !c.is_alphanumeric()) {
        let w = w.to_lowercase();
        if !w.is_empty() && !words.contains(&w) && words.len() < MAX_SEARCH_WORDS {
            words.push(w.chars().take(64).collect());
        }
    }
    words
}

/// A letter without its accent, lower-case (`É` → `e`), for matching as a reader does.
pub fn fold_char(c: char) -> char {
    let c = c.to_lowercase().next().unwrap_or(c);
    match c {
        'á' | 'à' | 'â' | 'ã' | 'ä' | 'å' => 'a',
        'é' | 'è' | 'ê' | 'ë' => 'e',
        'í' | 'ì' | 'î' | 'ï' => 'i',
        'ó' | 'ò' | 'ô' | 'õ' | 'ö' => 'o',
        'ú' | 'ù' | 'û' | 'ü' => 'u',
        'ç' => 'c',
        'ñ' => 'n',
        'ß' => 's',
        _ => c,
    }
}

/// Where each word of `text` that starts with one of `words` begins and ends (char
/// indices), accents and case aside.
pub fn word_matches(text: &str, words: &[String]) -> Vec<(usize, usize)> {
    let chars: Vec<char> = text.chars().collect();
    let folded_words: Vec<Vec<char>> = words
        .iter()
        .map(|w| w.chars().map(fold_char).collect())
        .collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_alphanumeric() {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && chars[i].is_alphanumeric() {
            i += 1;
        }
        let word: Vec<char> = chars[start..i].iter().map(|c| fold_char(*c)).collect();
        if folded_words.iter().any(|w| word.starts_with(w)) {
            found.push((start, i));
        }
    }
    found
}

/// Up to about 120 characters of `text` around its first match.
pub fn snippet(text: &str, words: &[String]) -> String {
    const BEFORE: usize = 40;
    const LENGTH: usize = 120;
    let chars: Vec<char> = text.chars().collect();
    let first = word_matches(text, words).first().map_or(0, |m| m.0);
    let start = first.saturating_sub(BEFORE);
    let end = (start + LENGTH).min(chars.len());
    let mut out: String = chars[start..end].iter().collect();
    out = out.split_whitespace().collect::<Vec<_>>().join(" ");
    if start > 0 {
        out.insert(0, '…');
    }
    if end < chars.len() {
        out.push('…');
    }
    out
}

/// Index terms keep at most this many letters of a word's start; a longer query word is
/// looked up by its first letters and then checked whole by [`word_matches`].
pub const MAX_TERM_LEN: usize = 12;

/// What a store without a prefix-capable text index (MongoDB) keeps per message: the
/// start of each word, accents and case aside, every length from one letter up to
/// [`MAX_TERM_LEN`] (`Entrega` → `e`, `en`, … `entrega`), each once. A query word then
/// matches a word start by equality, which an ordinary multikey index answers.
pub fn search_terms(text: &str) -> Vec<String> {
    let mut terms: Vec<String> = Vec::new();
    for word in text.split(|c: char| !c.is_alphanumeric()) {
        let folded: Vec<char> = word.chars().map(fold_char).take(MAX_TERM_LEN).collect();
        for len in 1..=folded.len() {
            let term: String = folded[..len].iter().collect();
            if !terms.contains(&term) {
                terms.push(term);
            }
        }
    }
    terms
}

/// The terms a query's words are looked up by in [`search_terms`]: each folded and cut
/// to [`MAX_TERM_LEN`], longest first (the most selective leads an index lookup).
pub fn query_terms(words: &[String]) -> Vec<String> {
    let mut terms: Vec<String> = words
        .iter()
        .map(|w| w.chars().map(fold_char).take(MAX_TERM_LEN).collect())
        .collect();
    terms.sort_by_key(|t: &String| std::cmp::Reverse(t.chars().count()));
    terms.dedup();
    terms
}

/// The text a message is found by: its body or caption, and its file's name.
pub fn searchable_text(m: &Message) -> String {
    let mut text = m.text.clone().unwrap_or_default();
    if let Some(name) = m
        .details
        .media
        .as_ref()
        .and_then(|md| md.filename.as_deref())
    {
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(name);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_are_every_folded_word_start_and_a_query_word_is_one_of_them() {
        let terms = search_terms("Entrega já, ENTREGUE!");
        assert_eq!(
            terms,
            [
                "e", "en", "ent", "entr", "entre", "entreg", "entrega", "j", "ja", "entregu",
                "entregue"
            ]
        );
        let long = search_terms("Sendungsverfolgung");
        assert_eq!(long.last().map(String::as_str), Some("sendungsverf"));
        assert_eq!(long.len(), MAX_TERM_LEN);
        let q = query_terms(&search_words("JÁ sendungsverfolgungsnummer"));
        assert_eq!(q, ["sendungsverf", "ja"]);
        assert!(
            q.iter()
                .all(|t| search_terms("já Sendungsverfolgung").contains(t))
        );
    }

    #[test]
    fn query_words_are_lower_case_without_punctuation_or_repeats() {
        assert_eq!(
            search_words("  Pedido, PEDIDO #123 já!"),
            ["pedido", "123", "já"]
        );
        assert!(search_words(" ?! ").is_empty());
        assert_eq!(search_words("a b c d e f g h i j").len(), MAX_SEARCH_WORDS);
    }

    #[test]
    fn a_word_matches_the_start_of_a_word_whatever_its_accents_and_case() {
        let words = search_words("informacoes ent");
        let text = "Mais INFORMAÇÕES sobre a entrega";
        let found: Vec<String> = word_matches(text, &words)
            .into_iter()
            .map(|(s, e)| text.chars().skip(s).take(e - s).collect())
            .collect();
        assert_eq!(found, ["INFORMAÇÕES", "entrega"]);
        assert!(word_matches("apresentação", &search_words("sent")).is_empty());
    }

    #[test]
    fn a_snippet_is_the_text_around_the_first_match() {
        let long = format!("{} the parcel arrived {}", "x ".repeat(60), "y ".repeat(80));
        let s = snippet(&long, &search_words("parcel"));
        assert!(s.starts_with('…') && s.ends_with('…'), "{s}");
        assert!(s.contains("the parcel arrived"), "{s}");
        assert_eq!(snippet("short one", &search_words("one")), "short one");
    }
}
