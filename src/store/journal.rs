//! The write-ahead journal: why a commit can be acknowledged before sled has it.
//!
//! sled 0.34 costs several microseconds of CPU per key written (a log record, a leaf copy,
//! page-cache bookkeeping), and a message makes about nine writes in its life. Paying that
//! on the acknowledgement path capped tern at a few thousand messages per second. So every
//! group commit is first appended here, as one framed record, and fsynced; that is the
//! durability point. The same writes reach sled later at a checkpoint ([`super::engine`]),
//! coalesced: a pending marker set and cleared within one checkpoint never reaches sled.
//!
//! On disk: `journal/<seq>.wal` segment files, each a run of records
//! `len (u32 LE) | crc32 (u32 LE) | batch`. A checkpoint rotates to a new segment (syncing
//! the old one first) and deletes segments once sled holds their writes and no key the
//! engine holds back from sled was written in them. On start every
//! segment left is read back in order; a torn record at the end of the last segment (a
//! crash mid-append, never acknowledged) ends the replay, anything else unreadable is an
//! error rather than a silent loss.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::kv::{Op, StoreError, WriteBatch};

const TAG_PUT: u8 = 1;
const TAG_DEL: u8 = 2;
const TAG_APPEND: u8 = 3;

/// Largest record accepted on replay (a group commit is far smaller; this only guards
/// against reading a corrupt length).
const MAX_RECORD: usize = 1 << 30;

fn err(what: impl std::fmt::Display) -> StoreError {
    StoreError(format!("journal: {what}"))
}

/// Appends `b` to `out` in the journal's batch encoding.
pub fn encode_batch(b: &WriteBatch, out: &mut Vec<u8>) {
    fn bytes(out: &mut Vec<u8>, v: &[u8]) {
        out.extend_from_slice(&(v.len() as u32).to_le_bytes());
        out.extend_from_slice(v);
    }
    out.extend_from_slice(&(b.ops.len() as u32).to_le_bytes());
    for op in &b.ops {
        match op {
            // replay needs no freshness: an insert is a put there
            Op::Put(k, v) | Op::Insert(k, v) => {
                out.push(TAG_PUT);
                bytes(out, k);
                bytes(out, v);
            }
            Op::Del(k) => {
                out.push(TAG_DEL);
                bytes(out, k);
            }
            Op::Append(k, v) => {
                out.push(TAG_APPEND);
                bytes(out, k);
                bytes(out, v);
            }
        }
    }
}

/// Reads a batch written by [`encode_batch`].
pub fn decode_batch(mut v: &[u8]) -> Result<WriteBatch, StoreError> {
    fn u32_at(v: &mut &[u8]) -> Result<u32, StoreError> {
        let (h, t) = v.split_at_checked(4).ok_or_else(|| err("short batch"))?;
        *v = t;
        let mut a = [0u8; 4];
        a.copy_from_slice(h);
        Ok(u32::from_le_bytes(a))
    }
    fn bytes(v: &mut &[u8]) -> Result<Vec<u8>, StoreError> {
        let n = u32_at(v)? as usize;
        let (h, t) = v.split_at_checked(n).ok_or_else(|| err("short batch"))?;
        *v = t;
        Ok(h.to_vec())
    }
    let n = u32_at(&mut v)?;
    let mut b = WriteBatch::default();
    for _ in 0..n {
        let (&tag, rest) = v.split_first().ok_or_else(|| err("short batch"))?;
        v = rest;
        let op = match tag {
            TAG_PUT => Op::Put(bytes(&mut v)?, bytes(&mut v)?),
            TAG_DEL => Op::Del(bytes(&mut v)?),
            TAG_APPEND => Op::Append(bytes(&mut v)?, bytes(&mut v)?),
            t => return Err(err(format!("unknown op {t}"))),
        };
        b.ops.push(op);
    }
    if !v.is_empty() {
        return Err(err("trailing bytes in batch"));
    }
    Ok(b)
}

/// One segment read back: its sequence number and its batches in order.
pub struct Segment {
    /// The segment's sequence number.
    pub seq: u64,
    /// Its batches, oldest first.
    pub batches: Vec<WriteBatch>,
}

/// The journal's directory, with its current segment open for appending.
pub struct Journal {
    dir: PathBuf,
    seq: u64,
    file: Arc<File>,
    /// Bytes of whole records in the current segment.
    len: u64,
    buf: Vec<u8>,
}

fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:020}.wal"))
}

