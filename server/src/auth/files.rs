//! The operator's files: static tokens (`--auth-token-file`) and the group → namespaces map
//! (`--auth-group-namespaces`). Both are plain text, one entry per line, `#` starts a comment.
//!
//! Token file lines: `TOKEN [name=alice] [namespaces=a,b|*] [groups=dev,ops]`. A token without
//! `namespaces=` or `groups=` sees everything (it is the operator's own); with them, the union. Tokens are kept
//! only as SHA-256 digests, so a token never sits in memory or in a log in the clear after parsing, and lookups
//! do not compare secrets byte by byte.
//!
//! Group map lines: `GROUP: ns1, ns2` (`*` for all namespaces).

use std::collections::BTreeMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use super::scope::Scope;

/// The shortest static token accepted: shorter ones can be guessed.
pub const MIN_TOKEN_LEN: usize = 16;

/// One static token's entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenEntry {
    /// Its name (default: its fingerprint).
    pub name: String,
    /// Its fingerprint (the first 12 bytes of its SHA-256, base64url): names it in sessions and logs.
    pub fingerprint: String,
    /// Namespaces given on its line (`None`: not given).
    pub namespaces: Option<Scope>,
    /// Groups given on its line.
    pub groups: Vec<String>,
}

/// The token file: entries by token digest and by fingerprint.
#[derive(Debug, Default)]
pub struct TokenFile {
    by_digest: BTreeMap<[u8; 32], TokenEntry>,
    by_fingerprint: BTreeMap<String, TokenEntry>,
}

/// SHA-256 of a token.
pub fn digest(token: &str) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// A token's fingerprint.
pub fn fingerprint(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(&digest(token)[..12])
}

impl TokenFile {
    /// Parses a token file.
    ///
    /// # Errors
    /// A message naming the line (never the token).
    pub fn parse(text: &str) -> Result<TokenFile, String> {
        let mut file = TokenFile::default();
        for (number, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or_default().trim();
            let mut words = line.split_whitespace();
            let Some(token) = words.next() else { continue };
            let at = number + 1;
            if token.len() < MIN_TOKEN_LEN {
                return Err(format!("line {at}: tokens must be at least {MIN_TOKEN_LEN} characters"));
            }
            let fingerprint = fingerprint(token);
            let mut entry =
                TokenEntry { name: fingerprint.clone(), fingerprint, namespaces: None, groups: Vec::new() };
            for word in words {
                let list = |v: &str| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect::<Vec<_>>()
                };
                match word.split_once('=') {
                    Some(("name", value)) if !value.is_empty() => value.clone_into(&mut entry.name),
                    Some(("namespaces", value)) => entry.namespaces = Some(Scope::namespaces(list(value))),
                    Some(("groups", value)) => entry.groups = list(value),
                    _ => {
                        return Err(format!(
                            "line {at}: unknown setting {word:?} (name=, namespaces=, groups=)"
                        ))
                    }
                }
            }
            let digest = digest(token);
            if file.by_digest.contains_key(&digest) {
                return Err(format!("line {at}: the same token twice"));
            }
            file.by_fingerprint.insert(entry.fingerprint.clone(), entry.clone());
            file.by_digest.insert(digest, entry);
        }
        Ok(file)
    }

    /// The entry of this token.
    pub fn find(&self, token: &str) -> Option<&TokenEntry> {
        self.by_digest.get(&digest(token))
    }

    /// The entry with this fingerprint (a session's source).
    pub fn by_fingerprint(&self, fingerprint: &str) -> Option<&TokenEntry> {
        self.by_fingerprint.get(fingerprint)
    }

    /// How many tokens.
    pub fn len(&self) -> usize {
        self.by_digest.len()
    }
}

/// The group → namespaces map.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GroupMap(BTreeMap<String, Scope>);

impl GroupMap {
    /// Parses `GROUP: ns1, ns2` lines.
    ///
    /// # Errors
    /// A message naming the line.
    pub fn parse(text: &str) -> Result<GroupMap, String> {
        let mut map = BTreeMap::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let (group, namespaces) = line
                .split_once(':')
                .ok_or_else(|| format!("line {}: expected `group: ns1, ns2`", number + 1))?;
            let namespaces = namespaces.split(',').map(str::trim).filter(|s| !s.is_empty());
            let scope = Scope::namespaces(namespaces);
            let group = group.trim().to_owned();
            let merged = map.get(&group).map_or_else(|| scope.clone(), |s: &Scope| s.union(&scope));
            map.insert(group, merged);
        }
        Ok(GroupMap(map))
    }

    /// The union of these groups' scopes; nothing when none is mapped.
    pub fn scope<S: AsRef<str>>(&self, groups: &[S]) -> Scope {
        groups
            .iter()
            .filter_map(|g| self.0.get(g.as_ref()))
            .fold(Scope::nothing(), |acc, scope| acc.union(scope))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_lines_carry_names_scopes_and_groups() {
        let file = TokenFile::parse(
            "# admins\nadmin-token-0123456789\nteam-a-token-0123456 name=team-a namespaces=a,b # comment\n\
             dev-token-0123456789 groups=dev\n",
        )
        .unwrap();
        assert_eq!(file.len(), 3);
        assert_eq!(file.find("admin-token-0123456789").unwrap().namespaces, None);
        let team = file.find("team-a-token-0123456").unwrap();
        assert_eq!(team.name, "team-a");
        assert_eq!(team.namespaces, Some(Scope::namespaces(["a", "b"])));
        assert_eq!(file.find("dev-token-0123456789").unwrap().groups, vec!["dev"]);
        assert!(file.find("team-a-token-0123457").is_none());
        assert_eq!(file.by_fingerprint(&team.fingerprint), Some(team));
    }

    #[test]
    fn short_tokens_and_unknown_settings_are_refused_without_echoing_the_token() {
        let error = TokenFile::parse("short").unwrap_err();
        assert!(error.contains("line 1") && !error.contains("short"), "{error}");
        let error = TokenFile::parse("long-enough-token-1234 namespace=a").unwrap_err();
        assert!(error.contains("unknown setting"), "{error}");
    }

    #[test]
    fn groups_map_to_the_union_of_their_namespaces_and_unknown_groups_to_nothing() {
        let map = GroupMap::parse("dev: a, b\nops: *\nqa: c\n# x\nqa: d\n").unwrap();
        assert_eq!(map.scope(&["dev"]), Scope::namespaces(["a", "b"]));
        assert_eq!(map.scope(&["dev", "qa"]), Scope::namespaces(["a", "b", "c", "d"]));
        assert!(map.scope(&["ops", "dev"]).is_all());
        assert_eq!(map.scope(&["nobody"]), Scope::nothing());
        assert!(GroupMap::parse("no colon").is_err());
    }
}
