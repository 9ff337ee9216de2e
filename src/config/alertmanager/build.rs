//! Phase two of loading an Alertmanager config: from the raw structs of [`super::raw`] to
//! the typed [`AlertmanagerConfig`], with Alertmanager's defaults and its rules between
//! fields (`config/config.go`). The first error stops validation, as in Alertmanager; every
//! error names the file, the field path and, when the text is known, the line and column.

use std::collections::{BTreeMap, BTreeSet};

use std::time::Duration;

use super::matchers::{am_regex, is_valid_label_name, parse_matchers, Matcher, Matchers};
use super::owners::{LabelTemplate, Owners};
use super::raw::*;
use super::receivers::{self, InhibitRule, Receiver};
use super::route::{GroupBy, Route, RouteSettings, RouteTree};
use super::time_intervals::{self as ti, NamedTimeInterval, TimeInterval};
use super::AlertmanagerConfig;
use crate::config::raw::UNSUPPORTED;
use crate::config::{locate, ConfigError, FieldPath, InvalidConfig};
use crate::store::MatchOp;

pub(crate) use crate::config::validate::Ctx;

/// Decodes YAML text into the raw structs (YAML merge keys resolved).
pub(crate) fn parse_text(text: &str, source: &str) -> Result<RawAlertmanagerConfig, ConfigError> {
    let de = serde_yaml_ng::Deserializer::from_str(text);
    match serde_path_to_error::deserialize::<_, Option<RawAlertmanagerConfig>>(de) {
        Ok(c) => Ok(c.unwrap_or_default()),
        Err(e) if e.inner().to_string().contains("unknown field `<<`") => {
            let mut v: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).map_err(|e| {
                invalid(
                    source,
                    String::new(),
                    e.location().map(|l| (l.line(), l.column())),
                    e.to_string(),
                )
            })?;
            v.apply_merge()
                .map_err(|e| invalid(source, String::new(), None, e.to_string()))?;
            parse_value(v, source, Some(text))
        }
        Err(e) => Err(decode_error(e, source, None)),
    }
}

/// Decodes a YAML document tree into the raw structs.
pub(crate) fn parse_value(
    value: serde_yaml_ng::Value,
    source: &str,
    text: Option<&str>,
) -> Result<RawAlertmanagerConfig, ConfigError> {
    serde_path_to_error::deserialize::<_, Option<RawAlertmanagerConfig>>(value)
        .map(Option::unwrap_or_default)
        .map_err(|e| decode_error(e, source, text))
}

fn invalid(
    source: &str,
    field: String,
    position: Option<(usize, usize)>,
    message: String,
) -> ConfigError {
    ConfigError::Invalid(Box::new(InvalidConfig {
        source_name: source.to_string(),
        field,
        position,
        message,
    }))
}

fn decode_error(
    e: serde_path_to_error::Error<serde_yaml_ng::Error>,
    source: &str,
    text: Option<&str>,
) -> ConfigError {
    use serde_path_to_error::Segment as S;
    let mut path = FieldPath::root();
    for seg in e.path().iter() {
        path = match seg {
            S::Seq { index } => path.index(*index),
            S::Map { key } | S::Enum { variant: key } => path.key(key),
            S::Unknown => path,
        };
    }
    let inner = e.into_inner();
    let mut position = inner.location().map(|l| (l.line(), l.column()));
    if position.is_none() {
        position = text.and_then(|t| locate(t, &path));
    }
    let mut message = inner.to_string();
    if let Some((line, col)) = position {
        let suffix = format!(" at line {line} column {col}");
        if let Some(m) = message.strip_suffix(&suffix) {
            message = m.to_string();
        }
    }
    // serde_yaml_ng prefixes its own path (`route.routes[0]: ...`); the error carries ours.
    if let Some((head, tail)) = message.split_once(": ") {
        if !head.contains(' ') {
            message = tail.to_string();
        }
    }
    // No value a secret may hide in is quoted back.
    let mut message = crate::config::validate::without_value(&message);
    let field = path.to_string();
    if message == UNSUPPORTED && field.ends_with("_configs") {
        let kind = field.rsplit('.').next().unwrap_or_default();
        message = super::integrations::left_out(kind);
    }
    invalid(source, field, position, message)
}

