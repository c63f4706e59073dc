//! A structural check of lib0 v1 updates and state vectors, run before yrs sees the bytes.
//!
//! yrs decodes untrusted bytes carefully, but not carefully enough for a store that must never
//! panic, abort or balloon on bad input: clocks that overflow `u32` panic in debug builds,
//! client ids of 2^53 or more trip a `debug_assert`, and deeply nested `Any` values recurse
//! until the stack overflows (an abort that `catch_unwind` cannot catch). This module walks the
//! whole encoding once, without allocating in proportion to any length prefix, and rejects
//! every input that is not a well-formed update or state vector. Only inputs that pass are
//! handed to yrs. On the way it takes an update apart into runs of blocks (with the ids each
//! block depends on) and its delete set, which `held` uses to decide what yrs may integrate,
//! and it can put such pieces together again: a v1 block's encoding does not depend on the
//! blocks around it.
//!
//! The walk follows the v1 format as yrs 0.28 decodes it (the same layout yjs 13.6 writes).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Why bytes are not a well-formed v1 update or state vector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WireError {
    /// Byte offset at which the problem was found.
    pub offset: usize,
    /// What is wrong there.
    pub what: &'static str,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.what, self.offset)
    }
}

impl std::error::Error for WireError {}

type Result<T> = std::result::Result<T, WireError>;

/// Client ids are JS-safe integers (yjs makes 32-bit ones; yrs asserts < 2^53).
const CLIENT_ID_LIMIT: u64 = 1 << 53;

/// Clocks stay below 2^31: yrs mixes `u32` and `i32` clock arithmetic, so larger clocks can
/// wrap. A real document would need two billion operations of one client to get there.
const CLOCK_LIMIT: u64 = i32::MAX as u64;

/// Deepest nesting of `Any` arrays and maps accepted. yrs, serde_json and the store walk these
/// values recursively; yrs' decoder alone overflowed a 2 MiB thread stack at 1000 levels in a
/// debug build. 256 levels leave a wide margin and far exceed any sensible Info value.
const MAX_ANY_DEPTH: usize = 256;

/// Block and content type numbers of the v1 encoding.
mod tag {
    pub const GC: u8 = 0;
    pub const SKIP: u8 = 10;
    pub const DELETED: u8 = 1;
    pub const JSON: u8 = 2;
    pub const BINARY: u8 = 3;
    pub const STRING: u8 = 4;
    pub const EMBED: u8 = 5;
    pub const FORMAT: u8 = 6;
    pub const TYPE: u8 = 7;
    pub const ANY: u8 = 8;
    pub const DOC: u8 = 9;
    pub const HAS_ORIGIN: u8 = 0b1000_0000;
    pub const HAS_RIGHT_ORIGIN: u8 = 0b0100_0000;
    pub const HAS_PARENT_SUB: u8 = 0b0010_0000;
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn fail<T>(&self, what: &'static str) -> Result<T> {
        Err(WireError {
            offset: self.pos,
            what,
        })
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn u8(&mut self) -> Result<u8> {
        match self.buf.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                Ok(b)
            }
            None => self.fail("unexpected end of data"),
        }
    }

    fn bytes(&mut self, len: u64) -> Result<&'a [u8]> {
        if len > self.remaining() as u64 {
            return self.fail("length prefix runs past the end of data");
        }
        let start = self.pos;
        self.pos += len as usize;
        Ok(&self.buf[start..self.pos])
    }

    /// An unsigned LEB128 integer of at most 64 bits.
    fn var_u64(&mut self) -> Result<u64> {
        let mut value: u64 = 0;
        let mut shift = 0u32;
        loop {
            let b = self.u8()?;
            if shift == 63 && b > 1 {
                return self.fail("variable-length integer overflows 64 bits");
            }
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
            shift += 7;
            if shift > 63 {
                return self.fail("variable-length integer overflows 64 bits");
            }
        }
    }

    fn var_u32(&mut self) -> Result<u32> {
        let v = self.var_u64()?;
        u32::try_from(v).or_else(|_| self.fail("variable-length integer overflows 32 bits"))
    }

    /// A count of things that each take at least `min_size` bytes: bounded by what is left.
    fn count(&mut self, min_size: usize) -> Result<u64> {
        let n = self.var_u64()?;
        if n.saturating_mul(min_size as u64) > self.remaining() as u64 {
            return self.fail("count is larger than the data that follows");
        }
        Ok(n)
    }

    /// A signed lib0 integer (sign in bit 6 of the first byte); only skipped.
    fn skip_var_i64(&mut self) -> Result<()> {
        let first = self.u8()?;
        if first & 0x80 == 0 {
            return Ok(());
        }
        let mut shift = 6u32;
        loop {
            let b = self.u8()?;
            shift += 7;
            if shift > 70 {
                return self.fail("variable-length integer overflows 64 bits");
            }
            if b & 0x80 == 0 {
                return Ok(());
            }
        }
    }

    fn string(&mut self) -> Result<&'a str> {
        let len = self.var_u32()?;
        let bytes = self.bytes(u64::from(len))?;
        std::str::from_utf8(bytes).or_else(|_| self.fail("string is not valid UTF-8"))
    }

    fn client(&mut self) -> Result<u64> {
        let client = self.var_u64()?;
        if client >= CLIENT_ID_LIMIT {
            return self.fail("client id is 2^53 or larger");
        }
        Ok(client)
    }

    fn clock(&mut self) -> Result<u64> {
        let clock = u64::from(self.var_u32()?);
        if clock > CLOCK_LIMIT {
            return self.fail("clock is 2^31 or larger");
        }
        Ok(clock)
    }

    fn id(&mut self) -> Result<Id> {
        Ok((self.client()?, self.clock()?))
    }

    fn finish(&self) -> Result<()> {
        if self.remaining() != 0 {
            return self.fail("trailing bytes after the end");
        }
        Ok(())
    }
}

