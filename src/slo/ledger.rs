//! One SLO's ledger in memory: window sums over per-step event counts in O(window / 60).
//!
//! The on-disk ledger ([`crate::state::ledger`]) holds every step (one minute in production)
//! of the SLO period. In memory a [`Ledger`] keeps
//! - every step of the recent past (`detail` steps: the longest burn-rate window plus a block),
//! - a sum per block of [`BLOCK`] steps (an hour) for the whole period,
//! - the steps of one older block, the *edge*: the block the period window starts in, loaded
//!   from the database when the window start moves into it ([`Ledger::edge_needed`]),
//!
//! so a sum over any window `[from, to)` is exact to the step: the partial block at each end
//! from step counts, the blocks in between from their sums. 1,000 SLOs of 30 days take
//! ~100 KiB each instead of 700 KiB, and a full round of figures reads ~10k numbers per SLO.
//!
//! Gaps (steps redline could not count) are kept as ranges; they hold no events, so they
//! consume no budget, and the API shows them.
//!
//! **Time slices.** A ledger built [`Ledger::with_slices`] also judges each time slice of a
//! whole number of steps (a divisor of the block, so a slice never straddles two) by its
//! [`SliceRule`], and keeps per block the sum of its slices' judgements beside its events, so
//! [`Ledger::budget_counts`] answers in slices as fast as in events. A slice counts in a window
//! `[from, to)` when it ends inside `(from, to]`: a burn-rate window always holds its last
//! complete slices, and the slice still running is not judged yet. A step recorded after it
//! left the detail (a late back-fill older than three days) changes the events but not the
//! slices' judgements.

use super::figures::Counts;
use crate::state::ledger::{LedgerGap, LedgerMinute};
use std::collections::VecDeque;

/// Steps per block: one hour of minutes.
pub const BLOCK: i64 = 60;

fn block_of(step: i64) -> i64 {
    step.div_euclid(BLOCK)
}

/// How a time-slice SLO judges one slice of `steps` steps.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SliceRule {
    /// OpenSLO `Timeslices`: the slice is bad when its share of good events is below
    /// `target`; a slice without events is good.
    Good { steps: i64, target: f64 },
    /// OpenSLO `RatioTimeslices`: the slice weighs its share of bad events; a slice without
    /// events has no ratio and does not count.
    Ratio { steps: i64 },
}

impl SliceRule {
    pub fn steps(self) -> i64 {
        match self {
            SliceRule::Good { steps, .. } | SliceRule::Ratio { steps } => steps,
        }
    }

    /// What a slice holding the events `c` adds to its block: `(bad, 1)` for a slice with
    /// events (bad 0 or 1 for `Good`, the bad ratio for `Ratio`), nothing without events.
    pub fn judge(self, c: Counts) -> Counts {
        if c.total <= 0.0 {
            return Counts::default();
        }
        let bad = match self {
            SliceRule::Good { target, .. } => {
                if c.good() / c.total >= target {
                    0.0
                } else {
                    1.0
                }
            }
            SliceRule::Ratio { .. } => (c.bad / c.total).clamp(0.0, 1.0),
        };
        Counts::new(bad, 1.0)
    }
}

/// One block's sums: its events and, for a time-slice ledger, its slices' judgements.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Block {
    events: Counts,
    slices: Counts,
}

/// One SLO's ledger in memory.
#[derive(Clone, Debug)]
pub struct Ledger {
    /// Steps kept one by one (a multiple of [`BLOCK`]).
    detail: i64,
    /// Blocks kept (the period and a margin).
    keep_blocks: i64,
    /// Step index of `recent[0]`; always block-aligned.
    recent_start: i64,
    recent: VecDeque<Counts>,
    /// Block index of `blocks[0]`.
    blocks_start: i64,
    blocks: VecDeque<Block>,
    slices: Option<SliceRule>,
    edge: Option<(i64, Vec<Counts>)>,
    gaps: Vec<LedgerGap>,
    last: Option<i64>,
}

