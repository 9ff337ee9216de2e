//! Native histogram values in query answers, as Prometheus' JSON codec writes them
//! (`util/jsonutil.MarshalHistogram`): `{"count":"…","sum":"…","buckets":[[boundaries,
//! "lower","upper","count"],…]}`, every number a string formatted like a sample value, the
//! buckets from the lowest to the highest, empty buckets left out (and `buckets` with them
//! when all are empty). `boundaries` says which ends are inclusive: 0 the upper only
//! (`(l,u]`), 1 the lower only (`[l,u)`), 2 neither, 3 both.

use super::format_value;
use crate::histogram::FloatHistogram;
use serde_json::{json, Value as Json};

/// The boundary rule of a bucket: 0 `(l,u]`, 1 `[l,u)`, 2 `(l,u)`, 3 `[l,u]`.
fn boundaries(lower_inclusive: bool, upper_inclusive: bool) -> u8 {
    match (lower_inclusive, upper_inclusive) {
        (false, true) => 0,
        (true, false) => 1,
        (false, false) => 2,
        (true, true) => 3,
    }
}

/// Writes the histogram object into `out`.
pub(super) fn write_histogram(out: &mut Vec<u8>, h: &FloatHistogram) {
    out.extend_from_slice(b"{\"count\":\"");
    out.extend_from_slice(format_value(h.count).as_bytes());
    out.extend_from_slice(b"\",\"sum\":\"");
    out.extend_from_slice(format_value(h.sum).as_bytes());
    out.push(b'"');
    let mut first = true;
    for b in h.all_bucket_iter().filter(|b| b.count != 0.0) {
        out.extend_from_slice(if first { b",\"buckets\":[" } else { b"," });
        first = false;
        out.push(b'[');
        out.push(b'0' + boundaries(b.lower_inclusive, b.upper_inclusive));
        for v in [b.lower, b.upper, b.count] {
            out.extend_from_slice(b",\"");
            out.extend_from_slice(format_value(v).as_bytes());
            out.push(b'"');
        }
        out.push(b']');
    }
    if !first {
        out.push(b']');
    }
    out.push(b'}');
}

/// The histogram object as a JSON value (the reference rendering; keys sort as written).
pub(super) fn histogram_json(h: &FloatHistogram) -> Json {
    let buckets: Vec<Json> = h
        .all_bucket_iter()
        .filter(|b| b.count != 0.0)
        .map(|b| {
            json!([
                boundaries(b.lower_inclusive, b.upper_inclusive),
                format_value(b.lower),
                format_value(b.upper),
                format_value(b.count)
            ])
        })
        .collect();
    let mut o = serde_json::Map::new();
    if !buckets.is_empty() {
        o.insert("buckets".into(), Json::Array(buckets));
    }
    o.insert("count".into(), json!(format_value(h.count)));
    o.insert("sum".into(), json!(format_value(h.sum)));
    Json::Object(o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::histogram::Span;

    /// A schema-0 histogram with a negative bucket, a zero bucket and positive buckets, one
    /// of them empty; the bounds follow from the schema (bucket `i` is `(2^(i-1), 2^i]`).
    #[test]
    fn written_as_prometheus_writes_it() {
        let h = FloatHistogram {
            schema: 0,
            count: 6.0,
            sum: 3.5,
            zero_threshold: 0.001,
            zero_count: 1.0,
            positive_spans: vec![Span {
                offset: 0,
                length: 3,
            }],
            positive_buckets: vec![1.0, 0.0, 2.0],
            negative_spans: vec![Span {
                offset: 1,
                length: 1,
            }],
            negative_buckets: vec![2.0],
            ..FloatHistogram::default()
        };
        let mut out = Vec::new();
        write_histogram(&mut out, &h);
        let text = String::from_utf8(out).unwrap();
        // Negative bucket index 1 is [-2,-1), the zero bucket is closed, positive
        // bucket 0 is (0.5,1], bucket 1 (1,2] is empty and left out, bucket 2 is (2,4].
        assert_eq!(
            text,
            "{\"count\":\"6\",\"sum\":\"3.5\",\"buckets\":[[1,\"-2\",\"-1\",\"2\"],\
             [3,\"-0.001\",\"0.001\",\"1\"],[0,\"0.5\",\"1\",\"1\"],[0,\"2\",\"4\",\"2\"]]}"
        );
        assert_eq!(
            serde_json::to_string(&histogram_json(&h)).unwrap(),
            text.replace(
                "{\"count\":\"6\",\"sum\":\"3.5\",\"buckets\":",
                "{\"buckets\":"
            )
            .replace("]]}", "]],\"count\":\"6\",\"sum\":\"3.5\"}")
        );
        let mut out = Vec::new();
        write_histogram(&mut out, &FloatHistogram::default());
        assert_eq!(out, b"{\"count\":\"0\",\"sum\":\"0\"}");
    }
}