/// An item id (client, clock).
pub(crate) type Id = (u64, u64);

/// One block of a [`Run`]: its clock range, where its encoding sits in the run's bytes, and
/// the ids it depends on (left origin, right origin, explicit parent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Block {
    pub clock: u64,
    /// Clock length (at least 1).
    pub len: u64,
    pub bytes: std::ops::Range<usize>,
    pub deps: [Option<Id>; 3],
}

impl Block {
    pub(crate) fn end(&self) -> u64 {
        self.clock + self.len
    }
}

/// Consecutive blocks of one client without gaps (a v1 client section, split at skips).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Run {
    pub client: u64,
    /// The encoded blocks, exactly as they appeared on the wire.
    pub bytes: Vec<u8>,
    pub blocks: Vec<Block>,
}

impl Run {
    pub(crate) fn empty(client: u64) -> Run {
        Run {
            client,
            bytes: Vec::new(),
            blocks: Vec::new(),
        }
    }

    pub(crate) fn start(&self) -> u64 {
        self.blocks.first().map_or(0, |b| b.clock)
    }

    /// The run without its first `n` blocks.
    pub(crate) fn without_prefix(&self, n: usize) -> Run {
        let Some(first) = self.blocks.get(n) else {
            return Run::empty(self.client);
        };
        let offset = first.bytes.start;
        Run {
            client: self.client,
            bytes: self.bytes[offset..].to_vec(),
            blocks: self.blocks[n..]
                .iter()
                .map(|b| Block {
                    bytes: b.bytes.start - offset..b.bytes.end - offset,
                    ..b.clone()
                })
                .collect(),
        }
    }

    /// The run from `clock` on, when `clock` falls inside its first block: that block is cut
    /// there (see [`block_remainder`]) and the others follow unchanged.
    pub(crate) fn cut_at(&self, clock: u64) -> Result<Run> {
        let first = &self.blocks[0];
        let (bytes, block) = block_remainder(
            self.client,
            &self.bytes[first.bytes.clone()],
            first.clock,
            clock - first.clock,
        )?;
        let shift = first.bytes.end;
        let mut blocks = vec![block];
        let mut out = bytes;
        out.extend_from_slice(&self.bytes[shift..]);
        let base = blocks[0].bytes.end;
        blocks.extend(self.blocks[1..].iter().map(|b| Block {
            bytes: b.bytes.start - shift + base..b.bytes.end - shift + base,
            ..b.clone()
        }));
        Ok(Run {
            client: self.client,
            bytes: out,
            blocks,
        })
    }

    /// The encoding of the first `n` blocks.
    pub(crate) fn prefix_bytes(&self, n: usize) -> &[u8] {
        match n.checked_sub(1).and_then(|last| self.blocks.get(last)) {
            Some(last) => &self.bytes[..last.bytes.end],
            None => &[],
        }
    }
}