impl Ledger {
    /// A ledger that answers windows up to `keep_steps` long exactly and keeps the most recent
    /// `detail_steps` one by one (both rounded up to whole blocks).
    pub fn new(detail_steps: i64, keep_steps: i64) -> Ledger {
        let round = |s: i64| (s.max(1) + BLOCK - 1) / BLOCK * BLOCK;
        Ledger {
            detail: round(detail_steps) + BLOCK,
            keep_blocks: round(keep_steps) / BLOCK + 2,
            recent_start: 0,
            recent: VecDeque::new(),
            blocks_start: 0,
            blocks: VecDeque::new(),
            slices: None,
            edge: None,
            gaps: Vec::new(),
            last: None,
        }
    }

    /// A ledger that also judges time slices by `rule` (whose length divides [`BLOCK`]).
    pub fn with_slices(mut self, rule: Option<SliceRule>) -> Ledger {
        self.slices = rule.filter(|r| r.steps() > 0 && BLOCK % r.steps() == 0);
        self
    }

    /// The last step recorded.
    pub fn last_step(&self) -> Option<i64> {
        self.last
    }

    /// The first step kept one by one; older steps are known only by their block sums.
    pub fn detail_start(&self) -> i64 {
        self.recent_start
    }

    /// Gaps, oldest first.
    pub fn gaps(&self) -> &[LedgerGap] {
        &self.gaps
    }

    /// Records the counts of `step`; a step at or before the last one adds to it (a late
    /// back-fill), and steps skipped in between count as zero.
    pub fn record(&mut self, step: i64, c: Counts) {
        if self.last.is_none() {
            self.recent_start = block_of(step) * BLOCK;
            self.blocks_start = block_of(step);
        }
        if step < self.recent_start {
            // Older than the detail: only the block sum (and the edge) know it.
            self.add_block(step, c);
            if let Some((b, v)) = self.edge.as_mut() {
                if *b == block_of(step) {
                    v[step.rem_euclid(BLOCK) as usize].add(c);
                }
            }
            return;
        }
        let idx = (step - self.recent_start) as usize;
        if idx >= self.recent.len() {
            self.recent.resize(idx + 1, Counts::default());
        }
        let before = self.judge_slice_of(step);
        self.recent[idx].add(c);
        self.add_block(step, c);
        if let Some((start, after)) = self.judge_slice_of(step) {
            let before = before.map(|b| b.1).unwrap_or_default();
            let i = (block_of(start) - self.blocks_start) as usize;
            if let Some(b) = self.blocks.get_mut(i) {
                b.slices.add(Counts::new(
                    after.bad - before.bad,
                    after.total - before.total,
                ));
            }
        }
        self.last = Some(self.last.map_or(step, |l| l.max(step)));
        self.trim();
    }

    fn add_block(&mut self, step: i64, c: Counts) {
        let b = block_of(step);
        if b < self.blocks_start {
            let n = (self.blocks_start - b) as usize;
            for _ in 0..n {
                self.blocks.push_front(Block::default());
            }
            self.blocks_start = b;
        }
        let i = (b - self.blocks_start) as usize;
        if i >= self.blocks.len() {
            self.blocks.resize(i + 1, Block::default());
        }
        self.blocks[i].events.add(c);
    }

    /// The first step of the slice holding `step` and its judgement, for a slice ledger.
    fn judge_slice_of(&self, step: i64) -> Option<(i64, Counts)> {
        let rule = self.slices?;
        let start = step.div_euclid(rule.steps()) * rule.steps();
        Some((start, self.judge_slice(rule, start)))
    }

    fn judge_slice(&self, rule: SliceRule, start: i64) -> Counts {
        let mut c = Counts::default();
        for s in start..start + rule.steps() {
            c.add(self.step_counts(s));
        }
        rule.judge(c)
    }

    fn trim(&mut self) {
        while self.recent.len() as i64 > self.detail + BLOCK {
            self.recent.drain(..BLOCK as usize);
            self.recent_start += BLOCK;
        }
        while self.blocks.len() as i64 > self.keep_blocks {
            self.blocks.pop_front();
            self.blocks_start += 1;
        }
        let oldest = self.blocks_start * BLOCK;
        self.gaps.retain(|g| g.end > oldest);
    }

    /// Records a gap `[start, end)`: no events, shown as missing.
    pub fn record_gap(&mut self, gap: LedgerGap) {
        if gap.end > gap.start {
            self.gaps.push(gap);
            self.gaps.sort_by_key(|g| g.start);
        }
    }

