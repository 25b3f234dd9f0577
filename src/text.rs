//! Messages about what a user wrote, bounded and on one line: TOML errors that name the
//! line and column without quoting the file (so a file named by mistake, or by a hostile
//! claim file, is refused without its content being published), and quotes cut short.

/// `text` cut to at most `max` characters, with "…" where it was cut: for echoing what a
/// user gave in a message without echoing megabytes.
pub fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// A TOML error in `text` on one line: "line L, column C: ...". When `text` is not TOML at
/// all nothing of it is quoted ("not valid TOML"); when it is TOML but not what was
/// expected, the parser's message (which names keys) is kept, cut short, with any string
/// value it quotes replaced by "a string": a claim file may name any TOML file as a
/// config, and a page must not publish that file's values.
pub fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let place = e.span().map(|span| {
        let before = &text[..span.start.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        format!("line {line}, column {column}: ")
    });
    let what = match toml::from_str::<toml::Table>(text) {
        Err(_) => "not valid TOML".to_owned(),
        Ok(_) => shorten(&unquoted(&e.message().replace('\n', " ")), 300),
    };
    format!("{}{}", place.unwrap_or_default(), with_suggestion(&what))
}

/// `message` with every `string "..."` serde quotes (escapes included) replaced by
/// `a string`.
fn unquoted(message: &str) -> String {
    let mut out = String::new();
    let mut rest = message;
    while let Some(at) = rest.find("string \"") {
        out.push_str(&rest[..at]);
        out.push_str("a string");
        let value = &rest[at + "string \"".len()..];
        let mut escaped = false;
        let end = value.char_indices().find(|&(_, c)| {
            let closes = c == '"' && !escaped;
            escaped = c == '\\' && !escaped;
            closes
        });
        rest = end.map_or("", |(i, _)| &value[i + 1..]);
    }
    out.push_str(rest);
    out
}

/// A number in a TOML text that is not finite, and where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct NonFinite {
    /// Its line and column, counted from 1.
    pub place: (usize, usize),
    /// Its key path (`augment.normalize.mean[0]`).
    pub key: String,
    /// Its literal (`nan`, `inf`, `1e400`).
    pub literal: String,
}

impl std::fmt::Display for NonFinite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (line, column) = self.place;
        write!(
            f,
            "line {line}, column {column}: {} = {}: every number must be finite",
            self.key, self.literal
        )
    }
}