/// Deleted clock ranges per client: sorted, disjoint, non-empty `start..end` ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub(crate) struct DeleteSet(pub BTreeMap<u64, Vec<(u64, u64)>>);

impl DeleteSet {
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds a range, keeping the ranges sorted and merged.
    pub(crate) fn insert(&mut self, client: u64, start: u64, end: u64) {
        if start >= end {
            return;
        }
        let ranges = self.0.entry(client).or_default();
        // Encoded delete sets list ranges in order: appending is the common case.
        match ranges.last_mut() {
            None => ranges.push((start, end)),
            Some(last) if start > last.1 => ranges.push((start, end)),
            Some(last) if start >= last.0 => last.1 = last.1.max(end),
            Some(_) => {
                let at = ranges.partition_point(|&(s, _)| s < start);
                ranges.insert(at, (start, end));
                let mut merged: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
                for &(s, e) in ranges.iter() {
                    match merged.last_mut() {
                        Some(last) if s <= last.1 => last.1 = last.1.max(e),
                        _ => merged.push((s, e)),
                    }
                }
                *ranges = merged;
            }
        }
    }

    pub(crate) fn merge(&mut self, other: &DeleteSet) {
        if self.0.is_empty() {
            self.0 = other.0.clone();
            return;
        }
        for (&client, ranges) in &other.0 {
            for &(start, end) in ranges {
                self.insert(client, start, end);
            }
        }
    }

    /// Removes the given single clocks and returns them as a delete set of their own.
    pub(crate) fn split_off(&mut self, ids: &BTreeSet<Id>) -> DeleteSet {
        let mut removed = DeleteSet::default();
        for &(client, clock) in ids {
            let Some(ranges) = self.0.get_mut(&client) else {
                continue;
            };
            let Some(i) = ranges.iter().position(|&(s, e)| s <= clock && clock < e) else {
                continue;
            };
            let (s, e) = ranges.remove(i);
            let pieces = [(s, clock), (clock + 1, e)];
            for (offset, piece) in pieces.into_iter().filter(|(a, b)| a < b).enumerate() {
                ranges.insert(i + offset, piece);
            }
            if ranges.is_empty() {
                self.0.remove(&client);
            }
            removed.insert(client, clock, clock + 1);
        }
        removed
    }

    /// The v1 encoding.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        write_var(&mut out, self.0.len() as u64);
        for (&client, ranges) in &self.0 {
            write_var(&mut out, client);
            write_var(&mut out, ranges.len() as u64);
            for &(start, end) in ranges {
                write_var(&mut out, start);
                write_var(&mut out, end - start);
            }
        }
        out
    }
}

/// A well-formed v1 update, taken apart: its blocks as runs, and its delete set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParsedUpdate {
    pub runs: Vec<Run>,
    pub delete_set: DeleteSet,
    /// Every client has one section and no section has a skip: yrs decodes the update into
    /// the same runs (it would merge two sections of one client into one list of blocks).
    pub simple: bool,
}

/// Checks that `bytes` are exactly one well-formed v1 update and takes it apart.
pub(crate) fn parse_update_v1(bytes: &[u8]) -> Result<ParsedUpdate> {
    let mut r = Reader::new(bytes);
    let sections = r.count(3)?;
    let mut runs = Vec::new();
    let mut clients = BTreeSet::new();
    let mut simple = true;
    for _ in 0..sections {
        let blocks = r.count(1)?;
        let client = r.client()?;
        simple &= clients.insert(client);
        let mut clock = r.clock()?;
        let mut run = Run::empty(client);
        for _ in 0..blocks {
            let start = r.pos;
            let (len, deps, is_skip) = block(&mut r)?;
            if is_skip {
                simple = false;
                if !run.blocks.is_empty() {
                    runs.push(std::mem::replace(&mut run, Run::empty(client)));
                }
            } else if len > 0 {
                // (Empty items are dropped by yrs when it decodes them; so are they here.)
                let offset = run.bytes.len();
                run.bytes.extend_from_slice(&bytes[start..r.pos]);
                run.blocks.push(Block {
                    clock,
                    len,
                    bytes: offset..run.bytes.len(),
                    deps,
                });
            }
            clock += len;
            if clock > CLOCK_LIMIT {
                return r.fail("block clocks run past 2^31");
            }
        }
        if !run.blocks.is_empty() {
            runs.push(run);
        }
    }
    let delete_set = delete_set(&mut r)?;
    r.finish()?;
    Ok(ParsedUpdate {
        runs,
        delete_set,
        simple,
    })
}

