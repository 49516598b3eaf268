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
//! segment left is read back in order. A torn record at the end of the last segment that
//! holds any (a crash mid-append: never acknowledged) ends the replay, and is cut off before
//! anything else is written, so it never sits in the middle of the journal. Anything else
//! unreadable is an error that names the file and byte, rather than a silent loss.
//!
//! What fails here and what it means is in [`super::engine`]'s module doc: a write that
//! fails is cut back off the file and refused; a failed fsync is [`Fate::Unknown`].

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::kv::{Op, StoreError, WriteBatch};
use crate::failpoint::Failpoints;

#[cfg(doc)]
use super::kv::Fate;

const TAG_PUT: u8 = 1;
const TAG_DEL: u8 = 2;
const TAG_APPEND: u8 = 3;

/// Largest record written or read (a group commit is far smaller): a batch over it is
/// refused, and a length over it on replay is damage, not a torn append.
const MAX_RECORD: usize = 1 << 30;

fn err(what: impl std::fmt::Display) -> StoreError {
    StoreError::new(format!("journal: {what}"))
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
    fp: &'static Failpoints,
    sync_failed: SyncFailure,
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

/// Reads one segment's bytes: its batches, and where a torn tail begins if it has one.
/// `last` says whether a torn tail is acceptable (the last segment that holds anything).
/// Public for the fuzz target in fuzz/: any bytes give batches or an error, never a panic.
pub fn read_segment(
    data: &[u8],
    last: bool,
    name: &str,
) -> Result<(Vec<WriteBatch>, Option<usize>), StoreError> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < data.len() {
        match record_at(data, at) {
            Ok((body, next)) => {
                let b = decode_batch(body).map_err(|e| {
                    err(format!(
                        "{name}: record at byte {at} has a good checksum but {e}"
                    ))
                })?;
                out.push(b);
                at = next;
            }
            Err(_) if last && torn_at(data, at) => return Ok((out, Some(at))),
            Err(why) => {
                return Err(err(format!(
                    "{name} is damaged at byte {at} ({why}) and more follows, so this is no \
                     torn append: tern will not guess what is lost. Keep a copy of the data \
                     dir; to start without the records from that byte on, cut the file to \
                     {at} bytes (truncate -s {at} FILE)"
                )));
            }
        }
    }
    Ok((out, None))
}

/// The record starting at `at`: its body and where the next one starts, or why it is not
/// a whole record.
fn record_at(data: &[u8], at: usize) -> Result<(&[u8], usize), &'static str> {
    let head = data.get(at..at + 8).ok_or("header cut short")?;
    let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
    let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    if len > MAX_RECORD {
        return Err("length over the limit");
    }
    let body = data.get(at + 8..at + 8 + len).ok_or("body cut short")?;
    if crc32fast::hash(body) != crc {
        return Err("checksum mismatch");
    }
    if len == 0 {
        // a record always holds at least its op count: zeros are not a record
        return Err("empty record");
    }
    Ok((body, at + 8 + len))
}

/// Whether the bad record at `at` is what a crash in the middle of appending it leaves:
/// the record runs past the end of the file, or nothing but zeros (room the file system
/// gave the file, never written) follows where it starts or where it claims to end. A
/// length over [`MAX_RECORD`] was never written by tern, so that is damage.
fn torn_at(data: &[u8], at: usize) -> bool {
    let zeros = |from: usize| data.get(from..).is_none_or(|r| r.iter().all(|&b| b == 0));
    if zeros(at) {
        return true;
    }
    let Some(head) = data.get(at..at + 8) else {
        return true;
    };
    let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
    len <= MAX_RECORD && (at + 8 + len >= data.len() || zeros(at + 8 + len))
}

/// Syncs the segment appends go to (see [`Journal::syncer`]); usable off the journal's lock.
pub struct Syncer {
    file: Arc<File>,
    fp: &'static Failpoints,
    failed: SyncFailure,
}

/// The first fsync failure of the journal, shared by every [`Syncer`]: fsyncs run one at a
/// time under its lock, and none runs after one failed. Linux reports a lost page to one
/// fsync only, so an fsync beside or after a failed one may succeed without the pages
/// the failed one lost; it must not vouch for anything.
type SyncFailure = Arc<std::sync::Mutex<Option<String>>>;

