//! Output capture without I/O: splitting pipe bytes into lines and capping how much is kept.

use std::collections::VecDeque;

use crate::log::{LogLine, LogStream};

/// Lines longer than this many bytes (64 KiB) are split into several lines.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// One line cut from a pipe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawLine {
    /// The line's bytes without the `\n` or `\r\n` terminator.
    pub(crate) bytes: Vec<u8>,
    /// How many pipe bytes this line consumed, terminator included. Summed over all lines this
    /// is exactly the number of bytes the child wrote.
    pub(crate) raw_len: u64,
    /// The line was cut at the length limit: the next line of the stream continues it.
    pub(crate) cut: bool,
}

/// Splits a byte stream into lines of at most `max_line_bytes`.
///
/// A long line is cut at a UTF-8 character boundary when one lies within the last three bytes
/// before the limit, so valid multi-byte characters are not broken in two.
#[derive(Debug)]
pub(crate) struct LineSplitter {
    pending: Vec<u8>,
    max_line_bytes: usize,
}

impl LineSplitter {
    pub(crate) fn new(max_line_bytes: usize) -> Self {
        Self {
            pending: Vec::new(),
            max_line_bytes: max_line_bytes.max(1),
        }
    }

    /// Feeds a chunk read from the pipe; complete lines are appended to `out`.
    pub(crate) fn push(&mut self, mut chunk: &[u8], out: &mut Vec<RawLine>) {
        while !chunk.is_empty() {
            match chunk.iter().position(|&byte| byte == b'\n') {
                Some(newline) => {
                    self.pending.extend_from_slice(&chunk[..newline]);
                    chunk = &chunk[newline + 1..];
                    self.cut_long(out);
                    let mut bytes = std::mem::take(&mut self.pending);
                    let raw_len = bytes.len() as u64 + 1;
                    if bytes.last() == Some(&b'\r') {
                        bytes.pop();
                    }
                    out.push(RawLine {
                        bytes,
                        raw_len,
                        cut: false,
                    });
                }
                None => {
                    self.pending.extend_from_slice(chunk);
                    chunk = &[];
                    self.cut_long(out);
                }
            }
        }
    }

    /// Returns the last, unterminated line at end of stream, if any.
    pub(crate) fn finish(&mut self) -> Option<RawLine> {
        if self.pending.is_empty() {
            return None;
        }
        let bytes = std::mem::take(&mut self.pending);
        let raw_len = bytes.len() as u64;
        Some(RawLine {
            bytes,
            raw_len,
            cut: false,
        })
    }

    /// Emits full-size pieces while the pending line is longer than the limit. A line of
    /// exactly the limit stays whole.
    fn cut_long(&mut self, out: &mut Vec<RawLine>) {
        while self.pending.len() > self.max_line_bytes {
            let cut = char_boundary_at_or_before(&self.pending, self.max_line_bytes);
            let rest = self.pending.split_off(cut);
            let bytes = std::mem::replace(&mut self.pending, rest);
            let raw_len = bytes.len() as u64;
            out.push(RawLine {
                bytes,
                raw_len,
                cut: true,
            });
        }
    }
}

/// The largest cut point `<= max` that does not split a UTF-8 sequence, looking back at most
/// three bytes; `max` itself when the bytes are not UTF-8 there.
fn char_boundary_at_or_before(bytes: &[u8], max: usize) -> usize {
    let is_continuation = |byte: u8| byte & 0b1100_0000 == 0b1000_0000;
    let mut cut = max;
    while cut > 0 && max - cut < 3 && is_continuation(bytes[cut]) {
        cut -= 1;
    }
    if cut == 0 || is_continuation(bytes[cut]) {
        max
    } else {
        cut
    }
}