/// Encodes an update from client sections (client, first clock, block count, encoded blocks)
/// and a delete set. Each client must appear at most once.
pub(crate) fn encode_update_v1(
    sections: &[(u64, u64, usize, &[u8])],
    delete_set: &DeleteSet,
) -> Vec<u8> {
    let mut out = Vec::new();
    write_var(&mut out, sections.len() as u64);
    for &(client, clock, count, blocks) in sections {
        write_var(&mut out, count as u64);
        write_var(&mut out, client);
        write_var(&mut out, clock);
        out.extend_from_slice(blocks);
    }
    out.extend(delete_set.encode());
    out
}

fn write_var(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Checks that `bytes` are exactly one well-formed v1 update.
#[cfg(test)]
pub(crate) fn check_update_v1(bytes: &[u8]) -> Result<()> {
    parse_update_v1(bytes).map(drop)
}

/// Checks that `bytes` are exactly one well-formed v1 state vector.
pub(crate) fn check_state_vector_v1(bytes: &[u8]) -> Result<()> {
    let mut r = Reader::new(bytes);
    let entries = r.count(2)?;
    for _ in 0..entries {
        r.client()?;
        r.clock()?;
    }
    r.finish()
}

fn delete_set(r: &mut Reader<'_>) -> Result<DeleteSet> {
    let clients = r.count(2)?;
    let mut ds = DeleteSet::default();
    for _ in 0..clients {
        let client = r.client()?;
        let ranges = r.count(2)?;
        for _ in 0..ranges {
            let start = r.clock()?;
            let len = u64::from(r.var_u32()?);
            if start + len > CLOCK_LIMIT {
                return r.fail("deleted range runs past 2^31");
            }
            ds.insert(client, start, start + len);
        }
    }
    Ok(ds)
}

/// One block; returns its clock length (0 for empty items, which yrs drops), the ids it
/// depends on, and whether it is a skip.
fn block(r: &mut Reader<'_>) -> Result<(u64, [Option<Id>; 3], bool)> {
    let info = r.u8()?;
    match info {
        tag::GC | tag::SKIP => {
            let len = u64::from(r.var_u32()?);
            if len == 0 {
                return r.fail("empty GC or skip block");
            }
            Ok((len, [None; 3], info == tag::SKIP))
        }
        _ => item(r, info).map(|(len, deps)| (len, deps, false)),
    }
}

fn item(r: &mut Reader<'_>, info: u8) -> Result<(u64, [Option<Id>; 3])> {
    let deps = item_header(r, info)?;
    Ok((content(r, info & 0b1111)?, deps))
}

/// The origins and parent of an item (the part between its info byte and its content); returns
/// the ids it depends on: left origin, right origin, parent item.
fn item_header(r: &mut Reader<'_>, info: u8) -> Result<[Option<Id>; 3]> {
    let has_origin = info & tag::HAS_ORIGIN != 0;
    let has_right_origin = info & tag::HAS_RIGHT_ORIGIN != 0;
    let mut deps = [None; 3];
    if has_origin {
        deps[0] = Some(r.id()?);
    }
    if has_right_origin {
        deps[1] = Some(r.id()?);
        if deps[0] == deps[1] {
            return r.fail("left and right origin are the same item");
        }
    }
    if !has_origin && !has_right_origin {
        let parent_is_named = r.var_u32()? == 1;
        if parent_is_named {
            r.string()?;
        } else {
            deps[2] = Some(r.id()?);
        }
        if info & tag::HAS_PARENT_SUB != 0 {
            r.string()?;
        }
    }
    Ok(deps)
}

/// The part of a block that follows its first `offset` clock units (`0 < offset < len`),
/// encoded as a block of its own: the block `(client, clock + offset)` whose left origin is
/// the unit just before it.
///
/// This is the form in which yjs and yrs integrate the unknown rest of a block whose start a
/// document already has, except that they keep the parent the block names. In a consistent
/// update that parent is the known part's parent. In a forged one it can be another, and yrs
/// then links the rest into the known part's list of siblings while recording it under the
/// other parent; deleting either parent later frees an item the other still points to
/// (a use after free found by fuzzing). Encoded with a left origin and without parent, the
/// rest takes the known part's parent and key, as in every consistent update.
pub(crate) fn block_remainder(
    client: u64,
    bytes: &[u8],
    clock: u64,
    offset: u64,
) -> Result<(Vec<u8>, Block)> {
    let mut r = Reader::new(bytes);
    let info = r.u8()?;
    let mut out = Vec::new();
    let mut deps = [None; 3];
    let len = match info {
        tag::GC | tag::SKIP => {
            let len = u64::from(r.var_u32()?);
            out.push(info);
            write_var(&mut out, len.saturating_sub(offset));
            len
        }
        _ => {
            let right_origin = item_header(&mut r, info)?[1];
            let origin = (client, clock + offset - 1);
            deps = [Some(origin), right_origin, None];
            out.push((info & !tag::HAS_PARENT_SUB) | tag::HAS_ORIGIN);
            write_var(&mut out, origin.0);
            write_var(&mut out, origin.1);
            if let Some((c, k)) = right_origin {
                write_var(&mut out, c);
                write_var(&mut out, k);
            }
            content_remainder(&mut r, info & 0b1111, offset, &mut out)?
        }
    };
    r.finish()?;
    if offset == 0 || offset >= len {
        return r.fail("a block is cut inside its clock range only");
    }
    let block = Block {
        clock: clock + offset,
        len: len - offset,
        bytes: 0..out.len(),
        deps,
    };
    Ok((out, block))
}

/// Writes the content of an item without its first `offset` units; returns the clock length
/// of the whole content. Only deleted runs, strings and `Any` lists are longer than 1.
fn content_remainder(
    r: &mut Reader<'_>,
    content_ref: u8,
    offset: u64,
    out: &mut Vec<u8>,
) -> Result<u64> {
    match content_ref {
        tag::DELETED => {
            let len = u64::from(r.var_u32()?);
            write_var(out, len.saturating_sub(offset));
            Ok(len)
        }
        tag::STRING => {
            let s = r.string()?;
            let rest = utf16_remainder(s, offset);
            write_var(out, rest.len() as u64);
            out.extend_from_slice(rest.as_bytes());
            Ok(s.encode_utf16().count() as u64)
        }
        tag::ANY => {
            let n = r.count(1)?;
            for _ in 0..offset.min(n) {
                any(r, 0)?;
            }
            let start = r.pos;
            for _ in offset.min(n)..n {
                any(r, 0)?;
            }
            write_var(out, n.saturating_sub(offset));
            out.extend_from_slice(&r.buf[start..r.pos]);
            Ok(n)
        }
        _ => {
            content(r, content_ref)?;
            Ok(1)
        }
    }
}

/// `s` without its first `offset` UTF-16 units. A cut through a surrogate pair leaves
/// U+FFFD in its place, as yjs and yrs do.
fn utf16_remainder(s: &str, offset: u64) -> std::borrow::Cow<'_, str> {
    let mut units = 0u64;
    for (at, c) in s.char_indices() {
        if units == offset {
            return s[at..].into();
        }
        units += c.len_utf16() as u64;
        if units > offset {
            return format!("\u{FFFD}{}", &s[at + c.len_utf8()..]).into();
        }
    }
    "".into()
}

