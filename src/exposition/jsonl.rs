//! `redline debug parse FILE --format jsonl`: one JSON object per sample.
//!
//! Each line is `{"name":…,"labels":{…},"value":…,"timestamp_ms":…}` with labels in input
//! order, the value a JSON number or one of the strings `"NaN"`, `"+Inf"`, `"-Inf"`, and the
//! timestamp an integer or `null`. Samples are written as the parser pushes them, so a parse
//! error leaves the lines before it written and is returned.

use std::io::Write;

use super::{parse, Format, ParseError, ParseOptions, Sample, Sink, SinkError};

/// Why [`write_jsonl`] failed.
#[derive(Debug, thiserror::Error)]
pub enum JsonlError {
    // The messages do not repeat their source's: a chain printer (`{:#}`) prints both.
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error("writing output")]
    Io(#[from] std::io::Error),
}

struct JsonlSink<'w, W: Write> {
    out: &'w mut W,
    buf: Vec<u8>,
    io_error: Option<std::io::Error>,
}

impl<W: Write> JsonlSink<'_, W> {
    fn encode(&mut self, s: &Sample<'_>) -> serde_json::Result<()> {
        let buf = &mut self.buf;
        buf.clear();
        buf.extend_from_slice(b"{\"name\":");
        serde_json::to_writer(&mut *buf, s.name)?;
        buf.extend_from_slice(b",\"labels\":{");
        for (i, l) in s.labels.iter().enumerate() {
            if i > 0 {
                buf.push(b',');
            }
            serde_json::to_writer(&mut *buf, l.name)?;
            buf.push(b':');
            serde_json::to_writer(&mut *buf, l.value.as_ref())?;
        }
        buf.extend_from_slice(b"},\"value\":");
        if s.value.is_nan() {
            buf.extend_from_slice(b"\"NaN\"");
        } else if s.value == f64::INFINITY {
            buf.extend_from_slice(b"\"+Inf\"");
        } else if s.value == f64::NEG_INFINITY {
            buf.extend_from_slice(b"\"-Inf\"");
        } else {
            serde_json::to_writer(&mut *buf, &s.value)?;
        }
        buf.extend_from_slice(b",\"timestamp_ms\":");
        match s.timestamp_ms {
            Some(t) => serde_json::to_writer(&mut *buf, &t)?,
            None => buf.extend_from_slice(b"null"),
        }
        buf.extend_from_slice(b"}\n");
        Ok(())
    }
}

impl<W: Write> Sink for JsonlSink<'_, W> {
    fn sample(&mut self, s: &Sample<'_>) -> Result<(), SinkError> {
        self.encode(s)
            .map_err(|e| SinkError(format!("encoding JSON: {e}")))?;
        if let Err(e) = self.out.write_all(&self.buf) {
            let msg = e.to_string();
            self.io_error = Some(e);
            return Err(SinkError(msg));
        }
        Ok(())
    }
}

/// Parses `input` and writes one JSON object per sample to `out`; returns the number of
/// samples written.
pub fn write_jsonl<W: Write>(
    input: &[u8],
    format: Format,
    out: &mut W,
) -> Result<usize, JsonlError> {
    let mut sink = JsonlSink {
        out,
        buf: Vec::with_capacity(256),
        io_error: None,
    };
    match parse(input, format, &ParseOptions::default(), &mut sink) {
        Ok(stats) => {
            sink.out.flush()?;
            Ok(stats.samples)
        }
        Err(e) => match sink.io_error.take() {
            Some(io) => Err(JsonlError::Io(io)),
            None => Err(JsonlError::Parse(e)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jsonl(input: &str, format: Format) -> String {
        let mut out = Vec::new();
        write_jsonl(input.as_bytes(), format, &mut out).expect("parses");
        String::from_utf8(out).expect("utf-8 output")
    }

    #[test]
    fn one_object_per_sample_with_labels_in_input_order() {
        let out = jsonl(
            "# TYPE a counter\na_total{z=\"1\",b=\"q\\\"uote\"} 3 1700000000000\nb 0.25\n",
            Format::PrometheusText,
        );
        assert_eq!(
            out,
            "{\"name\":\"a_total\",\"labels\":{\"z\":\"1\",\"b\":\"q\\\"uote\"},\"value\":3.0,\"timestamp_ms\":1700000000000}\n\
             {\"name\":\"b\",\"labels\":{},\"value\":0.25,\"timestamp_ms\":null}\n"
        );
        for line in out.lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect("valid JSON");
            assert!(v.get("labels").is_some_and(|l| l.is_object()));
        }
    }

    #[test]
    fn special_values_are_strings() {
        let out = jsonl("a NaN\nb +Inf\nc -Inf\n", Format::PrometheusText);
        let values: Vec<serde_json::Value> = out
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json")["value"].clone())
            .collect();
        assert_eq!(values, ["NaN", "+Inf", "-Inf"]);
    }

    #[test]
    fn openmetrics_timestamps_become_milliseconds() {
        let out = jsonl("a 1 1700000000.5\n# EOF\n", Format::OpenMetrics);
        assert!(out.contains("\"timestamp_ms\":1700000000500"), "{out}");
    }

    #[test]
    fn parse_error_is_returned_after_earlier_lines() {
        let mut out = Vec::new();
        let err = write_jsonl(b"a 1\nb{ 2\n", Format::PrometheusText, &mut out).unwrap_err();
        assert!(matches!(&err, JsonlError::Parse(e) if e.line == 2), "{err}");
        assert_eq!(String::from_utf8_lossy(&out).lines().count(), 1);
    }

    #[test]
    fn io_error_is_reported_as_io() {
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("disk full"))
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let err = write_jsonl(b"a 1\n", Format::PrometheusText, &mut Full).unwrap_err();
        assert!(matches!(err, JsonlError::Io(_)), "{err}");
    }
}
