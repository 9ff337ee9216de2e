//! Exposition parser throughput, in ns/sample, on real scrapes.
//!
//! Groups:
//! - `parse`: `redline::exposition::parse` into a counting sink (the parser alone: every line
//!   validated, labels handed over undecoded as a scrape loop's cache hit wants them);
//! - `parse_labels`: the same with every sample's labels decoded by the sink
//!   (`Sample::labels.iter()`), as for a scrape whose series are all new;
//! - `prometheus_parse`: the same inputs through `prometheus_parse::Scrape::parse`, for
//!   comparison (the crate DESIGN.md decided against);
//! - `parse_append`: parse and append every sample into a `Store` appender and commit, as a
//!   scrape loop does: through the scrape loop's own entry point `scrape_loop::ingest` (its
//!   series cache keyed by `Sample::series`, the end of the parse, the staleness pass;
//!   `ingest`), and with a `Labels` built for every sample (`labels_each`).
//!
//! - `protobuf_parse`, `protobuf_parse_append`: the protobuf decoder through the same entry
//!   points (`parse` with `Format::Protobuf`, and the scrape loop's `ingest`) on the same
//!   fixtures re-encoded as delimited `MetricFamily` messages (`protobuf/`), beside the text
//!   parser on the text fixture in the same run (`text/`), and on a body of native
//!   histograms (`native_histograms`: 200 latency histograms of 32 buckets, schema 3, read
//!   with `scrape_native_histograms`), where a sample is one histogram.
//!
//! - `nhcb`: text ingest of a body of classic histograms with and without
//!   `convert_classic_histograms_to_nhcb`.
//!
//! Criterion reports elements/s (Throughput::Elements = samples); before each group the bench
//! also prints a plain `ns/sample` median so runs can be compared at a glance:
//! `cargo bench --bench parse` (`cargo bench --bench parse -- protobuf` for the protobuf
//! groups only; the plain medians of every group are printed anyway).

mod latency;
mod protobuf_body;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use redline::exposition::{parse, Format, HistogramSample, ParseOptions, Sample, Sink, SinkError};
use redline::histogram::FloatHistogram;
use redline::scrape::scrape_loop::{ingest, SeriesCache};
use redline::scrape::target::TargetSpec;
use redline::store::{Label, Labels, Store, METRIC_NAME};

const INPUTS: [&str; 2] = ["kubelet-cadvisor.prom", "kube-state-metrics.prom"];

fn load(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

#[derive(Default)]
struct Counting {
    samples: usize,
    labels: usize,
    sum: f64,
    /// Decode every label (`parse_labels`) rather than count them.
    decode: bool,
}

impl Sink for Counting {
    fn sample(&mut self, s: &Sample<'_>) -> Result<(), SinkError> {
        self.samples += 1;
        if self.decode {
            for l in s.labels.iter() {
                self.labels += l.name.len() + l.value.len();
            }
        } else {
            self.labels += s.labels.len();
        }
        self.sum += s.value;
        Ok(())
    }

    fn histogram(&mut self, h: &HistogramSample<'_>) -> Result<(), SinkError> {
        self.samples += 1;
        if self.decode {
            for l in h.labels.iter() {
                self.labels += l.name.len() + l.value.len();
            }
        } else {
            self.labels += h.labels.len();
        }
        self.sum += h.histogram.sum;
        Ok(())
    }
}

/// One parse of an input, returning the samples read.
type Run = fn(&[u8]) -> usize;

fn parse_only(input: &[u8]) -> usize {
    parse_counting(input, false)
}

fn parse_labels(input: &[u8]) -> usize {
    parse_counting(input, true)
}

fn parse_counting(input: &[u8], decode: bool) -> usize {
    parse_counting_as(
        input,
        Format::PrometheusText,
        &ParseOptions::default(),
        decode,
    )
}

fn parse_counting_as(input: &[u8], format: Format, options: &ParseOptions, decode: bool) -> usize {
    let mut sink = Counting {
        decode,
        ..Counting::default()
    };
    parse(input, format, options, &mut sink).expect("fixture parses");
    black_box(sink.sum);
    black_box(sink.labels);
    sink.samples
}

fn prometheus_parse_only(input: &[u8]) -> usize {
    let text = std::str::from_utf8(input).expect("UTF-8");
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("prometheus_parse accepts it");
    scrape.samples.len()
}

fn labels_of(s: &Sample<'_>) -> Labels {
    let mut v = Vec::with_capacity(s.labels.len() + 1);
    v.push(Label::new(METRIC_NAME, s.name));
    v.extend(
        s.labels
            .iter()
            .map(|l| Label::new(l.name, l.value.as_ref())),
    );
    Labels::from_vec(v)
}

/// Parse + append as the scrape loop does it: [`ingest`], the loop's own entry point (its
/// sink, series cache, end of parse and staleness pass) and a commit (`Some`), or a
/// `Labels` built and looked up for every sample (`None`).
fn parse_append(
    store: &Store,
    cache: Option<(&TargetSpec, &mut SeriesCache)>,
    input: &[u8],
    t_ms: i64,
) -> usize {
    match cache {
        Some((spec, cache)) => {
            let (app, counts) = ingest(store, cache, spec, input, Format::PrometheusText, t_ms)
                .expect("fixture parses");
            black_box(app.commit());
            counts.scraped as usize
        }
        None => {
            let mut app = store.appender();
            let mut sink = |s: &Sample<'_>| -> Result<(), SinkError> {
                app.append(&labels_of(s), t_ms, s.value)
                    .map_err(|e| SinkError(e.to_string()))?;
                Ok(())
            };
            let stats = parse(
                input,
                Format::PrometheusText,
                &ParseOptions::default(),
                &mut sink,
            )
            .expect("fixture parses");
            black_box(app.commit());
            stats.samples
        }
    }
}

