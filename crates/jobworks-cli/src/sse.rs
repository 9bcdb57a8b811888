//! A Server-Sent Events parser for byte chunks as they arrive from the network.
//!
//! Follows the WHATWG "event stream interpretation" rules that matter here: lines end in
//! `\n`, `\r\n` or `\r`; a blank line ends an event; lines starting with `:` are comments
//! (keep-alives); `event`, `data` and `id` fields are kept, several `data` lines are joined
//! with `\n`, one space after the colon is dropped, an event without data is not dispatched.
//! Chunks may split lines, `\r\n` pairs and UTF-8 characters anywhere.

/// One dispatched event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field; `message` when the event had none.
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// The last `id:` seen on the stream so far (it persists across events), if any.
    pub id: Option<String>,
}

/// Incremental parser state; feed it chunks with [`SseParser::push`].
#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of the line being read (not yet terminated).
    line: Vec<u8>,
    /// The previous chunk ended in `\r`: a leading `\n` in the next one belongs to it.
    after_cr: bool,
    event: Option<String>,
    data: Vec<String>,
    last_id: Option<String>,
}

impl SseParser {
    /// Feeds the next chunk; returns the events it completed, in order.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        let mut events = Vec::new();
        for &byte in chunk {
            if std::mem::take(&mut self.after_cr) && byte == b'\n' {
                continue;
            }
            match byte {
                b'\r' | b'\n' => {
                    self.after_cr = byte == b'\r';
                    let line = std::mem::take(&mut self.line);
                    if let Some(event) = self.line_done(&String::from_utf8_lossy(&line)) {
                        events.push(event);
                    }
                }
                _ => self.line.push(byte),
            }
        }
        events
    }

    fn line_done(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            return self.dispatch();
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = Some(value.to_owned()),
            "data" => self.data.push(value.to_owned()),
            "id" if !value.contains('\0') => self.last_id = Some(value.to_owned()),
            // `retry` and unknown fields are ignored
            _ => {}
        }
        None
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = self.event.take();
        if self.data.is_empty() {
            return None;
        }
        let data = std::mem::take(&mut self.data).join("\n");
        Some(SseEvent {
            event: event
                .filter(|name| !name.is_empty())
                .unwrap_or_else(|| "message".to_owned()),
            data,
            id: self.last_id.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &str, data: &str, id: Option<&str>) -> SseEvent {
        SseEvent {
            event: name.to_owned(),
            data: data.to_owned(),
            id: id.map(str::to_owned),
        }
    }

    /// Feeds `stream` split at every possible pair of points and checks that the events are
    /// always the same as when it arrives whole.
    fn check(stream: &str, want: &[SseEvent]) {
        let bytes = stream.as_bytes();
        let mut whole = SseParser::default();
        assert_eq!(whole.push(bytes), want, "whole stream");
        for first in 0..=bytes.len() {
            for second in first..=bytes.len() {
                let mut parser = SseParser::default();
                let mut got = parser.push(&bytes[..first]);
                got.extend(parser.push(&bytes[first..second]));
                got.extend(parser.push(&bytes[second..]));
                assert_eq!(got, want, "split at {first} and {second}");
            }
        }
    }

    #[test]
    fn server_stream_with_keep_alive() {
        check(
            "event: log\nid: 1\ndata: {\"seq\":1}\n\n:\n\nevent: log\nid: 2\ndata: {\"seq\":2}\n\nevent: end\ndata: {\"id\":7}\n\n",
            &[
                event("log", "{\"seq\":1}", Some("1")),
                event("log", "{\"seq\":2}", Some("2")),
                event("end", "{\"id\":7}", Some("2")),
            ],
        );
    }

    #[test]
    fn line_endings_and_multi_line_data() {
        check(
            "data: a\r\ndata:b\r\n\r\ndata:  c\rdata\r\r",
            &[
                event("message", "a\nb", None),
                event("message", " c\n", None),
            ],
        );
    }

    #[test]
    fn split_utf8_and_unfinished_event() {
        check(
            "event: log\ndata: héllo ✓\n\nevent: log\ndata: never ended\n",
            &[event("log", "héllo ✓", None)],
        );
    }

    #[test]
    fn events_without_data_are_dropped_but_ids_persist() {
        check(
            "event: ping\nid: 9\n\ndata: x\n\n",
            &[event("message", "x", Some("9"))],
        );
    }
}
