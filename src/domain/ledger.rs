//! The audit ledger's public rules: RFC 6962 (RFC 9162 §2.1) Merkle hashing over the audit
//! events, inclusion and consistency proofs and their checks, and the Ed25519-signed checkpoint
//! text (C2SP tlog-checkpoint in a signed note). Pure: reading events and storing checkpoints
//! live in `audit` and `store::audit`. Anyone holding the public key can check all of it.

use base64::{Engine, engine::general_purpose::STANDARD as B64};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// One SHA-256 value.
pub type Hash = [u8; 32];

/// The origin line of every epro checkpoint (C2SP tlog-checkpoint: names the log).
pub const ORIGIN: &str = "epro audit log";

fn sha256(parts: &[&[u8]]) -> Hash {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(&h.finalize());
    out
}

/// RFC 6962 leaf hash: SHA-256(0x00 ‖ leaf). An audit event's leaf is the RFC 8785 canonical
/// JSON of its stored content (`domain::audit::EventContent`, sequence number included).
pub fn leaf_hash(leaf: &[u8]) -> Hash {
    sha256(&[&[0], leaf])
}

/// RFC 6962 interior node: SHA-256(0x01 ‖ left ‖ right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    sha256(&[&[1], left, right])
}

/// The largest power of two smaller than `n` (n ≥ 2).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// MTH(D[n]) over leaf hashes; the empty tree's root is SHA-256 of nothing.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => sha256(&[]),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// PATH(m, D[n]): the audit path of leaf `index` (0-based) in the tree of `leaves`.
pub fn inclusion_proof(index: usize, leaves: &[Hash]) -> Option<Vec<Hash>> {
    fn path(m: usize, d: &[Hash], out: &mut Vec<Hash>) {
        if d.len() <= 1 {
            return;
        }
        let k = split(d.len());
        if m < k {
            path(m, &d[..k], out);
            out.push(root(&d[k..]));
        } else {
            path(m - k, &d[k..], out);
            out.push(root(&d[..k]));
        }
    }
    (index < leaves.len()).then(|| {
        let mut out = Vec::new();
        path(index, leaves, &mut out);
        out
    })
}

/// PROOF(m, D[n]): the consistency proof from the tree of the first `m` leaves to the tree of
/// all `leaves` (empty when m is 0 or all of them).
pub fn consistency_proof(m: usize, leaves: &[Hash]) -> Option<Vec<Hash>> {
    fn sub(m: usize, d: &[Hash], whole: bool, out: &mut Vec<Hash>) {
        let n = d.len();
        if m == n {
            if !whole {
                out.push(root(d));
            }
            return;
        }
        let k = split(n);
        if m <= k {
            sub(m, &d[..k], whole, out);
            out.push(root(&d[k..]));
        } else {
            sub(m - k, &d[k..], false, out);
            out.push(root(&d[..k]));
        }
    }
    (m <= leaves.len()).then(|| {
        let mut out = Vec::new();
        if m > 0 && m < leaves.len() {
            sub(m, leaves, true, &mut out);
        }
        out
    })
}

/// Why a proof does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("leaf {index} is outside a tree of {size}")]
    OutOfRange { index: u64, size: u64 },
    #[error("the proof has the wrong number of hashes")]
    WrongLength,
    #[error("the proof does not lead to the root")]
    RootMismatch,
    #[error("the proof does not lead to the earlier tree's root")]
    FirstRootMismatch,
    #[error("a tree of {second} cannot extend a tree of {first}")]
    Shrunk { first: u64, second: u64 },
}