/// Median and best wall time of `f` over ~1 s of runs, each divided by the samples it
/// reports. On a shared machine the best run is the steadier figure.
fn ns_per_sample(mut f: impl FnMut() -> usize) -> (f64, f64, usize) {
    let mut times = Vec::new();
    let mut samples = 0;
    let start = Instant::now();
    while times.len() < 10 || (start.elapsed() < Duration::from_secs(1) && times.len() < 2000) {
        let t = Instant::now();
        samples = f();
        times.push(t.elapsed().as_nanos() as f64);
    }
    times.sort_by(f64::total_cmp);
    let per = |t: f64| t / samples.max(1) as f64;
    (per(times[times.len() / 2]), per(times[0]), samples)
}

fn bench_parse(c: &mut Criterion) {
    for name in INPUTS {
        let input = load(name);
        let (med, best, n) = ns_per_sample(|| parse_only(&input));
        println!(
            "parse/{name}: median {med:.1} ns/sample, best {best:.1} ({n} samples, {} bytes)",
            input.len()
        );
        let (med, best, _) = ns_per_sample(|| parse_labels(&input));
        println!("parse_labels/{name}: median {med:.1} ns/sample, best {best:.1}");
        let (med, best, n) = ns_per_sample(|| prometheus_parse_only(&input));
        println!(
            "prometheus_parse/{name}: median {med:.1} ns/sample, best {best:.1} ({n} samples)"
        );
    }
    let groups: [(&str, Run); 3] = [
        ("parse", parse_only),
        ("parse_labels", parse_labels),
        ("prometheus_parse", prometheus_parse_only),
    ];
    for (group_name, run) in groups {
        let mut group = c.benchmark_group(group_name);
        for name in INPUTS {
            let input = load(name);
            group.throughput(Throughput::Elements(run(&input) as u64));
            group.bench_with_input(BenchmarkId::from_parameter(name), &input, |b, input| {
                b.iter(|| run(black_box(input)))
            });
        }
        group.finish();
    }
}

fn bench_parse_append(c: &mut Criterion) {
    for name in INPUTS {
        let input = load(name);
        let store = Store::new();
        let mut cache = SeriesCache::default();
        // Append at the bench's own times, as a scrape of a target without timestamps does.
        let mut spec = TargetSpec::unlabelled(name);
        spec.honor_timestamps = false;
        let mut t = 0;
        let (med, best, n) = ns_per_sample(|| {
            t += 15_000;
            parse_append(&store, Some((&spec, &mut cache)), &input, t)
        });
        println!(
            "parse_append/ingest/{name}: median {med:.1} ns/sample, best {best:.1} ({n} samples)"
        );
        let store = Store::new();
        let (med, best, _) = ns_per_sample(|| {
            t += 15_000;
            parse_append(&store, None, &input, t)
        });
        println!("parse_append/labels_each/{name}: median {med:.1} ns/sample, best {best:.1}");
    }
    let mut group = c.benchmark_group("parse_append");
    for name in INPUTS {
        let input = load(name);
        let samples = parse_only(&input) as u64;
        group.throughput(Throughput::Elements(samples));
        let store = Store::new();
        let mut cache = SeriesCache::default();
        // Append at the bench's own times, as a scrape of a target without timestamps does.
        let mut spec = TargetSpec::unlabelled(name);
        spec.honor_timestamps = false;
        let mut t = 0;
        group.bench_function(BenchmarkId::new("ingest", name), |b| {
            b.iter(|| {
                t += 15_000;
                parse_append(&store, Some((&spec, &mut cache)), black_box(&input), t)
            })
        });
        let store = Store::new();
        group.bench_function(BenchmarkId::new("labels_each", name), |b| {
            b.iter(|| {
                t += 15_000;
                parse_append(&store, None, black_box(&input), t)
            })
        });
    }
    group.finish();
}