/// The first number in TOML `text` that is not finite (`nan`, `inf`, or a literal too
/// large for an f64 such as `1e400`), so that no config or claim file can carry a NaN
/// into a run; `None` when every number is finite (or the text is not TOML: the parser's
/// own error says so).
pub fn non_finite_number(text: &str) -> Option<NonFinite> {
    use toml::de::DeValue;
    let root = toml::de::DeTable::parse(text).ok()?;
    let root = toml::Spanned::new(root.span(), DeValue::Table(root.into_inner()));
    let mut stack = vec![(String::new(), &root)];
    while let Some((key, value)) = stack.pop() {
        match value.get_ref() {
            DeValue::Float(f) if !f.as_str().parse::<f64>().is_ok_and(f64::is_finite) => {
                let before = &text[..value.span().start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                return Some(NonFinite {
                    place: (line, column),
                    key,
                    literal: f.as_str().to_owned(),
                });
            }
            DeValue::Table(table) => stack.extend(table.iter().rev().map(|(k, v)| {
                let dot = if key.is_empty() { "" } else { "." };
                (format!("{key}{dot}{}", k.get_ref()), v)
            })),
            DeValue::Array(items) => stack.extend(
                items
                    .iter()
                    .enumerate()
                    .rev()
                    .map(|(i, v)| (format!("{key}[{i}]"), v)),
            ),
            _ => {}
        }
    }
    None
}

/// A parser's "unknown field `vaue`, expected one of `id`, `value`, ..." (or "unknown
/// variant") with "; did you mean `value`?" added when one expected name is close (an
/// edit distance of at most a third of its length, and at most 3).
pub fn with_suggestion(message: &str) -> String {
    let expected = message.split_once("expected").map_or("", |(_, rest)| rest);
    let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    suggest_among(message, &candidates)
}

/// `message` naming an unknown field or variant, with "; did you mean `NAME`?" added when
/// one of `names` is close to it.
pub fn suggest_among(message: &str, names: &[&str]) -> String {
    let unknown = ["unknown field `", "unknown variant `"]
        .iter()
        .find_map(|p| message.split_once(p))
        .and_then(|(_, rest)| rest.split_once('`'))
        .map(|(name, _)| name);
    let best = unknown.and_then(|name| {
        names
            .iter()
            .map(|c| (strsim::levenshtein(name, c), *c))
            .filter(|(d, c)| *d <= 3 && *d * 3 <= c.len().max(3))
            .min_by_key(|(d, _)| *d)
    });
    match best {
        Some((_, name)) => format!("{message}; did you mean `{name}`?"),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_string_value_in_a_type_error_is_never_quoted() {
        let text = "[loop]\nepochs = \"hunter2 \\\" more\"\n";
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Loop {
            epochs: u64,
        }
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Config {
            #[serde(rename = "loop")]
            loop_: Loop,
        }
        let e = toml::from_str::<Config>(text).unwrap_err();
        let message = toml_error(text, &e);
        assert!(
            message.contains("a string") && message.contains("line 2"),
            "{message}"
        );
        assert!(
            !message.contains("hunter2") && !message.contains("more"),
            "{message}"
        );
    }

    #[test]
    fn numbers_far_from_one_print_in_exponent_form() {
        assert_eq!(fixed(2_236_740_352_992_073_364_799_488.0, 4), "2.2367e24");
        assert_eq!(fixed(2.30261, 4), "2.3026");
        assert_eq!(fixed(0.0, 4), "0.0000");
        assert_eq!(fixed(3e-7, 4), "3.0000e-7");
        assert_eq!(fixed(f64::NAN, 4), "NaN");
    }

    #[test]
    fn every_non_finite_number_is_found_with_its_place_and_key() {
        let text = "a = 1.0\n[b]\nc = [0.5, nan]\n[[d]]\ne = 1e400\n";
        let found = non_finite_number(text).unwrap();
        assert_eq!((found.place, found.key.as_str()), ((3, 11), "b.c[1]"));
        let rest = text.replace("nan", "0.1");
        let found = non_finite_number(&rest).unwrap();
        assert_eq!(
            (found.key.as_str(), found.literal.as_str()),
            ("d[0].e", "1e400")
        );
        assert_eq!(non_finite_number("a = 1.0\nb = \"nan\"\n"), None);
    }

    #[test]
    fn a_file_that_is_not_toml_is_named_without_its_content() {
        let secret = "root:$6$secret-hash:19000:0:99999:7:::\n";
        let e = toml::from_str::<toml::Table>(secret).unwrap_err();
        let message = toml_error(secret, &e);
        assert!(
            message.starts_with("line 1, column") && !message.contains("secret"),
            "{message}"
        );
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Config {
            epochs: u32,
        }
        let text = "epochs = 1\nepoch = 2\n";
        let e = toml::from_str::<Config>(text).unwrap_err();
        let message = toml_error(text, &e);
        assert!(
            message.starts_with("line 2, column 1") && message.contains("`epoch`"),
            "{message}"
        );
        assert_eq!(shorten(&"x".repeat(10_000), 5), "xxxxx…");
    }

    #[test]
    fn a_near_miss_is_named() {
        let field = "unknown field `vaue`, expected one of `id`, `value`, `margin`";
        assert!(with_suggestion(field).ends_with("did you mean `value`?"));
        let variant = "unknown variant `acuracy`, expected one of `accuracy`, `loss`";
        assert!(with_suggestion(variant).ends_with("did you mean `accuracy`?"));
        let far = "unknown field `zzz`, expected `id` or `value`";
        assert_eq!(with_suggestion(far), far);
    }
}

/// A number as a message shows it: floats far from 1 in exponent form (`2.2e-308`, not
/// 300 digits), everything else as Rust prints it.
pub trait Shown: PartialOrd + Copy {
    /// The number as a message shows it.
    fn shown(self) -> String;

    /// The number as the lower end of an allowed range ("> 0" for the smallest positive
    /// float, which stands for "positive").
    fn shown_as_start(self) -> String {
        self.shown() + "..="
    }
}

impl Shown for f64 {
    fn shown_as_start(self) -> String {
        match self == f64::MIN_POSITIVE {
            true => "> 0 and <= ".into(),
            false => self.shown() + "..=",
        }
    }

    fn shown(self) -> String {
        let a = self.abs();
        if a != 0.0 && a.is_finite() && !(1e-4..1e9).contains(&a) {
            format!("{self:e}")
        } else {
            format!("{self}")
        }
    }
}

macro_rules! shown_as_display {
    ($($t:ty),*) => {$(impl Shown for $t { fn shown(self) -> String { self.to_string() } })*};
}
shown_as_display!(u8, usize, u64, i64);

/// `n` and a noun, plural unless `n` is 1: "1 epoch", "3 epochs".
pub fn counted(n: usize, noun: &str) -> String {
    match n {
        1 => format!("1 {noun}"),
        _ => format!("{n} {noun}s"),
    }
}

/// `x` to `places` decimals, or in exponent form when it is far from 1 (a diverging
/// loss of 2.2e24 prints as `2.2367e24`, not as 25 digits).
pub fn fixed(x: f64, places: usize) -> String {
    let a = x.abs();
    match a != 0.0 && a.is_finite() && !(1e-4..1e6).contains(&a) {
        true => format!("{x:.places$e}"),
        false => format!("{x:.places$}"),
    }
}

/// Err naming `key`, its value and the allowed range, when `value` is outside `range`
/// (NaN is outside every range).
pub fn in_range<T: Shown>(
    key: &str,
    value: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<(), String> {
    if range.contains(&value) {
        return Ok(());
    }
    Err(format!(
        "{key} = {} is out of range: allowed {}{}",
        value.shown(),
        range.start().shown_as_start(),
        range.end().shown()
    ))
}

/// `text` as one cell of a Markdown table: no line breaks, no cell separator, and no raw
/// HTML (GitHub renders HTML inside Markdown).
pub fn markdown_cell(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace(['\n', '\r'], " ")
        .replace('|', "\\|")
}