impl Syncer {
    /// fsync: every append made before this call is durable once it returns `Ok`. After
    /// any fsync of this journal failed, every later one fails too.
    pub fn sync(&self) -> io::Result<()> {
        let mut failed = self
            .failed
            .lock()
            .map_err(|_| io::Error::other("journal sync lock poisoned"))?;
        if let Some(e) = failed.as_ref() {
            return Err(io::Error::other(format!("an earlier fsync failed: {e}")));
        }
        let res = self
            .fp
            .io("store.journal.sync")
            .and_then(|()| self.file.sync_data());
        if let Err(e) = &res {
            *failed = Some(e.to_string());
        }
        res
    }
}

impl Journal {
    /// Opens the journal in `dir` (created if missing) and reads back every segment left
    /// by the last run, oldest first. A torn tail is cut off the last segment holding
    /// records (and that synced) before a new segment is created for appends after them.
    /// `fp` are the failpoints its writes, syncs and new segments pass.
    pub fn open(
        dir: &Path,
        fp: &'static Failpoints,
    ) -> Result<(Journal, Vec<Segment>), StoreError> {
        fs::create_dir_all(dir).map_err(|e| err(format!("{}: {e}", dir.display())))?;
        let seqs = segments(dir)?;
        let mut data = Vec::with_capacity(seqs.len());
        for &seq in &seqs {
            let path = segment_path(dir, seq);
            let d = fs::read(&path).map_err(|e| err(format!("{}: {e}", path.display())))?;
            data.push((seq, path, d));
        }
        // a crash can only tear the segment appends went to last: the last one with
        // records (an empty one after it is a rotation that wrote nothing yet)
        let last = data.iter().rposition(|(_, _, d)| !d.is_empty());
        let mut found = Vec::with_capacity(data.len());
        for (i, (seq, path, d)) in data.into_iter().enumerate() {
            let name = path.display().to_string();
            let (batches, torn) = read_segment(&d, Some(i) == last, &name)?;
            if let Some(at) = torn {
                tracing::warn!(
                    segment = %name,
                    at,
                    bytes = d.len() - at,
                    "journal: cut off a torn record at the end (a crash in the middle of \
                     writing it; it was never acknowledged)"
                );
                OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .and_then(|f| {
                        f.set_len(at as u64)?;
                        f.sync_all()
                    })
                    .map_err(|e| err(format!("{name}: cutting off the torn tail: {e}")))?;
            }
            found.push(Segment { seq, batches });
        }
        let seq = seqs.last().map_or(1, |s| s + 1);
        let file = Self::create(dir, seq, fp)?;
        Ok((
            Journal {
                dir: dir.to_path_buf(),
                seq,
                file,
                len: 0,
                buf: Vec::new(),
                fp,
                sync_failed: SyncFailure::default(),
            },
            found,
        ))
    }