    /// The block whose steps must be given with [`Ledger::set_edge`] before a window starting
    /// at `from` can be summed, if any.
    pub fn edge_needed(&self, from: i64) -> Option<i64> {
        let b = block_of(from);
        let partial = from.rem_euclid(BLOCK) != 0;
        let needed = partial && from < self.recent_start && b >= self.blocks_start;
        match &self.edge {
            Some((have, _)) if *have == b => None,
            _ if needed => Some(b),
            _ => None,
        }
    }

    /// Gives the steps of an old block (from the database).
    pub fn set_edge(&mut self, block: i64, minutes: &[LedgerMinute]) {
        let mut v = vec![Counts::default(); BLOCK as usize];
        for m in minutes.iter().filter(|m| block_of(m.minute) == block) {
            v[m.minute.rem_euclid(BLOCK) as usize].add(Counts::new(m.bad, m.total));
        }
        self.edge = Some((block, v));
    }

    fn step_counts(&self, step: i64) -> Counts {
        if step >= self.recent_start {
            return self
                .recent
                .get((step - self.recent_start) as usize)
                .copied()
                .unwrap_or_default();
        }
        match &self.edge {
            Some((b, v)) if *b == block_of(step) => v[step.rem_euclid(BLOCK) as usize],
            _ => Counts::default(),
        }
    }

    fn block(&self, b: i64) -> Block {
        if b < self.blocks_start {
            return Block::default();
        }
        self.blocks
            .get((b - self.blocks_start) as usize)
            .copied()
            .unwrap_or_default()
    }

    /// Events in steps `[from, to)`. A partial block older than the detail is read from the
    /// edge (see [`Ledger::edge_needed`]); without it, that part counts as empty.
    pub fn sum(&self, from: i64, to: i64) -> Counts {
        let mut c = Counts::default();
        if to <= from {
            return c;
        }
        let first_full = (from + BLOCK - 1).div_euclid(BLOCK);
        let end_full = to.div_euclid(BLOCK);
        if first_full >= end_full {
            for s in from..to {
                c.add(self.step_counts(s));
            }
            return c;
        }
        for s in from..first_full * BLOCK {
            c.add(self.step_counts(s));
        }
        for b in first_full..end_full {
            c.add(self.block(b).events);
        }
        for s in end_full * BLOCK..to {
            c.add(self.step_counts(s));
        }
        c
    }

    /// The judgements of the slices ending in `(from, to]` (bad: their badness, total: the
    /// slices with events) and how many slices that is. Zero without a slice rule.
    pub fn slice_sum(&self, from: i64, to: i64) -> (Counts, i64) {
        let mut c = Counts::default();
        let Some(rule) = self.slices else {
            return (c, 0);
        };
        let l = rule.steps();
        let (a, b) = (from.div_euclid(l) * l, to.div_euclid(l) * l);
        if b <= a {
            return (c, 0);
        }
        let first_full = (a + BLOCK - 1).div_euclid(BLOCK);
        let end_full = b.div_euclid(BLOCK);
        let slices = |c: &mut Counts, from: i64, to: i64| {
            for s in (from..to).step_by(l as usize) {
                c.add(self.judge_slice(rule, s));
            }
        };
        if first_full >= end_full {
            slices(&mut c, a, b);
        } else {
            slices(&mut c, a, first_full * BLOCK);
            for blk in first_full..end_full {
                c.add(self.block(blk).slices);
            }
            slices(&mut c, end_full * BLOCK, b);
        }
        (c, (b - a) / l)
    }

    /// The window `[from, to)` in the unit its budget is kept in: events; for `Timeslices`
    /// bad slices against every slice of the window; for `RatioTimeslices` the slices' bad
    /// ratios summed against the slices with events (so the attainment is the average of
    /// the slices' good ratios).
    pub fn budget_counts(&self, from: i64, to: i64) -> Counts {
        match self.slices {
            None => self.sum(from, to),
            Some(SliceRule::Good { .. }) => {
                let (c, n) = self.slice_sum(from, to);
                Counts::new(c.bad, n as f64)
            }
            Some(SliceRule::Ratio { .. }) => self.slice_sum(from, to).0,
        }
    }