/// Item content; returns its clock length.
fn content(r: &mut Reader<'_>, content_ref: u8) -> Result<u64> {
    match content_ref {
        tag::DELETED => Ok(u64::from(r.var_u32()?)),
        tag::JSON => {
            // Legacy content (yjs < 13) that yrs 0.28 and yjs count differently: rejected
            // rather than risk reading one peer's bytes as something else.
            r.fail("legacy JSON content is not supported")
        }
        tag::BINARY => {
            let len = r.var_u32()?;
            r.bytes(u64::from(len))?;
            Ok(1)
        }
        tag::STRING => {
            let s = r.string()?;
            Ok(s.encode_utf16().count() as u64)
        }
        tag::EMBED => {
            r.string()?;
            Ok(1)
        }
        tag::FORMAT => {
            r.string()?;
            r.string()?;
            Ok(1)
        }
        tag::TYPE => {
            match r.u8()? {
                // Array, Map, Text, XmlFragment, XmlHook, XmlText, SubDoc, Undefined.
                0 | 1 | 2 | 4 | 5 | 6 | 9 | 15 => {}
                // XmlElement carries its tag name.
                3 => {
                    r.string()?;
                }
                _ => return r.fail("unknown or unsupported shared type"),
            }
            Ok(1)
        }
        tag::ANY => {
            let n = r.count(1)?;
            for _ in 0..n {
                any(r, 0)?;
            }
            Ok(n)
        }
        tag::DOC => {
            r.string()?;
            any(r, 0)?;
            Ok(1)
        }
        _ => r.fail("unknown item content type"),
    }
}