/// Go's `model.LabelName.IsValid` (classic names): the keys of the deprecated `match`,
/// `match_re`, `source_match*` and `target_match*` maps, which Alertmanager 0.27 still checks
/// with `model.LabelNameRE`, and redline's owner labels.
pub(crate) fn valid_label_name(n: &str) -> bool {
    let mut chars = n.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Builds the typed config from the raw one.
pub(crate) fn build(
    ctx: &Ctx<'_>,
    raw: RawAlertmanagerConfig,
) -> Result<AlertmanagerConfig, ConfigError> {
    let root = FieldPath::root();
    let global = receivers::global(ctx, &root.key("global"), raw.global.unwrap_or_default())?;

    let mut receivers: Vec<Receiver> = Vec::new();
    let mut names = BTreeSet::new();
    for (i, r) in raw.receivers.unwrap_or_default().into_iter().enumerate() {
        let path = root.key("receivers").index(i);
        let rcv = receivers::receiver(ctx, &path, r, &global)?;
        if !names.insert(rcv.name.clone()) {
            return Err(ctx.err(
                &path.key("name"),
                format!("notification config name {:?} is not unique", rcv.name),
            ));
        }
        receivers.push(rcv);
    }

    let mut time_intervals: BTreeMap<String, NamedTimeInterval> = BTreeMap::new();
    for (section, list) in [
        ("mute_time_intervals", raw.mute_time_intervals),
        ("time_intervals", raw.time_intervals),
    ] {
        for (i, t) in list.unwrap_or_default().into_iter().enumerate() {
            let path = root.key(section).index(i);
            let nti = named_interval(ctx, &path, t)?;
            if time_intervals.contains_key(&nti.name) {
                let what = if section == "time_intervals" {
                    "time interval"
                } else {
                    "mute time interval"
                };
                return Err(ctx.err(
                    &path.key("name"),
                    format!("{what} {:?} is not unique", nti.name),
                ));
            }
            time_intervals.insert(nti.name.clone(), nti);
        }
    }

    let mut inhibit_rules = Vec::new();
    for (i, r) in raw
        .inhibit_rules
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        inhibit_rules.push(inhibit_rule(ctx, &root.key("inhibit_rules").index(i), r)?);
    }

    let templates = raw
        .templates
        .unwrap_or_default()
        .iter()
        .map(|t| ctx.resolve(t))
        .collect();

    let rpath = root.key("route");
    let Some(raw_route) = raw.route else {
        return Err(ctx.err(&root, "no routes provided"));
    };
    if raw_route.receiver.as_deref().unwrap_or("").is_empty() {
        return Err(ctx.err(&rpath, "root route must specify a default receiver"));
    }
    let has = |m: &Option<BTreeMap<String, Text>>| m.as_ref().is_some_and(|m| !m.is_empty());
    if has(&raw_route.match_eq)
        || has(&raw_route.match_re)
        || raw_route.matchers.as_ref().is_some_and(|m| !m.is_empty())
    {
        return Err(ctx.err(&rpath, "root route must not have any matchers"));
    }
    if raw_route.continue_matching == Some(true) {
        return Err(ctx.err(&rpath.key("continue"), "cannot have continue in root route"));
    }
    if raw_route
        .mute_time_intervals
        .as_ref()
        .is_some_and(|m| !m.is_empty())
    {
        return Err(ctx.err(&rpath, "root route must not have any mute time intervals"));
    }
    if raw_route
        .active_time_intervals
        .as_ref()
        .is_some_and(|m| !m.is_empty())
    {
        return Err(ctx.err(&rpath, "root route must not have any active time intervals"));
    }

    let owners = match raw.owners {
        Some(o) => Some(owners(ctx, &root.key("owners"), o, &names)?),
        None => None,
    };
    let check = TreeCheck {
        receivers: &names,
        intervals: &time_intervals,
    };
    let root_route = route(ctx, &rpath, raw_route, None, None, &check)?;
    if root_route.opts.receiver_template.is_some()
        && owners
            .as_ref()
            .and_then(|o| o.fallback_receiver.as_ref())
            .is_none()
    {
        return Err(ctx.err(
            &rpath.key("receiver"),
            "a templated root receiver needs owners.fallback_receiver, so that no alert is routed nowhere",
        ));
    }

    Ok(AlertmanagerConfig {
        global,
        route: RouteTree { root: root_route },
        inhibit_rules,
        receivers,
        templates,
        time_intervals,
        owners,
        original: String::new(),
    })
}

struct TreeCheck<'a> {
    receivers: &'a BTreeSet<String>,
    intervals: &'a BTreeMap<String, NamedTimeInterval>,
}