/// Caps how much output is forwarded and kept: the first half of the cap is forwarded live
/// ("head"); once a line would pass it, nothing more is forwarded and a rolling "tail" of the
/// last half-cap bytes of lines is kept instead, to be emitted when the task ends.
///
/// Sizes count pipe bytes ([`RawLine::raw_len`]), so `bytes_dropped` is exact. Lines are never
/// cut by the limiter: a line is forwarded, kept in the tail, or dropped whole.
#[derive(Debug)]
pub(crate) struct OutputLimiter {
    head_budget: u64,
    tail_budget: u64,
    head_used: u64,
    head_closed: bool,
    tail: VecDeque<(LogLine, u64)>,
    tail_bytes: u64,
    bytes_dropped: u64,
}

/// What [`OutputLimiter::finish`] hands back.
#[derive(Debug)]
pub(crate) struct LimiterEnd {
    /// Pipe bytes neither forwarded live nor kept in the tail.
    pub(crate) bytes_dropped: u64,
    /// Lines to emit now, in order: a System notice when bytes were dropped, then the tail.
    pub(crate) lines: Vec<LogLine>,
}

impl OutputLimiter {
    /// A limiter for `cap_bytes` of output in total: `cap / 2` head, the rest tail.
    pub(crate) fn new(cap_bytes: u64) -> Self {
        let head_budget = cap_bytes / 2;
        Self {
            head_budget,
            tail_budget: cap_bytes - head_budget,
            head_used: 0,
            head_closed: false,
            tail: VecDeque::new(),
            tail_bytes: 0,
            bytes_dropped: 0,
        }
    }

    /// Takes one line of `raw_len` pipe bytes; returns it when it should be forwarded now.
    pub(crate) fn admit(&mut self, line: LogLine, raw_len: u64) -> Option<LogLine> {
        if !self.head_closed && self.head_used + raw_len <= self.head_budget {
            self.head_used += raw_len;
            return Some(line);
        }
        self.head_closed = true;
        self.tail.push_back((line, raw_len));
        self.tail_bytes += raw_len;
        while self.tail_bytes > self.tail_budget {
            let Some((_, dropped)) = self.tail.pop_front() else {
                break;
            };
            self.tail_bytes -= dropped;
            self.bytes_dropped += dropped;
        }
        None
    }