/// Sequence numbers of the segments in `dir`, ascending.
fn segments(dir: &Path) -> Result<Vec<u64>, StoreError> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).map_err(|e| err(format!("{}: {e}", dir.display())))? {
        let e = e.map_err(err)?;
        let name = e.file_name();
        let Some(seq) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".wal"))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        out.push(seq);
    }
    out.sort_unstable();
    Ok(out)
}

/// Parses one segment's bytes. `last` says whether a torn tail is acceptable.
fn parse_segment(data: &[u8], last: bool, name: &str) -> Result<Vec<WriteBatch>, StoreError> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < data.len() {
        let torn = || {
            if last {
                Ok(())
            } else {
                Err(err(format!("{name}: unreadable record at byte {at}")))
            }
        };
        let Some(head) = data.get(at..at + 8) else {
            torn()?;
            break;
        };
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        let body = match data.get(at + 8..at + 8 + len) {
            Some(b) if len <= MAX_RECORD && crc32fast::hash(b) == crc => b,
            _ => {
                torn()?;
                break;
            }
        };
        out.push(decode_batch(body).map_err(|e| err(format!("{name}: {e}")))?);
        at += 8 + len;
    }
    Ok(out)
}

impl Journal {
    /// Opens the journal in `dir` (created if missing) and reads back every segment left
    /// by the last run, oldest first. Appends go to a new segment after those.
    pub fn open(dir: &Path) -> Result<(Journal, Vec<Segment>), StoreError> {
        fs::create_dir_all(dir).map_err(|e| err(format!("{}: {e}", dir.display())))?;
        let seqs = segments(dir)?;
        let mut found = Vec::with_capacity(seqs.len());
        for (i, &seq) in seqs.iter().enumerate() {
            let path = segment_path(dir, seq);
            let data = fs::read(&path).map_err(|e| err(format!("{}: {e}", path.display())))?;
            let last = i + 1 == seqs.len();
            let batches = parse_segment(&data, last, &path.display().to_string())?;
            found.push(Segment { seq, batches });
        }
        let seq = seqs.last().map_or(1, |s| s + 1);
        let file = Self::create(dir, seq)?;
        Ok((
            Journal {
                dir: dir.to_path_buf(),
                seq,
                file,
                len: 0,
                buf: Vec::new(),
            },
            found,
        ))
    }