fn route(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    raw: RawRoute,
    parent: Option<&Route>,
    position: Option<usize>,
    check: &TreeCheck<'_>,
) -> Result<Route, ConfigError> {
    let mut own = RouteSettings::default();
    if let Some(r) = raw.receiver.filter(|r| !r.is_empty()) {
        let rp = path.key("receiver");
        let template = if LabelTemplate::is_template(&r) {
            Some(LabelTemplate::parse(&r).map_err(|e| ctx.err(&rp, e.to_string()))?)
        } else {
            if !check.receivers.contains(&r) {
                return Err(ctx.err(&rp, format!("undefined receiver {r:?} used in route")));
            }
            None
        };
        own.receiver = Some((r, template));
    }
    if let Some(list) = raw.group_by {
        let gp = path.key("group_by");
        let mut all = false;
        let mut labels: Vec<String> = Vec::new();
        for (i, l) in list.into_iter().enumerate() {
            if l == "..." {
                all = true;
            } else if !is_valid_label_name(&l) {
                return Err(ctx.err(
                    &gp.index(i),
                    format!("invalid label name {l:?} in group_by list"),
                ));
            } else if labels.contains(&l) {
                return Err(ctx.err(&gp.index(i), format!("duplicated label {l:?} in group_by")));
            } else {
                labels.push(l);
            }
        }
        if all && !labels.is_empty() {
            return Err(ctx.err(
                &gp,
                "cannot have wildcard group_by (`...`) and other other labels at the same time",
            ));
        }
        own.group_by = if all {
            Some(GroupBy::All)
        } else if labels.is_empty() {
            None // Alertmanager: an empty list leaves the parent's grouping in place.
        } else {
            Some(GroupBy::Labels(labels))
        };
    }
    own.group_wait = raw.group_wait.map(|d| d.0);
    for (field, value) in [
        ("group_interval", raw.group_interval),
        ("repeat_interval", raw.repeat_interval),
    ] {
        if value.is_some_and(|d| d.0 == Duration::ZERO) {
            return Err(ctx.err(&path.key(field), format!("{field} cannot be zero")));
        }
    }
    own.group_interval = raw.group_interval.map(|d| d.0);
    own.repeat_interval = raw.repeat_interval.map(|d| d.0);
    for (field, list, out) in [
        (
            "mute_time_intervals",
            raw.mute_time_intervals,
            &mut own.mute_time_intervals,
        ),
        (
            "active_time_intervals",
            raw.active_time_intervals,
            &mut own.active_time_intervals,
        ),
    ] {
        for (i, name) in list.unwrap_or_default().into_iter().enumerate() {
            if !check.intervals.contains_key(&name) {
                return Err(ctx.err(
                    &path.key(field).index(i),
                    format!("undefined time interval {name:?} used in route"),
                ));
            }
            out.push(name);
        }
    }

    let mut matchers = legacy_matchers(ctx, path, "match", raw.match_eq, "match_re", raw.match_re)?;
    matchers
        .0
        .extend(matcher_list(ctx, &path.key("matchers"), raw.matchers)?);
    matchers.sort();

    let mut node = Route::new(
        parent.map(|p| (&p.opts, p.key())),
        position,
        own,
        matchers,
        raw.continue_matching.unwrap_or(false),
        path.to_string(),
    );
    let mut children = Vec::new();
    for (i, child) in raw.routes.unwrap_or_default().into_iter().enumerate() {
        children.push(route(
            ctx,
            &path.key("routes").index(i),
            child,
            Some(&node),
            Some(i),
            check,
        )?);
    }
    node.routes = children;
    Ok(node)
}

/// Legacy `match` (equality) and `match_re` (regex) maps as matchers.
fn legacy_matchers(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    eq_field: &str,
    eq: Option<BTreeMap<String, Text>>,
    re_field: &str,
    re: Option<BTreeMap<String, Text>>,
) -> Result<Matchers, ConfigError> {
    let mut out = Vec::new();
    for (field, map, op) in [
        (eq_field, eq, MatchOp::Equal),
        (re_field, re, MatchOp::Regex),
    ] {
        for (name, Text(value)) in map.unwrap_or_default() {
            let p = path.key(field).key(&name);
            if !valid_label_name(&name) {
                return Err(ctx.err(&p, format!("invalid label name {name:?}")));
            }
            // Alertmanager keeps a legacy regex as its compiled, anchored form
            // (`config.Regexp.String()`): `^(?:x|y)$` is the matcher's value, printed in route
            // keys and therefore in group keys. Anchoring twice matches the same values.
            let value = if op == MatchOp::Regex {
                am_regex(&value).map_err(|e| ctx.err(&p, format!("error parsing regexp: {e}")))?;
                format!("^(?:{value})$")
            } else {
                value
            };
            out.push(Matcher::new(op, name, value).map_err(|e| ctx.err(&p, e.to_string()))?);
        }
    }
    Ok(Matchers(out))
}

/// A `matchers:` list: each entry may hold several matchers.
fn matcher_list(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    list: Option<Vec<String>>,
) -> Result<Vec<Matcher>, ConfigError> {
    let mut out = Vec::new();
    for (i, s) in list.unwrap_or_default().iter().enumerate() {
        out.extend(parse_matchers(s).map_err(|e| ctx.err(&path.index(i), e.to_string()))?);
    }
    Ok(out)
}