    /// Ends capture: the notice (if anything was dropped) and the held tail lines.
    pub(crate) fn finish(self) -> LimiterEnd {
        let mut lines = Vec::with_capacity(self.tail.len() + 1);
        if self.bytes_dropped > 0 {
            lines.push(LogLine::now(
                LogStream::System,
                format!("… {} bytes dropped …", self.bytes_dropped),
            ));
        }
        lines.extend(self.tail.into_iter().map(|(line, _)| line));
        LimiterEnd {
            bytes_dropped: self.bytes_dropped,
            lines,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(max: usize, chunks: &[&[u8]]) -> Vec<(Vec<u8>, u64)> {
        let mut splitter = LineSplitter::new(max);
        let mut out = Vec::new();
        for chunk in chunks {
            splitter.push(chunk, &mut out);
        }
        out.extend(splitter.finish());
        out.into_iter()
            .map(|line| (line.bytes, line.raw_len))
            .collect()
    }

    fn line(text: &str, raw_len: u64) -> (Vec<u8>, u64) {
        (text.as_bytes().to_vec(), raw_len)
    }

    #[test]
    fn splits_on_newlines_across_chunks() {
        assert_eq!(
            split(16, &[b"ab", b"c\nde", b"f\n\ng"]),
            vec![line("abc", 4), line("def", 4), line("", 1), line("g", 1)]
        );
    }

    #[test]
    fn strips_carriage_return_but_counts_it() {
        assert_eq!(
            split(16, &[b"a\r\nb\r"]),
            vec![line("a", 3), line("b\r", 2)]
        );
    }

    #[test]
    fn cuts_long_lines_and_keeps_exact_fit_whole() {
        assert_eq!(
            split(4, &[b"abcdefghij\nwxyz\n"]),
            vec![
                line("abcd", 4),
                line("efgh", 4),
                line("ij", 3),
                line("wxyz", 5)
            ]
        );
    }

    #[test]
    fn only_cut_pieces_say_the_next_line_continues_them() {
        let mut splitter = LineSplitter::new(4);
        let mut out = Vec::new();
        splitter.push(b"abcdefghij\nwxyz\nlast", &mut out);
        out.extend(splitter.finish());
        let cuts: Vec<(&[u8], bool)> = out.iter().map(|l| (l.bytes.as_slice(), l.cut)).collect();
        assert_eq!(
            cuts,
            vec![
                (&b"abcd"[..], true),
                (&b"efgh"[..], true),
                (&b"ij"[..], false),
                (&b"wxyz"[..], false),
                (&b"last"[..], false),
            ]
        );
    }

    #[test]
    fn cuts_at_a_char_boundary() {
        // "aé" is 61 c3 a9: a cut at 2 would split é, so it moves back to 1.
        let text = "aééé".as_bytes();
        let pieces = split(4, &[text]);
        let joined: Vec<u8> = pieces.iter().flat_map(|(bytes, _)| bytes.clone()).collect();
        assert_eq!(joined, text);
        for (bytes, _) in &pieces {
            assert!(
                std::str::from_utf8(bytes).is_ok(),
                "piece {bytes:?} splits a char"
            );
        }
        // Invalid UTF-8 is cut at the limit.
        assert_eq!(split(2, &[&[0x80, 0x80, 0x80]]).len(), 2);
    }

    #[test]
    fn empty_input_yields_nothing() {
        assert!(split(8, &[b""]).is_empty());
    }

    fn limit(cap: u64, lines: &[&str]) -> (Vec<String>, u64, Vec<String>) {
        let mut limiter = OutputLimiter::new(cap);
        let forwarded = lines
            .iter()
            .filter_map(|text| {
                limiter.admit(
                    LogLine::now(LogStream::Stdout, *text),
                    text.len() as u64 + 1,
                )
            })
            .map(|line| line.text)
            .collect();
        let end = limiter.finish();
        let held = end.lines.into_iter().map(|line| line.text).collect();
        (forwarded, end.bytes_dropped, held)
    }

    #[test]
    fn under_the_cap_everything_is_forwarded() {
        assert_eq!(
            limit(100, &["aaaa", "bbbb"]),
            (vec!["aaaa".into(), "bbbb".into()], 0, vec![])
        );
    }

    #[test]
    fn head_then_tail_with_exact_drop_count() {
        // Each line is 5 bytes with its newline; cap 20 = head 10 + tail 10.
        let (forwarded, dropped, held) = limit(
            20,
            &["l001", "l002", "l003", "l004", "l005", "l006", "l007"],
        );
        assert_eq!(forwarded, vec!["l001", "l002"]);
        assert_eq!(dropped, 15);
        assert_eq!(held, vec!["… 15 bytes dropped …", "l006", "l007"]);
    }

    #[test]
    fn head_closes_for_good_once_passed() {
        // "ccc" would still fit the head, but the head closed at "bbbbbbbb".
        let (forwarded, dropped, held) = limit(20, &["aa", "bbbbbbbb", "ccc"]);
        assert_eq!(forwarded, vec!["aa"]);
        assert_eq!(dropped, 9);
        assert_eq!(held, vec!["… 9 bytes dropped …", "ccc"]);
    }

    #[test]
    fn tail_without_drop_has_no_notice() {
        let (forwarded, dropped, held) = limit(10, &["aaaa", "bbbb"]);
        assert_eq!(
            (forwarded, dropped, held),
            (vec!["aaaa".into()], 0, vec!["bbbb".into()])
        );
    }

    #[test]
    fn zero_cap_drops_everything() {
        let (forwarded, dropped, held) = limit(0, &["a", "b"]);
        assert!(forwarded.is_empty());
        assert_eq!(dropped, 4);
        assert_eq!(held, vec!["… 4 bytes dropped …"]);
    }
}