    /// The window `[from, to)` cut at block boundaries into stretches, each with its end step
    /// and its [`Ledger::budget_counts`]: the points of a burn-down line.
    pub fn stretches(&self, from: i64, to: i64) -> Vec<(i64, Counts)> {
        let mut out = Vec::new();
        let mut s = from;
        while s < to {
            let end = ((block_of(s) + 1) * BLOCK).min(to);
            out.push((end, self.budget_counts(s, end)));
            s = end;
        }
        out
    }

    /// Loads stored steps and gaps (startup).
    pub fn load(&mut self, minutes: &[LedgerMinute], gaps: &[LedgerGap]) {
        for m in minutes {
            self.record(m.minute, Counts::new(m.bad, m.total));
        }
        for g in gaps {
            self.record_gap(*g);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ledger_with(steps: &[(i64, f64, f64)]) -> Ledger {
        let mut l = Ledger::new(3 * BLOCK, 30 * BLOCK);
        for (s, b, t) in steps {
            l.record(*s, Counts::new(*b, *t));
        }
        l
    }

    #[test]
    fn sums_match_brute_force_across_blocks() {
        let steps: Vec<(i64, f64, f64)> = (1000..1000 + 20 * BLOCK)
            .map(|s| (s, (s % 7) as f64, 100.0 + (s % 13) as f64))
            .collect();
        let mut l = ledger_with(&steps);
        let brute = |from: i64, to: i64| {
            steps
                .iter()
                .filter(|(s, _, _)| *s >= from && *s < to)
                .fold(Counts::default(), |a, (_, b, t)| a + Counts::new(*b, *t))
        };
        let last = 1000 + 20 * BLOCK;
        for (from, to) in [(last - 5, last), (last - 61, last), (last - 240, last)] {
            assert_eq!(l.sum(from, to), brute(from, to), "{from}..{to}");
        }
        // A window reaching back before the detail needs its edge block.
        let from = 1000 + 7;
        let b = l.edge_needed(from).expect("edge needed");
        let minutes: Vec<LedgerMinute> = steps
            .iter()
            .map(|(s, bad, total)| LedgerMinute {
                minute: *s,
                bad: *bad,
                total: *total,
            })
            .collect();
        l.set_edge(b, &minutes);
        assert_eq!(l.edge_needed(from), None);
        assert_eq!(l.sum(from, last), brute(from, last));
    }

    #[test]
    fn skipped_steps_are_zero_and_gaps_are_kept() {
        let mut l = ledger_with(&[(120, 1.0, 10.0), (125, 0.0, 5.0)]);
        l.record_gap(LedgerGap {
            start: 121,
            end: 125,
        });
        assert_eq!(l.sum(120, 126), Counts::new(1.0, 15.0));
        assert_eq!(l.sum(121, 125), Counts::default());
        assert_eq!(l.gaps().len(), 1);
    }

    #[test]
    fn stretches_cut_at_blocks() {
        let l = ledger_with(&[(59, 1.0, 1.0), (60, 2.0, 2.0), (150, 3.0, 3.0)]);
        let s = l.stretches(30, 151);
        assert_eq!(
            s,
            vec![
                (60, Counts::new(1.0, 1.0)),
                (120, Counts::new(2.0, 2.0)),
                (151, Counts::new(3.0, 3.0))
            ]
        );
    }

    /// Five 5-step slices; the good ratio each needs is 0.95.
    /// - A [0,5): 100 events a step, 1 bad each: 5/500 bad, good 99 % → good.
    /// - B [5,10): 10 bad in step 7: 10/500, good 98 % → good.
    /// - C [10,15): 30 bad in step 12: 30/500, good 94 % → bad.
    /// - D [15,20): no traffic → good for Timeslices, no ratio for RatioTimeslices.
    /// - E [20,25): 20 a step, 5 bad: 5/100, good exactly 95 % → good (≥ the target).
    fn five_slices(rule: SliceRule) -> Ledger {
        let mut l = Ledger::new(3 * BLOCK, 30 * BLOCK).with_slices(Some(rule));
        for s in 0..5 {
            l.record(s, Counts::new(1.0, 100.0));
        }
        for s in 5..15 {
            let bad = match s {
                7 => 10.0,
                12 => 30.0,
                _ => 0.0,
            };
            l.record(s, Counts::new(bad, 100.0));
        }
        for s in 20..25 {
            l.record(s, Counts::new(if s == 22 { 5.0 } else { 0.0 }, 20.0));
        }
        l
    }

    #[test]
    fn time_slices_with_a_threshold() {
        let l = five_slices(SliceRule::Good {
            steps: 5,
            target: 0.95,
        });
        // One bad slice (C) of five.
        assert_eq!(l.budget_counts(0, 25), Counts::new(1.0, 5.0));
        // A window ending inside E holds the slices ending in (0, 23]: A–D.
        assert_eq!(l.budget_counts(0, 23), Counts::new(1.0, 4.0));
        // A 5-step window ending at 12 holds its last complete slice, B.
        assert_eq!(l.budget_counts(7, 12), Counts::new(0.0, 1.0));
        assert_eq!(l.budget_counts(10, 15), Counts::new(1.0, 1.0));
        // The events themselves are unchanged.
        assert_eq!(l.sum(0, 25), Counts::new(5.0 + 10.0 + 30.0 + 5.0, 1600.0));
    }

    #[test]
    fn ratio_time_slices_average_the_slices_ratios() {
        let l = five_slices(SliceRule::Ratio { steps: 5 });
        // Bad ratios A 0.01, B 0.02, C 0.06, E 0.05; D has no events and no ratio.
        // Sum 0.14 over 4 slices: attainment 1 − 0.14 / 4 = 0.965 = mean(0.99, 0.98, 0.94, 0.95).
        let c = l.budget_counts(0, 25);
        assert!((c.bad - 0.14).abs() < 1e-12, "{c:?}");
        assert_eq!(c.total, 4.0);
        assert!((crate::slo::figures::attainment(c) - 0.965).abs() < 1e-12);
    }

    #[test]
    fn slice_sums_across_blocks_match_judging_each_slice() {
        // Three hours of 1-step… 4-step slices with a bad spell every 7 steps; the sums
        // through the blocks equal judging every slice of the window one by one.
        let steps: Vec<(i64, Counts)> = (0..3 * BLOCK)
            .map(|s| (s, Counts::new(if s % 7 == 0 { 9.0 } else { 0.0 }, 100.0)))
            .collect();
        for n in [1, 4, 5, 15] {
            let rule = SliceRule::Good {
                steps: n,
                target: 0.95,
            };
            let mut l = Ledger::new(3 * BLOCK, 30 * BLOCK).with_slices(Some(rule));
            for (s, c) in &steps {
                l.record(*s, *c);
            }
            for (from, to) in [(0, 3 * BLOCK), (13, 2 * BLOCK + 7), (BLOCK, 2 * BLOCK)] {
                let (a, b) = (from / n * n, to / n * n);
                let mut bad = 0.0;
                for s0 in (a..b).step_by(n as usize) {
                    let c = steps[s0 as usize..(s0 + n) as usize]
                        .iter()
                        .fold(Counts::default(), |x, (_, c)| x + *c);
                    if c.good() / c.total < 0.95 {
                        bad += 1.0;
                    }
                }
                let want = Counts::new(bad, ((b - a) / n) as f64);
                assert_eq!(l.budget_counts(from, to), want, "slice {n}, {from}..{to}");
            }
        }
    }

    #[test]
    fn a_window_with_no_traffic_has_good_slices_and_no_ratios() {
        let mut good = Ledger::new(3 * BLOCK, 30 * BLOCK).with_slices(Some(SliceRule::Good {
            steps: 1,
            target: 0.9,
        }));
        good.record(0, Counts::default());
        // 60 empty one-step slices: all good, none bad.
        assert_eq!(good.budget_counts(0, 60), Counts::new(0.0, 60.0));
        let mut ratio =
            Ledger::new(3 * BLOCK, 30 * BLOCK).with_slices(Some(SliceRule::Ratio { steps: 1 }));
        ratio.record(0, Counts::default());
        assert_eq!(ratio.budget_counts(0, 60), Counts::default());
        assert_eq!(
            crate::slo::figures::attainment(ratio.budget_counts(0, 60)),
            1.0
        );
    }
}