/// The parse options of a scrape with `scrape_native_histograms`, as `ingest` sets them.
fn native_options() -> ParseOptions {
    ParseOptions {
        native_histograms: true,
        ..ParseOptions::default()
    }
}

/// One sample as a parse hands it over: name, labels, value bits.
type OwnedSample = (String, Vec<(String, String)>, u64);

/// The float samples a parse hands its sink, in order, to check that the protobuf body holds
/// what the text fixture holds.
fn samples_of(input: &[u8], format: Format) -> Vec<OwnedSample> {
    let mut out = Vec::new();
    let mut sink = |s: &Sample<'_>| -> Result<(), SinkError> {
        let labels = s
            .labels
            .iter()
            .map(|l| (l.name.to_string(), l.value.to_string()))
            .collect();
        out.push((s.name.to_string(), labels, s.value.to_bits()));
        Ok(())
    };
    parse(input, format, &ParseOptions::default(), &mut sink).expect("body parses");
    out
}

/// One scrape through the scrape loop's `ingest` and a commit, in `format`.
fn ingest_scrape(
    store: &Store,
    spec: &TargetSpec,
    cache: &mut SeriesCache,
    input: &[u8],
    format: Format,
    t_ms: i64,
) -> usize {
    let (app, counts) = ingest(store, cache, spec, input, format, t_ms).expect("body parses");
    black_box(app.commit());
    counts.scraped as usize
}

/// A target spec as the bench scrapes: its own timestamps, native histograms on.
fn bench_spec(name: &str) -> TargetSpec {
    let mut spec = TargetSpec::unlabelled(name);
    spec.honor_timestamps = false;
    spec.histograms.scrape_native_histograms = true;
    spec
}

/// The 200 latency histograms of the `native_histograms` body, one scrape in.
fn latency_histograms() -> Vec<FloatHistogram> {
    let mut rng = latency::Rng(11);
    (0..200)
        .map(|i| {
            let mut h = latency::initial(i);
            latency::advance(&mut h, &mut rng);
            h
        })
        .collect()
}

/// The inputs of the protobuf groups: (id, body, format).
fn protobuf_inputs() -> Vec<(String, Vec<u8>, Format)> {
    let mut out = Vec::new();
    for name in INPUTS {
        let text = load(name);
        let (proto, n) = protobuf_body::from_text(&text);
        let (a, b) = (
            samples_of(&text, Format::PrometheusText),
            samples_of(&proto, Format::Protobuf),
        );
        assert_eq!(a.len(), n);
        assert!(
            a == b,
            "{name}: the protobuf body does not hold the text's samples"
        );
        out.push((format!("text/{name}"), text, Format::PrometheusText));
        out.push((format!("protobuf/{name}"), proto, Format::Protobuf));
    }
    let body = protobuf_body::native_histograms(&latency_histograms());
    out.push(("protobuf/native_histograms".into(), body, Format::Protobuf));
    out
}

fn bench_protobuf(c: &mut Criterion) {
    let inputs = protobuf_inputs();
    let options = native_options();
    for (id, input, format) in &inputs {
        let (med, best, n) = ns_per_sample(|| parse_counting_as(input, *format, &options, false));
        println!(
            "protobuf_parse/{id}: median {med:.1} ns/sample, best {best:.1} ({n} samples, {} bytes)",
            input.len()
        );
        let store = Store::new();
        let mut cache = SeriesCache::default();
        let spec = bench_spec(id);
        let mut t = 0;
        let (med, best, n) = ns_per_sample(|| {
            t += 15_000;
            ingest_scrape(&store, &spec, &mut cache, input, *format, t)
        });
        println!(
            "protobuf_parse_append/{id}: median {med:.1} ns/sample, best {best:.1} ({n} samples)"
        );
    }
    let mut group = c.benchmark_group("protobuf_parse");
    for (id, input, format) in &inputs {
        let n = parse_counting_as(input, *format, &options, false);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(BenchmarkId::from_parameter(id), |b| {
            b.iter(|| parse_counting_as(black_box(input), *format, &options, false))
        });
    }
    group.finish();
    let mut group = c.benchmark_group("protobuf_parse_append");
    for (id, input, format) in &inputs {
        let n = parse_counting_as(input, *format, &options, false);
        group.throughput(Throughput::Elements(n as u64));
        let store = Store::new();
        let mut cache = SeriesCache::default();
        let spec = bench_spec(id);
        let mut t = 0;
        group.bench_function(BenchmarkId::from_parameter(id), |b| {
            b.iter(|| {
                t += 15_000;
                ingest_scrape(&store, &spec, &mut cache, black_box(input), *format, t)
            })
        });
    }
    group.finish();
}

