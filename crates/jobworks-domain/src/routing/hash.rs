//! The consistent-hash ring of `strategy = "consistent_hash"`.

use sha2::{Digest, Sha256};

/// Virtual nodes per agent on the ring (XXL-JOB's `VIRTUAL_NODE_NUM = 100`).
pub const VIRTUAL_NODES: u32 = 100;

/// A stable 32-bit hash: the first 4 bytes of SHA-256 of the UTF-8 text, big-endian.
///
/// Stable across builds, platforms and releases (unlike `std`'s `DefaultHasher`), so a key
/// keeps its agent after a server upgrade. XXL-JOB truncates MD5 the same way; SHA-256 is
/// used here because it is already in the workspace and not deprecated.
pub fn stable_hash(text: &str) -> u32 {
    let digest = Sha256::digest(text.as_bytes());
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// A ring of 2^32 positions holding [`VIRTUAL_NODES`] nodes per agent, at
/// `stable_hash("SHARD-{name}-NODE-{i}")` for `i` in `0..100` (XXL-JOB's node names).
///
/// A key goes to the first node at or after `stable_hash(key)`, wrapping past the top.
/// Removing an agent moves only the keys that were on it; adding one takes about `1/n` of
/// the keys. Building costs `100 × n` SHA-256 of short strings (not measured here); a
/// caller placing many keys on one group can build it once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HashRing {
    /// `(position, agent name)`, sorted by position then name.
    nodes: Vec<(u32, String)>,
}

impl HashRing {
    /// The ring of these agent names (duplicates add nothing).
    pub fn new<'a>(names: impl IntoIterator<Item = &'a str>) -> HashRing {
        let mut nodes: Vec<(u32, String)> = names
            .into_iter()
            .flat_map(|name| {
                (0..VIRTUAL_NODES).map(move |i| {
                    (
                        stable_hash(&format!("SHARD-{name}-NODE-{i}")),
                        name.to_owned(),
                    )
                })
            })
            .collect();
        nodes.sort();
        nodes.dedup();
        HashRing { nodes }
    }

    /// The agent `key` goes to; `None` for an empty ring.
    pub fn agent_for(&self, key: &str) -> Option<&str> {
        let position = stable_hash(key);
        let index = self.nodes.partition_point(|(at, _)| *at < position);
        self.nodes
            .get(index)
            .or_else(|| self.nodes.first())
            .map(|(_, name)| name.as_str())
    }
}