    fn create(dir: &Path, seq: u64) -> Result<Arc<File>, StoreError> {
        let path = segment_path(dir, seq);
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| err(format!("{}: {e}", path.display())))?;
        // the new file's directory entry must survive a crash too
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| err(format!("{}: {e}", dir.display())))?;
        Ok(Arc::new(f))
    }

    /// Appends `b` as one record (one write call). Durable once the file from
    /// [`Journal::sync_handle`] is synced.
    pub fn append(&mut self, b: &WriteBatch) -> Result<(), StoreError> {
        self.stage(b);
        self.write_staged()
    }

    fn stage(&mut self, b: &WriteBatch) {
        self.buf.clear();
        self.buf.extend_from_slice(&[0; 8]);
        encode_batch(b, &mut self.buf);
        self.seal();
    }

    /// Encodes resolved writes (a value, or `None` to remove the key) as the next record,
    /// without writing it; [`Journal::write_staged`] writes it. Such a record can be replayed
    /// any number of times with the same result.
    pub fn stage_resolved<'a>(
        &mut self,
        n: usize,
        entries: impl Iterator<Item = (&'a Vec<u8>, &'a Option<Vec<u8>>)>,
    ) {
        fn bytes(out: &mut Vec<u8>, v: &[u8]) {
            out.extend_from_slice(&(v.len() as u32).to_le_bytes());
            out.extend_from_slice(v);
        }
        self.buf.clear();
        self.buf.extend_from_slice(&[0; 8]);
        self.buf.extend_from_slice(&(n as u32).to_le_bytes());
        for (k, v) in entries {
            match v {
                Some(v) => {
                    self.buf.push(TAG_PUT);
                    bytes(&mut self.buf, k);
                    bytes(&mut self.buf, v);
                }
                None => {
                    self.buf.push(TAG_DEL);
                    bytes(&mut self.buf, k);
                }
            }
        }
        self.seal();
    }

    /// Fills in the staged record's length and checksum.
    fn seal(&mut self) {
        let len = (self.buf.len() - 8) as u32;
        let crc = crc32fast::hash(&self.buf[8..]);
        self.buf[..4].copy_from_slice(&len.to_le_bytes());
        self.buf[4..8].copy_from_slice(&crc.to_le_bytes());
    }

    /// Writes the record [`Journal::stage`] encoded. If the write fails, whatever part of
    /// it reached the file is cut off again, so the records after it do not follow torn
    /// bytes (which replay would take for corruption).
    pub fn write_staged(&mut self) -> Result<(), StoreError> {
        if let Err(e) = (&*self.file).write_all(&self.buf) {
            let _ = self.file.set_len(self.len);
            return Err(err(e));
        }
        self.len += self.buf.len() as u64;
        if self.buf.capacity() > 1 << 20 {
            self.buf = Vec::new();
        }
        Ok(())
    }

    /// The segment appends go to now.
    pub fn current(&self) -> u64 {
        self.seq
    }

    /// The current segment: syncing it makes every append so far durable (older segments
    /// were synced when the journal rotated away from them).
    pub fn sync_handle(&self) -> Arc<File> {
        self.file.clone()
    }

    /// Syncs the current segment and starts a new one; returns the last full segment's seq.
    pub fn rotate(&mut self) -> Result<u64, StoreError> {
        self.file.sync_data().map_err(err)?;
        let old = self.seq;
        self.file = Self::create(&self.dir, old + 1)?;
        self.seq = old + 1;
        self.len = 0;
        Ok(old)
    }

    /// Deletes every segment up to and including `seq` (sled holds their writes).
    pub fn remove_upto(&self, seq: u64) -> Result<(), StoreError> {
        for s in segments(&self.dir)? {
            if s <= seq && s != self.seq {
                let p = segment_path(&self.dir, s);
                fs::remove_file(&p).map_err(|e| err(format!("{}: {e}", p.display())))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(i: u8) -> WriteBatch {
        let mut b = WriteBatch::default();
        b.put(vec![b'k', i], vec![i; 3]);
        b.del(vec![b'd', i]);
        b.append(vec![b'a', i], vec![i]);
        b
    }

    #[test]
    fn batches_round_trip() {
        let mut out = Vec::new();
        encode_batch(&batch(7), &mut out);
        let b = decode_batch(&out).unwrap();
        assert_eq!(format!("{:?}", b.ops), format!("{:?}", batch(7).ops));
        assert!(decode_batch(&out[..out.len() - 1]).is_err());
        out.push(0);
        assert!(decode_batch(&out).is_err());
    }

    #[test]
    fn replays_in_order_across_segments() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut j, found) = Journal::open(dir.path()).unwrap();
            assert!(found.is_empty());
            j.append(&batch(1)).unwrap();
            j.rotate().unwrap();
            j.append(&batch(2)).unwrap();
            j.append(&batch(3)).unwrap();
            j.sync_handle().sync_data().unwrap();
        }
        let (_j, found) = Journal::open(dir.path()).unwrap();
        let got: Vec<Vec<u8>> = found
            .iter()
            .flat_map(|s| s.batches.iter())
            .map(|b| match &b.ops[0] {
                Op::Put(k, _) => k.clone(),
                _ => panic!("first op is a put"),
            })
            .collect();
        assert_eq!(got, vec![vec![b'k', 1], vec![b'k', 2], vec![b'k', 3]]);
    }

    #[test]
    fn a_torn_tail_is_dropped_but_damage_elsewhere_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut j, _) = Journal::open(dir.path()).unwrap();
            j.append(&batch(1)).unwrap();
            j.append(&batch(2)).unwrap();
        }
        let seg = segment_path(dir.path(), 1);
        let full = fs::read(&seg).unwrap();
        fs::write(&seg, &full[..full.len() - 2]).unwrap();
        let (_j, found) = Journal::open(dir.path()).unwrap();
        assert_eq!(
            found[0].batches.len(),
            1,
            "the torn second record is not replayed"
        );

        // the same damage in a segment that is not the last is corruption
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut j, _) = Journal::open(dir.path()).unwrap();
            j.append(&batch(1)).unwrap();
            j.append(&batch(2)).unwrap();
            j.rotate().unwrap();
            j.append(&batch(3)).unwrap();
        }
        let seg = segment_path(dir.path(), 1);
        let mut data = fs::read(&seg).unwrap();
        let n = data.len();
        data[n - 1] ^= 0xff;
        fs::write(&seg, &data).unwrap();
        assert!(Journal::open(dir.path()).is_err());
    }

    #[test]
    fn removed_segments_are_not_replayed() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut j, _) = Journal::open(dir.path()).unwrap();
            j.append(&batch(1)).unwrap();
            let old = j.rotate().unwrap();
            j.append(&batch(2)).unwrap();
            j.remove_upto(old).unwrap();
        }
        let (_j, found) = Journal::open(dir.path()).unwrap();
        let n: usize = found.iter().map(|s| s.batches.len()).sum();
        assert_eq!(n, 1);
    }
}