/// Text ingest of a scrape of classic histograms (`kube-scheduler.prom`: 1,656 `_bucket`
/// series) with `convert_classic_histograms_to_nhcb` (`convert`) and without (`classic`),
/// in ns per sample line of the body.
fn bench_nhcb(c: &mut Criterion) {
    let name = "kube-scheduler.prom";
    let input = load(name);
    let lines = parse_only(&input);
    let spec = |convert: bool| {
        let mut spec = TargetSpec::unlabelled(name);
        spec.honor_timestamps = false;
        spec.histograms.convert_classic_histograms_to_nhcb = convert;
        spec
    };
    for (id, convert) in [("classic", false), ("convert", true)] {
        let (store, spec) = (Store::new(), spec(convert));
        let mut cache = SeriesCache::default();
        let mut t = 0;
        let (med, best, _) = ns_per_sample(|| {
            t += 15_000;
            ingest_scrape(&store, &spec, &mut cache, &input, Format::PrometheusText, t);
            lines
        });
        println!("nhcb/{id}/{name}: median {med:.1} ns/sample, best {best:.1} ({lines} samples)");
    }
    let mut group = c.benchmark_group("nhcb");
    group.throughput(Throughput::Elements(lines as u64));
    for (id, convert) in [("classic", false), ("convert", true)] {
        let (store, spec) = (Store::new(), spec(convert));
        let mut cache = SeriesCache::default();
        let mut t = 0;
        group.bench_function(BenchmarkId::new(id, name), |b| {
            b.iter(|| {
                t += 15_000;
                ingest_scrape(
                    &store,
                    &spec,
                    &mut cache,
                    black_box(&input),
                    Format::PrometheusText,
                    t,
                )
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = bench_parse, bench_parse_append, bench_protobuf, bench_nhcb
}
/// `PARSE_PROFILE=<fixture> PARSE_PROFILE_ITERS=<n>` runs only the parser `n` times over one
/// fixture and prints the sample count, for `valgrind --tool=callgrind` (deterministic
/// instruction counts on a shared machine) or `perf record`. With `PARSE_PROFILE_MODE=append`
/// each iteration is a parse + append through the scrape loop's `ingest` and a commit instead
/// (one untimed warm-up scrape first, so the series exist and the cache is filled, as in the
/// `parse_append/ingest` group): the append side's cost is the difference between the two
/// modes. `PARSE_PROFILE_MODE=labels` decodes every sample's labels in the sink, as the
/// `parse_labels` group does. `PARSE_PROFILE_FORMAT=protobuf` reads the fixture re-encoded as
/// delimited `MetricFamily` messages, as the `protobuf_parse` groups do. Otherwise the
/// criterion benchmarks run.
fn main() {
    if let Some(name) = std::env::var_os("PARSE_PROFILE") {
        let name = name.to_string_lossy().into_owned();
        let iters: usize = std::env::var("PARSE_PROFILE_ITERS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(1);
        let mode = std::env::var("PARSE_PROFILE_MODE").unwrap_or_default();
        let append = mode == "append";
        let (input, format) = match std::env::var("PARSE_PROFILE_FORMAT").as_deref() {
            Ok("protobuf") => (protobuf_body::from_text(&load(&name)).0, Format::Protobuf),
            _ => (load(&name), Format::PrometheusText),
        };
        let mut samples = 0;
        if append {
            let store = Store::new();
            let mut cache = SeriesCache::default();
            let mut spec = TargetSpec::unlabelled(&name);
            spec.honor_timestamps = false;
            let mut t = 15_000;
            ingest_scrape(&store, &spec, &mut cache, &input, format, t);
            for _ in 0..iters {
                t += 15_000;
                samples += ingest_scrape(&store, &spec, &mut cache, black_box(&input), format, t);
            }
        } else {
            let options = ParseOptions::default();
            for _ in 0..iters {
                samples += parse_counting_as(black_box(&input), format, &options, mode == "labels");
            }
        }
        let mode = match mode.as_str() {
            "append" => "parse+append",
            "labels" => "parse+labels",
            _ => "parse",
        };
        println!("{name} ({mode}, {format:?}): {samples} samples over {iters} iterations");
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