    /// Creates segment `seq` and syncs the directory so its entry survives a crash. A
    /// failure is a refusal: nothing was written to it.
    fn create(dir: &Path, seq: u64, fp: &'static Failpoints) -> Result<Arc<File>, StoreError> {
        let path = segment_path(dir, seq);
        let f = fp
            .io("store.segment.create")
            .and_then(|()| OpenOptions::new().create(true).append(true).open(&path))
            .map_err(|e| StoreError::io(format!("journal: {}", path.display()), &e))?;
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| StoreError::io(format!("journal: {}", dir.display()), &e))?;
        Ok(Arc::new(f))
    }

    /// Appends `b` as one record (one write call). Durable once the [`Journal::syncer`]
    /// synced.
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

    /// Fills in the staged record's length and checksum (a length over [`MAX_RECORD`] is
    /// refused by [`Journal::write_staged`] before anything is written).
    fn seal(&mut self) {
        let len = (self.buf.len() - 8) as u32;
        let crc = crc32fast::hash(&self.buf[8..]);
        self.buf[..4].copy_from_slice(&len.to_le_bytes());
        self.buf[4..8].copy_from_slice(&crc.to_le_bytes());
    }

    /// Writes the staged record. If the write fails, whatever part of it reached the file
    /// is cut off again, and the write is refused: the journal is as it was. If even that
    /// fails, the end of the segment is unknown: [`Fate::Unknown`], and the store stops.
    pub fn write_staged(&mut self) -> Result<(), StoreError> {
        let len = self.buf.len() - 8;
        if len > MAX_RECORD {
            return Err(StoreError::new(format!(
                "journal: a batch of {len} bytes is more than a record may hold ({MAX_RECORD})"
            )));
        }
        let written = self
            .fp
            .io("store.journal.write")
            .and_then(|()| (&*self.file).write_all(&self.buf));
        if let Err(e) = written {
            let cut = self
                .fp
                .io("store.journal.cut")
                .and_then(|()| self.file.set_len(self.len));
            return Err(match cut {
                Ok(()) => StoreError::io("journal write", &e),
                Err(c) => StoreError::unknown(format!(
                    "journal write failed ({e}) and the segment could not be cut back ({c})"
                )),
            });
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

    /// A handle that syncs the current segment: that makes every append so far durable
    /// (older segments were synced when the journal rotated away from them).
    pub fn syncer(&self) -> Syncer {
        Syncer {
            file: self.file.clone(),
            fp: self.fp,
            failed: self.sync_failed.clone(),
        }
    }

    /// Syncs the current segment and starts a new one; returns the last full segment's seq.
    /// A failed sync is [`Fate::Unknown`] (the store stops: the failed pages may be gone,
    /// and a later fsync would not say so). A segment that cannot be created is a refusal
    /// of the rotation only: appends go on to the current segment.
    pub fn rotate(&mut self) -> Result<u64, StoreError> {
        self.syncer()
            .sync()
            .map_err(|e| StoreError::unknown(format!("journal sync at rotation: {e}")))?;
        let old = self.seq;
        self.file = Self::create(&self.dir, old + 1, self.fp)?;
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
    use crate::failpoint::NONE as NO_FAULTS;
    const NONE: &Failpoints = &NO_FAULTS;

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
            let (mut j, found) = Journal::open(dir.path(), NONE).unwrap();
            assert!(found.is_empty());
            j.append(&batch(1)).unwrap();
            j.rotate().unwrap();
            j.append(&batch(2)).unwrap();
            j.append(&batch(3)).unwrap();
            j.syncer().sync().unwrap();
        }
        let (_j, found) = Journal::open(dir.path(), NONE).unwrap();
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
            let (mut j, _) = Journal::open(dir.path(), NONE).unwrap();
            j.append(&batch(1)).unwrap();
            j.append(&batch(2)).unwrap();
        }
        let seg = segment_path(dir.path(), 1);
        let full = fs::read(&seg).unwrap();
        fs::write(&seg, &full[..full.len() - 2]).unwrap();
        let (_j, found) = Journal::open(dir.path(), NONE).unwrap();
        assert_eq!(
            found[0].batches.len(),
            1,
            "the torn second record is not replayed"
        );

        // the same damage in a segment that is not the last is corruption
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut j, _) = Journal::open(dir.path(), NONE).unwrap();
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
        assert!(Journal::open(dir.path(), NONE).is_err());
    }

    #[test]
    fn removed_segments_are_not_replayed() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut j, _) = Journal::open(dir.path(), NONE).unwrap();
            j.append(&batch(1)).unwrap();
            let old = j.rotate().unwrap();
            j.append(&batch(2)).unwrap();
            j.remove_upto(old).unwrap();
        }
        let (_j, found) = Journal::open(dir.path(), NONE).unwrap();
        let n: usize = found.iter().map(|s| s.batches.len()).sum();
        assert_eq!(n, 1);
    }

    fn count(found: &[Segment]) -> usize {
        found.iter().map(|s| s.batches.len()).sum()
    }

    /// Two records in segment 1, then `damage` applied to its bytes.
    fn damaged(damage: impl FnOnce(&mut Vec<u8>)) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut j, _) = Journal::open(dir.path(), NONE).unwrap();
            j.append(&batch(1)).unwrap();
            j.append(&batch(2)).unwrap();
        }
        let seg = segment_path(dir.path(), 1);
        let mut data = fs::read(&seg).unwrap();
        damage(&mut data);
        fs::write(&seg, &data).unwrap();
        dir
    }

    #[test]
    fn a_torn_tail_is_cut_off_before_a_new_segment_follows_it() {
        let dir = damaged(|d| d.truncate(d.len() - 2));
        let (mut j, found) = Journal::open(dir.path(), NONE).unwrap();
        assert_eq!(count(&found), 1);
        // segment 2 now follows segment 1 (written to here, before a crash): the torn
        // record must not sit in the middle of the journal
        j.append(&batch(3)).unwrap();
        drop(j);
        let (_j, found) = Journal::open(dir.path(), NONE).unwrap();
        assert_eq!(count(&found), 2, "still starts, with both whole records");
    }

    #[test]
    fn a_zero_filled_tail_is_torn_but_damage_before_a_good_record_is_an_error() {
        let dir = damaged(|d| d.extend_from_slice(&[0; 100]));
        let (_j, found) = Journal::open(dir.path(), NONE).unwrap();
        assert_eq!(
            count(&found),
            2,
            "zeros after the records: room never written"
        );

        // the first record's body damaged, the second whole after it
        let dir = damaged(|d| d[12] ^= 0xff);
        let e = Journal::open(dir.path(), NONE)
            .err()
            .expect("damage is an error");
        assert!(e.what().contains("damaged at byte 0"), "{e}");
        assert!(e.what().contains("truncate -s 0"), "says what to do: {e}");

        // the second record's length damaged to more than a record may hold
        let dir = damaged(|d| {
            let first = 8 + u32::from_le_bytes([d[0], d[1], d[2], d[3]]) as usize;
            d[first + 3] = 0x7f;
        });
        assert!(Journal::open(dir.path(), NONE).is_err(), "no torn append");

        // a header of zeros followed by data is no record either
        let dir = damaged(|d| d.splice(0..0, [0u8; 8]).for_each(drop));
        assert!(Journal::open(dir.path(), NONE).is_err());
    }

    #[test]
    fn an_empty_last_segment_leaves_the_one_before_it_last() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut j, _) = Journal::open(dir.path(), NONE).unwrap();
            j.append(&batch(1)).unwrap();
            j.append(&batch(2)).unwrap();
        }
        let seg = segment_path(dir.path(), 1);
        let data = fs::read(&seg).unwrap();
        fs::write(&seg, &data[..data.len() - 3]).unwrap();
        // segment 2 was created by that start and never written
        let (_j, found) = Journal::open(dir.path(), NONE).unwrap();
        assert_eq!(count(&found), 1);
    }

    #[test]
    fn a_failed_write_is_cut_back_off_the_segment() {
        let dir = tempfile::tempdir().unwrap();
        let fp = Failpoints::leak("store.journal.write=2:eio");
        {
            let (mut j, _) = Journal::open(dir.path(), fp).unwrap();
            j.append(&batch(1)).unwrap();
            assert!(j.append(&batch(2)).is_err());
            j.append(&batch(3)).unwrap();
        }
        let (_j, found) = Journal::open(dir.path(), NONE).unwrap();
        assert_eq!(count(&found), 2, "records 1 and 3, nothing between");
    }

    #[test]
    fn after_one_fsync_fails_no_other_succeeds() {
        let dir = tempfile::tempdir().unwrap();
        let fp = Failpoints::leak("store.journal.sync=2:eio");
        let (mut j, _) = Journal::open(dir.path(), fp).unwrap();
        let (a, b) = (j.syncer(), j.syncer());
        a.sync().unwrap();
        j.append(&batch(1)).unwrap();
        assert!(a.sync().is_err(), "the failpoint's pass");
        // the disk would say yes now; the pages the failed fsync lost would not be there
        assert!(b.sync().is_err(), "another handle's fsync");
        assert!(j.rotate().is_err(), "the rotation's fsync");
    }
}