/// RFC 9162 §2.1.3.2: does `path` prove that `leaf` is leaf `index` of the tree of `size`
/// with `root`?
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    path: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::OutOfRange { index, size });
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in path {
        if sn == 0 {
            return Err(ProofError::WrongLength);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(ProofError::WrongLength);
    }
    if r != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// RFC 9162 §2.1.4.2: does `path` prove that the tree of `second` (root `second_root`)
/// extends the tree of `first` (root `first_root`), changing none of its leaves?
pub fn verify_consistency(
    first: u64,
    second: u64,
    first_root: &Hash,
    second_root: &Hash,
    path: &[Hash],
) -> Result<(), ProofError> {
    if second < first {
        return Err(ProofError::Shrunk { first, second });
    }
    if first == second {
        if !path.is_empty() {
            return Err(ProofError::WrongLength);
        }
        return (first_root == second_root)
            .then_some(())
            .ok_or(ProofError::RootMismatch);
    }
    if first == 0 {
        // Every tree extends the empty one; its root is fixed.
        return (path.is_empty() && *first_root == root(&[]))
            .then_some(())
            .ok_or(ProofError::FirstRootMismatch);
    }
    if path.is_empty() {
        return Err(ProofError::WrongLength);
    }
    let mut path: Vec<Hash> = path.to_vec();
    if first.is_power_of_two() {
        path.insert(0, *first_root);
    }
    let (mut fn_, mut sn) = (first - 1, second - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if sn == 0 {
            return Err(ProofError::WrongLength);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(ProofError::WrongLength);
    }
    if fr != *first_root {
        return Err(ProofError::FirstRootMismatch);
    }
    if sr != *second_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// A checkpoint: the tree of the first `size` events has `root`; `time` (RFC 3339 UTC) is when
/// it was signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub size: u64,
    pub root: Hash,
    pub time: String,
}

impl Checkpoint {
    /// The signed text (C2SP tlog-checkpoint): origin, decimal size, base64 root, then one
    /// extension line with the time; each line ends with a newline.
    pub fn body(&self) -> String {
        format!(
            "{ORIGIN}\n{}\n{}\ntime {}\n",
            self.size,
            B64.encode(self.root),
            self.time
        )
    }

    /// Read a body back (the inverse of `body`).
    pub fn parse(body: &str) -> Option<Self> {
        let mut lines = body.strip_suffix('\n')?.split('\n');
        if lines.next()? != ORIGIN {
            return None;
        }
        let size = lines.next()?.parse().ok()?;
        let root: Hash = B64.decode(lines.next()?).ok()?.try_into().ok()?;
        let time = lines.next()?.strip_prefix("time ")?.to_string();
        lines.next().is_none().then_some(Self { size, root, time })
    }
}

/// The signed-note key name of a checkpoint key: the origin.
fn key_id(key: &VerifyingKey) -> [u8; 4] {
    // C2SP signed-note: SHA-256(name ‖ "\n" ‖ 0x01 (Ed25519) ‖ public key), first 4 bytes.
    let h = sha256(&[ORIGIN.as_bytes(), b"\n", &[1], key.as_bytes()]);
    [h[0], h[1], h[2], h[3]]
}

/// Sign a checkpoint: the signed note's signature line value, base64 of key id ‖ signature.
pub fn sign(checkpoint: &Checkpoint, seed: &[u8; 32]) -> String {
    let key = SigningKey::from_bytes(seed);
    let signature = key.sign(checkpoint.body().as_bytes());
    let mut raw = key_id(&key.verifying_key()).to_vec();
    raw.extend_from_slice(&signature.to_bytes());
    B64.encode(raw)
}

/// The public key (hex) of a checkpoint seed: what `epro audit public-key` prints.
pub fn public_key_hex(seed: &[u8; 32]) -> String {
    hex::encode(SigningKey::from_bytes(seed).verifying_key().as_bytes())
}

/// The whole signed note as published: body, blank line, signature line.
pub fn signed_note(checkpoint: &Checkpoint, signature: &str) -> String {
    format!("{}\n\u{2014} {ORIGIN} {signature}\n", checkpoint.body())
}

/// Parse a public key given as 64 hex characters.
pub fn parse_public_key(hex_text: &str) -> Option<VerifyingKey> {
    let bytes: [u8; 32] = hex::decode(hex_text.trim()).ok()?.try_into().ok()?;
    VerifyingKey::from_bytes(&bytes).ok()
}

/// Is `signature` (as `sign` makes it) a signature of `checkpoint` by `key`?
pub fn signature_holds(checkpoint: &Checkpoint, signature: &str, key: &VerifyingKey) -> bool {
    let Ok(raw) = B64.decode(signature) else {
        return false;
    };
    let (Some(id), Some(sig)) = (raw.get(..4), raw.get(4..)) else {
        return false;
    };
    let Ok(sig) = Signature::from_slice(sig) else {
        return false;
    };
    id == key_id(key)
        && key
            .verify_strict(checkpoint.body().as_bytes(), &sig)
            .is_ok()
}

/// Read a signed note back (the inverse of `signed_note`): the checkpoint and its signature.
pub fn parse_signed_note(note: &str) -> Option<(Checkpoint, String)> {
    let (body, sig_line) = note.split_once("\n\n")?;
    let checkpoint = Checkpoint::parse(&format!("{body}\n"))?;
    let signature = sig_line
        .trim_end_matches('\n')
        .strip_prefix(&format!("\u{2014} {ORIGIN} "))?;
    Some((checkpoint, signature.to_string()))
}

/// The roots of every prefix of a growing log, each in O(log n): the compact range of perfect
/// subtrees (RFC 9162 §2.1.1's MTH computed left to right).
#[derive(Debug, Default, Clone)]
pub struct Frontier {
    /// (leaves, root) of each perfect subtree, largest first.
    stack: Vec<(u64, Hash)>,
    size: u64,
}

impl Frontier {
    pub fn push(&mut self, leaf: Hash) {
        let (mut size, mut hash) = (1u64, leaf);
        while let Some(&(left_size, left)) = self.stack.last() {
            if left_size != size {
                break;
            }
            self.stack.pop();
            hash = node_hash(&left, &hash);
            size *= 2;
        }
        self.stack.push((size, hash));
        self.size += 1;
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn root(&self) -> Hash {
        let mut subtrees = self.stack.iter().rev();
        let Some(&(_, mut acc)) = subtrees.next() else {
            return root(&[]);
        };
        for (_, left) in subtrees {
            acc = node_hash(left, &acc);
        }
        acc
    }
}

/// A checkpoint as stored or published, with its signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    pub checkpoint: Checkpoint,
    pub signature: String,
}

/// What is wrong between the log and its checkpoints.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogProblem {
    #[error("the checkpoint of size {size} is not signed by any of the given public keys")]
    BadSignature { size: u64 },
    #[error("two checkpoints of size {size} name different roots (a fork: the log was rewritten)")]
    Fork { size: u64 },
    #[error(
        "the first {size} events do not hash to the root their checkpoint signed (an event was \
         changed, removed or reordered)"
    )]
    RootMismatch { size: u64 },
    #[error("the checkpoint of size {size} covers more events than the log holds ({events})")]
    Truncated { size: u64, events: u64 },
}

