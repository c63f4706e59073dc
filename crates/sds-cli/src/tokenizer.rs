//! The line tokenizer of REPL and script lines (SPEC §15.10, with the F19 fix for empty quoted
//! strings).

/// Splits one line into tokens.
///
/// * Space and tab separate tokens.
/// * `'…'` is literal text up to the next `'`.
/// * `"…"` is text up to the next unescaped `"`; `\"` and `\\` are escapes, any other `\x`
///   stays as the two characters.
/// * Outside quotes `\x` yields `x`; a backslash at the end of the line is kept.
/// * Adjacent quoted and unquoted parts form one token; an unclosed quote runs to the end.
/// * `#` starts a comment only when no token is in progress.
/// * `""` and `''` are empty tokens.
pub fn tokenize(line: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    // The token being built; `None` when between tokens. A quoted part starts a token even
    // when it adds no characters, which is how empty quoted strings become empty tokens.
    let mut current: Option<String> = None;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if let Some(token) = current.take() {
                    tokens.push(token);
                }
            }
            '#' if current.is_none() => break,
            '\'' => {
                let token = current.get_or_insert_with(String::new);
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    token.push(q);
                }
            }
            '"' => {
                let token = current.get_or_insert_with(String::new);
                while let Some(q) = chars.next() {
                    match q {
                        '"' => break,
                        '\\' => match chars.peek() {
                            Some(&next @ ('"' | '\\')) => {
                                token.push(next);
                                chars.next();
                            }
                            _ => token.push('\\'),
                        },
                        other => token.push(other),
                    }
                }
            }
            '\\' => {
                let token = current.get_or_insert_with(String::new);
                match chars.next() {
                    Some(next) => token.push(next),
                    None => token.push('\\'),
                }
            }
            other => current.get_or_insert_with(String::new).push(other),
        }
    }
    if let Some(token) = current {
        tokens.push(token);
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::tokenize;

    fn t(line: &str) -> Vec<String> {
        tokenize(line)
    }

    #[test]
    fn spaces_and_tabs_separate_tokens() {
        assert_eq!(t("entry  list\troot"), ["entry", "list", "root"]);
        assert_eq!(t("   "), Vec::<String>::new());
        assert_eq!(t(""), Vec::<String>::new());
    }

    #[test]
    fn single_quotes_are_literal() {
        assert_eq!(t(r#"--label 'a b\n "c"'"#), ["--label", r#"a b\n "c""#]);
    }

    #[test]
    fn double_quotes_know_two_escapes() {
        assert_eq!(t(r#""say \"hi\"""#), [r#"say "hi""#]);
        assert_eq!(t(r#""back\\slash""#), [r"back\slash"]);
        assert_eq!(t(r#""keep \n and \x""#), [r"keep \n and \x"]);
    }

    #[test]
    fn backslash_outside_quotes_escapes_the_next_character() {
        assert_eq!(t(r"a\ b c"), ["a b", "c"]);
        assert_eq!(t(r"\#not-a-comment"), ["#not-a-comment"]);
        assert_eq!(t(r"\'x"), ["'x"]);
        assert_eq!(t(r"end\"), [r"end\"]);
        assert_eq!(t(r"\"), [r"\"]);
    }

    #[test]
    fn adjacent_parts_join() {
        assert_eq!(t(r#"ab"c d"e"#), ["abc de"]);
        assert_eq!(t(r#"'x'"y"z"#), ["xyz"]);
    }

    #[test]
    fn unclosed_quotes_run_to_the_end_of_the_line() {
        assert_eq!(t(r#"a "b c"#), ["a", "b c"]);
        assert_eq!(t("a 'b c"), ["a", "b c"]);
        assert_eq!(t(r#"a "b \"#), ["a", r"b \"]);
    }

    #[test]
    fn comments_start_only_between_tokens() {
        assert_eq!(t("entry list # the rest"), ["entry", "list"]);
        assert_eq!(t("# all comment"), Vec::<String>::new());
        assert_eq!(t("a#b"), ["a#b"]);
        assert_eq!(t("a #b"), ["a"]);
        assert_eq!(t(r##""#" x"##), ["#", "x"]);
    }

    #[test]
    fn empty_quoted_strings_are_empty_tokens() {
        assert_eq!(t(r#"--label """#), ["--label", ""]);
        assert_eq!(t("--label ''"), ["--label", ""]);
        assert_eq!(t(r#""" '' x"#), ["", "", "x"]);
        assert_eq!(t(r#"a""b"#), ["ab"]);
    }

    #[test]
    fn unicode_passes_through() {
        assert_eq!(t("--label 'Grüße — ok' ✓"), ["--label", "Grüße — ok", "✓"]);
    }
}
