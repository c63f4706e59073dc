//! The names of the CRDT backends this project ships, for the tools that choose one at run
//! time (`--backend`, `SDS_BACKEND`) and dispatch to the generic code once.

use std::fmt;

/// A CRDT backend chosen by name: `yrs` (sds-yrs, the default) or `loro` (sds-loro). The
/// names are those of [`crate::NewBackend::NAME`] and of the stored files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum BackendKind {
    /// Y.js-compatible documents (sds-yrs), the default.
    #[default]
    Yrs,
    /// Loro documents (sds-loro).
    Loro,
}

impl BackendKind {
    /// Every backend, the default first.
    pub const ALL: [BackendKind; 2] = [BackendKind::Yrs, BackendKind::Loro];

    /// `yrs` or `loro`.
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Yrs => "yrs",
            BackendKind::Loro => "loro",
        }
    }

    /// The backend named `raw`, case-insensitively.
    pub fn parse(raw: &str) -> Option<BackendKind> {
        BackendKind::ALL
            .into_iter()
            .find(|kind| kind.as_str().eq_ignore_ascii_case(raw))
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for BackendKind {
    type Err = String;

    fn from_str(raw: &str) -> Result<BackendKind, String> {
        BackendKind::parse(raw)
            .ok_or_else(|| format!("unknown backend '{raw}' (expected yrs or loro)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_case_insensitively_and_round_trip() {
        for kind in BackendKind::ALL {
            assert_eq!(BackendKind::parse(kind.as_str()), Some(kind));
            assert_eq!(kind.to_string().parse::<BackendKind>(), Ok(kind));
        }
        assert_eq!(BackendKind::parse("LoRo"), Some(BackendKind::Loro));
        assert_eq!(BackendKind::parse("automerge"), None);
        assert_eq!(
            "x".parse::<BackendKind>().unwrap_err(),
            "unknown backend 'x' (expected yrs or loro)"
        );
        assert_eq!(BackendKind::default(), BackendKind::Yrs);
    }
}
