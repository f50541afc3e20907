//! Access tokens of a workspace's server: `DIR/tokens.json` lists each token's id, name,
//! role and the BLAKE3 hash of its secret. The secret itself is shown once, when the
//! token is created, and stored nowhere.
//!
//! A token is 32 random bytes from the operating system's generator (through `rand`'s
//! thread generator, a CSPRNG), so an unsalted fast hash is enough: there is no
//! dictionary to try. The file is replaced atomically under the workspace's lock.

use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::StoreError;
use crate::workspace::Workspace;

const TOKENS_FILE: &str = "tokens.json";
/// What every token's text starts with, so that a leaked one is recognisable.
pub const TOKEN_PREFIX: &str = "rpt_";

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Only answers the NPS kiosk form (posts survey answers from it); reads nothing.
    Kiosk,
    /// Reads results without personal data (names, emails, phone numbers, exact
    /// locations, raw texts).
    Viewer,
    /// Reads results and personal data.
    Analyst,
    /// Everything: ingests events, forgets customers, manages tokens.
    Admin,
}

impl Role {
    /// Every role, least first.
    pub const ALL: [Role; 4] = [Role::Kiosk, Role::Viewer, Role::Analyst, Role::Admin];

    /// The role's name.
    pub fn name(self) -> &'static str {
        match self {
            Role::Kiosk => "kiosk",
            Role::Viewer => "viewer",
            Role::Analyst => "analyst",
            Role::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = StoreError;
    fn from_str(text: &str) -> Result<Self, StoreError> {
        Role::ALL.into_iter().find(|role| role.name() == text).ok_or_else(|| {
            StoreError::Invalid(rapport_core::CoreError::InvalidOption {
                option: "role",
                reason: format!("{text:?} is not one of viewer, analyst, admin, kiosk"),
            })
        })
    }
}

/// One token, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Short id, for listing and revoking (not secret).
    pub id: String,
    /// What the token is for.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// BLAKE3 of the token's text, hex.
    pub hash: String,
    /// When it was created (RFC 3339, UTC).
    pub created_at: String,
    /// When it was revoked, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct TokenFile {
    tokens: Vec<TokenRecord>,
}

/// The hash a token is stored under.
pub fn token_hash(token: &str) -> String {
    blake3::hash(token.as_bytes()).to_hex().to_string()
}

/// Every token of the workspace, revoked ones included, oldest first.
pub fn list(root: &Path) -> Result<Vec<TokenRecord>, StoreError> {
    let path = root.join(TOKENS_FILE);
    if !path.exists() {
        return Ok(Vec::new());
    }
    let bytes = fs::read(&path).map_err(StoreError::read(&path))?;
    let file: TokenFile = serde_json::from_slice(&bytes)
        .map_err(|error| StoreError::Config { path: path.clone(), message: format!("unreadable token list: {error}") })?;
    Ok(file.tokens)
}

/// When the token file last changed (to reload it only then).
pub fn modified(root: &Path) -> Option<std::time::SystemTime> {
    fs::metadata(root.join(TOKENS_FILE)).and_then(|metadata| metadata.modified()).ok()
}

impl Workspace {
    /// Create a token; returns its record and its text (shown once, stored only hashed).
    pub fn create_token(&mut self, role: Role, name: &str) -> Result<(TokenRecord, String), StoreError> {
        let _lock = self.lock()?;
        let mut tokens = list(self.root())?;
        let secret: [u8; 32] = rand::random();
        let token = format!("{TOKEN_PREFIX}{}", hex(&secret));
        let id: [u8; 4] = rand::random();
        let record = TokenRecord {
            id: format!("t{}", hex(&id)),
            name: if name.trim().is_empty() { format!("{} token", role.name()) } else { name.trim().to_string() },
            role,
            hash: token_hash(&token),
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            revoked_at: None,
        };
        tokens.push(record.clone());
        self.write_tokens(tokens)?;
        Ok((record, token))
    }

    /// Revoke the token with this id (or name); the flag is false if it was revoked before.
    pub fn revoke_token(&mut self, id_or_name: &str) -> Result<(TokenRecord, bool), StoreError> {
        let _lock = self.lock()?;
        let mut tokens = list(self.root())?;
        let matching: Vec<usize> =
            (0..tokens.len()).filter(|&index| tokens[index].id == id_or_name || tokens[index].name == id_or_name).collect();
        let index = match matching.as_slice() {
            [index] => *index,
            [] => {
                return Err(StoreError::Invalid(rapport_core::CoreError::InvalidOption {
                    option: "token",
                    reason: format!("no token has the id or name {id_or_name:?} (rapport token list shows them)"),
                }));
            }
            _ => {
                return Err(StoreError::Invalid(rapport_core::CoreError::InvalidOption {
                    option: "token",
                    reason: format!("{} tokens are named {id_or_name:?}: revoke by id (rapport token list shows them)", matching.len()),
                }));
            }
        };
        let newly = tokens[index].revoked_at.is_none();
        if newly {
            tokens[index].revoked_at = Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
            self.write_tokens(tokens.clone())?;
        }
        Ok((tokens[index].clone(), newly))
    }

    /// Replace the token list atomically, readable by its owner only (it is no secret
    /// without the tokens, but it lists who may do what).
    fn write_tokens(&self, tokens: Vec<TokenRecord>) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec_pretty(&TokenFile { tokens }).map_err(|error| StoreError::Internal(error.to_string()))?;
        let path = self.root().join(TOKENS_FILE);
        let aside = path.with_extension("tmp");
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&aside).map_err(StoreError::write(&aside))?;
        std::io::Write::write_all(&mut file, &bytes).map_err(StoreError::write(&aside))?;
        file.sync_all().map_err(StoreError::write(&aside))?;
        fs::rename(&aside, &path).map_err(StoreError::write(&path))?;
        crate::workspace::sync_parent(&path)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_stored_only_as_its_hash_and_can_be_revoked() {
        let directory = tempfile::tempdir().expect("tempdir");
        let mut workspace = Workspace::init(&directory.path().join("ws"), Default::default()).expect("init");
        let (record, token) = workspace.create_token(Role::Analyst, "weekly report").expect("create");
        assert!(token.starts_with(TOKEN_PREFIX) && token.len() == TOKEN_PREFIX.len() + 64);
        let stored = fs::read_to_string(workspace.root().join(TOKENS_FILE)).expect("read");
        assert!(!stored.contains(&token[TOKEN_PREFIX.len()..]), "the secret is not stored");
        assert!(stored.contains(&token_hash(&token)));
        let (_, other) = workspace.create_token(Role::Viewer, "").expect("create");
        assert_ne!(token, other);
        assert_eq!(list(workspace.root()).expect("list").len(), 2);
        let (revoked, newly) = workspace.revoke_token(&record.id).expect("revoke");
        assert!(revoked.revoked_at.is_some() && newly);
        assert!(!workspace.revoke_token(&record.id).expect("again").1, "already revoked");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(workspace.root().join(TOKENS_FILE)).expect("metadata").permissions().mode();
            assert_eq!(mode & 0o077, 0, "only its owner reads the token list: {mode:o}");
        }
        assert!(workspace.revoke_token("no such").is_err());
        assert_eq!(list(workspace.root()).expect("list")[1].name, "viewer token");
        assert!("owner".parse::<Role>().is_err());
    }
}