/// Checks a log against its signed checkpoints with public keys only: feed the leaves in order
/// (`push`), then `finish`. Every checkpoint must carry a signature by one of `keys`, two of the
/// same size must agree, and each root must be the tree of that many leaves.
#[derive(Debug)]
pub struct LogChecker {
    /// Checkpoints by size, smallest first, one per size.
    pending: std::collections::VecDeque<Signed>,
    frontier: Frontier,
}

impl LogChecker {
    pub fn new(mut checkpoints: Vec<Signed>, keys: &[VerifyingKey]) -> Result<Self, LogProblem> {
        checkpoints.sort_by_key(|c| c.checkpoint.size);
        let mut pending: std::collections::VecDeque<Signed> = Default::default();
        for c in checkpoints {
            let size = c.checkpoint.size;
            if !keys
                .iter()
                .any(|k| signature_holds(&c.checkpoint, &c.signature, k))
            {
                return Err(LogProblem::BadSignature { size });
            }
            match pending.back() {
                Some(last) if last.checkpoint.size == size => {
                    if last.checkpoint.root != c.checkpoint.root {
                        return Err(LogProblem::Fork { size });
                    }
                }
                _ => pending.push_back(c),
            }
        }
        let mut checker = Self {
            pending,
            frontier: Frontier::default(),
        };
        checker.check_due()?;
        Ok(checker)
    }

    fn check_due(&mut self) -> Result<(), LogProblem> {
        while let Some(c) = self.pending.front() {
            if c.checkpoint.size != self.frontier.size() {
                break;
            }
            if c.checkpoint.root != self.frontier.root() {
                return Err(LogProblem::RootMismatch {
                    size: c.checkpoint.size,
                });
            }
            self.pending.pop_front();
        }
        Ok(())
    }

    pub fn push(&mut self, leaf: Hash) -> Result<(), LogProblem> {
        self.frontier.push(leaf);
        self.check_due()
    }

    /// The root of the leaves seen so far.
    pub fn root(&self) -> Hash {
        self.frontier.root()
    }