fn any(r: &mut Reader<'_>, depth: usize) -> Result<()> {
    if depth > MAX_ANY_DEPTH {
        return r.fail("value nested too deeply");
    }
    match r.u8()? {
        // undefined, null, true, false
        127 | 126 | 121 | 120 => Ok(()),
        125 => r.skip_var_i64(),
        124 => r.bytes(4).map(drop),
        123 | 122 => r.bytes(8).map(drop),
        119 => r.string().map(drop),
        118 => {
            let n = r.count(2)?;
            for _ in 0..n {
                r.string()?;
                any(r, depth + 1)?;
            }
            Ok(())
        }
        117 => {
            let n = r.count(1)?;
            for _ in 0..n {
                any(r, depth + 1)?;
            }
            Ok(())
        }
        116 => {
            let len = r.var_u32()?;
            r.bytes(u64::from(len)).map(drop)
        }
        _ => r.fail("unknown value type"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_empty_update_and_state_vector_are_well_formed() {
        assert_eq!(check_update_v1(&[0, 0]), Ok(()));
        assert_eq!(check_state_vector_v1(&[0]), Ok(()));
    }

    #[test]
    fn trailing_and_missing_bytes_are_rejected() {
        assert!(check_update_v1(&[0, 0, 0]).is_err());
        assert!(check_update_v1(&[0]).is_err());
        assert!(check_update_v1(&[]).is_err());
        assert!(check_state_vector_v1(&[1, 5]).is_err());
    }

    #[test]
    fn huge_counts_are_rejected_without_allocating() {
        // 2^32 - 1 clients declared in five bytes.
        assert!(check_update_v1(&[0xff, 0xff, 0xff, 0xff, 0x0f, 0]).is_err());
        assert!(check_state_vector_v1(&[0xff, 0xff, 0xff, 0xff, 0x0f]).is_err());
    }

    #[test]
    fn deep_nesting_is_rejected() {
        // One client, one item: info 8 (Any), parent named "x", one value nested 300 deep.
        let mut bytes = vec![1, 1, 1, 0, 8, 1, 1, b'x', 1];
        bytes.extend(std::iter::repeat_n([117u8, 1], 300).flatten());
        bytes.push(126);
        bytes.extend([0]);
        assert_eq!(
            check_update_v1(&bytes).unwrap_err().what,
            "value nested too deeply"
        );
    }

    #[test]
    fn delete_sets_merge_split_and_round_trip() {
        let mut ds = DeleteSet::default();
        ds.insert(7, 5, 10);
        ds.insert(7, 0, 2);
        ds.insert(7, 9, 12);
        ds.insert(3, 1, 2);
        assert_eq!(ds.0[&7], [(0, 2), (5, 12)]);
        let removed = ds.split_off(&BTreeSet::from([(7, 6), (3, 1), (9, 9)]));
        assert_eq!(ds.0[&7], [(0, 2), (5, 6), (7, 12)]);
        assert!(!ds.0.contains_key(&3));
        assert_eq!(
            removed.0,
            BTreeMap::from([(3, vec![(1, 2)]), (7, vec![(6, 7)])])
        );
        let bytes = encode_update_v1(&[], &ds);
        assert_eq!(parse_update_v1(&bytes).unwrap().delete_set, ds);
    }

    /// One update of `client` with the given encoded blocks starting at `clock`.
    fn update_of(client: u64, clock: u64, blocks: &[&[u8]]) -> Vec<u8> {
        let bytes: Vec<u8> = blocks.concat();
        encode_update_v1(
            &[(client, clock, blocks.len(), &bytes)],
            &DeleteSet::default(),
        )
    }

    /// The rest of the single block of `bytes` (client 5, clock 10) after `offset` units,
    /// checked to be a well-formed update of its own.
    fn remainder(block: &[u8], offset: u64) -> (Vec<u8>, Block) {
        let (rest, cut) = block_remainder(5, block, 10, offset).unwrap();
        let parsed = parse_update_v1(&update_of(5, cut.clock, &[&rest])).unwrap();
        assert_eq!(parsed.runs[0].blocks[0].len, cut.len);
        assert_eq!(parsed.runs[0].blocks[0].deps, cut.deps);
        (rest, cut)
    }

    #[test]
    fn a_cut_block_keeps_its_right_origin_and_takes_its_known_part_as_left_origin() {
        // A string "ab😀c" (5 UTF-16 units) under the named parent "t" with key "k".
        let mut block = vec![tag::STRING | tag::HAS_PARENT_SUB, 1, 1, b't', 1, b'k'];
        let text = "ab😀c";
        block.push(text.len() as u8);
        block.extend_from_slice(text.as_bytes());
        let (rest, cut) = remainder(&block, 2);
        assert_eq!((cut.clock, cut.len), (12, 3));
        assert_eq!(cut.deps, [Some((5, 11)), None, None]);
        assert_eq!(rest[0], tag::STRING | tag::HAS_ORIGIN);
        assert!(rest.ends_with("😀c".as_bytes()));
        // A cut through the surrogate pair leaves U+FFFD, as yjs and yrs do.
        let (rest, cut) = remainder(&block, 3);
        assert_eq!(cut.len, 2);
        assert!(rest.ends_with("\u{FFFD}c".as_bytes()));

        // Deleted(4) with a left and a right origin.
        let block = [
            tag::DELETED | tag::HAS_ORIGIN | tag::HAS_RIGHT_ORIGIN,
            5,
            3,
            9,
            1,
            4,
        ];
        let (rest, cut) = remainder(&block, 1);
        assert_eq!(cut.deps, [Some((5, 10)), Some((9, 1)), None]);
        assert_eq!(rest, [block[0], 5, 10, 9, 1, 3]);

        // Any [1, "x", true] under the parent item (2, 0).
        let block = [tag::ANY, 0, 2, 0, 3, 125, 1, 119, 1, b'x', 120];
        let (rest, cut) = remainder(&block, 1);
        assert_eq!(cut.len, 2);
        assert_eq!(
            rest,
            [tag::ANY | tag::HAS_ORIGIN, 5, 10, 2, 119, 1, b'x', 120]
        );

        // A GC run is shortened.
        let (rest, cut) = remainder(&[tag::GC, 7], 3);
        assert_eq!((rest, cut.clock, cut.len), (vec![tag::GC, 4], 13, 4));
    }

    #[test]
    fn blocks_are_cut_inside_their_range_only() {
        let block = [tag::DELETED, 1, 1, b't', 4];
        assert!(block_remainder(5, &block, 10, 0).is_err());
        assert!(block_remainder(5, &block, 10, 4).is_err());
        // A block of length 1 cannot be cut.
        assert!(block_remainder(5, &[tag::ANY, 1, 1, b't', 1, 126], 10, 1).is_err());
    }

    #[test]
    fn a_run_cut_inside_its_first_block_keeps_the_others() {
        let first = [tag::DELETED, 1, 1, b't', 4];
        let second = [tag::ANY | tag::HAS_ORIGIN, 5, 13, 1, 126];
        let parsed = parse_update_v1(&update_of(5, 10, &[&first, &second])).unwrap();
        let run = parsed.runs[0].cut_at(12).unwrap();
        assert_eq!(run.blocks.len(), 2);
        assert_eq!((run.blocks[0].clock, run.blocks[0].len), (12, 2));
        assert_eq!(&run.bytes[run.blocks[1].bytes.clone()], &second);
        let again = parse_update_v1(&encode_update_v1(
            &[(5, 12, 2, &run.bytes)],
            &DeleteSet::default(),
        ))
        .unwrap();
        assert_eq!(again.runs[0].blocks.len(), 2);
        assert_eq!(again.runs[0].blocks[1].deps, [Some((5, 13)), None, None]);
    }

    #[test]
    fn client_ids_beyond_2_pow_53_are_rejected() {
        // One state-vector entry, client 2^53 (LEB128), clock 0.
        let mut bytes = vec![1];
        let mut v: u64 = 1 << 53;
        while v >= 0x80 {
            bytes.push((v as u8 & 0x7f) | 0x80);
            v >>= 7;
        }
        bytes.push(v as u8);
        bytes.push(0);
        assert!(check_state_vector_v1(&bytes).is_err());
    }
}