fn inhibit_rule(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    r: RawInhibitRule,
) -> Result<InhibitRule, ConfigError> {
    let mut source = legacy_matchers(
        ctx,
        path,
        "source_match",
        r.source_match,
        "source_match_re",
        r.source_match_re,
    )?;
    source.0.extend(matcher_list(
        ctx,
        &path.key("source_matchers"),
        r.source_matchers,
    )?);
    let mut target = legacy_matchers(
        ctx,
        path,
        "target_match",
        r.target_match,
        "target_match_re",
        r.target_match_re,
    )?;
    target.0.extend(matcher_list(
        ctx,
        &path.key("target_matchers"),
        r.target_matchers,
    )?);
    let mut equal = Vec::new();
    for (i, l) in r.equal.unwrap_or_default().into_iter().enumerate() {
        if !is_valid_label_name(&l) {
            return Err(ctx.err(
                &path.key("equal").index(i),
                format!("invalid label name {l:?} in equal list"),
            ));
        }
        equal.push(l);
    }
    Ok(InhibitRule {
        source_matchers: source,
        target_matchers: target,
        equal,
    })
}

fn named_interval(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    t: RawNamedTimeInterval,
) -> Result<NamedTimeInterval, ConfigError> {
    let name = t.name.unwrap_or_default();
    if name.is_empty() {
        return Err(ctx.err(path, "missing name in time interval"));
    }
    let mut intervals = Vec::new();
    for (i, raw) in t.time_intervals.unwrap_or_default().into_iter().enumerate() {
        let p = path.key("time_intervals").index(i);
        let mut ti = TimeInterval::default();
        if let Some(times) = raw.times {
            let mut v = Vec::new();
            for (j, tr) in times.into_iter().enumerate() {
                let tp = p.key("times").index(j);
                let (Some(Text(s)), Some(Text(e))) = (tr.start_time, tr.end_time) else {
                    return Err(ctx.err(&tp, "both start and end times must be provided"));
                };
                v.push(ti::parse_times(&s, &e).map_err(|m| ctx.err(&tp, m.to_string()))?);
            }
            ti.times = Some(v);
        }
        let ranges =
            |field: &str,
             list: Option<Vec<Text>>,
             f: fn(&str) -> Result<ti::Range, ti::TimeIntervalError>| {
                list.map(|l| {
                    l.iter()
                        .enumerate()
                        .map(|(j, Text(s))| {
                            f(s).map_err(|m| ctx.err(&p.key(field).index(j), m.to_string()))
                        })
                        .collect::<Result<Vec<_>, _>>()
                })
                .transpose()
            };
        ti.weekdays = ranges("weekdays", raw.weekdays, ti::parse_weekdays)?;
        ti.days_of_month = ranges("days_of_month", raw.days_of_month, ti::parse_days_of_month)?;
        ti.months = ranges("months", raw.months, ti::parse_months)?;
        ti.years = ranges("years", raw.years, ti::parse_years)?;
        if let Some(loc) = raw.location {
            ti.location = Some(
                ti::parse_location(&loc).map_err(|m| ctx.err(&p.key("location"), m.to_string()))?,
            );
        }
        intervals.push(ti);
    }
    Ok(NamedTimeInterval { name, intervals })
}

fn owners(
    ctx: &Ctx<'_>,
    path: &FieldPath,
    o: RawOwners,
    names: &BTreeSet<String>,
) -> Result<Owners, ConfigError> {
    let mut out = Owners::default();
    if let Some(labels) = o.labels {
        for (i, l) in labels.iter().enumerate() {
            if !valid_label_name(l) {
                return Err(ctx.err(
                    &path.key("labels").index(i),
                    format!("invalid label name {l:?}"),
                ));
            }
        }
        out.labels = labels;
    }
    for (owner, r) in o.receivers.unwrap_or_default() {
        if !names.contains(&r) {
            return Err(ctx.err(
                &path.key("receivers").key(&owner),
                format!("undefined receiver {r:?} used in owners"),
            ));
        }
        out.receivers.insert(owner, r);
    }
    if let Some(f) = o.fallback_receiver.filter(|f| !f.is_empty()) {
        if !names.contains(&f) {
            return Err(ctx.err(
                &path.key("fallback_receiver"),
                format!("undefined receiver {f:?} used as fallback_receiver"),
            ));
        }
        out.fallback_receiver = Some(f);
    }
    if let Some(t) = o.playbook_url_template {
        out.playbook_url_template = Some(
            LabelTemplate::parse(&t)
                .map_err(|e| ctx.err(&path.key("playbook_url_template"), e.to_string()))?,
        );
    }
    Ok(out)
}