    /// The number of leaves seen; an error when a checkpoint is larger than the log.
    pub fn finish(self) -> Result<u64, LogProblem> {
        match self.pending.front() {
            Some(c) => Err(LogProblem::Truncated {
                size: c.checkpoint.size,
                events: self.frontier.size(),
            }),
            None => Ok(self.frontier.size()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(format!("event {i}").as_bytes()))
            .collect()
    }

    fn hex32(s: &str) -> Hash {
        hex::decode(s).expect("hex").try_into().expect("32 bytes")
    }

    /// Known answers from RFC 6962 implementations (transparency-dev/merkle, Go's sumdb/tlog):
    /// the empty tree, the empty leaf, and the tree of the RFC's eight test leaves.
    #[test]
    fn known_answers() {
        assert_eq!(
            root(&[]),
            hex32("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
        assert_eq!(
            leaf_hash(b""),
            hex32("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
        );
        let data: [&[u8]; 8] = [
            b"",
            &[0x00],
            &[0x10],
            &[0x20, 0x21],
            &[0x30, 0x31],
            &[0x40, 0x41, 0x42, 0x43],
            &[0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
            &[
                0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d,
                0x6e, 0x6f,
            ],
        ];
        let l: Vec<Hash> = data.iter().map(|d| leaf_hash(d)).collect();
        let expected = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        for (n, want) in expected.iter().enumerate() {
            assert_eq!(hex::encode(root(&l[..=n])), *want, "tree of {}", n + 1);
        }
    }

    #[test]
    fn every_inclusion_proof_verifies_and_a_forged_one_does_not() {
        for n in 1..=20 {
            let l = leaves(n);
            let r = root(&l);
            for i in 0..n {
                let path = inclusion_proof(i, &l).expect("in range");
                assert_eq!(
                    verify_inclusion(i as u64, n as u64, &l[i], &path, &r),
                    Ok(())
                );
                // Another leaf with the same path, a changed path hash, a dropped or an
                // added hash, or a wrong index: each fails.
                let other = leaf_hash(b"forged");
                assert!(verify_inclusion(i as u64, n as u64, &other, &path, &r).is_err());
                if let Some(first) = path.first() {
                    let mut forged = path.clone();
                    forged[0] = node_hash(first, first);
                    assert!(verify_inclusion(i as u64, n as u64, &l[i], &forged, &r).is_err());
                    let shorter = &path[..path.len() - 1];
                    assert!(verify_inclusion(i as u64, n as u64, &l[i], shorter, &r).is_err());
                }
                let mut longer = path.clone();
                longer.push(r);
                assert!(verify_inclusion(i as u64, n as u64, &l[i], &longer, &r).is_err());
                assert!(verify_inclusion(n as u64, n as u64, &l[i], &path, &r).is_err());
                if n > 1 {
                    let j = (i + 1) % n;
                    assert!(verify_inclusion(j as u64, n as u64, &l[i], &path, &r).is_err());
                }
            }
        }
    }

    #[test]
    fn every_consistency_proof_verifies_and_a_forged_one_does_not() {
        for n in 1..=20 {
            let l = leaves(n);
            let second = root(&l);
            for m in 0..=n {
                let first = root(&l[..m]);
                let path = consistency_proof(m, &l).expect("in range");
                assert_eq!(
                    verify_consistency(m as u64, n as u64, &first, &second, &path),
                    Ok(()),
                    "{m} → {n}"
                );
                if m > 0 && m < n {
                    let mut forged = path.clone();
                    forged[0] = leaf_hash(b"forged");
                    assert!(
                        verify_consistency(m as u64, n as u64, &first, &second, &forged).is_err()
                    );
                    let wrong_first = leaf_hash(b"another history");
                    assert!(
                        verify_consistency(m as u64, n as u64, &wrong_first, &second, &path)
                            .is_err()
                    );
                    assert!(verify_consistency(m as u64, n as u64, &first, &second, &[]).is_err());
                }
            }
        }
    }

    /// A changed event, a removed event and a reordered pair each change the root, so a
    /// checkpoint over the original tree no longer matches.
    #[test]
    fn a_changed_removed_or_reordered_event_changes_the_root() {
        let l = leaves(9);
        let r = root(&l);
        let mut changed = l.clone();
        changed[4] = leaf_hash(b"edited");
        assert_ne!(root(&changed), r);
        let mut removed = l.clone();
        removed.remove(4);
        assert_ne!(root(&removed), r);
        let mut reordered = l.clone();
        reordered.swap(3, 4);
        assert_ne!(root(&reordered), r);
    }

    #[test]
    fn a_checkpoint_signed_by_another_key_or_altered_is_refused() {
        let seed = [7u8; 32];
        let checkpoint = Checkpoint {
            size: 9,
            root: root(&leaves(9)),
            time: "2026-12-07T21:00:00Z".into(),
        };
        let key = parse_public_key(&public_key_hex(&seed)).expect("key");
        let signature = sign(&checkpoint, &seed);
        assert!(signature_holds(&checkpoint, &signature, &key));
        assert_eq!(
            Checkpoint::parse(&checkpoint.body()),
            Some(checkpoint.clone())
        );
        // Another key's signature.
        let other = sign(&checkpoint, &[8u8; 32]);
        assert!(!signature_holds(&checkpoint, &other, &key));
        // The same signature on another size or root.
        let mut bigger = checkpoint.clone();
        bigger.size = 10;
        assert!(!signature_holds(&bigger, &signature, &key));
        let mut rerooted = checkpoint.clone();
        rerooted.root = root(&leaves(8));
        assert!(!signature_holds(&rerooted, &signature, &key));
        assert!(!signature_holds(&checkpoint, "not base64!", &key));
        assert!(
            signed_note(&checkpoint, &signature).starts_with("epro audit log\n9\n"),
            "{}",
            signed_note(&checkpoint, &signature)
        );
    }

    fn signed(size: usize, l: &[Hash], seed: &[u8; 32]) -> Signed {
        let checkpoint = Checkpoint {
            size: size as u64,
            root: root(&l[..size]),
            time: "2026-12-07T21:00:00Z".into(),
        };
        let signature = sign(&checkpoint, seed);
        Signed {
            checkpoint,
            signature,
        }
    }

    fn check(l: &[Hash], checkpoints: Vec<Signed>, seed: &[u8; 32]) -> Result<u64, LogProblem> {
        let key = parse_public_key(&public_key_hex(seed)).expect("key");
        let mut checker = LogChecker::new(checkpoints, &[key])?;
        for leaf in l {
            checker.push(*leaf)?;
        }
        checker.finish()
    }

    #[test]
    fn the_frontier_gives_every_prefix_root() {
        let l = leaves(40);
        let mut f = Frontier::default();
        assert_eq!(f.root(), root(&[]));
        for n in 1..=40 {
            f.push(l[n - 1]);
            assert_eq!(f.root(), root(&l[..n]), "{n}");
        }
    }

    #[test]
    fn an_intact_log_verifies_against_its_checkpoints() {
        let seed = [3u8; 32];
        let l = leaves(12);
        let cps = vec![
            signed(5, &l, &seed),
            signed(12, &l, &seed),
            signed(1, &l, &seed),
        ];
        assert_eq!(check(&l, cps, &seed), Ok(12));
        let note = signed_note(
            &signed(5, &l, &seed).checkpoint,
            &signed(5, &l, &seed).signature,
        );
        let (c, s) = parse_signed_note(&note).expect("parses");
        assert_eq!(
            Signed {
                checkpoint: c,
                signature: s
            },
            signed(5, &l, &seed)
        );
    }

    #[test]
    fn a_changed_event_is_detected_by_the_checkpoint() {
        let seed = [3u8; 32];
        let l = leaves(12);
        let cps = vec![signed(5, &l, &seed), signed(12, &l, &seed)];
        let mut changed = l.clone();
        changed[7] = leaf_hash(b"edited");
        assert_eq!(
            check(&changed, cps, &seed),
            Err(LogProblem::RootMismatch { size: 12 })
        );
    }

    #[test]
    fn a_removed_event_is_detected_by_the_checkpoint() {
        let seed = [3u8; 32];
        let l = leaves(12);
        let cps = vec![signed(5, &l, &seed), signed(12, &l, &seed)];
        let mut removed = l.clone();
        removed.remove(2);
        assert_eq!(
            check(&removed, cps.clone(), &seed),
            Err(LogProblem::RootMismatch { size: 5 })
        );
        assert_eq!(
            check(&l[..11], cps, &seed),
            Err(LogProblem::Truncated {
                size: 12,
                events: 11
            })
        );
    }

    #[test]
    fn a_reordered_pair_is_detected_by_the_checkpoint() {
        let seed = [3u8; 32];
        let l = leaves(12);
        let cps = vec![signed(12, &l, &seed)];
        let mut reordered = l.clone();
        reordered.swap(8, 9);
        assert_eq!(
            check(&reordered, cps, &seed),
            Err(LogProblem::RootMismatch { size: 12 })
        );
    }

    #[test]
    fn a_checkpoint_signed_by_another_key_fails_the_log() {
        let l = leaves(6);
        let cps = vec![signed(6, &l, &[9u8; 32])];
        assert_eq!(
            check(&l, cps, &[3u8; 32]),
            Err(LogProblem::BadSignature { size: 6 })
        );
    }

    #[test]
    fn a_fork_is_detected() {
        let seed = [3u8; 32];
        let l = leaves(6);
        let mut other = l.clone();
        other[5] = leaf_hash(b"another history");
        // Both are properly signed by the log's key, but name different roots for size 6.
        let cps = vec![signed(6, &l, &seed), signed(6, &other, &seed)];
        assert_eq!(check(&l, cps, &seed), Err(LogProblem::Fork { size: 6 }));
    }
}
